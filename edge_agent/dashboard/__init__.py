"""``edge-agent dashboard``: a live page of a fleet (devices, runs, convergence), fed from the broker.

Needs the ``dashboard`` extra (aiohttp); ``docs/dashboard.md`` describes the page, the topics it reads and its
security. The chart library (uPlot, MIT licence) is vendored in ``static/``: the page loads nothing from
elsewhere. The names are imported on first use, so that ``dashboard.state`` (the fleet's folded view, also read by
the ROS 2 bridge) needs no aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_agent._lazy import lazy_getattr

if TYPE_CHECKING:
    from edge_agent.dashboard.server import Dashboard, run_dashboard
    from edge_agent.dashboard.state import FleetState

__all__ = ["Dashboard", "FleetState", "run_dashboard"]

_HOMES = {"Dashboard": "edge_agent.dashboard.server", "run_dashboard": "edge_agent.dashboard.server",
          "FleetState": "edge_agent.dashboard.state"}
__getattr__ = lazy_getattr(__name__, globals(), _HOMES)
