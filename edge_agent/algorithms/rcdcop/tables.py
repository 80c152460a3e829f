"""The local computations of the tree DP: cost tables over a flow value, their (min, +) / (min, max)
combination, and the choice among a node's optimal candidates.

A :class:`Table` maps consecutive integers ``offset, offset + 1, ...`` to costs (``inf``: impossible). A node's
UTIL table is ``g_i(l) = min { f_i(r) (+) g_j1(l_1) (+) ... : r + l_1 + ... = l }`` for ``l`` in ``[-c_i, c_i]``,
built by combining its own cost table with each child's table in turn (``combine``), cropped on the way to the
partial sums that can still end within the capacity. Effort is counted as the number of pairs of finite entries
combined (``entries``) and the number of partial choices tried when a node picks its values (``steps``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.rcdcop.model import Aggregation, TieBreak

__all__ = ["Choice", "Table", "choose", "combine", "crop", "own_table"]

Array = NDArray[np.float64]
INF = float("inf")


@dataclass(frozen=True)
class Table:
    offset: int
    costs: Array

    def at(self, value: int) -> float:
        k = value - self.offset
        return float(self.costs[k]) if 0 <= k < len(self.costs) else INF

    def items(self) -> Iterator[tuple[int, float]]:
        """Finite entries, lowest value first."""
        for k in np.flatnonzero(np.isfinite(self.costs)):
            yield self.offset + int(k), float(self.costs[k])


def own_table(costs: Mapping[int, float]) -> Table:
    low, high = min(costs), max(costs)
    array = np.full(high - low + 1, INF)
    for amount, cost in costs.items():
        array[amount - low] = cost
    return Table(low, array)


def crop(table: Table, low: int, high: int, *, pad: bool = False) -> Table:
    """``table`` restricted to ``[low, high]``; with ``pad`` on exactly that range (``inf`` where it had no
    entry), else on its overlap with it (one ``inf`` entry if there is none)."""
    a, b = max(low, table.offset), min(high, table.offset + len(table.costs) - 1)
    if not pad:
        if a > b:
            return Table(low, np.full(1, INF))
        return Table(a, table.costs[a - table.offset: b - table.offset + 1])
    out = np.full(high - low + 1, INF)
    if a <= b:
        out[a - low: b - low + 1] = table.costs[a - table.offset: b - table.offset + 1]
    return Table(low, out)


def combine(a: Table, b: Table, how: Aggregation) -> tuple[Table, int]:
    """``t(s) = min_{x + y = s} a(x) (+) b(y)`` and the number of finite pairs combined."""
    op = np.add if how == "sum" else np.maximum
    if len(a.costs) < len(b.costs):
        a, b = b, a
    out = np.full(len(a.costs) + len(b.costs) - 1, INF)
    finite_a = int(np.count_nonzero(np.isfinite(a.costs)))
    rows = np.flatnonzero(np.isfinite(b.costs))
    for j in rows:
        segment = out[j: j + len(a.costs)]
        np.minimum(segment, op(a.costs, b.costs[j]), out=segment)
    return Table(a.offset + b.offset, out), finite_a * len(rows)


@dataclass(frozen=True)
class Choice:
    values: tuple[int, ...]  # own amount, then the flow to each child
    cost: float  # the subtree's aggregated cost
    candidates: int  # optimal candidates seen (capped at the limit)
    truncated: bool  # the cap cut the enumeration: center chose among the first ``candidates``
    steps: int


def _tolerance(value: float) -> float:
    return 1e-9 * max(1.0, abs(value))


def _join(a: float, b: float, how: Aggregation) -> float:
    return a + b if how == "sum" else max(a, b)


def _center(found: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The candidate nearest (Euclidean) to the per-component medians; the first one on a tie."""
    matrix = np.array(found, dtype=np.float64)
    distance = ((matrix - np.median(matrix, axis=0)) ** 2).sum(axis=1)
    return found[int(np.argmin(distance))]


def choose(parts: Sequence[Sequence[tuple[int, float]]], suffix: Sequence[Table], target: int, *,
           how: Aggregation, tie: TieBreak, limit: int) -> Choice | None:
    """Pick one value per part (own amounts, then each child's flows, each in greedy order) whose sum is
    ``target`` and whose aggregated cost is optimal; ``suffix[k]`` combines parts ``k..`` (``suffix[len(parts)]``
    is the neutral table ``{0: 0}``). Greedy keeps the first optimal candidate in depth-first order; center the
    one nearest (Euclidean) to the per-part medians of all optimal candidates (the first on a tie)."""
    best = suffix[0].at(target)
    if best == INF:
        return None
    bound = best + _tolerance(best)
    found: list[tuple[int, ...]] = []
    steps = 0
    depth = len(parts)
    path: list[int] = []
    sums, costs, positions = [0], [0.0], [0]
    last_costs = dict(parts[-1])
    while positions:
        k = len(positions) - 1
        if positions[k] >= len(parts[k]):
            positions.pop()
            sums.pop()
            costs.pop()
            if path:
                path.pop()
            continue
        value, cost = parts[k][positions[k]]
        positions[k] += 1
        steps += 1
        q = _join(costs[k], cost, how)
        if _join(q, suffix[k + 1].at(target - sums[k] - value), how) > bound:
            continue
        if k + 2 == depth:  # the last part's value is fixed by the balance: looked up, not searched
            last = target - sums[k] - value
            steps += 1
            if _join(q, last_costs.get(last, INF), how) > bound:
                continue
            found.append((*path, value, last))
        elif k + 1 == depth:  # a node without children: its own amount is the only part
            found.append((*path, value))
        else:
            path.append(value)
            sums.append(sums[k] + value)
            costs.append(q)
            positions.append(0)
            continue
        if tie == "greedy" or len(found) >= limit:
            break
    if not found:  # cannot happen when suffix[0] is exact; kept as a guard against an inconsistent table
        return None
    pick = _center(found) if tie == "center" and len(found) > 1 else found[0]
    return Choice(pick, best, len(found), tie == "center" and len(found) >= limit, steps)
