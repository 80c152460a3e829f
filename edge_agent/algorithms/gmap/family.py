"""GMAP (DisLRP) as a registered family (:mod:`edge_agent.registry`); in process only for now."""

from __future__ import annotations

from edge_agent.algorithms.gmap.figure import plot_bounds
from edge_agent.algorithms.gmap.messages import DisLrpCycle
from edge_agent.algorithms.gmap.scenario import GmapScenario
from edge_agent.family import Family, one_run

__all__ = ["FAMILY"]

FAMILY = Family(
    name="gmap",
    messages=(DisLrpCycle,),
    scenarios=(GmapScenario,),
    figure=one_run(plot_bounds, "DisLRP"),
)
