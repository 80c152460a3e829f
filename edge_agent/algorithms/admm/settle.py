"""Settling: participants whose answers stopped moving get a large penalty for a while (``rho_update="settle"``).

On LP-like fleets (devices with linear costs and box or segment feasible sets) almost every device ends at a
bound, and sharing ADMM spreads each round's mismatch over all N participants although only the few marginal
ones can take it: the aggregate closes by about ``|F| / N`` of the gap per round (``docs/admm.md``). After
``start`` rounds this schedule compares every participant's answer with its answer ``window`` rounds earlier;
those that did not move (``max |change| <= tol * max(1, max |x_i|)``) get the penalty ``factor * rho`` for the
next ``hold`` rounds, so the z-update gives them almost none of the mismatch (``variants``: ``z_i = w_i - lam /
rho_i``), and the price and the mismatch are settled among the movers. A held participant whose answer moves
after all (the price changed) is released at once. Then every penalty goes back to ``rho`` for ``window``
rounds, so a participant held at a wrong bound can move again, and the set is measured anew; each hold lasts
twice as long as the one before. Within a hold, every ``window`` rounds, a participant that is not held and whose
answer has not moved over the last ``window`` rounds is held too (once per hold): a hold begins with a jump of the
price that releases many participants only for a few rounds; without this they stay among the movers until the
next decision, and the price circles among them (at N = 1,000 for hundreds of rounds).

While participants are held, the coordinator also balances rho (every ``adapt_every`` rounds), downwards only:
with the price settled, the few movers may still drift along a face of optima (two fractional devices trading
output at a constant rate), which shows as a dual residual stuck at a constant level while the primal residual
is met; their penalty then comes down, which speeds the drift up by the same factor. Raising it in a hold
would raise the held participants' penalties too and make the price jump (``docs/admm.md``).

The coordinator sees only answers: no device's model or bounds. Within a hold a participant's penalty changes at
most three times (released, held again once, released), and ADMM converges for any fixed positive penalties;
since the holds double, the penalties eventually stay fixed for as long as that takes, so the schedule cannot
cycle forever (with a constant hold it did: some N = 10 unreachable fleets went round a limit cycle). Which
participants are held, and when, is a heuristic measured in ``bench/results/admm-priced.md``, not a proven rate.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

__all__ = ["Settle"]

Array = NDArray[np.float64]


class Settle:
    def __init__(self, n: int, *, start: int, window: int, hold: int, factor: float, tol: float) -> None:
        self.window, self.hold, self.factor, self.tol = window, hold, factor, tol
        self.scale = np.ones(n)  # penalty of participant i = rho * scale[i]
        self.held = 0  # participants held at the last decision
        self._past: deque[Array] = deque(maxlen=window)
        self._switch = max(start, window)  # the round count at which the next decision is taken
        self._since = 0  # the round count at which the current hold began
        self._joined = np.zeros(n, dtype=bool)  # held during the current hold after its decision
        self.holding = False

    def drop(self, keep: list[int]) -> None:
        """Some participants fell silent: keep the rows of the others."""
        self.scale = self.scale[keep]
        self._joined = self._joined[keep]
        self._past = deque((x[keep] for x in self._past), maxlen=self.window)

    def after_round(self, rounds_done: int, X: Array) -> bool:
        """Record this round's answers; True if ``scale`` changed (the caller rescales the duals)."""
        previous = self._past[-1] if self._past else X
        window_ago = self._past[0] if len(self._past) == self.window else None
        self._past.append(X.copy())
        if rounds_done != self._switch:
            if not self.holding:
                return False
            held, tol = self.scale != 1.0, self.tol * _size(X)
            moved = held & (np.abs(X - previous).max(axis=1) > tol)  # not settled: release it
            still = np.zeros_like(held)
            if window_ago is not None and (rounds_done - self._since) % self.window == 0:
                still = ~held & ~self._joined & (np.abs(X - window_ago).max(axis=1) <= tol)
                if still.sum() == np.sum(~held):  # keep a mover: somebody has to take the mismatch
                    still[:] = False
            if not (moved.any() or still.any()):
                return False
            self._joined |= still
            self.scale = np.where(moved, 1.0, np.where(still, self.factor, self.scale))
            return True
        if self.holding:
            self.holding = False
            self._switch = rounds_done + self.window
            self._past.clear()
            self._past.append(X.copy())
            changed = bool(np.any(self.scale != 1.0))
            self.scale = np.ones(X.shape[0])
            return changed
        oldest = self._past[0]
        still = np.abs(X - oldest).max(axis=1) <= self.tol * _size(X)
        self.held = int(still.sum())
        self.holding = True
        self._since, self._joined = rounds_done, np.zeros(X.shape[0], dtype=bool)
        self._switch = rounds_done + self.hold
        self.hold *= 2
        self.scale = np.where(still, self.factor, 1.0)
        return self.held > 0


def _size(X: Array) -> Array:
    return np.asarray(np.maximum(1.0, np.abs(X).max(axis=1)), dtype=np.float64)
