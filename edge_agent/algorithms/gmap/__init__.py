"""The generalised mutual assignment problem and DisLRP (seed 004): ``docs/gmap.md``."""

from edge_agent.algorithms.gmap.agent import DisLrpAgent, DisLrpSettings, LocalGmap
from edge_agent.algorithms.gmap.files import generate, read_orlib
from edge_agent.algorithms.gmap.heuristic import improve, repair
from edge_agent.algorithms.gmap.knapsack import solve_knapsack
from edge_agent.algorithms.gmap.messages import DisLrpCycle
from edge_agent.algorithms.gmap.model import Gmap
from edge_agent.algorithms.gmap.runner import bounds, dislrp_report, run_dislrp
from edge_agent.algorithms.gmap.scenario import GmapScenario

__all__ = ["DisLrpAgent", "DisLrpCycle", "DisLrpSettings", "Gmap", "GmapScenario", "LocalGmap", "bounds",
           "dislrp_report", "generate", "improve", "read_orlib", "repair", "run_dislrp", "solve_knapsack"]
