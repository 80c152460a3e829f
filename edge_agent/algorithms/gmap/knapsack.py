"""The local solver of DisLRP: an exact 0-1 knapsack by dynamic programming over integer capacity.

``O(items x capacity)`` time and a boolean table of the same size for the choice; numpy over the capacity
axis. Ties keep the earlier choice (an item is taken only if it strictly improves), so the answer is a
deterministic function of the inputs: the same prices always give the same choice.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["solve_knapsack"]

EPS = 1e-12


def solve_knapsack(values: NDArray[np.float64], weights: NDArray[np.int64], capacity: int
                   ) -> tuple[float, NDArray[np.bool_]]:
    """``max sum v_j x_j  s.t.  sum w_j x_j <= capacity, x binary``: the optimum and the chosen items."""
    chosen = np.zeros(len(values), dtype=bool)
    items = np.flatnonzero((values > EPS) & (weights <= capacity))
    if items.size == 0:
        return 0.0, chosen
    best = np.zeros(capacity + 1)
    keep = np.zeros((items.size, capacity + 1), dtype=bool)
    for k, j in enumerate(items):
        w, v = int(weights[j]), float(values[j])
        candidate = np.full(capacity + 1, -np.inf)
        candidate[w:] = best[:capacity + 1 - w] + v
        take = candidate > best + EPS
        keep[k] = take
        best = np.where(take, candidate, best)
    room = capacity
    for k in range(items.size - 1, -1, -1):
        if keep[k, room]:
            j = items[k]
            chosen[j] = True
            room -= int(weights[j])
    return float(best[capacity]), chosen
