"""``edge-agent dashboard``: a live page of a fleet (devices, runs, convergence), fed from the broker.

Needs the ``dashboard`` extra (aiohttp); ``docs/dashboard.md`` describes the page, the topics it reads and its
security. The chart library (uPlot, MIT licence) is vendored in ``static/``: the page loads nothing from
elsewhere.
"""

from edge_agent.dashboard.server import Dashboard, run_dashboard
from edge_agent.dashboard.state import FleetState

__all__ = ["Dashboard", "FleetState", "run_dashboard"]
