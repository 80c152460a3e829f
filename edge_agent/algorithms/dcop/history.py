"""The anytime view of a local search, recomputed from what the agents did: the cost after every cycle, the
best assignment seen and the cycle it was first seen.

The agents report their changes ``(cycle, variable, value)`` (cycle 0: the start); nothing here trusts a cost
an agent computed. Costs are evaluated on the DCOP itself, updating only the constraints a change touches,
and the best one is checked once more with :meth:`Dcop.cost`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.errors import ConfigError

__all__ = ["Trajectory", "trajectory"]


@dataclass(frozen=True)
class Trajectory:
    costs: list[float]  # minimisation form, after each cycle (index 0: the start)
    best_cost: float
    best_cycle: int
    best: dict[str, int]
    final: dict[str, int]

    @property
    def final_cost(self) -> float:
        return self.costs[-1]


def trajectory(dcop: Dcop, changes: Iterable[tuple[int, str, int]], cycles: int) -> Trajectory:
    """Replay ``changes`` over ``cycles`` cycles."""
    by_cycle: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for cycle, name, value in changes:
        if name not in dcop.index:
            raise ConfigError(f"a reported change names unknown variable {name!r}")
        by_cycle[cycle].append((name, value))
    assignment = dict(by_cycle.pop(0, []))
    dcop.check_assignment(assignment)
    tables = dcop.cost_tables
    scopes = [c.scope for c in dcop.constraints]
    terms = np.array([tables[k][tuple(assignment[n] for n in scopes[k])] for k in range(len(tables))])
    total = float(terms.sum())
    costs = [total]
    best_cost, best_cycle, best = total, 0, dict(assignment)
    for cycle in range(1, cycles + 1):
        moved = by_cycle.get(cycle, ())
        touched: set[int] = set()
        for name, value in moved:
            assignment[name] = value
            touched.update(dcop.constraints_of[name])
        for k in touched:
            terms[k] = tables[k][tuple(assignment[n] for n in scopes[k])]
        if touched:
            total = float(terms.sum())
        costs.append(total)
        if total < best_cost - 1e-9:
            best_cost, best_cycle, best = total, cycle, dict(assignment)
    dcop.check_assignment(assignment)
    return Trajectory(costs, dcop.cost(best), best_cycle, best, assignment)
