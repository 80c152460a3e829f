"""Safeguarded type-II Anderson acceleration of the coordinator's ADMM state.

One ADMM round is a map ``T: (Z, U) -> (Z', U')`` evaluated by the participants. Anderson acceleration
keeps the last ``memory`` images ``T(v_j)`` and residuals ``g_j = T(v_j) - v_j`` and proposes
``v_next = T(v_k) - sum_j gamma_j (T(v_{j+1}) - T(v_j))`` with ``gamma`` the least-squares fit of
``g_k`` by the residual differences (a small Tikhonov term keeps it well posed). The participants never
see the difference: they get a reference ``Z - U`` as in any round.

Safeguard: if the residual at an extrapolated point is larger than ``guard`` times the residual that
produced it, the point is discarded, the plain image ``T(v_k)`` of the last accepted point is used
instead and the memory restarts. An extrapolation longer than ten plain residuals (an ill-conditioned
fit) is not taken at all. The map changes with rho and with the participant set, so the
coordinator calls :meth:`Anderson.reset` then.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["Anderson"]

Array = NDArray[np.float64]
_REGULARISATION = 1e-8  # relative to the trace of the normal matrix
_MAX_JUMP = 10.0  # an extrapolation longer than this many plain residuals is not trusted


class Anderson:
    def __init__(self, memory: int, guard: float = 1.0) -> None:
        self.memory = memory
        self.guard = guard
        self.accepted = 0
        self.rejected = 0
        self.reset()

    def reset(self) -> None:
        self._images: list[Array] = []
        self._residuals: list[Array] = []
        self._fallback: Array | None = None  # T(v) of the last accepted point, if the next one is extrapolated
        self._last_norm = np.inf

    def step(self, Z: Array, U: Array, Z_image: Array, U_image: Array) -> tuple[Array, Array]:
        """``(Z, U)`` the point this round was evaluated at, ``(Z_image, U_image)`` its plain ADMM image;
        returns the point for the next round."""
        shape = Z.shape
        v = np.concatenate([Z.ravel(), U.ravel()])
        image = np.concatenate([Z_image.ravel(), U_image.ravel()])
        if self._images and self._images[-1].shape != image.shape:
            self.reset()
        residual = image - v
        norm = float(np.linalg.norm(residual))
        if self._fallback is not None and norm > self.guard * self._last_norm:
            self.rejected += 1
            fallback = self._fallback
            self.reset()
            return _split(fallback, shape)
        self._images.append(image)
        self._residuals.append(residual)
        if len(self._images) > self.memory + 1:
            self._images.pop(0)
            self._residuals.pop(0)
        if len(self._images) < 2:
            self._fallback = None
            return Z_image, U_image
        F = np.diff(np.array(self._residuals), axis=0)
        G = np.diff(np.array(self._images), axis=0)
        normal = F @ F.T
        normal += (_REGULARISATION * float(np.trace(normal)) + 1e-300) * np.eye(len(normal))
        gamma = np.linalg.solve(normal, F @ residual)
        jump = gamma @ G
        if not (np.all(np.isfinite(jump)) and np.linalg.norm(jump) <= _MAX_JUMP * norm):
            self.reset()  # an ill-conditioned fit: take the plain step
            self._fallback = None
            return Z_image, U_image
        proposal = image - jump
        self.accepted += 1
        self._fallback = image
        self._last_norm = norm
        return _split(proposal, shape)


def _split(v: Array, shape: tuple[int, ...]) -> tuple[Array, Array]:
    half = v.size // 2
    return v[:half].reshape(shape).copy(), v[half:].reshape(shape).copy()
