"""Central reference solves of the ADMM problems with HiGHS: the independent oracle for tests and benchmarks.

The stacked problem has every participant's variables at once:
``min sum_i 1/2 x_i'Q_i x_i + c_i'x_i + coupling(sum_i x_i)`` subject to each participant's own constraints,
with coupling ``sum_j p_j |y_j - t_j|`` (sharing; slack variables ``s >= +-(y - t)``) or
``beta/2 ||y - t||^2`` (consensus; ``y = sum_i x_i`` as extra variables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from edge_agent.algorithms.scheduling.model import Task
from edge_agent.errors import SolverError
from edge_agent.solvers.qp import ConvexQP

__all__ = ["CentralSolution", "SchedulingOptimum", "solve_consensus", "solve_scheduling", "solve_sharing"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class CentralSolution:
    objective: float
    x: Array  # shape (N, m)

    @property
    def aggregate(self) -> Array:
        return np.asarray(self.x.sum(axis=0), dtype=np.float64)


def solve_sharing(problems: Sequence[ConvexQP], target: Array, priorities: Array) -> CentralSolution:
    m = len(target)
    extra_cost = np.abs(np.asarray(priorities, dtype=float))
    # rows: s_j - y_j >= -t_j  and  s_j + y_j >= t_j, with y_j = sum_i x_ij
    return _solve(problems, m, extra_cost, np.zeros((m, m)), _slack_rows(len(problems), m, target), constant=0.0)


def solve_consensus(problems: Sequence[ConvexQP], target: Array, beta: float) -> CentralSolution:
    m = len(target)
    t = np.asarray(target, dtype=float)
    # extra variables y = sum_i x_i; objective beta/2 ||y||^2 - beta t'y + beta/2 ||t||^2
    rows: list[Row] = []
    for j in range(m):
        coeffs = {(i, j): 1.0 for i in range(len(problems))}
        rows.append((coeffs, {j: -1.0}, 0.0, 0.0))
    return _solve(problems, m, -beta * t, beta * np.eye(m), rows, constant=0.5 * beta * float(t @ t))


# A coupling row: coefficients on x (keyed by participant, entry), on the extra variables, lower, upper bound.
Row = tuple[dict[tuple[int, int], float], dict[int, float], float, float]


def _slack_rows(n: int, m: int, target: Array) -> list[Row]:
    rows: list[Row] = []
    for j in range(m):
        plus = {(i, j): 1.0 for i in range(n)}
        minus = {(i, j): -1.0 for i in range(n)}
        rows.append((minus, {j: 1.0}, -float(target[j]), np.inf))
        rows.append((plus, {j: 1.0}, float(target[j]), np.inf))
    return rows


def _solve(
    problems: Sequence[ConvexQP],
    m: int,
    extra_cost: Array,
    extra_hessian: Array,
    coupling_rows: list[Row],
    *,
    constant: float,
) -> CentralSolution:
    import highspy  # noqa: PLC0415  (dev extra: imported only when an oracle is asked for)

    n = len(problems)
    nx = n * m
    total = nx + m
    cost = np.concatenate([np.concatenate([p.c for p in problems]), extra_cost])
    lower = np.concatenate([np.concatenate([p.lb for p in problems]), np.full(m, -np.inf)])
    upper = np.concatenate([np.concatenate([p.ub for p in problems]), np.full(m, np.inf)])
    hessian = sp.block_diag([*(p.Q for p in problems), extra_hessian], format="csc")

    row_lo, row_hi, blocks = [], [], []
    for i, p in enumerate(problems):
        if p.A.shape[0]:
            block = sp.lil_matrix((p.A.shape[0], total))
            block[:, i * m : (i + 1) * m] = p.A
            blocks.append(block)
            row_lo.append(p.lo)
            row_hi.append(p.hi)
    for x_coeffs, extra_coeffs, lo, hi in coupling_rows:
        row = sp.lil_matrix((1, total))
        for (i, j), value in x_coeffs.items():
            row[0, i * m + j] = value
        for j, value in extra_coeffs.items():
            row[0, nx + j] = value
        blocks.append(row)
        row_lo.append(np.array([lo]))
        row_hi.append(np.array([hi]))
    A = sp.vstack(blocks, format="csc")

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = total
    lp.num_row_ = A.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = np.where(np.isinf(lower), -inf, lower)
    lp.col_upper_ = np.where(np.isinf(upper), inf, upper)
    lo_all, hi_all = np.concatenate(row_lo), np.concatenate(row_hi)
    lp.row_lower_ = np.where(np.isinf(lo_all), -inf, lo_all)
    lp.row_upper_ = np.where(np.isinf(hi_all), inf, hi_all)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    h.passModel(lp)
    lower_tri = sp.tril(hessian, format="csc")
    if lower_tri.nnz:
        h.passHessian(total, lower_tri.nnz, int(highspy.HessianFormat.kTriangular),
                      lower_tri.indptr, lower_tri.indices, lower_tri.data)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"central solve failed: {h.modelStatusToString(status)}")
    values = np.array(h.getSolution().col_value)
    return CentralSolution(objective=float(h.getInfo().objective_function_value) + constant,
                           x=values[:nx].reshape(n, m))


def solve_dispatch(
    a: Sequence[float] | Array, b: Sequence[float] | Array, lower: Sequence[float] | Array,
    upper: Sequence[float] | Array, demand: float,
) -> tuple[CentralSolution, float]:
    """Economic dispatch ``min sum_i a_i x_i + b_i x_i^2  s.t.  sum_i x_i = demand, lower <= x <= upper``.

    Returns the solution (``x`` of shape (N, 1)) and the marginal cost at the optimum (the dual of the
    balance row; the primal-dual algorithm's multiplier is its negative).
    """
    import highspy  # noqa: PLC0415  (dev extra: imported only when an oracle is asked for)

    n = len(a)
    hessian = sp.diags(2.0 * np.asarray(b, dtype=float), format="csc")
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, 1
    lp.col_cost_ = np.asarray(a, dtype=float)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = lp.row_upper_ = np.array([float(demand)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(n + 1, dtype=np.int32)
    lp.a_matrix_.index_ = np.zeros(n, dtype=np.int32)
    lp.a_matrix_.value_ = np.ones(n)
    h.passModel(lp)
    h.passHessian(n, n, int(highspy.HessianFormat.kTriangular), hessian.indptr, hessian.indices, hessian.data)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"central dispatch failed: {h.modelStatusToString(status)}")
    solution = h.getSolution()
    x = np.array(solution.col_value).reshape(n, 1)
    return CentralSolution(objective=float(h.getInfo().objective_function_value), x=x), float(solution.row_dual[0])


# -- COHDA: choose one schedule per participant (multiple-choice combinatorial problem) --------------
@dataclass(frozen=True)
class SelectionSolution:
    """The optimal choice ``indices[i]`` of participant ``i`` and its weighted L1 distance to the target."""

    indices: tuple[int, ...]
    distance: float


def _selection_inputs(
    schedules: Sequence[Array], target: Array, weights: Array | None
) -> tuple[list[Array], Array, Array]:
    sets = [np.asarray(s, dtype=np.float64) for s in schedules]
    t = np.asarray(target, dtype=np.float64)
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    if not sets or any(s.ndim != 2 or s.shape[0] == 0 or s.shape[1] != t.size for s in sets):
        raise SolverError("every participant needs a non-empty (m_i, T) schedule matrix with T = len(target)")
    return sets, t, w


def brute_force_selection(
    schedules: Sequence[Array], target: Array, weights: Array | None = None, limit: int = 2_000_000
) -> SelectionSolution:
    """Try every combination (vectorised, one participant at a time); for ``prod(m_i) <= limit`` only."""
    sets, t, w = _selection_inputs(schedules, target, weights)
    count = int(np.prod([s.shape[0] for s in sets], dtype=np.float64))
    if count > limit:
        raise SolverError(f"{count} combinations exceed the brute-force limit {limit}; use solve_selection")
    sums = sets[0]  # (combinations so far, T)
    for s in sets[1:]:
        sums = (sums[:, np.newaxis, :] + s[np.newaxis, :, :]).reshape(-1, t.size)
    distances = (np.abs(t - sums) * w).sum(axis=1)
    best = int(np.argmin(distances))
    indices = np.unravel_index(best, [s.shape[0] for s in sets])
    return SelectionSolution(tuple(int(k) for k in indices), float(distances[best]))


def solve_selection(
    schedules: Sequence[Array], target: Array, weights: Array | None = None, time_limit_s: float = 60.0
) -> SelectionSolution:
    """The exact optimum as a HiGHS MIP: binary ``x_ij`` (one per participant), slacks ``s_t >= |t - sum|``.

    ``min sum_t w_t s_t  s.t.  sum_j x_ij = 1,  s_t - sum_ij S_ijt x_ij >= -t_t,  s_t + sum_ij S_ijt x_ij >= t_t``.
    Raises :class:`SolverError` unless HiGHS proves optimality within ``time_limit_s``.
    """
    import highspy  # noqa: PLC0415  (dev extra: imported only when an oracle is asked for)

    sets, t, w = _selection_inputs(schedules, target, weights)
    sizes = [s.shape[0] for s in sets]
    n_x, horizon = sum(sizes), t.size
    stacked = np.concatenate(sets)  # (n_x, T)
    choose = sp.block_diag([np.ones((1, m)) for m in sizes], format="csr")  # (N, n_x)
    slack = sp.identity(horizon, format="csr")
    A = sp.vstack(
        [
            sp.hstack([choose, sp.csr_matrix((len(sets), horizon))]),
            sp.hstack([sp.csr_matrix(-stacked.T), slack]),
            sp.hstack([sp.csr_matrix(stacked.T), slack]),
        ],
        format="csc",
    )
    inf = highspy.kHighsInf
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_x + horizon, A.shape[0]
    lp.col_cost_ = np.concatenate([np.zeros(n_x), w])
    lp.col_lower_ = np.zeros(n_x + horizon)
    lp.col_upper_ = np.concatenate([np.ones(n_x), np.full(horizon, inf)])
    lp.row_lower_ = np.concatenate([np.ones(len(sets)), -t, t])
    lp.row_upper_ = np.concatenate([np.ones(len(sets)), np.full(2 * horizon, inf)])
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_x + [highspy.HighsVarType.kContinuous] * horizon
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"selection MIP not solved to optimality: {h.modelStatusToString(status)}")
    x = np.array(h.getSolution().col_value[:n_x])
    starts = np.cumsum([0, *sizes[:-1]])
    indices = tuple(int(np.argmax(x[a : a + m])) for a, m in zip(starts, sizes, strict=True))
    chosen = np.sum([s[k] for s, k in zip(sets, indices, strict=True)], axis=0)
    return SelectionSolution(indices, float((np.abs(t - chosen) * w).sum()))


@dataclass(frozen=True)
class SchedulingOptimum:
    total: float  # the largest total satisfaction
    placed: dict[str, tuple[str, float]]  # task id -> (resource, start) of every task with satisfaction > 0


def solve_scheduling(
    horizons: Mapping[str, float], tasks: Sequence[Task], time_limit_s: float = 60.0
) -> SchedulingOptimum:
    """The most total satisfaction any schedule reaches, as a HiGHS MIP (the oracle of the negotiation).

    Per task ``i``: completion ``C_i``, satisfaction ``s_i in [0, 1]``, binaries ``x_ir`` (booked on ``r``,
    at most one). ``s_i <= sum_r x_ir`` and ``s_i <=`` both sides of the triangle at ``C_i`` (relaxed by
    ``L (1 - sum_r x_ir)`` for an unbooked task); a booked task ends within its resource's horizon; two tasks
    on one resource do not overlap (order binary ``o_ij``, big-M). Maximise ``sum_i s_i``.
    """
    import highspy  # noqa: PLC0415  (dev extra: imported only when an oracle is asked for)

    resources = list(horizons)
    n, k = len(tasks), len(resources)
    longest = max(horizons.values())
    big = 2.0 * (longest + sum(t.duration for t in tasks))
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    inf = highspy.kHighsInf

    def var(lower: float, upper: float, cost: float = 0.0, integer: bool = False) -> int:
        h.addCol(cost, lower, upper, 0, [], [])
        index = int(h.getNumCol()) - 1
        if integer:
            h.changeColIntegrality(index, highspy.HighsVarType.kInteger)
        return index

    def row(lower: float, upper: float, coefficients: dict[int, float]) -> None:
        h.addRow(lower, upper, len(coefficients), list(coefficients), list(coefficients.values()))

    completion = [var(t.duration, longest) for t in tasks]
    satisfaction = [var(0.0, 1.0, cost=-1.0) for _ in tasks]
    booked = [[var(0.0, 1.0, integer=True) for _ in resources] for _ in tasks]
    for i, task in enumerate(tasks):
        slope = 2.0 / task.width
        relax = slope * (longest + abs(task.favourable)) + 2.0
        on_any = {booked[i][r]: 1.0 for r in range(k)}
        row(-inf, 1.0, on_any)
        row(-inf, 0.0, {satisfaction[i]: 1.0, **dict.fromkeys(on_any, -1.0)})
        rising = 1.0 - slope * task.favourable + relax  # s <= 1 + slope (C - f) + relax (1 - booked)
        row(-inf, rising, {satisfaction[i]: 1.0, completion[i]: -slope, **dict.fromkeys(on_any, relax)})
        falling = 1.0 + slope * task.favourable + relax  # s <= 1 - slope (C - f) + relax (1 - booked)
        row(-inf, falling, {satisfaction[i]: 1.0, completion[i]: slope, **dict.fromkeys(on_any, relax)})
        for r, resource in enumerate(resources):
            row(-inf, horizons[resource] + big, {completion[i]: 1.0, booked[i][r]: big})
    for i in range(n):
        for j in range(i + 1, n):
            first = var(0.0, 1.0, integer=True)  # 1: i before j
            for r in range(k):
                both = {booked[i][r]: big, booked[j][r]: big}
                row(-inf, -tasks[j].duration + 3 * big, {completion[i]: 1.0, completion[j]: -1.0, first: big, **both})
                row(-inf, -tasks[i].duration + 2 * big, {completion[j]: 1.0, completion[i]: -1.0, first: -big, **both})
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"scheduling MIP not solved to optimality: {h.modelStatusToString(status)}")
    values = np.array(h.getSolution().col_value)
    placed = {}
    for i, task in enumerate(tasks):
        on = [r for r in range(k) if values[booked[i][r]] > 0.5]
        if on and values[satisfaction[i]] > 1e-9:
            placed[task.id] = (resources[on[0]], float(values[completion[i]]) - task.duration)
    return SchedulingOptimum(float(values[satisfaction].sum()), placed)
