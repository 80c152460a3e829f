"""Diffusion (adapt-then-combine) economic dispatch: the peer library's newer dispatch algorithm.

Every agent keeps a price vector over a horizon (one price per slot) and, each round::

    lam_i(k+1) = w_ii phi_i(k) + sum_{j in N_in(i)} w_ij phi_j(k)                  (combine)
    phi_i(k+1) = lam_i(k+1) - eps(k+1) * grad J_i(lam_i(k+1))                     (adapt)
    grad J_i(lam) = x_i(lam) - demand / N,   x_i(lam) = argmin_{l_i <= x <= u_i} f_i(x) - lam x

(``J_i`` is agent ``i``'s share of the negated dual function; the price is the marginal cost, positive).

Weights: ``uniform`` ``w_ij = 1 / (|N_in(i)| + 1)`` (as the peer); ``metropolis``
``w_ij = 1 / (1 + max(d_i, d_j))``, ``w_ii = 1 - sum_j w_ij``, with each neighbour's degree taken from its
messages. Metropolis weights on an undirected graph are doubly stochastic, so at any fixed point the
gradients sum to zero: the supply meets the demand exactly. Uniform weights are doubly stochastic only on a
regular graph (ring, complete); elsewhere the fixed point is Perron-weighted and the supply misses the demand
(0.86 MW on the 5-generator IEEE-14 data with an irregular graph, ``bench/consensus.py``).

Own convergence test: ``max |lam(k+1) - lam(k)| <= tol * eps(k+1)`` (the change per unit of step, a power).

Step: ``eps(k)`` from :class:`~edge_agent.algorithms.consensus.primal_dual.StepSize` (``a0 / (1 + k/t0)^q``);
with a constant step (``constant_step=True``, the peer's) the agents' prices keep a disagreement of order
``eps``, so the dispatch stays off the optimum by an amount that shrinks with ``eps``; the decaying step
reaches it exactly in the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from edge_agent.algorithms.consensus.costs import LocalCost
from edge_agent.algorithms.consensus.messages import DiffusionValue, StopReason
from edge_agent.algorithms.consensus.primal_dual import StepSize
from edge_agent.algorithms.consensus.rounds import RoundParticipant, Termination
from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError, ProtocolError

__all__ = ["DiffusionParticipant", "DiffusionSettings"]

Array = NDArray[np.float64]


class DiffusionSettings(StrictModel):
    weights: Literal["uniform", "metropolis"] = Field("metropolis", description="combination weights")
    step: StepSize = StepSize(a0=0.1)
    constant_step: bool = Field(False, description="eps(k) = a0 for every k (the peer's constant step)")
    max_iter: int = Field(20_000, ge=1)
    tol: float = Field(5e-3, ge=0, description="own test: max |lam(k+1) - lam(k)| / eps(k), in power units")
    patience: int = Field(5, ge=1)
    lam0: float = Field(0.0, allow_inf_nan=False, description="initial price of every slot")

    def termination(self, hops: int) -> Termination:
        return Termination(max_iter=self.max_iter, patience=self.patience, hops=hops)

    def eps(self, k: int) -> float:
        return self.step.a0 if self.constant_step else self.step(k)


class DiffusionParticipant(RoundParticipant[DiffusionValue]):
    """One generator: ``lam`` and ``x`` (per slot) now; ``x_history`` its output in every round."""

    message_type = DiffusionValue

    def __init__(self, id: str, in_neighbours: Sequence[str], *, cost: LocalCost, demand: Sequence[float] | Array,
                 agents: int, settings: DiffusionSettings, termination: Termination) -> None:
        super().__init__(id, in_neighbours, termination)
        share = np.array(demand, dtype=np.float64).reshape(-1) / agents
        if share.size == 0 or not np.isfinite(share).all():
            raise ConfigError(f"participant {id!r}: the demand must be a non-empty list of finite numbers")
        self.cost = cost
        self.share = share
        self.settings = settings
        self.lam: Array = np.full(share.shape, settings.lam0)
        self.x = self._response(self.lam)
        self.phi = self._adapt(self.lam, 0)
        self.x_history: list[Array] = [self.x]
        self.lam_history: list[Array] = [self.lam]

    def _response(self, lam: Array) -> Array:
        return np.array([self.cost.response(-float(price)) for price in lam], dtype=np.float64)

    def _adapt(self, lam: Array, k: int) -> Array:
        self.x = self._response(lam)
        return np.asarray(lam - self.settings.eps(k) * (self.x - self.share), dtype=np.float64)

    def _message(self, round: int, quiet: int, final: StopReason | None) -> DiffusionValue:
        return DiffusionValue(round=round, quiet=quiet, final=final, phi=self.phi, degree=len(self.in_neighbours))

    def _weights(self, inbox: Mapping[str, DiffusionValue]) -> dict[str, float]:
        mine = len(self.in_neighbours)
        if self.settings.weights == "uniform":
            return dict.fromkeys(inbox, 1.0 / (mine + 1))
        return {sender: 1.0 / (1 + max(mine, message.degree)) for sender, message in inbox.items()}

    def _step(self, round: int, inbox: Mapping[str, DiffusionValue]) -> bool:
        for sender, message in inbox.items():
            if message.phi.shape != self.phi.shape:
                msg = f"round {round}: a value of shape {message.phi.shape}, expected {self.phi.shape}"
                raise ProtocolError(msg, sender=sender)
        weights = self._weights(inbox)
        lam = (1.0 - sum(weights.values())) * self.phi
        for sender, message in inbox.items():
            lam = lam + weights[sender] * message.phi
        # The change divided by the step is a gradient: in power units, comparable to the dispatch error
        # (measured on IEEE-14: ~0.8x the largest error to the optimum), whatever the step has decayed to.
        converged = bool(np.max(np.abs(lam - self.lam)) <= self.settings.tol * self.settings.eps(round + 1))
        self.lam = lam
        self.phi = self._adapt(lam, round + 1)
        self.x_history.append(self.x)
        self.lam_history.append(lam)
        return converged
