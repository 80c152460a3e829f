"""OSQP as the solver of the ADMM local step, for the problems without a closed form (:mod:`.exact`).

Imported only when such a problem exists, so that an agent whose device has a closed-form step never loads
OSQP or scipy. The only access to osqp's private members is :func:`_compiled_solver`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import osqp
import scipy.sparse as sp
from numpy.typing import NDArray

from edge_agent.errors import SolverError
from edge_agent.solvers.qp import ConvexQP

__all__ = ["OsqpStep"]

Array = NDArray[np.float64]

# Tight enough that ADMM's own tolerances, not the local solves, limit the final accuracy.
# Polishing stays off: OSQP 1.x prints "Polishing not needed" to stdout from C even when not verbose.
_OSQP_SETTINGS = {"verbose": False, "eps_abs": 1e-8, "eps_rel": 1e-8, "polishing": False, "max_iter": 50000}
_SOLVED = osqp.SolverStatus.OSQP_SOLVED
_COMPILED_METHODS = ("update_data_vec", "solve")  # and the attributes ``info`` and ``solution``


def _compiled_solver(wrapper: osqp.OSQP) -> Any | None:
    """The compiled solver behind osqp 1.x's Python wrapper (its private ``_solver``), or None when this osqp
    has none with the members the hot path uses; :class:`OsqpStep` then calls the public ``update`` and
    ``solve``. ``OSQP.solve()`` copies every info field into a fresh namespace on each call, which costs more
    than a warm-started solve of the small local problems; the compiled solver lets us read only the status
    and x. The only access to osqp's private members is here."""
    solver = getattr(wrapper, "_solver", None)
    if solver is None or not all(callable(getattr(solver, name, None)) for name in _COMPILED_METHODS):
        return None
    if not (hasattr(solver, "info") and hasattr(solver, "solution")):
        return None
    return solver


class OsqpStep:
    """The ADMM local step of any :class:`ConvexQP` with OSQP: set up once, then each call updates ``q``
    (and ``P`` when ``rho`` changed) and warm-starts from the previous solution."""

    def __init__(self, problem: ConvexQP, rho: float) -> None:
        self.problem = problem
        n = problem.size
        pattern = sp.triu(sp.csc_matrix(np.abs(problem.Q) + np.eye(n)), format="csc")
        pattern.sort_indices()
        self._rows, self._cols = pattern.nonzero()
        order = np.lexsort((self._rows, self._cols))  # column-major, as CSC stores its data
        self._rows, self._cols = self._rows[order], self._cols[order]
        self._pattern = pattern
        self._rho = rho
        A = sp.vstack([sp.identity(n, format="csc"), sp.csc_matrix(problem.A)], format="csc")
        lower = np.concatenate([problem.lb, problem.lo])
        upper = np.concatenate([problem.ub, problem.hi])
        self._osqp = osqp.OSQP()
        self._osqp.setup(self._p_matrix(rho), problem.c.copy(), A, lower, upper, **_OSQP_SETTINGS)
        self._compiled = _compiled_solver(self._osqp)  # None: the public API (slower per call)

    def _p_values(self, rho: float) -> Array:
        full = self.problem.Q + rho * np.eye(self.problem.size)
        return np.asarray(full[self._rows, self._cols], dtype=np.float64)

    def _p_matrix(self, rho: float) -> sp.csc_matrix:
        matrix = self._pattern.copy()
        matrix.data = self._p_values(rho)
        return matrix

    def solve(self, reference: Array, rho: float) -> Array:
        if rho != self._rho:
            self._osqp.update(Px=self._p_values(rho))
            self._rho = rho
        q = self.problem.c - rho * reference
        solver = self._compiled
        if solver is not None:
            solver.update_data_vec(q=q, l=None, u=None)
            solver.solve()
            info = solver.info
            x: Array = solver.solution.x  # a fresh float64 array on every read
        else:
            self._osqp.update(q=q)
            result = self._osqp.solve(raise_error=False)
            info, x = result.info, result.x
        if info.status_val != _SOLVED:
            raise SolverError(
                f"local QP not solved: OSQP status {info.status!r}", participant=self.problem.owner,
                status=str(info.status),
            )
        return x.clip(self.problem.lb, self.problem.ub)
