"""Seeded feeder trees: the experiment's chains and binary trees with providers and consumers, and random
trees with random amount sets and costs for the tests.

The seed gives no cost functions, so :func:`feeder` draws them as follows (``docs/rcdcop.md``):

* shape: ``chain`` (node k's parent is k-1), ``binary`` (k's parent is (k-1)//2) or ``random`` (k's parent
  uniform among 0..k-1); node ``n0`` is the root.
* roles: ``providers`` nodes drawn uniformly without replacement are providers, the others consumers.
* consumer: demand ``d`` (``demand``, default 2); amounts ``d, d-1, .., 0`` (greedy tries full service first);
  cost ``f(r) = d - r``, the units left unserved.
* provider: total supply ``floor(supply_ratio * total demand)`` split at random (each provider at least 1);
  amounts ``-s, .., 0`` with cost 0. Default ratio 0.4: fewer units than consumers, so in every single problem
  some consumer gets nothing (the seed's single-problem maximum cost is 2) and the dynamic rounds have a
  shortage to pass around.
* link capacities uniform integers in ``capacity`` (default 4..8: a link can feed a few consumers, so capacity
  alone rarely decides who is short; with 2..4 it often does, see ``docs/rcdcop.md``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from edge_agent.algorithms.rcdcop.model import RcNode, RcTree
from edge_agent.errors import ConfigError

__all__ = ["Shape", "feeder", "parents", "random_instance"]

Shape = Literal["chain", "binary", "random"]


def parents(shape: Shape, n: int, rng: np.random.Generator) -> list[int | None]:
    if shape == "chain":
        return [None, *range(n - 1)]
    if shape == "binary":
        return [None, *((k - 1) // 2 for k in range(1, n))]
    return [None, *(int(rng.integers(k)) for k in range(1, n))]


def feeder(shape: Shape, providers: int, consumers: int, rng: np.random.Generator, *, demand: int = 2,
           supply_ratio: float = 0.4, capacity: tuple[int, int] = (4, 8), name: str = "feeder") -> RcTree:
    n = providers + consumers
    if providers < 1 or consumers < 0 or demand < 1 or supply_ratio <= 0 or capacity[0] > capacity[1]:
        raise ConfigError("a feeder needs providers >= 1, consumers >= 0, demand >= 1, supply_ratio > 0 and "
                          "capacity (low, high) with low <= high")
    supply = max(providers, int(supply_ratio * demand * consumers))
    shares = 1 + rng.multinomial(supply - providers, np.full(providers, 1.0 / providers))
    is_provider = np.zeros(n, dtype=bool)
    is_provider[rng.choice(n, size=providers, replace=False)] = True
    links = parents(shape, n, rng)
    nodes = {}
    share = iter(shares)
    for k in range(n):
        parent = links[k]
        cap = 0 if parent is None else int(rng.integers(capacity[0], capacity[1] + 1))
        if is_provider[k]:
            s = int(next(share))
            costs = {-a: 0.0 for a in range(s, -1, -1)}
        else:
            costs = {r: float(demand - r) for r in range(demand, -1, -1)}
        nodes[f"n{k}"] = RcNode(f"n{k}", None if parent is None else f"n{parent}", cap, costs)
    return RcTree(name, nodes)


def random_instance(n: int, rng: np.random.Generator, *, shape: Shape = "random", amounts: int = 3,
                    span: int = 4, costs: int = 9, capacity: int = 4, zero: float = 0.0,
                    name: str = "random") -> RcTree:
    """A tree with ``amounts`` distinct amounts per node drawn from ``[-span, span]`` (0 added with probability
    ``zero``; without it the instance may well be infeasible), integer costs in ``0..costs`` (ties are common)
    and capacities in ``0..capacity``."""
    links = parents(shape, n, rng)
    nodes = {}
    for k in range(n):
        parent = links[k]
        chosen = rng.choice(np.arange(-span, span + 1), size=min(amounts, 2 * span + 1), replace=False)
        table = {int(a): float(rng.integers(costs + 1)) for a in chosen}
        if rng.random() < zero:
            table.setdefault(0, float(rng.integers(costs + 1)))
        cap = 0 if parent is None else int(rng.integers(capacity + 1))
        nodes[f"n{k}"] = RcNode(f"n{k}", None if parent is None else f"n{parent}", cap, table)
    return RcTree(name, nodes)
