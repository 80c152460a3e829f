"""What an MQTT and a Zenoh connection share as hosts of participants, and a participant's view of either.

:class:`HostingConnection` keeps the participants hosted in this process, the presence seen, the gossip
subscribers of each sender, and the tasks it owns (one ``TaskGroup``; handlers and spawned drivers are also
kept in a set, so that a clean exit waits for them). It delivers an accepted envelope to its participant: the
handler starts at once on the caller's stack (:mod:`.eager`) and becomes an owned task only if it has to wait.
:class:`ConnectionCarrier` is a participant's view of such a connection; transports add what is theirs (the MQTT
carrier its MQTT 5 reply routing).
"""

from __future__ import annotations

import asyncio
import contextvars
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Generic, TypeVar

import structlog

from edge_agent.carrier.base import Carrier, Participant
from edge_agent.carrier.eager import start_eagerly
from edge_agent.carrier.outages import Outages
from edge_agent.carrier.presence import PresenceTracker
from edge_agent.carrier.recall import ConnectionStats, KeptReply, Recall, counted_in_thread
from edge_agent.carrier.topics import Route, Topics
from edge_agent.clock import Clock
from edge_agent.codec import Codec
from edge_agent.errors import TransportError, first_own_error
from edge_agent.ids import validate_id
from edge_agent.messages import Envelope

__all__ = ["ConnectionCarrier", "HostingConnection"]

T = TypeVar("T")
C = TypeVar("C", bound="ConnectionCarrier[Any]")
log = structlog.get_logger("edge_agent.carrier")


class HostingConnection(ABC, Generic[C]):
    """One process's connection hosting any number of participants (``transport`` names it in logs)."""

    transport: str
    outages: Outages

    def __init__(self, *, codec: Codec, topics: Topics, node: str, clock: Clock, run_id: str | None,
                 dedup_size: int) -> None:
        self._recall = Recall(dedup_size)  # seen envelope ids, sent replies (:mod:`.recall`)
        self.codec = codec
        self.topics = topics
        self.node = node
        self.clock = clock
        self.run_id = run_id
        self.stats = ConnectionStats()
        self.carriers: dict[str, C] = {}
        self.presence = PresenceTracker()
        self._gossip_subscribers: dict[str, set[str]] = {}  # sender -> the participants here hearing it
        self._tasks: asyncio.TaskGroup | None = None
        self._work: set[asyncio.Task[Any]] = set()  # handlers and drivers: awaited on a clean exit

    @abstractmethod
    def transmit(self, envelope: Envelope) -> None: ...

    def _closing(self) -> None:
        """Called once handlers are done, before the task group closes (MQTT: stop reconnecting)."""

    @abstractmethod
    async def _close(self) -> None:
        """The transport's leave, after the task group closed (offline presence, then the session or link)."""

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tasks is not None
        if kind is None:
            try:
                await self._drain()
            except asyncio.CancelledError as cancelled:  # a task failed: the TaskGroup cancelled us
                kind, error, tb = type(cancelled), cancelled, cancelled.__traceback__
        self._closing()
        try:
            await self._tasks.__aexit__(kind, error, tb)
        except BaseExceptionGroup as group:
            raise first_own_error(group) from None
        finally:
            self._tasks = None
            await self._close()

    @abstractmethod
    def subscribe_gossip(self, subscriber: str, senders: Iterable[str]) -> None: ...

    @abstractmethod
    def unsubscribe_gossip(self, subscriber: str, senders: Iterable[str]) -> None: ...

    def spawn(
        self, coroutine: Coroutine[Any, Any, T], name: str, context: contextvars.Context | None = None
    ) -> asyncio.Task[T]:
        if self._tasks is None:
            coroutine.close()
            raise RuntimeError(f"the connection is not open: use `async with {type(self).__name__}(...)`")
        try:
            task = self._tasks.create_task(coroutine, name=name, context=context)
        except RuntimeError:
            coroutine.close()
            raise
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        return task

    @property
    def pending(self) -> int:
        """Handlers and drivers still running: the connection's work queue (metrics)."""
        return sum(1 for task in self._work if not task.done())

    async def _drain(self) -> None:
        """Let handlers and spawned drivers finish (a clean exit) while the transport still reconnects."""
        while busy := [t for t in self._work if not t.done()]:
            await asyncio.wait(busy)

    def online(self, excluding: str | None = None) -> list[str]:
        """Agents online now (hosted here or announced by others), sorted."""
        agents = self.presence.online | self.carriers.keys()
        return sorted(a for a in agents if a != excluding)

    async def wait_present(self, agents: Iterable[str], within_s: float) -> None:
        await self.presence.wait_for(agents, within_s, self.clock)

    async def wait_absent(self, agents: Iterable[str], within_s: float) -> None:
        await self.presence.wait_for(agents, within_s, self.clock, online=False)

    def _first_hearing(self, subscriber: str, sender: str) -> bool:
        """Add ``subscriber`` to ``sender``'s gossip subscribers; True if it is the first one here."""
        subscribers = self._gossip_subscribers.setdefault(validate_id(sender, "gossip sender id"), set())
        first = not subscribers
        subscribers.add(subscriber)
        return first

    def _last_hearing(self, subscriber: str, sender: str) -> bool:
        """Remove ``subscriber`` from ``sender``'s gossip subscribers; True if nobody here hears it now."""
        subscribers = self._gossip_subscribers.get(sender)
        if subscribers is None or subscriber not in subscribers:
            return False
        subscribers.discard(subscriber)
        if subscribers:
            return False
        del self._gossip_subscribers[sender]
        return True

    @abstractmethod
    def _send_again(self, kept: KeptReply) -> None:
        """Send a kept reply again, as it was (:class:`TransportError` if it cannot be sent)."""

    def _admit(self, key: str, route: Route, envelope: Envelope) -> bool:
        """Count an envelope that passed the transport's checks, received on ``key``; False if it was dealt with
        here. A request answered already gets the same reply again, byte for byte (its requester lost the reply,
        or sent the request twice; the handler does not run twice); any other repeat (a redelivery, a request
        still being handled) is dropped; gossip goes to its subscribers. True: deliver it to its receiver."""
        self.stats.received += 1
        seen = (key, envelope.id)
        kept = self._recall.answered(seen) if route.kind == "direct" and envelope.in_reply_to is None else None
        if kept is not None:
            self.stats.duplicates += 1
            try:
                self._send_again(kept)
            except TransportError as error:
                log.warning(f"{self.transport}.answer_again_failed", key=key, error=str(error))
            else:
                self.stats.answered_again += 1
                log.info(f"{self.transport}.answered_again", key=key, id=envelope.id)
            return False
        if not self._recall.first_time(seen):
            self.stats.duplicates += 1
            log.debug(f"{self.transport}.duplicate", key=key, id=envelope.id)
            return False
        if route.kind == "gossip":
            self._deliver_gossip(route.sender, envelope)
            return False
        return True

    def _deliver_gossip(self, sender: str, envelope: Envelope) -> None:
        for pid in sorted(self._gossip_subscribers.get(sender, ())):
            self._deliver(self.carriers[pid], envelope)  # receiver stays GOSSIP, as in process

    def _deliver(self, carrier: C, envelope: Envelope) -> None:
        handler = carrier._receive(envelope)
        if handler is None:
            return
        if self._tasks is None:  # arrived while shutting down, after the last handler finished
            handler.close()
            log.info(f"{self.transport}.dropped_on_close", participant=carrier.id, kind=envelope.body.kind)
            return
        rest, context = start_eagerly(handler)
        if rest is None:
            return
        try:
            self.spawn(_finish(rest), name=f"handle:{carrier.id}:{envelope.body.kind}", context=context)
        except RuntimeError:  # the task group is shutting down and takes no new task
            log.info(f"{self.transport}.dropped_on_close", participant=carrier.id, kind=envelope.body.kind)


async def _finish(rest: Awaitable[None]) -> None:
    await rest


H = TypeVar("H", bound=HostingConnection[Any])


class ConnectionCarrier(Carrier, Generic[H]):
    """One participant's view of a connection that hosts any number of them (MQTT, Zenoh)."""

    def __init__(self, connection: H, participant: Participant) -> None:
        super().__init__(participant, connection.clock, connection.run_id)
        self._connection = connection

    @property
    def outages(self) -> Outages:
        return self._connection.outages

    def _transmit(self, envelope: Envelope) -> None:
        self._connection.transmit(envelope)

    def subscribe(self, senders: Iterable[str]) -> None:
        self._connection.subscribe_gossip(self.id, senders)

    def unsubscribe(self, senders: Iterable[str]) -> None:
        self._connection.unsubscribe_gossip(self.id, senders)

    def others(self) -> list[str]:
        return self._connection.online(excluding=self.id)

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        return self._connection.spawn(coroutine, name)

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        return await counted_in_thread(self._connection.stats, function, *args)

    async def wait_present(self, agents: Iterable[str], within_s: float) -> None:
        """Wait until ``agents`` are online; :class:`RunTimeout` naming those still missing."""
        await self._connection.wait_present(agents, within_s)

    async def wait_absent(self, agents: Iterable[str], within_s: float) -> None:
        """Wait until ``agents`` are offline; :class:`RunTimeout` naming those still online."""
        await self._connection.wait_absent(agents, within_s)
