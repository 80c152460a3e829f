"""The seed's averaging consensus API over this project's engine
(:class:`~edge_agent.algorithms.consensus.AveragingParticipant` and
:class:`~edge_agent.algorithms.consensus.EconomicDispatchActor`).

A participant builds its engine participant when the run reaches it (the start message, or the first
neighbour's value, which carries the start's ``data``): every other participant of the carrier is an
in-neighbour (the seed's topology), the start message never counts as a neighbour's value, and the run ends
at ``max_iter`` or when everyone converged (the engine's distributed termination), calling
``finish_callback(algorithm, carrier)`` once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.consensus import (
    AveragingParticipant,
    AveragingSettings,
    ConsensusStart,
    EconomicDispatchActor,
    Termination,
)
from edge_agent.dro._bridge import EngineCarrier, Wire
from edge_agent.dro.carrier import Carrier
from edge_agent.dro.core import DistributedAlgorithm, OptimizationMessage
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope

__all__ = [
    "AveragingConsensusAlgorithm",
    "AveragingConsensusMessage",
    "ConsensusActor",
    "ConsensusFinishedMessage",
    "LinearCostEconomicDispatchConsensusActor",
    "NoConsensusActor",
    "create_averaging_consensus_participant",
    "create_averaging_consensus_start",
]

Array = NDArray[np.float64]


class ConsensusActor:
    """Adds a gradient term to each averaging update; subclass and override :meth:`gradient_term`."""

    def gradient_term(self, lam: Array, data: Any) -> Array:
        return np.zeros_like(lam)


class NoConsensusActor(ConsensusActor):
    """Pure averaging: no gradient term."""


@dataclass
class LinearCostEconomicDispatchConsensusActor(ConsensusActor):
    """One generator of cost ``cost P + epsilon P^2`` on ``[p_min, p_max]`` (the engine's
    :class:`EconomicDispatchActor`). Inside a run the true number of participants replaces ``n_guess``."""

    cost: float
    p_max: float
    rho: float = 0.05
    epsilon: float = 0.1
    p_min: float = 0.0
    n_guess: int = 10
    P: Array = field(default_factory=lambda: np.zeros(1))

    def gradient_term(self, lam: Array, p_target: Any) -> Array:
        engine = EconomicDispatchActor(cost=self.cost, p_max=self.p_max, p_target=p_target, n=self.n_guess,
                                       p_min=self.p_min, rho=self.rho, epsilon=self.epsilon)
        term = engine.gradient_term(np.asarray(lam, dtype=np.float64))
        self.P = engine.P
        return term


@dataclass
class AveragingConsensusMessage(OptimizationMessage):
    """``lam`` of the sender at iteration ``k``; ``data`` goes to the actors; ``initial`` marks the start."""

    lam: Array
    k: int
    data: Any
    initial: bool = False


@dataclass
class ConsensusFinishedMessage:
    """What a participant knows when it finishes: its ``lam``, the iteration and its actor."""

    lam: Array
    k: int
    actor: ConsensusActor


class _WithData:
    """The engine's actor protocol (``gradient_term(lam)``) for a seed actor and the run's data."""

    def __init__(self, actor: ConsensusActor, data: Any) -> None:
        self.actor, self.data = actor, data

    def gradient_term(self, lam: Array) -> Array:
        return np.asarray(self.actor.gradient_term(lam, self.data), dtype=np.float64)


class AveragingConsensusAlgorithm(DistributedAlgorithm):
    """One averaging-consensus participant (seed defaults: ``initial_lam=10``, ``alpha=0.3``, ``max_iter=50``)."""

    def __init__(self, finish_callback: Callable[..., Any], consensus_actor: ConsensusActor | None = None,
                 initial_lam: float = 10.0, alpha: float = 0.3, max_iter: int = 50) -> None:
        self.finish_callback = finish_callback
        self.actor: ConsensusActor = consensus_actor if consensus_actor is not None else NoConsensusActor()
        self.initial_lam = float(initial_lam)
        self.settings = AveragingSettings(alpha=alpha, max_iter=max_iter)
        self.engine: AveragingParticipant | None = None
        self._bridge: EngineCarrier | None = None
        self.finished: ConsensusFinishedMessage | None = None

    @property
    def lam(self) -> Array:
        return self.engine.lam if self.engine is not None else np.array([self.initial_lam])

    @property
    def k(self) -> int:
        return self.engine.round if self.engine is not None else 0

    def _join(self, carrier: Carrier, data: Any, shape: tuple[int, ...]) -> EngineCarrier:
        own = carrier.address()
        peers = [str(a) for a in carrier.others(str(own))]
        if isinstance(self.actor, LinearCostEconomicDispatchConsensusActor):
            self.actor.n_guess = len(peers) + 1
        self.engine = AveragingParticipant(
            str(own), peers, initial=np.full(shape, self.initial_lam), settings=self.settings,
            termination=Termination(max_iter=self.settings.max_iter, patience=self.settings.patience,
                                    hops=1),  # every other participant is an in-neighbour
            actor=_WithData(self.actor, data))
        self._bridge = EngineCarrier(carrier, self.engine, own, data)
        return self._bridge

    async def on_exchange_message(self, carrier: Carrier, message_data: Any, meta: Any) -> None:
        if isinstance(message_data, AveragingConsensusMessage):
            bridge = self._bridge or self._join(carrier, message_data.data, np.shape(message_data.lam))
            start = Envelope(id="start", sender="start", receiver=bridge.id, seq=0, body=ConsensusStart())
            handler = bridge.deliver(Wire(start), meta)
        elif isinstance(message_data, Wire):
            body = message_data.envelope.body
            shape = np.shape(getattr(body, "lam", np.zeros(1)))
            bridge = self._bridge or self._join(carrier, message_data.data, shape)
            handler = bridge.deliver(message_data, meta)
        else:
            raise ConfigError(f"averaging consensus handles AveragingConsensusMessage, got {message_data!r:.80}")
        if handler is not None:
            await handler
        engine = self.engine
        if engine is not None and engine.finished and self.finished is None:
            self.finished = ConsensusFinishedMessage(engine.lam, engine.round, self.actor)
            self.finish_callback(self, carrier)


def create_averaging_consensus_participant(finish_callback: Callable[..., Any],
                                           consensus_actor: ConsensusActor | None = None,
                                           initial_lam: float = 10.0, alpha: float = 0.3,
                                           max_iter: int = 50) -> AveragingConsensusAlgorithm:
    return AveragingConsensusAlgorithm(finish_callback, consensus_actor, initial_lam, alpha, max_iter)


def create_averaging_consensus_start(initial_lam: float, data: Any = None) -> AveragingConsensusMessage:
    """The kick-off message; ``lam`` has one entry per entry of ``data`` (one if ``data`` is a number)."""
    size = int(np.size(data)) if data is not None and np.ndim(data) == 1 else 1
    return AveragingConsensusMessage(np.full(size, float(initial_lam)), 0, data, initial=True)
