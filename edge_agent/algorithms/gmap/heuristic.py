"""The Lagrangian heuristic of DisLRP: the agents' knapsack choices at one cycle repaired into a feasible
assignment, then improved by shifts and swaps (the lower bound).

1. A good chosen by several agents stays with the one that gains most from it (ties: the first agent);
   dropping goods keeps every knapsack feasible.
2. Goods nobody chose are placed one at a time, the one with the largest *regret* first (the difference
   between the best and second best gain among the agents with room for it; a good only one agent can still
   take has infinite regret); it goes to the agent with room that gains most. When some good fits nowhere,
   one placed good moves to another agent with room to make space (the move losing least); when no single
   move does, the pass fails. Steps 1-2 are then tried again with "gain" read as the capacity share a good
   uses (``-w_ij / c_i``, which favours feasibility), and once more from no choice at all, before the repair
   gives up for this cycle (None).
3. Local search to a local optimum: move a good to another agent with room when that gains more, and swap two
   goods between two agents when both still fit and the total gain grows.

Every step keeps capacities, so a returned assignment is feasible; :meth:`Gmap.violation` checks it anyway.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.gmap.model import Gmap

__all__ = ["improve", "repair"]

EPS = 1e-9
IntArray = NDArray[np.int64]


def repair(problem: Gmap, chosen: NDArray[np.bool_]) -> IntArray | None:
    """A feasible assignment (each good's agent) from ``chosen`` (agents x goods), or None. Open goods are
    placed by regret on the gains; if that fails, by regret on the capacity share they use (``-w_ij / c_i``),
    then the same from no choice at all."""
    lean = -problem.weight / np.maximum(problem.capacity, 1)[:, None]
    nothing = np.zeros_like(chosen)
    for start, desirability in ((chosen, problem.gain), (chosen, lean), (nothing, lean)):
        owner = _place(problem, start, desirability)
        if owner is not None:
            return improve(problem, owner)
    return None


def _place(problem: Gmap, chosen: NDArray[np.bool_], desirability: NDArray[np.float64]) -> IntArray | None:
    m, n = problem.shape
    gain, weight = desirability, problem.weight
    owner = np.full(n, -1, dtype=np.int64)
    for j in range(n):
        takers = np.flatnonzero(chosen[:, j])
        if takers.size:
            owner[j] = takers[np.argmax(gain[takers, j])]
    load = np.zeros(m, dtype=np.int64)
    placed = owner >= 0
    np.add.at(load, owner[placed], weight[owner[placed], np.flatnonzero(placed)])
    if (load > problem.capacity).any():  # chosen sets were not knapsack solutions
        return None
    open_goods = set(np.flatnonzero(owner < 0).tolist())
    while open_goods:
        pick, target, regret = -1, -1, -np.inf
        for j in sorted(open_goods):
            fits = np.flatnonzero(load + weight[:, j] <= problem.capacity)
            if fits.size == 0:
                freed = _make_room(problem, owner, load, j)
                if freed is None:
                    return None
                pick, target = j, freed  # placed at once, so no later move takes the room again
                break
            gains = np.sort(gain[fits, j])[::-1]
            r = np.inf if fits.size == 1 else float(gains[0] - gains[1])
            if r > regret:
                pick, target, regret = j, int(fits[np.argmax(gain[fits, j])]), r
        owner[pick] = target
        load[target] += weight[target, pick]
        open_goods.discard(pick)
    return owner


def _make_room(problem: Gmap, owner: IntArray, load: IntArray, j: int) -> int | None:
    """Move one placed good to another agent with room so that good ``j`` fits at the agent it left (returned);
    the move that loses least gain. Updates ``owner`` and ``load``; None if no single move does it."""
    gain, weight, capacity = problem.gain, problem.weight, problem.capacity
    best: tuple[float, int, int] | None = None
    for a in np.flatnonzero(problem.eligible[:, j]):
        for other in np.flatnonzero(owner == a):
            if load[a] - weight[a, other] + weight[a, j] > capacity[a]:
                continue
            room = load + weight[:, other] <= capacity
            room[a] = False
            if room.any():
                b = int(np.argmax(np.where(room, gain[:, other], -np.inf)))
                loss = float(gain[a, other] - gain[b, other])
                if best is None or loss < best[0]:
                    best = (loss, int(other), b)
    if best is None:
        return None
    _, moved, to = best
    source = int(owner[moved])
    load[source] -= weight[source, moved]
    load[to] += weight[to, moved]
    owner[moved] = to
    return source


def improve(problem: Gmap, owner: IntArray) -> IntArray:
    """Shifts and swaps until neither improves (first improvement, goods in order)."""
    m, n = problem.shape
    gain, weight, capacity = problem.gain, problem.weight, problem.capacity
    owner = owner.copy()
    load = np.zeros(m, dtype=np.int64)
    np.add.at(load, owner, weight[owner, np.arange(n)])
    goods = np.arange(n)
    improved = True
    while improved:
        improved = False
        for j in range(n):
            a = owner[j]
            moves = (load + weight[:, j] <= capacity) & (gain[:, j] > gain[a, j] + EPS)
            moves[a] = False
            if moves.any():
                b = int(np.argmax(np.where(moves, gain[:, j], -np.inf)))
                load[a] -= weight[a, j]
                load[b] += weight[b, j]
                owner[j] = b
                improved = True
                continue
            # swap j (at a) with any l (at b != a)
            holders = owner
            delta = gain[holders, j] + gain[a, goods] - gain[a, j] - gain[holders, goods]
            fits_a = load[a] - weight[a, j] + weight[a, goods] <= capacity[a]
            fits_b = load[holders] - weight[holders, goods] + weight[holders, j] <= capacity[holders]
            ok = (holders != a) & fits_a & fits_b & (delta > EPS)
            if ok.any():
                other = int(np.argmax(np.where(ok, delta, -np.inf)))
                c = int(owner[other])
                load[a] += weight[a, other] - weight[a, j]
                load[c] += weight[c, j] - weight[c, other]
                owner[j], owner[other] = c, a
                improved = True
    return owner
