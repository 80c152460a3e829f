"""DCOP (DSA, MGM, DPOP) as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

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
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.family import Family

__all__ = ["FAMILY"]

FAMILY = Family(
    name="dcop",
    messages=(DcopStart, DcopCycle, DpopUtil, DpopValue, DcopJoin, DcopJoined, DcopCollect, DcopOutcome, DcopLeave),
    scenarios=(DcopScenario,),
)
