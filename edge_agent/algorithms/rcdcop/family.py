"""The resource-constrained DCOP on feeder trees as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from edge_agent.algorithms.rcdcop.member import RcMember
from edge_agent.algorithms.rcdcop.messages import (
    RcCollect,
    RcJoin,
    RcJoined,
    RcLeave,
    RcOutcome,
    RcStart,
    RcUtil,
    RcValue,
)
from edge_agent.algorithms.rcdcop.plan import rc_plan
from edge_agent.algorithms.rcdcop.scenario import RcdcopScenario
from edge_agent.devices import AgentDevice
from edge_agent.family import Family, RoleContext

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> RcMember:
    return RcMember(device.id, settle=context.settle)  # any device: the join carries its tree node


FAMILY = Family(
    name="rcdcop",
    messages=(RcStart, RcUtil, RcValue, RcJoin, RcJoined, RcCollect, RcOutcome, RcLeave),
    scenarios=(RcdcopScenario,),
    role=_role,
    plan=rc_plan,
)
