"""Synchronous rounds over gossip, without a coordinator: the machinery both consensus algorithms share.

Each participant publishes its state once per round (``carrier.publish``) to the participants that
subscribed to it (its out-neighbours) and listens to its in-neighbours. It moves from round ``k`` to
``k + 1`` as soon as it holds every in-neighbour's round-``k`` message: messages for later rounds wait
in a buffer, a second message from the same sender for the same round and messages for past rounds are
dropped. A :class:`ConsensusStart` (or the first neighbour message, whichever comes first) makes a
participant publish its round-0 state; the start message is never used as a neighbour's value.

How a run ends, and how everyone learns it:

* ``max_iter``: every participant stops after computing round ``max_iter``.
* convergence: a participant's own test (its ``step`` returns ``True``) only says its *local* state
  settled. To learn that *everyone* settled, each message carries a counter
  ``quiet_i(k+1) = 1 + min(quiet_i(k), quiet_j(k) for in-neighbours j)`` when the local test holds at
  ``k + 1`` and 0 otherwise. ``quiet_i(k) >= patience + hops`` (``hops`` bounds the number of hops from
  any participant to any other; ``n - 1`` always does) proves that every participant passed its own test
  for at least ``patience`` consecutive rounds, so ``i`` stops.
* divergence: a participant whose own state left its sensible bounds (``_abort``) stops with ``diverged``.
* the end spreads by gossip: a participant's last message has ``final`` set to the reason; whoever
  receives a final message among its round-``k`` inputs computes round ``k + 1``, publishes it as final
  with the same reason and stops. Every participant therefore stops within ``hops`` rounds of the first
  one, and nobody waits for a neighbour that has already stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from edge_agent.algorithms.consensus.messages import ConsensusStart, RoundMessage, StopReason
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message

__all__ = ["RoundParticipant", "Termination"]

M = TypeVar("M", bound=RoundMessage)
log = structlog.get_logger("edge_agent.consensus")


@dataclass(frozen=True)
class Termination:
    """When a participant stops: ``max_iter`` rounds, or everyone converged for ``patience`` rounds.

    ``hops`` must bound the longest shortest path between two participants: the graph's diameter (what
    the simulation runners use), or the number of participants minus one, which is always safe.
    """

    max_iter: int
    patience: int = 5
    hops: int = 1

    def __post_init__(self) -> None:
        for name in ("max_iter", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hops < 0:
            raise ConfigError(f"hops must be >= 0, got {self.hops}")

    @property
    def quiet_rounds(self) -> int:
        return self.patience + self.hops


class RoundParticipant(ABC, Generic[M]):
    """A participant of a synchronous-round gossip protocol; subclasses define the state and its update.

    Call :meth:`join` once with the participant's carrier before any message flows (it subscribes to
    the in-neighbours). Afterwards ``round``, ``finished`` and ``stop_reason`` tell where it is.
    """

    message_type: type[M]

    def __init__(self, id: str, in_neighbours: Sequence[str], termination: Termination) -> None:
        if id in in_neighbours:
            raise ConfigError(f"participant {id!r} lists itself as an in-neighbour")
        self._id = id
        self.in_neighbours = tuple(in_neighbours)
        self._in_set = frozenset(self.in_neighbours)
        self.termination = termination
        self.round = 0
        self.started = False
        self.finished = False
        self.stop_reason: StopReason | None = None
        self.dropped = 0  # duplicates, stale rounds, strangers and messages after the end
        self._quiet = 0
        self._inbox: dict[int, dict[str, M]] = {}

    @property
    def id(self) -> str:
        return self._id

    def join(self, carrier: Carrier) -> None:
        """Subscribe to the in-neighbours' publications."""
        carrier.subscribe(self.in_neighbours)

    # -- the state, defined by subclasses ----------------------------------------------------------
    @abstractmethod
    def _message(self, round: int, quiet: int, final: StopReason | None) -> M:
        """The message carrying this participant's current state (of round ``round``)."""

    def _abort(self) -> StopReason | None:
        """A reason to stop at once after a step (e.g. ``"diverged"``); ``None`` to go on."""
        return None

    @abstractmethod
    def _step(self, round: int, inbox: Mapping[str, M]) -> bool:
        """Update the state from round ``round`` to ``round + 1`` given every in-neighbour's message;
        return whether this participant's own convergence test holds for the new state."""

    # -- protocol ----------------------------------------------------------------------------------
    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if self.finished:
            self.dropped += 1
            return
        if isinstance(message, ConsensusStart):
            if not self.started:
                self._start(carrier)
            return
        if not isinstance(message, self.message_type):
            log.warning("consensus.unexpected_message", participant=self.id, kind=message.kind,
                        sender=envelope.sender)
            return
        sender = envelope.sender
        if sender not in self._in_set:
            self.dropped += 1
            log.warning("consensus.not_an_in_neighbour", participant=self.id, sender=sender)
            return
        if not self.started:
            self._start(carrier)
        if message.round < self.round or message.round > self.termination.max_iter:
            self.dropped += 1
            return
        bucket = self._inbox.setdefault(message.round, {})
        if sender in bucket:
            self.dropped += 1
            return
        bucket[sender] = message
        self._advance(carrier)

    def _start(self, carrier: Carrier) -> None:
        self.started = True
        carrier.publish(self._message(0, 0, None))
        self._advance(carrier)

    def _advance(self, carrier: Carrier) -> None:
        needed = len(self.in_neighbours)
        while not self.finished:
            bucket = self._inbox.get(self.round, {})
            if len(bucket) < needed:
                return
            self._inbox.pop(self.round, None)
            quiet_in = min([self._quiet, *(m.quiet for m in bucket.values())])
            inherited = next((m.final for m in bucket.values() if m.final is not None), None)
            converged = self._step(self.round, bucket)
            self.round += 1
            self._quiet = quiet_in + 1 if converged else 0
            final = inherited or self._abort()
            if final is None and self._quiet >= self.termination.quiet_rounds:
                final = "converged"
            if final is None and self.round >= self.termination.max_iter:
                final = "max_iterations"
            carrier.publish(self._message(self.round, self._quiet, final))
            if final is not None:
                self.finished = True
                self.stop_reason = final
                self._inbox.clear()
