"""COHDA as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from edge_agent.algorithms.cohda.figure import plot_cohda
from edge_agent.algorithms.cohda.job import CohdaChoice, CohdaCollect, CohdaJoin, CohdaJoined, CohdaLeave
from edge_agent.algorithms.cohda.member import CohdaMember
from edge_agent.algorithms.cohda.messages import CohdaStart, CohdaUpdate
from edge_agent.algorithms.cohda.plan import cohda_plan
from edge_agent.algorithms.cohda.scenario import CohdaScenario
from edge_agent.devices import AgentDevice
from edge_agent.family import Family, RoleContext, one_run

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> CohdaMember:
    return CohdaMember(device.id, settle=context.settle)  # any device: for now the join carries its schedules


FAMILY = Family(
    name="cohda",
    messages=(CohdaStart, CohdaUpdate, CohdaJoin, CohdaJoined, CohdaCollect, CohdaChoice, CohdaLeave),
    scenarios=(CohdaScenario,),
    role=_role,
    plan=cohda_plan,
    figure=one_run(plot_cohda, "COHDA"),
)
