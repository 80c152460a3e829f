"""Resource-constrained DCOP on feeder trees with fairness (Matsui & Matsuo): the model, seeded generators, the
exact tree DP for ``sum`` and ``max`` with greedy or center tie-breaking, and dynamic rounds; see
``docs/rcdcop.md``."""

from edge_agent.algorithms.rcdcop.agent import RcAgent, RcSettings
from edge_agent.algorithms.rcdcop.dynamic import next_tree, raise_costs, round_summary, run_rounds
from edge_agent.algorithms.rcdcop.generators import feeder, random_instance
from edge_agent.algorithms.rcdcop.model import Aggregation, RcNode, RcTree, TieBreak
from edge_agent.algorithms.rcdcop.runner import RcOutcome, rc_report, run_rcdcop
from edge_agent.algorithms.rcdcop.scenario import RcdcopScenario

__all__ = [
    "Aggregation",
    "RcAgent",
    "RcNode",
    "RcOutcome",
    "RcSettings",
    "RcTree",
    "RcdcopScenario",
    "TieBreak",
    "feeder",
    "next_tree",
    "raise_costs",
    "random_instance",
    "rc_report",
    "round_summary",
    "run_rcdcop",
    "run_rounds",
]
