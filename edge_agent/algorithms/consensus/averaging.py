"""Averaging consensus with an optional gradient plug-in (seed 000).

Each participant keeps a vector ``lam`` and, every round, moves toward the mean of what its
in-neighbours hold and adds its actor's gradient term::

    lam <- lam + alpha * (mean_{j in N_in(i)} lam_j - lam) + actor.gradient_term(lam)

(defaults ``alpha = 0.3``, ``max_iter = 50``, initial value 10, as in the seed). The weights
``(1 - alpha) I + alpha D_in^-1 Adj`` are row-stochastic, so pure averaging converges to a weighted
average ``sum_i pi_i lam_i(0)``; it is the plain average when the graph is regular (complete, ring),
and a degree-weighted one otherwise. With a gradient term, the fixed point balances the gradient terms
weighted by ``pi`` too: an unbalanced graph biases an economic dispatch (see
:mod:`edge_agent.algorithms.consensus.primal_dual` for the algorithm that corrects this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from edge_agent.algorithms.consensus.messages import AveragingValue, StopReason
from edge_agent.algorithms.consensus.rounds import RoundParticipant, Termination
from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError, ProtocolError

__all__ = ["AveragingParticipant", "AveragingSettings", "ConsensusActor"]

Array = NDArray[np.float64]


class ConsensusActor(Protocol):
    """Biases the consensus toward a local optimum by adding a gradient term to each update."""

    def gradient_term(self, lam: Array) -> Array:
        """The additive correction for the current estimate ``lam`` (same shape)."""
        ...


class AveragingSettings(StrictModel):
    """``tol``: a participant's own test is ``max |lam(k+1) - lam(k)| <= tol``; ``patience``: rounds
    everyone must pass it before the run ends (see :mod:`~edge_agent.algorithms.consensus.rounds`)."""

    alpha: float = Field(0.3, gt=0, le=1, description="weight of the neighbours' mean in each update")
    max_iter: int = Field(50, ge=1)
    tol: float = Field(1e-9, ge=0, description="own test: largest change of lam in a round")
    patience: int = Field(5, ge=1, description="rounds everyone must pass the test before the run ends")

    def termination(self, hops: int) -> Termination:
        """``hops``: a bound on the hops between any two participants (the graph's diameter, or N - 1)."""
        return Termination(max_iter=self.max_iter, patience=self.patience, hops=hops)


class AveragingParticipant(RoundParticipant[AveragingValue]):
    """One averaging-consensus participant. ``history`` holds ``lam`` of every round it computed."""

    message_type = AveragingValue

    def __init__(
        self,
        id: str,
        in_neighbours: Sequence[str],
        *,
        initial: Sequence[float] | Array,
        settings: AveragingSettings,
        termination: Termination,
        actor: ConsensusActor | None = None,
    ) -> None:
        super().__init__(id, in_neighbours, termination)
        lam = np.array(initial, dtype=np.float64)
        if lam.ndim != 1 or lam.size == 0 or not np.isfinite(lam).all():
            raise ConfigError(f"participant {id!r}: the initial value must be a non-empty list of finite numbers")
        self.lam = lam
        self.settings = settings
        self.actor = actor
        self.history: list[Array] = [lam.copy()]

    def _message(self, round: int, quiet: int, final: StopReason | None) -> AveragingValue:
        return AveragingValue(round=round, quiet=quiet, final=final, lam=self.lam)

    def _step(self, round: int, inbox: Mapping[str, AveragingValue]) -> bool:
        lam = self.lam
        values = [message.lam for message in inbox.values()]
        for sender, value in zip(inbox, values, strict=True):
            if value.shape != lam.shape:
                msg = f"round {round}: a value of shape {value.shape}, expected {lam.shape}"
                raise ProtocolError(msg, sender=sender)
        mean = np.mean(values, axis=0) if values else lam
        new = lam + self.settings.alpha * (mean - lam)
        if self.actor is not None:
            new = new + self.actor.gradient_term(lam)
        converged = bool(np.max(np.abs(new - lam)) <= self.settings.tol)
        self.lam = new
        self.history.append(new)
        return converged
