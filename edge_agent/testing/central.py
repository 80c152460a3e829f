"""Central reference solves of the ADMM problems with HiGHS: the independent oracle for tests and benchmarks.

The stacked problem has every participant's variables at once:
``min sum_i 1/2 x_i'Q_i x_i + c_i'x_i + coupling(sum_i x_i)`` subject to each participant's own constraints,
with coupling ``sum_j p_j |y_j - t_j|`` (sharing; slack variables ``s >= +-(y - t)``) or
``beta/2 ||y - t||^2`` (consensus; ``y = sum_i x_i`` as extra variables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from edge_agent.errors import SolverError
from edge_agent.solvers.qp import ConvexQP

__all__ = ["CentralSolution", "solve_consensus", "solve_sharing"]

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
