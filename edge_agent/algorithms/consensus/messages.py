"""Messages of the round-based consensus protocols (averaging consensus, primal-dual dispatch).

Every round message carries its round number, the sender's convergence counter ``quiet`` (used to
detect that everyone has converged, see :mod:`edge_agent.algorithms.consensus.rounds`) and ``final``:
set on the sender's last message, with the reason the run ended, so the end spreads by gossip.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_agent.messages import FloatVector, Message

__all__ = ["AveragingValue", "ConsensusStart", "DiffusionValue", "PrimalDualState", "RoundMessage", "StopReason"]

StopReason = Literal["converged", "max_iterations", "diverged"]


class ConsensusStart(Message):
    """Kick-off: the receiver starts round 0. It carries no value and never counts as a neighbour's."""

    kind: Literal["consensus.start"] = "consensus.start"


class RoundMessage(Message):
    """Base of the per-round state a participant publishes to its out-neighbours."""

    round: int = Field(ge=0)
    quiet: int = Field(0, ge=0, description="consecutive rounds the sender's neighbourhood has been converged")
    final: StopReason | None = Field(None, description="set on the sender's last message: why the run ended")


class AveragingValue(RoundMessage):
    """Averaging consensus: the sender's estimate ``lam`` at ``round``."""

    kind: Literal["consensus.value"] = "consensus.value"
    lam: FloatVector


class PrimalDualState(RoundMessage):
    """Primal-dual dispatch: multiplier ``lam``, Perron-vector estimate ``z`` and balance tracker ``w``."""

    kind: Literal["primal_dual.state"] = "primal_dual.state"
    lam: float = Field(allow_inf_nan=False)
    z: FloatVector
    w: float = Field(allow_inf_nan=False, description="the sender's estimate of sum_i x_i - P")
    lam_lo: float | None = Field(None, allow_inf_nan=False, description="safeguard: lowest price bound heard of")
    lam_hi: float | None = Field(None, allow_inf_nan=False, description="safeguard: highest price bound heard of")
    sensitivity: float | None = Field(None, ge=0, allow_inf_nan=False,
                                      description="tracking: largest price sensitivity |dx/dlam| heard of")


class DiffusionValue(RoundMessage):
    """Diffusion dispatch: the sender's intermediate price ``phi`` (per slot) and its number of in-neighbours
    (what Metropolis weights need)."""

    kind: Literal["consensus.diffusion"] = "consensus.diffusion"
    phi: FloatVector
    degree: int = Field(ge=0, le=1_000_000)
