"""Dynamic rounds: a sequence of problems where, after each, the agents with the largest cost raise their cost
functions for the next one (the seed's fairness over time).

Variants: ``ge_max`` ("``>= max cost``") raises every value of the function that is ``>=`` the agent's current
cost; ``gt_min`` ("``> min cost``", the aggressive comparison) raises every value above the function's own minimum.
The raise is ``step`` (default 1). Every agent whose cost equals the round's largest (and is above 0) raises.
Costs are reported on the original functions (what the agents actually suffer), so rounds compare fairly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np

from edge_agent.algorithms.rcdcop.agent import RcSettings
from edge_agent.algorithms.rcdcop.model import RcNode, RcTree
from edge_agent.algorithms.rcdcop.runner import run_rcdcop
from edge_agent.carrier.base import Network
from edge_agent.errors import EdgeAgentError

__all__ = ["Variant", "next_tree", "raise_costs", "round_summary", "run_rounds"]

Variant = Literal["ge_max", "gt_min"]


def raise_costs(costs: Mapping[int, float], current: float, variant: Variant, step: float = 1.0) -> dict[int, float]:
    threshold = min(costs.values())
    if variant == "ge_max":
        return {a: c + step if c >= current else c for a, c in costs.items()}
    return {a: c + step if c > threshold else c for a, c in costs.items()}


def next_tree(tree: RcTree, costs: Mapping[str, float], variant: Variant, step: float = 1.0) -> RcTree:
    """``tree`` with the cost functions of the agents at the round's largest cost ``costs`` raised."""
    top = max(costs.values())
    if top <= 0:
        return tree
    nodes = {}
    for name, node in tree.nodes.items():
        raised = costs[name] == top  # costs come from the same table values, so equality is exact
        nodes[name] = (RcNode(node.id, node.parent, node.capacity, raise_costs(node.costs, costs[name], variant, step))
                       if raised else node)
    return RcTree(tree.name, nodes)


def round_summary(history: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Over rounds of per-agent costs: the largest per-agent average cost, the mean per-round variance, the
    variance of the per-agent averages and the mean per-round largest cost."""
    names = list(history[0])
    matrix = np.array([[round_costs[n] for n in names] for round_costs in history], dtype=np.float64)
    return {"max_average_cost": float(matrix.mean(axis=0).max()),
            "mean_variance": float(matrix.var(axis=1).mean()),
            "variance_of_averages": float(matrix.mean(axis=0).var()),
            "mean_max_cost": float(matrix.max(axis=1).mean())}


async def run_rounds(tree: RcTree, variant: Variant, rounds: int, settings: RcSettings,
                     network: Callable[[], Network], *, step: float = 1.0) -> list[dict[str, float]]:
    """``rounds`` problems on ``tree`` (each on a fresh ``network()``), the cost functions raised after each; the
    agents' costs per round on the original functions. An infeasible round is an error (raising costs never
    changes feasibility, so the first round decides)."""
    current = tree
    history = []
    for k in range(rounds):
        outcome = await run_rcdcop(current, settings, network())
        if outcome.infeasible:
            msg = f"tree {tree.name!r} is infeasible (round {k}): no dynamic rounds to run"
            raise EdgeAgentError(msg)
        history.append(tree.cost(outcome.amounts))
        current = next_tree(current, current.cost(outcome.amounts), variant, step)
    return history
