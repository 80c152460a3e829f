"""Independent optima for tests and benchmarks: a HiGHS MIP (``scipy.optimize.milp``) over the same tree model,
and brute force over all amount choices on tiny trees. Neither shares code with the DP beyond the model.

MIP: a binary ``y[i, a]`` per node and amount with ``sum_a y[i, a] = 1``, an integer flow ``l_i`` in
``[-c_i, c_i]`` per non-root node, and balance ``sum_a a y[i, a] - l_i + sum_{j child of i} l_j = 0`` (the
root's own ``l`` is 0). ``sum``: minimise ``sum f_i(a) y[i, a]``; ``max``: minimise ``t`` with
``t >= sum_a f_i(a) y[i, a]`` for every node.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from edge_agent.algorithms.rcdcop.model import Aggregation, RcTree, aggregate
from edge_agent.errors import ConfigError, SolverError

__all__ = ["Optimum", "brute_force", "mip_optimum"]


@dataclass(frozen=True)
class Optimum:
    feasible: bool
    cost: float | None
    amounts: dict[str, int]


Row = tuple[dict[int, float], float, float]


def _rows(tree: RcTree, how: Aggregation, y_index: dict[tuple[str, int], int], flow_index: dict[str, int],
          t: int) -> list[Row]:
    rows: list[Row] = []
    for name in tree.order:
        node = tree.nodes[name]
        rows.append(({y_index[name, a]: 1.0 for a in node.costs}, 1.0, 1.0))
        balance = {y_index[name, a]: float(a) for a in node.costs}
        if name in flow_index:
            balance[flow_index[name]] = -1.0
        for child in tree.children[name]:
            balance[flow_index[child]] = 1.0
        rows.append((balance, 0.0, 0.0))
        if how == "max":
            rows.append(({**{y_index[name, a]: -c for a, c in node.costs.items()}, t: 1.0}, 0.0, np.inf))
    return rows


def mip_optimum(tree: RcTree, how: Aggregation, time_limit_s: float = 60.0) -> Optimum:
    names = list(tree.order)
    y_index = {(name, amount): 0 for name in names for amount in tree.nodes[name].costs}
    y_index = {key: k for k, key in enumerate(y_index)}
    flow_index = {name: len(y_index) + k for k, name in enumerate(names[1:])}
    t = len(y_index) + len(flow_index)
    n = t + (1 if how == "max" else 0)
    rows = _rows(tree, how, y_index, flow_index, t)
    matrix = sp.lil_matrix((len(rows), n))
    for r, (coefficients, _, _) in enumerate(rows):
        for column, value in coefficients.items():
            matrix[r, column] = value
    lower = np.zeros(n)
    upper = np.ones(n)
    for name, column in flow_index.items():
        lower[column], upper[column] = -tree.nodes[name].capacity, tree.nodes[name].capacity
    objective = np.zeros(n)
    if how == "sum":
        for (name, amount), column in y_index.items():
            objective[column] = tree.nodes[name].costs[amount]
    else:
        lower[t], upper[t], objective[t] = 0.0, np.inf, 1.0
    result = milp(objective, integrality=np.ones(n), bounds=Bounds(lower, upper),
                  constraints=LinearConstraint(matrix.tocsr(), [r[1] for r in rows], [r[2] for r in rows]),
                  options={"time_limit": time_limit_s})
    if result.status == 2:
        return Optimum(False, None, {})
    if result.status != 0 or result.x is None:
        raise SolverError(f"HiGHS did not prove an optimum for tree {tree.name!r}: {result.message}")
    amounts = {name: next(a for a in tree.nodes[name].costs if result.x[y_index[name, a]] > 0.5) for name in names}
    return Optimum(True, aggregate(list(tree.cost(amounts).values()), how), amounts)


def brute_force(tree: RcTree, how: Aggregation, most: int = 200_000) -> Optimum:
    """Try every choice of amounts (refused beyond ``most``); keep those that balance within the capacities."""
    names = list(tree.order)
    sizes = [len(tree.nodes[name].costs) for name in names]
    if math.prod(sizes) > most:
        raise ConfigError(f"brute force over {math.prod(sizes)} choices exceeds {most}")
    best: Optimum = Optimum(False, None, {})
    for combo in itertools.product(*(tree.nodes[name].amounts for name in names)):
        amounts = dict(zip(names, combo, strict=True))
        if tree.violations(amounts):
            continue
        cost = aggregate(list(tree.cost(amounts).values()), how)
        if best.cost is None or cost < best.cost:
            best = Optimum(True, cost, amounts)
    return best
