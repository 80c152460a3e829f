"""Continuous piecewise-linear functions of time.

A :class:`PiecewiseLinear` is given by strictly increasing breakpoints ``xs`` and values ``ys``; it is
linear between consecutive breakpoints and **constant outside** ``[xs[0], xs[-1]]`` (it keeps its first
value to the left and its last value to the right, like :func:`numpy.interp`). A function that is "zero
outside its support" (a satisfaction triangle) is therefore written with zero values at its first and
last breakpoints. Only continuous functions are represented (no jumps).

Every operation returns a new function; the arrays are read-only. Because all results stay piecewise
linear, the maximum of any function on a closed interval is attained at an end of the interval or at a
breakpoint inside it (:meth:`PiecewiseLinear.argmax`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_agent.errors import ConfigError

__all__ = ["PiecewiseLinear", "constant", "triangle"]

Array = NDArray[np.float64]


def _frozen(values: ArrayLike, name: str) -> Array:
    array = np.array(values, dtype=np.float64, copy=True)
    if array.ndim != 1 or array.size == 0:
        msg = f"piecewise-linear {name} must be a non-empty 1-D sequence, got shape {array.shape}"
        raise ConfigError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"piecewise-linear {name} must be finite, got {array.tolist()}"
        raise ConfigError(msg)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class PiecewiseLinear:
    """``f(t)``: linear between the breakpoints ``xs``, constant outside them."""

    xs: Array
    ys: Array

    def __post_init__(self) -> None:
        xs = _frozen(self.xs, "breakpoints")
        ys = _frozen(self.ys, "values")
        if xs.shape != ys.shape:
            msg = (f"piecewise-linear function needs one value per breakpoint, "
                   f"got {xs.size} breakpoints and {ys.size} values")
            raise ConfigError(msg)
        if np.any(np.diff(xs) <= 0):
            msg = f"piecewise-linear breakpoints must be strictly increasing, got {xs.tolist()}"
            raise ConfigError(msg)
        object.__setattr__(self, "xs", xs)
        object.__setattr__(self, "ys", ys)

    def __call__(self, t: float) -> float:
        return float(np.interp(t, self.xs, self.ys))

    def values(self, ts: ArrayLike) -> Array:
        """The function at every point of ``ts``."""
        return np.interp(np.asarray(ts, dtype=np.float64), self.xs, self.ys)

    def _on(self, xs: Array, other: PiecewiseLinear | None = None) -> tuple[Array, Array, Array]:
        grid = np.unique(np.concatenate([self.xs, xs] if other is None else [self.xs, other.xs, xs]))
        return grid, self.values(grid), (other.values(grid) if other is not None else np.zeros_like(grid))

    def __add__(self, other: PiecewiseLinear | float) -> PiecewiseLinear:
        if isinstance(other, PiecewiseLinear):
            grid, mine, theirs = self._on(np.empty(0), other)
            return PiecewiseLinear(grid, mine + theirs)
        return PiecewiseLinear(self.xs, self.ys + float(other))

    def __neg__(self) -> PiecewiseLinear:
        return PiecewiseLinear(self.xs, -self.ys)

    def __sub__(self, other: PiecewiseLinear | float) -> PiecewiseLinear:
        return self + (-other)

    def shift(self, delay: float) -> PiecewiseLinear:
        """``t -> f(t - delay)`` (the graph moves right by ``delay``)."""
        return PiecewiseLinear(self.xs + float(delay), self.ys)

    def clip(self, lo: float, hi: float) -> PiecewiseLinear:
        """``t -> f(min(max(t, lo), hi))``: ``f`` on ``[lo, hi]``, frozen at ``f(lo)`` / ``f(hi)`` outside.

        ``lo`` may be ``-inf`` and ``hi`` ``+inf`` (that side is left as it is)."""
        if not lo <= hi:
            msg = f"clip needs lo <= hi, got lo={lo}, hi={hi}"
            raise ConfigError(msg)
        inner = self.xs[(self.xs > lo) & (self.xs < hi)]
        ends = [x for x in (lo, hi) if np.isfinite(x)]
        grid = np.unique(np.concatenate([inner, np.array(ends, dtype=np.float64)]))
        return PiecewiseLinear(grid, self.values(np.clip(grid, lo, hi)))

    def maximum(self, other: PiecewiseLinear) -> PiecewiseLinear:
        """The pointwise maximum ``t -> max(f(t), g(t))`` (crossing points become breakpoints)."""
        grid, mine, theirs = self._on(np.empty(0), other)
        gap = mine - theirs
        crossing = gap[:-1] * gap[1:] < 0
        left = np.flatnonzero(crossing)
        cross_x = grid[left] + (grid[left + 1] - grid[left]) * gap[left] / (gap[left] - gap[left + 1])
        full = np.unique(np.concatenate([grid, cross_x]))
        return PiecewiseLinear(full, np.maximum(self.values(full), other.values(full)))

    def argmax(self, lo: float, hi: float) -> tuple[float, float]:
        """``(t, f(t))`` maximising ``f`` on the closed interval ``[lo, hi]``; the smallest such ``t`` on ties."""
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            msg = f"argmax needs a finite interval lo <= hi, got [{lo}, {hi}]"
            raise ConfigError(msg)
        inner = self.xs[(self.xs > lo) & (self.xs < hi)]
        candidates = np.concatenate([[lo], inner, [hi]])
        values = self.values(candidates)
        best = int(np.argmax(values))
        return float(candidates[best]), float(values[best])

    def __repr__(self) -> str:
        return f"PiecewiseLinear(xs={self.xs.tolist()}, ys={self.ys.tolist()})"


def constant(value: float) -> PiecewiseLinear:
    """The constant function ``t -> value``."""
    return PiecewiseLinear(np.array([0.0]), np.array([float(value)]))


def triangle(peak_at: float, width: float, height: float = 1.0) -> PiecewiseLinear:
    """An isosceles triangle: ``height`` at ``peak_at``, falling linearly to zero at ``peak_at -/+ width / 2``
    and zero outside."""
    if not (np.isfinite(width) and width > 0):
        msg = f"triangle width must be a finite number > 0, got {width}"
        raise ConfigError(msg)
    half = width / 2
    return PiecewiseLinear(np.array([peak_at - half, peak_at, peak_at + half]), np.array([0.0, height, 0.0]))
