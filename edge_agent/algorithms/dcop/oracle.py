"""Independent optima for tests and benchmarks: a HiGHS MIP over the same DCOP, and brute force on tiny ones.

The MIP (local-polytope form): a binary ``x[v, a]`` per variable and value with ``sum_a x[v, a] = 1``; per
constraint a ``y[c, t]`` in ``[0, 1]`` per table entry ``t`` with ``sum_t y[c, t] = 1`` and, for every variable
``v`` of the scope and value ``a``, ``sum_{t : t_v = a} y[c, t] = x[v, a]``; minimise ``sum cost[c, t] y[c, t]``.
With ``x`` integral the marginals force ``y`` onto the one entry the assignment picks, so ``y`` needs no
integrality. Neither oracle shares code with the algorithms beyond :meth:`Dcop.cost`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.errors import ConfigError, SolverError

__all__ = ["Optimum", "brute_force", "mip_optimum"]


@dataclass(frozen=True)
class Optimum:
    cost: float  # minimisation form (``Dcop.cost``)
    assignment: dict[str, int]
    proven: bool  # HiGHS proved optimality (always True for brute force)
    bound: float | None = None  # a lower bound on the optimum (HiGHS's dual bound; the cost when proven)


def brute_force(dcop: Dcop, most: int = 200_000) -> Optimum:
    """Try every assignment (refused beyond ``most`` of them)."""
    sizes = [v.size for v in dcop.variables]
    if math.prod(sizes) > most:
        raise ConfigError(f"brute force over {math.prod(sizes)} assignments exceeds {most}")
    names = [v.name for v in dcop.variables]
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.product(*(range(s) for s in sizes)):
        cost = dcop.cost(dict(zip(names, combo, strict=True)))
        if best is None or cost < best[0]:
            best = (cost, combo)
    assert best is not None
    return Optimum(best[0], dict(zip(names, best[1], strict=True)), proven=True, bound=best[0])


def mip_optimum(dcop: Dcop, time_limit_s: float = 60.0) -> Optimum:
    """The optimum by HiGHS; ``proven`` False if the time limit cut the search (the incumbent is returned)."""
    import highspy  # noqa: PLC0415  (dev extra: imported only when an oracle is asked for)

    x_start, A, lower, upper, costs = _rows(dcop)
    n_x, n = sum(v.size for v in dcop.variables), A.shape[1]
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(lower)
    lp.col_cost_ = np.asarray(costs, dtype=np.float64)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.asarray(lower)
    lp.row_upper_ = np.asarray(upper)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_x + [highspy.HighsVarType.kContinuous] * (n - n_x)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    proven = status == highspy.HighsModelStatus.kOptimal
    if not proven and status != highspy.HighsModelStatus.kTimeLimit:
        raise SolverError(f"DCOP MIP not solved: {h.modelStatusToString(status)}")
    x = np.asarray(h.getSolution().col_value[:n_x])
    if x.size != n_x:
        raise SolverError(f"DCOP MIP found no assignment within {time_limit_s:g} s")
    assignment = {v.name: int(np.argmax(x[x_start[v.name]: x_start[v.name] + v.size])) for v in dcop.variables}
    cost = dcop.cost(assignment)
    bound = cost if proven else float(h.getInfo().mip_dual_bound)
    return Optimum(cost, assignment, proven, bound)


def _rows(dcop: Dcop) -> tuple[dict[str, int], sp.csc_matrix, list[float], list[float], list[float]]:
    """Column offsets of the ``x`` of each variable, the constraint matrix, row bounds, column costs."""
    x_start, column = {}, 0
    for v in dcop.variables:
        x_start[v.name] = column
        column += v.size
    n_x = column
    costs: list[float] = []
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def row(entries: list[tuple[int, float]], bound: float) -> None:
        r = len(lower)
        for c, value in entries:
            rows.append(r)
            cols.append(c)
            vals.append(value)
        lower.append(bound)
        upper.append(bound)

    for v in dcop.variables:
        row([(x_start[v.name] + a, 1.0) for a in range(v.size)], 1.0)
    for c, table in zip(dcop.constraints, dcop.cost_tables, strict=True):
        y0 = n_x + len(costs)
        costs.extend(table.ravel().tolist())
        entries = np.arange(table.size).reshape(table.shape)
        row([(y0 + int(t), 1.0) for t in entries.ravel()], 1.0)
        for axis, name in enumerate(c.scope):
            for a in range(table.shape[axis]):
                picked = np.take(entries, a, axis=axis).ravel()
                row([(y0 + int(t), 1.0) for t in picked] + [(x_start[name] + a, -1.0)], 0.0)
    n = n_x + len(costs)
    A = sp.csc_matrix((vals, (rows, cols)), shape=(len(lower), n))
    return x_start, A, lower, upper, [0.0] * n_x + costs

