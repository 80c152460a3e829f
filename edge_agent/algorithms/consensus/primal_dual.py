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
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.consensus.costs import LocalCost
from edge_agent.algorithms.consensus.messages import PrimalDualState, StopReason
from edge_agent.algorithms.consensus.rounds import RoundParticipant, Termination
from edge_agent.errors import ConfigError, ProtocolError

__all__ = ["PrimalDualParticipant", "PrimalDualSettings", "StepSize"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class StepSize:
    """``alpha(t) = a0 / (t + 1)^q``; the convergence theorem needs ``0 < a0 <= 1`` and ``1/2 < q <= 1``."""

    a0: float = 0.05
    q: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a0) and 0 < self.a0 <= 1):
            raise ConfigError(f"step size a0 must be in (0, 1], got {self.a0}")
        if not (math.isfinite(self.q) and 0.5 < self.q <= 1):
            raise ConfigError(
                f"step exponent q must be in (0.5, 1] (steps sum to infinity, their squares do not), got {self.q}"
            )

    def __call__(self, t: int) -> float:
        return float(self.a0 / (t + 1) ** self.q)


@dataclass(frozen=True)
class PrimalDualSettings:
    step: StepSize = field(default_factory=StepSize)
    max_iter: int = 20_000
    tol_lam: float = 1e-7
    tol_balance: float = 1e-2
    patience: int = 5
    lam0: float = 0.0
    z_correction: bool = True

    def __post_init__(self) -> None:
        for name in ("tol_lam", "tol_balance", "lam0"):
            value = getattr(self, name)
            if not math.isfinite(value) or (name != "lam0" and value < 0):
                raise ConfigError(f"{name} must be a finite number{'' if name == 'lam0' else ' >= 0'}, got {value}")

    def termination(self, hops: int) -> Termination:
        """``hops``: a bound on the hops between any two agents (the graph's diameter, or m - 1)."""
        return Termination(max_iter=self.max_iter, patience=self.patience, hops=hops)


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

    def _message(self, round: int, quiet: int, final: StopReason | None) -> PrimalDualState:
        return PrimalDualState(round=round, quiet=quiet, final=final, lam=self.lam, z=self.z, w=self.w)

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
        v = a * lam_sum
        z_new = a * z_sum
        z_ii = float(self.z[i])
        x_new = self.cost.response(v)
        gradient = self.share - x_new
        scale = z_ii if self.settings.z_correction else 1.0
        lam_new = v - self.settings.step(round) * gradient / scale
        w_new = a * w_sum + (x_new - self.share) / float(z_new[i]) - (self.x - self.share) / z_ii
        converged = (
            abs(lam_new - self.lam) <= self.settings.tol_lam and abs(w_new) <= self.settings.tol_balance
        )
        self.lam, self.x, self.z, self.w = lam_new, x_new, z_new, w_new
        self.x_history.append(x_new)
        self.lam_history.append(lam_new)
        return converged
