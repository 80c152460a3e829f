"""Convex local problems and their OSQP solver.

A :class:`ConvexQP` is ``min 1/2 x'Qx + c'x  s.t.  lb <= x <= ub,  lo <= A x <= hi``, checked when it is
built. A :class:`ProximalSolver` solves the ADMM local step ``min f(x) + rho/2 ||x - r||^2`` for a
stream of references ``r``: OSQP is set up once, then each call only updates ``q`` (and ``P`` if
``rho`` changes) and warm-starts from the previous solution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import osqp
import scipy.sparse as sp
from numpy.typing import NDArray

from edge_agent.errors import ConfigError, SolverError

__all__ = ["ConvexQP", "ProximalSolver"]

Array = NDArray[np.float64]

# Tight enough that ADMM's own tolerances, not the local solves, limit the final accuracy.
# Polishing stays off: OSQP 1.x prints "Polishing not needed" to stdout from C even when not verbose.
_OSQP_SETTINGS = {"verbose": False, "eps_abs": 1e-8, "eps_rel": 1e-8, "polishing": False, "max_iter": 50000}
_SOLVED = osqp.SolverStatus.OSQP_SOLVED
_COMPILED_METHODS = ("update_data_vec", "solve")  # and the attributes ``info`` and ``solution``


def _compiled_solver(wrapper: osqp.OSQP) -> Any | None:
    """The compiled solver behind osqp 1.x's Python wrapper (its private ``_solver``), or None when this osqp
    has none with the members the hot path uses; :class:`ProximalSolver` then calls the public ``update`` and
    ``solve``. ``OSQP.solve()`` copies every info field into a fresh namespace on each call, which costs more
    than a warm-started solve of the small local problems; the compiled solver lets us read only the status
    and x. The only access to osqp's private members is here."""
    solver = getattr(wrapper, "_solver", None)
    if solver is None or not all(callable(getattr(solver, name, None)) for name in _COMPILED_METHODS):
        return None
    if not (hasattr(solver, "info") and hasattr(solver, "solution")):
        return None
    return solver


def _finite(name: str, value: object, owner: str, ndim: int) -> Array:
    array = np.array(value, dtype=np.float64)
    if array.ndim != ndim:
        raise ConfigError(f"participant {owner!r}: {name} must have {ndim} dimension(s), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"participant {owner!r}: {name} contains NaN or infinite values")
    return array


@dataclass(frozen=True)
class ConvexQP:
    """A participant's private convex problem; ``owner`` names it in every error."""

    owner: str
    lb: Array
    ub: Array
    c: Array = field(default_factory=lambda: np.zeros(0))
    Q: Array = field(default_factory=lambda: np.zeros((0, 0)))
    A: Array = field(default_factory=lambda: np.zeros((0, 0)))
    lo: Array = field(default_factory=lambda: np.zeros(0))
    hi: Array = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        owner = self.owner
        lb = _finite("lb", self.lb, owner, 1)
        n = lb.size
        if n == 0:
            raise ConfigError(f"participant {owner!r}: the decision vector is empty")
        ub = _finite("ub", self.ub, owner, 1)
        c = _finite("c", self.c, owner, 1) if np.size(self.c) else np.zeros(n)
        Q = _finite("Q", self.Q, owner, 2) if np.size(self.Q) else np.zeros((n, n))
        A = _finite("A", self.A, owner, 2) if np.size(self.A) else np.zeros((0, n))
        lo = np.array(self.lo, dtype=np.float64) if np.size(self.lo) else np.full(A.shape[0], -np.inf)
        hi = np.array(self.hi, dtype=np.float64) if np.size(self.hi) else np.full(A.shape[0], np.inf)
        for name, vec, size in (("ub", ub, n), ("c", c, n), ("lo", lo, A.shape[0]), ("hi", hi, A.shape[0])):
            if vec.shape != (size,):
                raise ConfigError(f"participant {owner!r}: {name} has length {vec.size}, expected {size}")
        if Q.shape != (n, n):
            raise ConfigError(f"participant {owner!r}: Q has shape {Q.shape}, expected ({n}, {n})")
        if A.shape[1] != n:
            raise ConfigError(f"participant {owner!r}: constraint matrix has {A.shape[1]} columns, expected {n}")
        if np.isnan(lo).any() or np.isnan(hi).any():
            raise ConfigError(f"participant {owner!r}: constraint bounds contain NaN")
        bad = np.flatnonzero(lb > ub)
        if bad.size:
            j = int(bad[0])
            raise ConfigError(
                f"participant {owner!r}: infeasible bounds, lb[{j}] = {lb[j]:g} > ub[{j}] = {ub[j]:g} "
                "(each lower bound must not exceed its upper bound)"
            )
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            j = int(bad[0])
            raise ConfigError(f"participant {owner!r}: constraint row {j} has lower bound > upper bound")
        if not np.allclose(Q, Q.T, atol=1e-12):
            raise ConfigError(f"participant {owner!r}: Q must be symmetric")
        Q = (Q + Q.T) / 2  # exactly symmetric: the solver reads one triangle, cost() the whole matrix
        if n and np.linalg.eigvalsh(Q).min() < -1e-9 * max(1.0, float(np.abs(Q).max())):
            raise ConfigError(f"participant {owner!r}: Q must be positive semidefinite (the cost must be convex)")
        for name, value in (("lb", lb), ("ub", ub), ("c", c), ("Q", Q), ("A", A), ("lo", lo), ("hi", hi)):
            value.flags.writeable = False
            object.__setattr__(self, name, value)

    @property
    def size(self) -> int:
        return int(self.lb.size)

    @cached_property
    def _quadratic(self) -> bool:
        return bool(self.Q.any())

    def cost(self, x: Array) -> float:
        linear = float(self.c @ x)
        return linear + 0.5 * float(x @ self.Q @ x) if self._quadratic else linear


class ProximalSolver:
    """Solves ``min 1/2 x'Qx + c'x + rho/2 ||x - reference||^2`` over the problem's feasible set."""

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
        if reference.shape != (self.problem.size,):
            raise SolverError(
                f"reference has length {reference.size}, the local problem has {self.problem.size} variables",
                participant=self.problem.owner,
            )
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
