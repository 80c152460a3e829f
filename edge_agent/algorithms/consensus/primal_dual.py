"""Distributed primal-dual subgradient dispatch on unbalanced directed networks (seed 001).

Problem: ``min sum_i f_i(x_i)  s.t.  sum_i x_i = P,  l_i <= x_i <= u_i``; agent ``i`` knows only ``f_i``,
its bounds, ``P`` and the number of agents ``m``, and hears only its in-neighbours. It weighs what it
hears with the row-stochastic ``a_ij = 1 / (|N_in(i)| + 1)`` (itself included), which needs no
out-degree. Per round ``t``::

    v_i(t)     = sum_j a_ij lam_j(t)
    x_i(t+1)   = x~_i(v_i(t)) = argmin_{l_i <= x <= u_i} f_i(x) + v_i(t) x
    lam_i(t+1) = v_i(t) - alpha(t) (P/m - x_i(t+1)) / z_ii(t)
    z_i(t+1)   = sum_j a_ij z_j(t),   z_i(0) = e_i

``z_i`` estimates the left Perron vector ``pi`` of ``A``; dividing by ``z_ii -> pi_i`` cancels the
imbalance of the graph. Without it (``z_correction=False``, kept for demonstration) the multipliers
converge to the root of ``sum_i pi_i (P/m - x~_i(lam))``, which misses the balance unless ``A`` is
doubly stochastic.

Safeguards and a faster variant (all off by default; ``docs/consensus.md``, "Safeguards", has the numbers):

* ``price_box``: every agent floods the fleet's lowest and highest marginal price (min/max of what it
  hears, one float each per message) and projects ``lam_i`` onto that interval, which contains ``lam*``.
* ``lam_limit``: ``|lam_i|`` beyond it (or NaN) ends the run with ``diverged`` (the end spreads by gossip).
* ``z_floor``: divide by ``max(z_ii(t), z_floor)``: the transient dip of ``z_ii`` on long cycles
  (``(1/3)^t`` for an agent with two in-neighbours) no longer multiplies the step by 1e10.
* ``update="tracking"``: ``lam_i(t+1) = v_i(t) + gamma m z_ii(t) w_i(t)`` with ``gamma = c / (m s_max)``
  (``s_max`` the largest price sensitivity ``|dx~/dlam|``, flooded like the box). The factor ``m z_ii``
  (``z_ii -> pi_i``, 1 on a balanced graph) keeps every agent's own loop gain at ``c``: ``w_i`` moves by
  ``dx_i / z_ii``, so with one step for all an agent with a Perron entry of 1e-5 (seen at m = 300) had a gain
  of about 100 and oscillated 11-31 MW off the demand. Fixed points are unchanged (the steps are positive):
  a dual ascent on the tracked global residual ``w_i`` instead of the local subgradient, in the manner of
  gradient tracking on row-stochastic digraphs (Xin, Xi and Khan's FROST). Its fixed points are exactly the
  optimum (``w = 0`` and agreeing multipliers); it converges geometrically when ``gamma`` is small against
  both the fleet's price sensitivity and the graph's mixing, which on slowly mixing graphs (long rings)
  needs a smaller ``c`` than the default.

Sign convention: the paper's Lagrangian ``sum f_i + lam (sum x_i - P)``, so ``lam*`` is minus the
marginal cost at the optimum (``-7.2992`` for the IEEE 14-bus data; a price is ``-lam``).

Stopping: the balance residual ``sum_i x_i - P`` is a global quantity no agent holds, so each agent
tracks it: ``w_i(t+1) = sum_j a_ij w_j(t) + y_i(t+1)/z_ii(t+1) - y_i(t)/z_ii(t)`` with
``y_i = x_i - P/m`` and ``w_i(0) = y_i(0)``. Then ``pi' w(t) = sum_i pi_i y_i(t)/z_ii(t)``, which tends to
``sum_i y_i(t)``, and the ``w_i`` agree, so every ``w_i`` estimates the residual (one float more per
message). An agent's own test is ``|lam_i(t+1) - lam_i(t)| <= tol_lam`` and ``|w_i(t+1)| <= tol_balance``;
the run ends when everyone passed it for ``patience`` rounds (detected as described in
:mod:`~edge_agent.algorithms.consensus.rounds`), or after ``max_iter`` rounds. Simulations also
report the exact residual from the final outputs (an observer's view).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from edge_agent.algorithms.consensus.costs import LocalCost
from edge_agent.algorithms.consensus.messages import PrimalDualState, StopReason
from edge_agent.algorithms.consensus.rounds import RoundParticipant, Termination
from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError, ProtocolError

__all__ = ["PrimalDualParticipant", "PrimalDualSettings", "StepSize", "price_range", "price_sensitivity"]

Array = NDArray[np.float64]


class StepSize(StrictModel):
    """``alpha(t) = a0 / (1 + t / t0)^q``; the convergence theorem needs ``0 < a0 <= 1`` and ``1/2 < q <= 1``
    (the steps sum to infinity, their squares do not).

    ``t0 = 1`` is the seed's ``a0 / (t + 1)^q``. A larger ``t0`` keeps the step near ``a0`` for about ``t0``
    rounds before it decays (still summing to infinity with square-summable tail), which shortens the
    slow ``1/t`` phase when ``a0`` is well below the stability limit (``docs/consensus.md``, "Safeguards").
    """

    a0: float = Field(0.05, gt=0, le=1, description="alpha(t) = a0 / (1 + t/t0)^q")
    q: float = Field(1.0, gt=0.5, le=1)
    t0: float = Field(1.0, ge=1, description="1 is the seed's a0 / (t + 1)^q")

    def __call__(self, t: int) -> float:
        return float(self.a0 / (1.0 + t / self.t0) ** self.q)


class PrimalDualSettings(StrictModel):
    step: StepSize = StepSize()
    max_iter: int = Field(20_000, ge=1)
    tol_lam: float = Field(1e-7, ge=0, description="own test: |lam_i(t+1) - lam_i(t)|")
    tol_balance: float = Field(1e-2, ge=0, description="own test: |estimated sum x - demand|")
    patience: int = Field(5, ge=1)
    lam0: float = 0.0
    z_correction: bool = True
    # Safeguard (off by default, the seed's method unchanged): every agent floods the lowest and highest
    # marginal price of the fleet (min/max over what it hears, exact after ``hops`` rounds) and projects its
    # multiplier onto that interval, which contains lam*. A small z_ii(t) can then no longer blow it up.
    price_box: bool = Field(False, description="safeguard: project lam onto the fleet's flooded price range")
    lam_limit: float = Field(1e6, gt=0, description="|lam| above this (or NaN) ends the run as diverged")
    # "tracking" replaces the local step by a constant step on the tracked global residual (module docstring);
    # it always uses the price box. tracking_gain c sets gamma = c / (m * s_max).
    update: Literal["subgradient", "tracking"] = Field(
        "subgradient", description="tracking: constant step on the tracked balance residual (docs/consensus.md)"
    )
    tracking_gain: float = Field(0.25, gt=0, le=1, description="tracking: gamma = gain / (m * s_max)")
    # Floor on the Perron estimate z_ii(t) wherever it divides (None: 0 for "subgradient", the seed's method;
    # 1e-3 / m for "tracking"). Exact in the limit as long as every pi_i exceeds it; it stops the transient
    # dip of z_ii (to 1e-27 on a 300-node ring with chords) from wiping out the tracker in rounding.
    z_floor: float | None = Field(None, ge=0, lt=1, description="floor on the Perron estimate z_ii where it divides")

    def termination(self, hops: int) -> Termination:
        """``hops``: a bound on the hops between any two agents (the graph's diameter, or m - 1)."""
        return Termination(max_iter=self.max_iter, patience=self.patience, hops=hops)


def price_range(cost: LocalCost) -> tuple[float, float]:
    """Multipliers beyond which the agent sits at a bound: ``x~(lam) = upper`` for ``lam <= lo`` and
    ``lower`` for ``lam >= hi`` (the paper's sign: ``lam = -f'(x)``). Exact for :class:`QuadraticCost`,
    one-sided differences (widened by 1 %) otherwise."""
    a, b = getattr(cost, "a", None), getattr(cost, "b", None)
    if isinstance(a, float | int) and isinstance(b, float | int):
        return -(a + 2 * b * cost.upper), -(a + 2 * b * cost.lower)
    lower, upper = cost.lower, cost.upper
    h = 1e-6 * max(1.0, upper - lower)
    slope_upper = (cost.value(upper) - cost.value(upper - h)) / h
    slope_lower = (cost.value(lower + h) - cost.value(lower)) / h
    lo, hi = -slope_upper, -slope_lower
    pad = 0.01 * max(1.0, abs(hi - lo), abs(lo), abs(hi))
    return lo - pad, hi + pad


def price_sensitivity(cost: LocalCost) -> float:
    """The largest ``|d x~ / d lam|`` of the agent (MW per unit of price): ``1 / 2b`` for
    :class:`QuadraticCost`, else the largest central difference of the response over its price range."""
    b = getattr(cost, "b", None)
    if isinstance(b, float | int) and b > 0:
        return 0.5 / float(b)
    lo, hi = price_range(cost)
    d = 1e-3 * max(1.0, hi - lo)
    grid = np.linspace(lo, hi, 17)
    return max(abs(cost.response(p - d) - cost.response(p + d)) / (2 * d) for p in grid)


class PrimalDualParticipant(RoundParticipant[PrimalDualState]):
    """Agent ``index`` of ``m``; ``x_history`` / ``lam_history`` hold ``x_i(t)``, ``lam_i(t)`` for every round."""

    message_type = PrimalDualState

    def __init__(
        self,
        id: str,
        in_neighbours: Sequence[str],
        *,
        index: int,
        agents: int,
        cost: LocalCost,
        demand: float,
        settings: PrimalDualSettings,
        termination: Termination,
    ) -> None:
        super().__init__(id, in_neighbours, termination)
        if not 0 <= index < agents:
            raise ConfigError(f"participant {id!r}: index {index} outside 0..{agents - 1}")
        if not math.isfinite(demand):
            raise ConfigError(f"participant {id!r}: demand must be a finite number, got {demand}")
        self.index = index
        self.cost = cost
        self.share = demand / agents
        self.settings = settings
        self._weight = 1.0 / (len(self.in_neighbours) + 1)
        self.z: Array = np.zeros(agents)
        self.z[index] = 1.0
        self.lam = settings.lam0
        self.x = cost.response(self.lam)
        self.w = self.x - self.share
        self.x_history: list[float] = [self.x]
        self.lam_history: list[float] = [self.lam]
        self.z_min = 1.0  # smallest z_ii(t) seen: how far the Perron estimate dipped
        self.lam_lo, self.lam_hi = price_range(cost)
        self.sensitivity = price_sensitivity(cost)
        self.agents = agents
        self.tracking = settings.update == "tracking"
        self.boxed = settings.price_box or self.tracking
        floor = settings.z_floor
        self.z_floor = floor if floor is not None else (1e-3 / agents if self.tracking else 0.0)
        self.diverged = False

    def _message(self, round: int, quiet: int, final: StopReason | None) -> PrimalDualState:
        box = self.boxed
        return PrimalDualState(round=round, quiet=quiet, final=final, lam=self.lam, z=self.z, w=self.w,
                               lam_lo=self.lam_lo if box else None, lam_hi=self.lam_hi if box else None,
                               sensitivity=self.sensitivity if self.tracking else None)

    def _abort(self) -> StopReason | None:
        return "diverged" if self.diverged else None

    def _step(self, round: int, inbox: Mapping[str, PrimalDualState]) -> bool:
        a, i = self._weight, self.index
        lam_sum, w_sum, z_sum = self.lam, self.w, self.z.copy()
        for sender, message in inbox.items():
            if message.z.shape != self.z.shape:
                msg = f"round {round}: z has {message.z.size} entries, expected {self.z.size} (one per agent)"
                raise ProtocolError(msg, sender=sender)
            lam_sum += message.lam
            w_sum += message.w
            z_sum += message.z
            if message.lam_lo is not None:
                self.lam_lo = min(self.lam_lo, message.lam_lo)
            if message.lam_hi is not None:
                self.lam_hi = max(self.lam_hi, message.lam_hi)
            if message.sensitivity is not None:
                self.sensitivity = max(self.sensitivity, message.sensitivity)
        v = a * lam_sum
        z_new = a * z_sum
        z_ii = max(float(self.z[i]), self.z_floor)
        x_new = self.cost.response(v)
        gradient = self.share - x_new
        if self.tracking:  # the step scaled by m z_ii: the local loop gain stays c whatever pi_i is
            lam_new = v + self._gain(round) * self.agents * z_ii * self.w
        else:
            scale = z_ii if self.settings.z_correction else 1.0
            lam_new = v - self.settings.step(round) * gradient / scale
        if self.boxed:
            lam_new = min(max(lam_new, self.lam_lo), self.lam_hi)
        self.z_min = min(self.z_min, float(self.z[i]))
        if not abs(lam_new) <= self.settings.lam_limit:  # also catches NaN
            self.diverged = True
            lam_new = v  # keep the last finite multiplier for the report
        z_next = max(float(z_new[i]), self.z_floor)
        w_new = a * w_sum + (x_new - self.share) / z_next - (self.x - self.share) / z_ii
        converged = (
            abs(lam_new - self.lam) <= self.settings.tol_lam and abs(w_new) <= self.settings.tol_balance
        )
        self.lam, self.x, self.z, self.w = lam_new, x_new, z_new, w_new
        self.x_history.append(x_new)
        self.lam_history.append(lam_new)
        return converged

    def _gain(self, round: int) -> float:
        """Tracking: no price move until the flooded maxima are exact (``hops`` rounds), then
        ``c / (m s_max)``, below ``2 / sum_i s_i`` (the stability limit of a dual step on the balance)."""
        if round < self.termination.hops or self.sensitivity <= 0:
            return 0.0
        return self.settings.tracking_gain / (self.agents * self.sensitivity)
