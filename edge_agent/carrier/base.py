"""The carrier interface every algorithm talks to, and the bookkeeping all carriers share.

An algorithm participant implements :class:`Participant` and is handed a :class:`Carrier` bound to
its own id. The carrier sends, replies, issues requests whose reply arrives as an awaitable future
(matched by message id, failed with :class:`RunTimeout` after ``timeout`` seconds of the carrier's
clock during which its transport was up, or with :class:`TransportError` naming the transport if that stays
down for a whole timeout: :mod:`.outages`), publishes gossip to the participants subscribed to it, lists the
other participants, sleeps, spawns owned driver tasks, and runs CPU-heavy work where it does not stall message handling
(:meth:`Carrier.run_blocking`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import structlog

from edge_agent.carrier.outages import NEVER_DOWN, Outages
from edge_agent.clock import Clock
from edge_agent.errors import RunTimeout, TransportError
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


class _Pending:
    """A request waiting for its answer: whom it asked, the envelope (sent again after a lost connection, with
    the same id, so the replier recognises it), the future its answer resolves, and the timer that fails it.

    Plain slots and bound methods, no closures: nothing here refers to itself, so a finished request is freed
    by reference counting alone (a self-referencing closure left every request to the cyclic collector).
    """

    __slots__ = ("_body", "_clock", "_id", "_outages", "_started", "_table", "_timeout", "_timer",
                 "asked", "envelope", "future")

    def __init__(self, envelope: Envelope, timeout: float, clock: Clock, outages: Outages,
                 table: dict[str, _Pending]) -> None:
        lossless = outages is NEVER_DOWN  # in process: nothing to send again, no downtime to subtract
        self.asked = envelope.receiver
        self.envelope = None if lossless else envelope
        self.future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._body, self._timeout, self._clock, self._outages = envelope.body, timeout, clock, outages
        self._started = 0.0 if lossless else clock.now()
        self._table, self._id = table, envelope.id
        table[envelope.id] = self
        self._timer = clock.call_later(timeout, self._expire)
        self.future.add_done_callback(self.forget)

    def forget(self, _: object = None) -> None:
        """Drop the timer and the table entry (the answer came, the request failed, or it was never sent)."""
        self._timer.cancel()
        self._table.pop(self._id, None)

    def _expire(self) -> None:
        future, outages, timeout = self.future, self._outages, self._timeout
        if future.done():
            return
        what = f"{self.asked!r} did not answer {self._body.kind!r} within {timeout:g} s"
        if outages is NEVER_DOWN:
            future.set_exception(RunTimeout(what, participants=(self.asked,)))
            return
        now = self._clock.now()
        down, down_now = outages.downtime(self._started, now), outages.down_for(now)
        if not outages.connected and down_now >= timeout:
            future.set_exception(TransportError(
                f"no answer from {self.asked!r} to {self._body.kind!r}: {outages.what} has been down for "
                f"{down_now:.3g} s, longer than the {timeout:g} s timeout; {self.asked!r} may be fine"))
            return
        left = timeout - (now - self._started - down)
        if not outages.connected:
            left = min(left, timeout - down_now)
        if left > 1e-6:  # the connection was down meanwhile: that time does not count
            self._timer = self._clock.call_later(left, self._expire)
            return
        lost = f" (not counting {down:.3g} s while {outages.what} was down)" if down else ""
        future.set_exception(RunTimeout(what + lost, participants=(self.asked,)))


class _RandomIds:
    """Unpredictable 64-bit envelope ids from the OS's random source, read 64 at a time (one system call)."""

    def __init__(self) -> None:
        self._pool = ""
        self._at = 0

    def take(self) -> str:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(512).hex(), 0
        self._at = at + 16
        return self._pool[at:at + 16]


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
        self._ids = _RandomIds()
        self._pending: dict[str, _Pending] = {}  # request id -> the request and its answer

    @property
    def outages(self) -> Outages:
        """When this carrier's transport was down (never, unless a subclass says otherwise)."""
        return NEVER_DOWN

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

        The future fails with :class:`RunTimeout` naming ``receiver`` if no reply arrives within ``timeout``
        seconds of this carrier's clock, not counting the time its transport was down (no reply can come
        then); with :class:`TransportError` naming the transport if that stays down for ``timeout`` seconds.
        """
        envelope = self._envelope(body, receiver)
        pending = _Pending(envelope, timeout, self.clock, self.outages, self._pending)
        try:
            self._transmit(envelope)
        except BaseException:
            pending.forget()  # nobody will wait for it: drop the timer and the pending entry now
            pending.future.cancel()
            raise
        return pending.future

    def waiting(self, receiver: str | None = None) -> list[Envelope]:
        """The requests still waiting for their answer (to ``receiver``, or to anybody), oldest first: what a
        transport sends again, unchanged, when it cannot tell whether they or their answers were lost."""
        return [p.envelope for p in self._pending.values()
                if p.envelope is not None and not p.future.done() and receiver in (None, p.asked)]

    def _envelope(self, body: Message, receiver: str, in_reply_to: str | None = None) -> Envelope:
        seq = next(self._seq)
        # Validated construction runs in pydantic-core and costs about half of ``model_construct``'s
        # Python loop; the body, already validated when it was built, is kept as it is (not copied).
        # Ids are random: a reply is accepted only from the one asked, for an id it could not have guessed.
        return Envelope(
            id=self._ids.take(),
            sender=self.id,
            receiver=receiver,
            seq=seq,
            run=self.run_id,
            in_reply_to=in_reply_to,
            body=body,
        )

    def fail_requests(self, receiver: str, error: Exception) -> None:
        """Fail every request to ``receiver`` still waiting for its answer (the transport knows it cannot come)."""
        for pending in list(self._pending.values()):
            if pending.asked == receiver and not pending.future.done():
                pending.future.set_exception(error)

    # -- receiving -----------------------------------------------------------------------------
    def _receive(self, envelope: Envelope) -> Coroutine[Any, Any, None] | None:
        """Route one arrived envelope: resolve a waiting request, or return the handler coroutine.

        A reply is bound to its request and to the participant asked: one nobody waits for any more (it timed
        out), or one from anybody else, is dropped and logged.
        """
        if envelope.in_reply_to is not None:
            pending = self._pending.get(envelope.in_reply_to)
            if pending is None or pending.asked != envelope.sender:
                log.info("carrier.unmatched_reply", participant=self.id, sender=envelope.sender,
                         asked=None if pending is None else pending.asked, kind=envelope.body.kind)
            elif not pending.future.done():
                pending.future.set_result(envelope.body)
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

    @property
    def outages(self) -> Outages:
        return self.inner.outages

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
