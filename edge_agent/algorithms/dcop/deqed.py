"""DeQED (Hatano & Hirayama, seed 004): Lagrangian decomposition of a DCOP into per-variable subproblems.

The encoding. Every constraint ``e`` is given to the first variable ``u`` of its scope (its *owner*); for the
other variable ``v`` of a binary constraint the owner keeps a copy ``y_e`` of ``v`` (a value index, i.e. a unit
vector of the domain), and the copy constraint ``onehot(y_e) = onehot(x_v)`` is relaxed with a multiplier vector
``lambda_e`` (one entry per value of ``v``). Variable ``u``'s subproblem is then, for each own value ``a``,

    cost_u(a) = sum_{unary e of u} f_e(a) + sum_{e owned by u} min_b [f_e(a, b) + lambda_e[b]]
                - sum_{e copying u} lambda_e[a]

and ``x_u = argmin cost_u``: each variable solves its subproblem alone. ``sum_u min cost_u`` is a **lower bound**
on the optimum for any multipliers (weak duality); the original cost at ``x`` is the cost of a complete
assignment, an **upper bound**. The multipliers move by subgradient ascent, ``lambda_e += s_e(t) *
(onehot(y_e) - onehot(x_v))``, with the step ``s_e(t) = step * range(f_e) / sqrt(1 + t)`` (``range``: the spread
of the table, so scale-free in the costs). Best bounds so far are kept, with their cycle; the run stops
early once they meet (with integer costs, once the lower bound rounded up reaches the upper one).

The upper bound of a cycle is the cost after a Lagrangian heuristic: MGM's descent (moves of variables whose
gain beats every neighbour's) from that cycle's ``x`` to a 1-opt assignment, so it is never worse than the
cost at ``x`` and, starting from the relaxation's guidance, usually better than MGM from a random start.

How it runs: a synchronous simulation in one process, vectorised over the constraints (all subproblems of a
cycle at once; each is still local: it reads only its own tables and the multipliers of its constraints). Per
cycle each binary constraint costs two messages (the owner's copy choice to ``v``'s agent, ``v``'s multiplier
vector back), counted in ``messages``; the upper bound is evaluated by the observer. Not run over MQTT.
Constraints of more than two variables are refused (the encoding here is written for unary and binary ones).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.algorithms.dcop.runner import dcop_report
from edge_agent.errors import ConfigError
from edge_agent.results import RunReport

__all__ = ["DeqedResult", "deqed", "deqed_report"]

Array = NDArray[np.float64]
BIG = 1e300


@dataclass(frozen=True)
class DeqedResult:
    lower: list[float]  # per cycle (minimisation form)
    upper: list[float]
    best_lower: float
    best_upper: float
    best_assignment: dict[str, int]
    best_lower_cycle: int
    best_upper_cycle: int
    messages: int
    wall_s: float


def deqed(dcop: Dcop, cycles: int = 200, step: float = 0.1) -> DeqedResult:
    """Run DeQED for ``cycles`` cycles (see the module); costs in the minimisation form."""
    if cycles < 1 or not step > 0:
        raise ConfigError(f"DeQED needs cycles >= 1 and step > 0, got {cycles} and {step}")
    started = time.perf_counter()
    n = len(dcop.variables)
    unary, invalid, u, v, t_all = _encode(dcop)
    edges, width = len(u), unary.shape[1]
    real = t_all < BIG / 2
    spread = np.array([float(np.ptp(t[r])) if r.any() else 0.0 for t, r in zip(t_all, real, strict=True)])
    scale = np.maximum(spread, 1e-9)
    integral = all(bool(np.all(t == np.round(t))) for t in dcop.cost_tables)
    lam = np.zeros((edges, width))
    lam_valid = ~invalid[v] if edges else np.zeros((0, width), dtype=bool)
    rows = np.arange(edges)
    lower, upper = [], []
    best_lower, best_upper = -math.inf, math.inf
    best_x = np.zeros(n, dtype=np.int64)
    best_lower_cycle = best_upper_cycle = polish_rounds = 0
    for t in range(cycles):
        shifted = t_all + lam[:, None, :]
        best_copy = shifted.argmin(axis=2)  # (E, D): the owner's best copy value for each own value
        best_cost = np.take_along_axis(shifted, best_copy[:, :, None], axis=2)[:, :, 0]
        cost = unary.copy()
        np.add.at(cost, u, best_cost)
        np.subtract.at(cost, v, np.where(lam_valid, lam, 0.0))
        cost[invalid] = BIG
        x = cost.argmin(axis=1)
        bound = float(cost[np.arange(n), x].sum())
        polished, rounds = _descend(x, unary, t_all, u, v)
        polish_rounds += rounds
        value = float(unary[np.arange(n), polished].sum() + t_all[rows, polished[u], polished[v]].sum())
        lower.append(bound)
        upper.append(value)
        if bound > best_lower:
            best_lower, best_lower_cycle = bound, t
        if value < best_upper:
            best_upper, best_upper_cycle, best_x = value, t, polished
        if _proven(best_lower, best_upper, integral):
            break
        y = best_copy[rows, x[u]]
        g = np.zeros((edges, width))
        g[rows, y] += 1.0
        g[rows, x[v]] -= 1.0
        lam += (step * scale / math.sqrt(1.0 + t))[:, None] * g
        lam[~lam_valid] = 0.0
    return DeqedResult(lower=lower, upper=upper, best_lower=best_lower, best_upper=best_upper,
                       best_assignment={var.name: int(best_x[i]) for i, var in enumerate(dcop.variables)},
                       best_lower_cycle=best_lower_cycle, best_upper_cycle=best_upper_cycle,
                       messages=2 * edges * (len(lower) + polish_rounds), wall_s=time.perf_counter() - started)


def _proven(lower: float, upper: float, integral: bool) -> bool:
    """Whether the bounds meet (with integer costs the optimum is an integer: the lower bound rounds up)."""
    return (math.ceil(lower - 1e-6) if integral else lower) >= upper - 1e-9


def _encode(dcop: Dcop) -> tuple[Array, NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64], Array]:
    """Unary costs (n x D, padded domains at ``BIG``), the padding mask, each binary constraint's owner and
    copied variable, and its table padded to D x D."""
    index = dcop.index
    size = np.array([var.size for var in dcop.variables])
    width = int(size.max())
    invalid = np.arange(width)[None, :] >= size[:, None]
    unary = np.where(invalid, BIG, 0.0)
    owners, copies, tables = [], [], []
    for c, table in zip(dcop.constraints, dcop.cost_tables, strict=True):
        if c.arity == 1:
            unary[index[c.scope[0]], : table.shape[0]] += table
        elif c.arity == 2:
            padded = np.full((width, width), BIG)
            padded[: table.shape[0], : table.shape[1]] = table
            owners.append(index[c.scope[0]])
            copies.append(index[c.scope[1]])
            tables.append(padded)
        else:
            raise ConfigError(f"DeQED handles unary and binary constraints; {c.name!r} has {c.arity} variables")
    return (unary, invalid, np.array(owners, dtype=np.int64), np.array(copies, dtype=np.int64),
            np.array(tables).reshape(len(owners), width, width))


def _descend(x: NDArray[np.int64], unary: Array, tables: Array, u: NDArray[np.int64], v: NDArray[np.int64]
             ) -> tuple[NDArray[np.int64], int]:
    """MGM from ``x`` to a 1-opt assignment: each round, every variable whose best move gains strictly more
    than each neighbour's (ties: the lower index) takes it. Returns the assignment and the rounds it took."""
    x = x.copy()
    n = len(x)
    rows = np.arange(len(u))
    rounds = 0
    while True:
        local = unary.copy()
        np.add.at(local, u, tables[rows, :, x[v]])
        np.add.at(local, v, tables[rows, x[u], :])
        best = local.argmin(axis=1)
        gain = local[np.arange(n), x] - local[np.arange(n), best]
        gain[gain <= 1e-9] = 0.0
        if not gain.any():
            return x, rounds
        beaten = np.zeros(n, dtype=bool)
        np.logical_or.at(beaten, u, (gain[v] > gain[u]) | ((gain[v] == gain[u]) & (v < u)))
        np.logical_or.at(beaten, v, (gain[u] > gain[v]) | ((gain[u] == gain[v]) & (u < v)))
        moving = (gain > 0) & ~beaten
        x[moving] = best[moving]
        rounds += 1


def deqed_report(dcop: Dcop, scenario: str, result: DeqedResult) -> RunReport:
    """The report: the best assignment (the upper bound's) and both bounds in the user's sense. Integer costs
    let the lower bound be rounded up; ``converged`` (optimal) only when the bounds meet."""
    integral = all(bool(np.all(t == np.round(t))) for t in dcop.cost_tables)
    low = math.ceil(result.best_lower - 1e-6) if integral else result.best_lower
    optimal = _proven(result.best_lower, result.best_upper, integral)
    flip = -1.0 if dcop.maximise else 1.0
    bounds = sorted((flip * low, flip * result.best_upper))
    return dcop_report(dcop, scenario, "deqed", "converged" if optimal else "max_iterations",
                       result.best_assignment, iterations=len(result.lower), messages=result.messages,
                       wall_s=result.wall_s, extra={
                           "optimal": optimal, "lower_bound": bounds[0], "upper_bound": bounds[1],
                           "bound_note": ("in the user's sense; minimising, lower_bound is the Lagrangian dual "
                                          "bound and upper_bound the cost of the reported assignment"),
                           "best_cycle": result.best_upper_cycle,
                           "best_lower_cycle": result.best_lower_cycle,
                           "best_upper_cycle": result.best_upper_cycle,
                           "dual_history": [flip * b for b in result.lower],
                           "cost_history": [flip * c for c in result.upper]})
