"""An independent optimum of a generalised assignment problem: HiGHS (through scipy's ``milp``) on the plain
MIP ``max sum_ij g_ij x_ij``, ``sum_i x_ij = 1`` per good, ``sum_j w_ij x_ij <= c_i`` per agent, ``x`` binary.
Takes bare arrays, so it shares nothing with the algorithms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from edge_agent.errors import SolverError

__all__ = ["GapOptimum", "solve_gap"]


@dataclass(frozen=True)
class GapOptimum:
    feasible: bool
    value: float | None  # the maximised gain; None when infeasible
    owner: NDArray[np.int64] | None  # each good's agent


def solve_gap(gain: NDArray[np.float64], weight: NDArray[np.int64], capacity: NDArray[np.int64],
              time_limit_s: float = 60.0) -> GapOptimum:
    m, n = gain.shape
    assign = sp.kron(sp.csr_matrix(np.ones((1, m))), sp.identity(n))  # x flattened agent-major: x[i * n + j]
    load = sp.block_diag([sp.csr_matrix(weight[i].reshape(1, n)) for i in range(m)])
    constraints = [LinearConstraint(assign, 1, 1), LinearConstraint(load, -np.inf, capacity.astype(float))]
    result = milp(-gain.ravel(), constraints=constraints, integrality=np.ones(m * n), bounds=Bounds(0, 1),
                  options={"time_limit": time_limit_s})
    if result.status == 2:
        return GapOptimum(False, None, None)
    if result.status != 0 or result.x is None:
        raise SolverError(f"GAP MIP not solved: {result.message}")
    x = np.round(result.x).reshape(m, n)
    return GapOptimum(True, float(-result.fun), np.argmax(x, axis=0).astype(np.int64))
