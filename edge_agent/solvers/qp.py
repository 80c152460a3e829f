"""Convex local problems and the solver of their ADMM step.

A :class:`ConvexQP` is ``min 1/2 x'Qx + c'x  s.t.  lb <= x <= ub,  lo <= A x <= hi``, checked when it is
built. A :class:`ProximalSolver` solves the ADMM local step ``min f(x) + rho/2 ||x - r||^2`` for a
stream of references ``r``: in closed form where the problem's shape allows (:mod:`.exact`: generators,
flexible loads, one-to-many converters), else with OSQP (:mod:`.osqp_step`), which is imported only then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import ConfigError, SolverError
from edge_agent.solvers.exact import ExactStep, exact_step

__all__ = ["ConvexQP", "ProximalSolver"]

Array = NDArray[np.float64]

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
    """Solves ``min 1/2 x'Qx + c'x + rho/2 ||x - reference||^2`` over the problem's feasible set.

    ``method="auto"`` takes the closed form when there is one (``self.method`` says which was taken);
    ``"osqp"`` always uses OSQP.
    """

    def __init__(self, problem: ConvexQP, rho: float, method: Literal["auto", "osqp"] = "auto") -> None:
        self.problem = problem
        exact = exact_step(problem) if method == "auto" else None
        self.method: Literal["closed form", "osqp"] = "osqp" if exact is None else "closed form"
        if exact is None:
            from edge_agent.solvers.osqp_step import OsqpStep  # noqa: PLC0415  (OSQP and scipy load only when needed)

            self._step: ExactStep = OsqpStep(problem, rho)
        else:
            self._step = exact

    def solve(self, reference: Array, rho: float) -> Array:
        if reference.shape != (self.problem.size,):
            raise SolverError(
                f"reference has length {reference.size}, the local problem has {self.problem.size} variables",
                participant=self.problem.owner,
            )
        return self._step.solve(reference, rho)
