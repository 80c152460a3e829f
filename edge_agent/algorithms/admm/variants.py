"""The two coupling variants of ADMM: sharing (reach a target sum) and consensus (pull toward it).

**Sharing** solves ``min sum_i f_i(x_i) + sum_j |p_j| |sum_i x_ij - t_j|``. With ``a = mean(x_i + u_i)``
the aggregate's z-update has a closed form (soft threshold): ``N zbar_j = t_j + soft(N a_j - t_j, N |p_j| / rho)``,
and each participant's copy is ``z_i = x_i + u_i - a + zbar``.

**Consensus** (the seed's variant) solves ``min sum_i f_i(x_i) + (beta/2) ||sum_i x_i - t||^2`` with
``beta = rho^2 / alpha``: ``delta = (t - sum_i (x_i + u_i)) / (N + alpha/rho)``, ``z_i = x_i + u_i + delta``.
A larger ``alpha`` therefore means a *weaker* pull toward the target (the peer library's docs say otherwise).

Both z-updates also take one penalty per participant (``rho`` of shape (N,)): then
``Z = argmin G(sum_i z_i) + sum_i rho_i/2 ||z_i - w_i||^2`` with ``w_i = x_i + u_i``, i.e. ``z_i = w_i - lam / rho_i``
for the common price ``lam``; with ``kappa = sum_i 1/rho_i`` the aggregate ``S = sum_i z_i`` is
``t + soft(W - t, kappa |p|)`` (sharing) or ``(W + kappa beta t) / (1 + kappa beta)`` (consensus), ``W = sum_i w_i``,
and ``lam = (W - S) / kappa``. A participant with a large penalty absorbs little of the mismatch. With equal
penalties these are the formulas above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import ConfigError

__all__ = ["ConsensusVariant", "SharingVariant"]

Array = NDArray[np.float64]


def _vector(name: str, value: Sequence[float] | Array) -> Array:
    array = np.array(value, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ConfigError(f"{name} must be a non-empty list of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{name} contains NaN or infinite values")
    return array


def _weighted(W: Array, rho: Array, aggregate: Callable[[Array, float], Array]) -> Array:
    """``z_i = w_i - lam / rho_i`` with ``lam = (W - S) / kappa`` and ``S = aggregate(W, kappa)`` (module docstring)."""
    if rho.shape != (W.shape[0],):
        raise ValueError(f"one penalty per participant expected, got shape {rho.shape} for {W.shape[0]}")
    kappa = float(np.sum(1.0 / rho))
    total = W.sum(axis=0)
    lam = (total - aggregate(total, kappa)) / kappa
    return np.asarray(W - lam[None, :] / rho[:, None], dtype=np.float64)


class SharingVariant:
    def __init__(self, target: Sequence[float] | Array, priorities: Sequence[float] | Array | None = None) -> None:
        self.target = _vector("target", target)
        self.priorities = (
            np.ones_like(self.target) if priorities is None else np.abs(_vector("priorities", priorities))
        )
        if self.priorities.shape != self.target.shape:
            raise ConfigError(
                f"priorities has length {self.priorities.size}, but target has {self.target.size}: "
                "give one priority per target entry"
            )

    def z_update(self, X: Array, U: Array, rho: float | Array) -> Array:
        n = X.shape[0]
        W = X + U
        if np.ndim(rho) > 0:
            return _weighted(W, np.asarray(rho, dtype=np.float64), lambda total, kappa: self.target + np.sign(
                total - self.target) * np.maximum(np.abs(total - self.target) - kappa * self.priorities, 0.0))
        a = W.mean(axis=0)
        excess = n * a - self.target
        threshold = n * self.priorities / rho
        zbar = (self.target + np.sign(excess) * np.maximum(np.abs(excess) - threshold, 0.0)) / n
        return np.asarray(W - a + zbar, dtype=np.float64)

    def coupling_cost(self, aggregate: Array) -> float:
        return float(self.priorities @ np.abs(aggregate - self.target))


class ConsensusVariant:
    """``rho`` must be the run's penalty: the problem solved depends on it through ``beta = rho^2 / alpha``."""

    def __init__(self, target: Sequence[float] | Array, alpha: float = 100.0, rho: float = 1.0) -> None:
        self.target = _vector("target", target)
        for name, value in (("alpha", alpha), ("rho", rho)):
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a finite number > 0, got {value}")
        self.alpha = float(alpha)
        self.beta = rho * rho / self.alpha

    def z_update(self, X: Array, U: Array, rho: float | Array) -> Array:
        W = X + U
        if np.ndim(rho) > 0:
            beta = self.beta
            return _weighted(W, np.asarray(rho, dtype=np.float64),
                             lambda total, kappa: (total + kappa * beta * self.target) / (1.0 + kappa * beta))
        delta = (self.target - W.sum(axis=0)) / (X.shape[0] + rho / self.beta)
        return np.asarray(W + delta, dtype=np.float64)

    def coupling_cost(self, aggregate: Array) -> float:
        return float(0.5 * self.beta * np.sum((aggregate - self.target) ** 2))
