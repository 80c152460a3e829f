"""COHDA as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge_agent.algorithms.cohda.figure import plot_cohda
from edge_agent.algorithms.cohda.job import CohdaChoice, CohdaCollect, CohdaJoin, CohdaJoined, CohdaLeave
from edge_agent.algorithms.cohda.member import CohdaMember
from edge_agent.algorithms.cohda.messages import CohdaStart, CohdaUpdate
from edge_agent.algorithms.cohda.plan import cohda_plan
from edge_agent.algorithms.cohda.scenario import CohdaScenario
from edge_agent.devices import AgentDevice
from edge_agent.errors import ConfigError
from edge_agent.family import Family, RoleContext
from edge_agent.results import RunReport

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> CohdaMember:
    return CohdaMember(device.id, settle=context.settle)  # any device: for now the join carries its schedules


def _figure(reports: Sequence[RunReport], path: Path) -> Path:
    if len(reports) != 1:
        raise ConfigError("--plot draws one COHDA run at a time")
    return plot_cohda(reports[0].to_json(), path)


FAMILY = Family(
    name="cohda",
    messages=(CohdaStart, CohdaUpdate, CohdaJoin, CohdaJoined, CohdaCollect, CohdaChoice, CohdaLeave),
    scenarios=(CohdaScenario,),
    role=_role,
    plan=cohda_plan,
    figure=_figure,
)
