"""The carrier interface every algorithm talks to, and the bookkeeping all carriers share.

An algorithm participant implements :class:`Participant` and is handed a :class:`Carrier` bound to
its own id. The carrier sends, replies, issues requests whose reply arrives as an awaitable future
(matched by message id, failed with :class:`RunTimeout` after ``timeout`` seconds of the carrier's
clock), publishes gossip to the participants subscribed to it, lists the other participants, sleeps,
spawns owned driver tasks, and runs CPU-heavy work where it does not stall message handling
(:meth:`Carrier.run_blocking`).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import structlog

from edge_agent.clock import Clock
from edge_agent.errors import RunTimeout
from edge_agent.ids import validate_id
from edge_agent.messages import Envelope, Message

__all__ = ["GOSSIP", "Carrier", "Host", "MessageCounts", "Network", "Participant", "RunCarrier"]

GOSSIP = "*"  # the receiver of a published (gossip) envelope: whoever subscribed to its sender

T = TypeVar("T")
log = structlog.get_logger("edge_agent.carrier")


class Participant(Protocol):
    """Anything that takes part in a run: it has an id and handles the messages sent to it."""

    @property
    def id(self) -> str: ...

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None: ...


class MessageCounts(Protocol):
    """Messages a network carried: in all, and per ``kind``."""

    @property
    def sent(self) -> int: ...

    @property
    def by_kind(self) -> Counter[str]: ...


class Network(Protocol):
    """A network that runs participants in this process and can tell when it is quiescent (nothing queued,
    delayed or being handled): what an in-process run of a scenario needs (:class:`.inproc.InProcNetwork`)."""

    @property
    def stats(self) -> MessageCounts: ...

    def add(self, participant: Participant) -> Carrier: ...

    async def quiescent(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Host(Protocol):
    """Where a launcher runs beside agents it did not start itself (over MQTT: one connection in the launching
    process, the agents in their own processes): what a family's plan needs to run a scenario among them."""

    @property
    def sent(self) -> int:
        """Messages the launching side sent so far."""

    def add(self, participant: Participant) -> Carrier: ...

    async def settled(self) -> None:
        """Wait until the transport confirmed the subscriptions made so far."""

    async def wait_absent(self, agents: Iterable[str], within_s: float) -> None:
        """Wait until ``agents`` are reported gone; :class:`RunTimeout` naming those still present."""

    def kill(self, agent: str) -> None:
        """End ``agent``'s process without a clean leave; :class:`ConfigError` if this host did not start it."""


class Carrier(ABC):
    """One participant's view of the network.

    Subclasses implement :meth:`_transmit` (hand an envelope to the transport), :meth:`others`,
    :meth:`spawn` and :meth:`run_blocking`, and call :meth:`_receive` for every envelope that
    arrives for this participant.
    """

    def __init__(self, participant: Participant, clock: Clock, run_id: str | None = None) -> None:
        self.participant = participant
        self.clock = clock
        self.run_id = run_id
        self._seq = itertools.count()
        self._pending: dict[str, tuple[str, asyncio.Future[Message]]] = {}  # request id -> (asked, answer)

    @property
    def id(self) -> str:
        return self.participant.id

    # -- sending -------------------------------------------------------------------------------
    def send(self, body: Message, receiver: str) -> None:
        """Fire and forget."""
        self._transmit(self._envelope(body, receiver))

    def reply(self, body: Message, to: Envelope) -> None:
        """Answer the request ``to``; the requester's future resolves with ``body``."""
        self._transmit(self._envelope(body, to.sender, in_reply_to=to.id))

    def publish(self, body: Message) -> None:
        """Gossip: deliver ``body`` once to every participant subscribed to this one."""
        self._transmit(self._envelope(body, GOSSIP))

    def request(self, body: Message, receiver: str, timeout: float) -> asyncio.Future[Message]:
        """Send ``body`` and return a future for the reply body.

        The future fails with :class:`RunTimeout` naming ``receiver`` if no reply arrives within
        ``timeout`` seconds of this carrier's clock.
        """
        envelope = self._envelope(body, receiver)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[envelope.id] = (receiver, future)

        def expire() -> None:
            if not future.done():
                future.set_exception(
                    RunTimeout(
                        f"{receiver!r} did not answer {body.kind!r} within {timeout:g} s",
                        participants=(receiver,),
                    )
                )

        timer = self.clock.call_later(timeout, expire)

        def forget(_: asyncio.Future[Message]) -> None:
            timer.cancel()
            self._pending.pop(envelope.id, None)

        future.add_done_callback(forget)
        try:
            self._transmit(envelope)
        except BaseException:
            forget(future)  # nobody will wait for it: drop the timer and the pending entry now
            future.cancel()
            raise
        return future

    def _envelope(self, body: Message, receiver: str, in_reply_to: str | None = None) -> Envelope:
        if receiver != GOSSIP:
            validate_id(receiver, "receiver id")
        seq = next(self._seq)
        # Validated construction runs in pydantic-core and costs about half of ``model_construct``'s
        # Python loop; the body, already validated when it was built, is kept as it is (not copied).
        # Ids are random: a reply is accepted only from the one asked, for an id it could not have guessed.
        return Envelope(
            id=secrets.token_hex(8),
            sender=self.id,
            receiver=receiver,
            seq=seq,
            run=self.run_id,
            in_reply_to=in_reply_to,
            body=body,
        )

    def fail_requests(self, receiver: str, error: Exception) -> None:
        """Fail every request to ``receiver`` still waiting for its answer (the transport knows it cannot come)."""
        for asked, future in list(self._pending.values()):
            if asked == receiver and not future.done():
                future.set_exception(error)

    # -- receiving -----------------------------------------------------------------------------
    def _receive(self, envelope: Envelope) -> Coroutine[Any, Any, None] | None:
        """Route one arrived envelope: resolve a waiting request, or return the handler coroutine.

        A reply is bound to its request and to the participant asked: one nobody waits for any more (it timed
        out), or one from anybody else, is dropped and logged.
        """
        if envelope.in_reply_to is not None:
            asked, future = self._pending.get(envelope.in_reply_to, (None, None))
            if future is None or asked != envelope.sender:
                log.info("carrier.unmatched_reply", participant=self.id, sender=envelope.sender, asked=asked,
                         kind=envelope.body.kind)
            elif not future.done():
                future.set_result(envelope.body)
            return None
        return self.participant.handle(self, envelope.body, envelope)

    # -- transport specific --------------------------------------------------------------------
    @abstractmethod
    def _transmit(self, envelope: Envelope) -> None: ...

    @abstractmethod
    def subscribe(self, senders: Iterable[str]) -> None:
        """Receive what ``senders`` publish (this participant's in-neighbours)."""

    def unsubscribe(self, senders: Iterable[str]) -> None:
        """Stop receiving what ``senders`` publish, where the transport can (MQTT). By default nothing
        changes: a receiver must drop what it no longer expects anyway (messages in flight still arrive)."""
        log.debug("carrier.keeps_subscriptions", participant=self.id, carrier=type(self).__name__)

    @abstractmethod
    def others(self) -> list[str]:
        """Ids of every other participant this carrier knows of."""

    @abstractmethod
    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run a long-lived driver as a named task owned by the runtime (its errors propagate)."""

    @abstractmethod
    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound ``function(*args)`` without stalling this carrier's message handling."""

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)


class RunCarrier(Carrier):
    """Another carrier's participant and transport, every envelope stamped with ``run_id``.

    How a participant that serves several runs over time (a device agent) takes part in one of them:
    messages sent through the view carry the run's id, and a reply to a request made through it resolves
    the view's future (the two share their table of pending requests).
    """

    def __init__(self, inner: Carrier, run_id: str) -> None:
        super().__init__(inner.participant, inner.clock, run_id)
        self.inner = inner
        self._pending = inner._pending

    def _transmit(self, envelope: Envelope) -> None:
        self.inner._transmit(envelope)

    def subscribe(self, senders: Iterable[str]) -> None:
        self.inner.subscribe(senders)

    def unsubscribe(self, senders: Iterable[str]) -> None:
        self.inner.unsubscribe(senders)

    def others(self) -> list[str]:
        return self.inner.others()

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        return self.inner.spawn(coroutine, name)

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        return await self.inner.run_blocking(function, *args)
