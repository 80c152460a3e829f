"""Exact proximal steps in closed form, for the local problems whose feasible set has a simple shape.

The ADMM local step is ``min 1/2 x'Qx + c'x + rho/2 ||x - r||^2`` over ``lb <= x <= ub, lo <= A x <= hi``.
It needs no QP solver when

* **Q is diagonal and there is at most one constraint row** (a generator: bounds only; a flexible load: one
  energy row). Each ``x_i(lam) = clip((rho r_i - c_i - lam a_i) / (q_i + rho), lb_i, ub_i)`` for the row's
  multiplier ``lam``; ``a'x(lam)`` is non-increasing and piecewise linear in ``lam``, so the ``lam`` that puts
  ``a'x`` on the violated side of ``[lo, hi]`` is found among the sorted breakpoints and interpolated exactly;
* **every row is an equality and, with the fixed variables (``lb_i = ub_i``) removed, the rows leave a line**
  ``x = x0 + s d`` (a one-to-many converter with fixed output ratios): a one-dimensional QP in ``s`` over the
  interval the bounds allow.

:func:`exact_step` returns the solver for such a problem, or None (OSQP then solves it: a battery's
cumulative energy rows, a general QP). Both agree with OSQP to its tolerance (``tests/unit/test_exact.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import SolverError

if TYPE_CHECKING:
    from edge_agent.solvers.qp import ConvexQP

__all__ = ["ExactStep", "exact_step"]

Array = NDArray[np.float64]


class ExactStep(Protocol):
    """A solver of the ADMM local step (closed form, or :class:`~edge_agent.solvers.osqp_step.OsqpStep`)."""

    def solve(self, reference: Array, rho: float) -> Array: ...


def exact_step(problem: ConvexQP) -> ExactStep | None:
    """The closed-form proximal solver of ``problem``, or None if its shape has none here."""
    Q = problem.Q
    diagonal = not (Q - np.diag(np.diag(Q))).any()
    if diagonal and problem.A.shape[0] <= 1:
        return _DiagonalOneRow(problem)
    if problem.A.shape[0] and np.array_equal(problem.lo, problem.hi):
        return _Line.of(problem)
    return None


def _infeasible(problem: ConvexQP, what: str) -> SolverError:
    return SolverError(f"local QP not solved: primal infeasible ({what})", participant=problem.owner,
                       status="primal infeasible")


class _DiagonalOneRow:
    """Diagonal Q, the bounds and at most one row ``lo <= a'x <= hi``."""

    def __init__(self, problem: ConvexQP) -> None:
        self.problem = problem
        self.q = np.diag(problem.Q).copy()
        self.a = problem.A[0] if problem.A.shape[0] else None
        self.unreachable = ""  # why the row cannot be met within the bounds, if it cannot
        if self.a is not None:
            low = float(np.where(self.a > 0, problem.lb, problem.ub) @ self.a)  # a'x over the box: [low, high]
            high = float(np.where(self.a > 0, problem.ub, problem.lb) @ self.a)
            if high < problem.lo[0] or low > problem.hi[0]:
                self.unreachable = f"a'x ranges over [{low:g}, {high:g}] within the bounds, the row asks " \
                                   f"[{problem.lo[0]:g}, {problem.hi[0]:g}]"

    def solve(self, reference: Array, rho: float) -> Array:
        p = self.problem
        u, w = rho * reference - p.c, self.q + rho
        x: Array = np.minimum(np.maximum(u / w, p.lb), p.ub)
        a = self.a
        if a is None:
            return x
        if self.unreachable:
            raise _infeasible(p, self.unreachable)
        value = float(a @ x)
        if value > p.hi[0]:
            return self._at(p.hi[0], u, w, a)
        if value < p.lo[0]:
            return self._at(p.lo[0], u, w, a)
        return x

    def _at(self, target: float, u: Array, w: Array, a: Array) -> Array:
        """``x(lam)`` with ``a'x(lam) = target`` (reachable: checked when the problem was set up)."""
        p = self.problem
        moving = a != 0
        um, wm, am = u[moving], w[moving], a[moving]
        # x_i leaves a bound where (u_i - lam a_i) / w_i crosses it
        breaks = np.concatenate([(um - wm * p.lb[moving]) / am, (um - wm * p.ub[moving]) / am])
        breaks = np.unique(breaks[np.isfinite(breaks)])
        if breaks.size == 0:
            breaks = np.zeros(1)
        values = np.clip((um[None, :] - breaks[:, None] * am[None, :]) / wm, p.lb[moving], p.ub[moving]) @ am
        fixed = float(np.clip(u[~moving] / w[~moving], p.lb[~moving], p.ub[~moving]) @ a[~moving])
        values += fixed  # a'x at every breakpoint: non-increasing in lam
        after = int(np.searchsorted(-values, -target, side="left"))  # first breakpoint with a'x <= target
        if after in {0, breaks.size}:
            # beyond the outermost breakpoints every variable sits at a bound (the bounds are finite), so a'x is
            # constant there: the target, reachable by the check at set-up, is that constant up to rounding
            lam = float(breaks[0] if after == 0 else breaks[-1])
        else:
            left, right = values[after - 1], values[after]  # left > target >= right
            lam = breaks[after - 1] + (left - target) / (left - right) * (breaks[after] - breaks[after - 1])
        x: Array = np.clip((u - lam * a) / w, p.lb, p.ub)
        return x


class _Line:
    """Equality rows that, with the fixed variables removed, leave the line ``x = base + s * d``."""

    def __init__(self, problem: ConvexQP, base: Array, d: Array, s_lo: float, s_hi: float) -> None:
        self.problem, self.base, self.d, self.s_lo, self.s_hi = problem, base, d, s_lo, s_hi
        self.dQd, self.dd = float(d @ problem.Q @ d), float(d @ d)
        self.linear, self.d_base = float(d @ problem.Q @ base + problem.c @ d), float(d @ base)

    @classmethod
    def of(cls, problem: ConvexQP) -> _Line | None:
        fixed = problem.lb == problem.ub
        free = ~fixed
        A, b = problem.A[:, free], problem.lo - problem.A[:, fixed] @ problem.lb[fixed]
        if not free.any():
            return None
        _, singular, vt = np.linalg.svd(A)
        scale = max(1.0, float(singular.max(initial=0.0)))
        rank = int((singular > 1e-10 * scale).sum())
        if A.shape[1] - rank != 1:
            return None  # not a line: OSQP
        x0 = np.linalg.lstsq(A, b, rcond=None)[0]
        if np.abs(A @ x0 - b).max(initial=0.0) > 1e-9 * max(1.0, float(np.abs(b).max(initial=0.0))):
            return None  # inconsistent rows: OSQP reports the infeasibility
        d_free = vt[-1]
        d_free[np.abs(d_free) < 1e-12] = 0.0
        base, d = problem.lb.copy(), np.zeros(problem.size)
        base[free], d[free] = x0, d_free
        s_lo, s_hi = -np.inf, np.inf
        for i in np.flatnonzero(free):
            if d[i] == 0:
                if not problem.lb[i] - 1e-12 <= base[i] <= problem.ub[i] + 1e-12:
                    return None
                continue
            ends = sorted(((problem.lb[i] - base[i]) / d[i], (problem.ub[i] - base[i]) / d[i]))
            s_lo, s_hi = max(s_lo, ends[0]), min(s_hi, ends[1])
        if s_lo > s_hi + 1e-12:
            return None  # the line misses the box: OSQP reports the infeasibility
        return cls(problem, base, d, s_lo, max(s_lo, s_hi))

    def solve(self, reference: Array, rho: float) -> Array:
        # scalar min/max and the ufuncs: np.clip's dispatch costs more than the rest of this small step
        slope_at_zero = self.linear + rho * (self.d_base - float(self.d @ reference))
        s = min(max(-slope_at_zero / (self.dQd + rho * self.dd), self.s_lo), self.s_hi)
        x: Array = np.minimum(np.maximum(self.base + s * self.d, self.problem.lb), self.problem.ub)
        return x
