"""GMAP (DisLRP) as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from edge_agent.algorithms.gmap.figure import plot_bounds
from edge_agent.algorithms.gmap.member import GmapMember
from edge_agent.algorithms.gmap.messages import (
    DisLrpCollect,
    DisLrpCycle,
    DisLrpJoin,
    DisLrpJoined,
    DisLrpLeave,
    DisLrpOutcome,
    DisLrpStart,
)
from edge_agent.algorithms.gmap.plan import gmap_plan
from edge_agent.algorithms.gmap.scenario import GmapScenario
from edge_agent.devices import AgentDevice
from edge_agent.family import Family, RoleContext, one_run

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> GmapMember:
    return GmapMember(device.id, settle=context.settle)  # any device: the join carries its data


FAMILY = Family(
    name="gmap",
    messages=(DisLrpCycle, DisLrpJoin, DisLrpJoined, DisLrpStart, DisLrpCollect, DisLrpOutcome, DisLrpLeave),
    scenarios=(GmapScenario,),
    role=_role,
    plan=gmap_plan,
    figure=one_run(plot_bounds, "DisLRP"),
)
