"""The resource-constrained DCOP on feeder trees as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from edge_agent.algorithms.rcdcop.messages import RcStart, RcUtil, RcValue
from edge_agent.algorithms.rcdcop.scenario import RcdcopScenario
from edge_agent.family import Family

__all__ = ["FAMILY"]

FAMILY = Family(
    name="rcdcop",
    messages=(RcStart, RcUtil, RcValue),
    scenarios=(RcdcopScenario,),
)
