"""DCOP (DSA, MGM, Max-Sum, DPOP) as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from edge_agent.algorithms.dcop.figure import plot_dcop
from edge_agent.algorithms.dcop.member import DcopMember
from edge_agent.algorithms.dcop.messages import (
    DcopCollect,
    DcopCycle,
    DcopJoin,
    DcopJoined,
    DcopLeave,
    DcopOutcome,
    DcopStart,
    DpopUtil,
    DpopValue,
)
from edge_agent.algorithms.dcop.plan import dcop_plan
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.devices import AgentDevice
from edge_agent.family import Family, RoleContext, one_run

__all__ = ["FAMILY"]



def _role(device: AgentDevice, context: RoleContext) -> DcopMember:
    return DcopMember(device.id, settle=context.settle)  # any device: the join carries its variables


FAMILY = Family(
    name="dcop",
    messages=(DcopStart, DcopCycle, DpopUtil, DpopValue, DcopJoin, DcopJoined, DcopCollect, DcopOutcome, DcopLeave),
    scenarios=(DcopScenario,),
    role=_role,
    plan=dcop_plan,
    figure=one_run(plot_dcop, "DCOP"),
)
