"""A consensus run among device agents: the settings, and the control messages around the rounds.

Over MQTT a launcher asks each device to join a run with a :class:`ConsensusJoin`: the run's id, the
algorithm and its settings, the device's in-neighbours, its index among the ``agents`` participants, a
bound on the hops between any two of them (for the termination test) and the demand. Everything but the
device's private cost, which the device derives from its own model. The device subscribes to its
in-neighbours, answers :class:`ConsensusJoined` (or :class:`ConsensusFailure`), and waits for the
:class:`~edge_agent.algorithms.consensus.messages.ConsensusStart`. After the run the launcher asks each
one for its :class:`ConsensusOutcome` (:class:`ConsensusCollect`) and sends :class:`ConsensusLeave`.
The lifecycle is described in ``docs/consensus.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from edge_agent.algorithms.consensus.averaging import AveragingSettings
from edge_agent.algorithms.consensus.diffusion import DiffusionSettings
from edge_agent.algorithms.consensus.messages import StopReason
from edge_agent.algorithms.consensus.primal_dual import PrimalDualSettings
from edge_agent.algorithms.gossip_runs import InNeighbours, RunId
from edge_agent.config import StrictModel
from edge_agent.messages import FloatVector, Message

__all__ = [
    "AveragingDispatchMethod",
    "ConsensusCollect",
    "ConsensusFailure",
    "ConsensusJoin",
    "ConsensusJoined",
    "ConsensusLeave",
    "ConsensusOutcome",
    "DiffusionMethod",
    "DispatchAlgorithm",
    "DispatchMethod",
    "PrimalDualMethod",
    "sample_rounds",
]

DispatchAlgorithm = Literal["primal-dual-dispatch", "consensus-dispatch", "diffusion-dispatch"]


class PrimalDualMethod(StrictModel):
    """The primal-dual subgradient dispatch (seed 001)."""

    algorithm: Literal["primal-dual-dispatch"] = "primal-dual-dispatch"
    settings: PrimalDualSettings = PrimalDualSettings()


class AveragingDispatchMethod(StrictModel):
    """The seed's averaging consensus with an economic-dispatch actor (seed 000)."""

    algorithm: Literal["consensus-dispatch"] = "consensus-dispatch"
    settings: AveragingSettings = AveragingSettings()
    initial_lam: float = 10.0
    rho: float = Field(0.05, gt=0, description="gradient step of the actors")
    share_divisor: int = Field(ge=1, description="each actor targets demand / share_divisor")


class DiffusionMethod(StrictModel):
    """Diffusion (adapt-then-combine) dispatch, the peer library's newer algorithm."""

    algorithm: Literal["diffusion-dispatch"] = "diffusion-dispatch"
    settings: DiffusionSettings = DiffusionSettings()


DispatchMethod = Annotated[PrimalDualMethod | AveragingDispatchMethod | DiffusionMethod,
                           Field(discriminator="algorithm")]


class ConsensusJoin(Message):
    """Request: take part in run ``run``. Answered by :class:`ConsensusJoined` once the device listens to
    its in-neighbours (its subscriptions acknowledged by the broker), or by :class:`ConsensusFailure`."""

    kind: Literal["consensus.join"] = "consensus.join"
    run: RunId
    method: DispatchMethod
    in_neighbours: InNeighbours
    index: int = Field(ge=0, description="the device's position among the participants (its entry of z)")
    agents: int = Field(ge=1, description="number of participants")
    hops: int = Field(ge=0, description="bound on the hops between any two participants (termination test)")
    demand: float = Field(allow_inf_nan=False, description="power the participants must deliver together")



class ConsensusJoined(Message):
    """Reply to :class:`ConsensusJoin`: subscribed and ready for the start."""

    kind: Literal["consensus.joined"] = "consensus.joined"
    run: RunId


class ConsensusFailure(Message):
    """Reply to a join or collect the device cannot honour (its model does not fit, unknown run...)."""

    kind: Literal["consensus.failure"] = "consensus.failure"
    run: RunId
    reason: str


class ConsensusCollect(Message):
    """Request: report your state (finished or not), with ``x`` and ``lam`` at ``rounds`` (the history)."""

    kind: Literal["consensus.collect"] = "consensus.collect"
    run: RunId
    rounds: tuple[Annotated[int, Field(ge=0)], ...] = ()


class ConsensusOutcome(Message):
    """Reply to :class:`ConsensusCollect`: one participant's state.

    ``received`` counts the round messages of the run delivered to the device, per sender (whatever the
    participant then did with them); ``dropped`` those the participant discarded (duplicates, stale
    rounds, strangers, after its end). ``x_history`` / ``lam_history`` hold its values at the requested
    rounds (its last value beyond its own last round).
    """

    kind: Literal["consensus.outcome"] = "consensus.outcome"
    run: RunId
    finished: bool
    round: int = Field(ge=0, description="rounds computed so far (the one it waits in, if not finished)")
    stop_reason: StopReason | None = None
    x: float = Field(allow_inf_nan=False, description="the participant's output")
    lam: float = Field(allow_inf_nan=False, description="its multiplier")
    cost: float = Field(allow_inf_nan=False, description="its private cost at x")
    residual_estimate: float | None = Field(None, allow_inf_nan=False,
                                            description="primal-dual: its estimate of sum x - demand")
    x_history: FloatVector
    lam_history: FloatVector
    received: dict[str, int] = Field(default_factory=dict)
    dropped: int = Field(0, ge=0)


class ConsensusLeave(Message):
    """Forget run ``run``: drop its state and the subscriptions only it needed. No answer."""

    kind: Literal["consensus.leave"] = "consensus.leave"
    run: RunId


def sample_rounds(iterations: int, points: int) -> list[int]:
    """At most ``points`` rounds from 0 to ``iterations``, both ends included: every early round, then
    geometrically sparser (the dynamics of a decaying step happen early; a log axis shows them)."""
    if iterations + 1 <= points:
        return list(range(iterations + 1))
    spaced = np.geomspace(1, iterations + 1, points) - 1
    return sorted({0, iterations, *(round(float(k)) for k in spaced)})
