"""Run any number of participants in one asyncio loop.

:class:`InProcNetwork` owns every task of a run in one ``TaskGroup``: handler tasks, spawned drivers
and delayed deliveries. It counts messages, detects quiescence (nothing queued, delayed or being
handled), and can simulate a network: a seeded shuffle of the delivery order within each batch of
ready messages, and a per-message delay/loss model drawn from the same injected generator.

Given a ``codec``, every envelope is encoded to bytes and decoded again on its way, so a
simulation proves that what it sends would survive a real wire.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import numpy as np
import structlog

from edge_agent.carrier.base import GOSSIP, Carrier, Participant
from edge_agent.carrier.eager import start_eagerly
from edge_agent.clock import Clock, LoopClock
from edge_agent.codec import Codec
from edge_agent.errors import ConfigError, first_own_error
from edge_agent.messages import Envelope

__all__ = ["InProcCarrier", "InProcNetwork", "LinkModel", "NetworkStats"]

log = structlog.get_logger("edge_agent.carrier")
PROGRESS_EVERY_S = 5.0

T = TypeVar("T")
_NOT_RUNNING = "the network is not running: use `async with InProcNetwork(...)`"


@dataclass(frozen=True)
class LinkModel:
    """Per-message delay ``delay_s + U(0, jitter_s)`` seconds and loss probability ``loss``."""

    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if not (self.delay_s >= 0 and self.jitter_s >= 0 and 0 <= self.loss < 1):
            msg = f"link model needs delay_s >= 0, jitter_s >= 0 and 0 <= loss < 1, got {self}"
            raise ConfigError(msg)


@dataclass
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)


class InProcCarrier(Carrier):
    def __init__(self, network: InProcNetwork, participant: Participant) -> None:
        super().__init__(participant, network.clock, network.run_id)
        self._network = network

    def _transmit(self, envelope: Envelope) -> None:
        self._network.transmit(envelope)

    def subscribe(self, senders: Iterable[str]) -> None:
        self._network._subscribed(self.id, senders)

    def others(self) -> list[str]:
        return [pid for pid in self._network.carriers if pid != self.id]

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        return self._network.spawn(coroutine, name)

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        if self._network.offload:
            return await asyncio.to_thread(function, *args)
        return function(*args)


class InProcNetwork:
    """A simulated network; use as ``async with InProcNetwork(...) as net``.

    ``offload=False`` (the default) runs :meth:`Carrier.run_blocking` work inline: in a single-process
    simulation nothing else needs the loop meanwhile, and a thread hop costs several times a small
    QP solve. Device processes, which must keep their connection serviced, always offload.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rng: np.random.Generator | None = None,
        shuffle: bool = False,
        link: LinkModel | None = None,
        offload: bool = False,
        codec: Codec | None = None,
        run_id: str | None = None,
    ) -> None:
        if (shuffle or link is not None) and rng is None:
            raise ConfigError("a shuffled or lossy/delayed network needs an rng (numpy.random.Generator)")
        self.clock: Clock = clock or LoopClock()
        self.run_id = run_id
        self.offload = offload
        self.stats = NetworkStats()
        self.carriers: dict[str, InProcCarrier] = {}
        self.subscribers: dict[str, set[str]] = {}
        self._rng = rng
        self._shuffle = shuffle
        self._link = link
        self._codec = codec
        self._sorted_subscribers: dict[str, tuple[str, ...]] = {}
        self._ready: list[tuple[str, Envelope]] = []  # (receiver, envelope): gossip shares one envelope
        self._flush_scheduled = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: asyncio.TaskGroup | None = None
        self._next_progress = 0.0

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tasks is not None
        try:
            await self._tasks.__aexit__(kind, error, tb)
        except BaseExceptionGroup as group:
            raise first_own_error(group) from None
        finally:
            self._tasks = None

    def add(self, participant: Participant) -> InProcCarrier:
        if participant.id in self.carriers:
            raise ConfigError(f"participant id {participant.id!r} is used twice; ids must be unique")
        carrier = InProcCarrier(self, participant)
        self.carriers[participant.id] = carrier
        return carrier

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        return self._spawn(coroutine, name, None)

    def _spawn(
        self, coroutine: Coroutine[Any, Any, T], name: str, context: contextvars.Context | None
    ) -> asyncio.Task[T]:
        if self._tasks is None:
            coroutine.close()
            raise RuntimeError(_NOT_RUNNING)
        return self._tasks.create_task(coroutine, name=name, context=context)

    async def quiescent(self) -> None:
        """Wait until no message is queued, delayed or being handled."""
        await self._idle.wait()

    # -- delivery ------------------------------------------------------------------------------
    def transmit(self, envelope: Envelope) -> None:
        """Queue ``envelope`` for its receiver, or for every subscriber of its sender if it is gossip.

        Gossip is not copied per receiver: every subscriber is handed the one envelope its sender published
        (receiver :data:`GOSSIP`, as on the wire; envelope and body are frozen, so sharing is safe).
        """
        receiver = envelope.receiver
        if receiver == GOSSIP:
            receivers = self._subscribers_of(envelope.sender)
            if not receivers:
                return
        elif receiver in self.carriers:
            receivers = (receiver,)
        else:
            raise ConfigError(
                f"{envelope.sender!r} sent {envelope.body.kind!r} to unknown participant "
                f"{receiver!r}; known: {sorted(self.carriers)}"
            )
        if self._codec is not None:
            envelope = self._codec.decode(self._codec.encode(envelope))
        count = len(receivers)
        self.stats.sent += count
        self.stats.by_kind[envelope.body.kind] += count
        self._busy(+count)
        link, rng = self._link, self._rng
        if link is None or rng is None:
            self._ready.extend([(r, envelope) for r in receivers])
            self._schedule_flush()
            return
        for r in receivers:  # per receiver, in name order: the same draws as one message at a time
            if link.loss and rng.random() < link.loss:
                self.stats.lost += 1
                self._busy(-1)
                continue
            delay = link.delay_s + (rng.random() * link.jitter_s if link.jitter_s else 0.0)
            if delay > 0:
                self.clock.call_later(delay, functools.partial(self._enqueue, r, envelope))
            else:
                self._enqueue(r, envelope)

    def _subscribers_of(self, sender: str) -> tuple[str, ...]:
        """Who hears ``sender``'s gossip, by name (cached until somebody subscribes to it)."""
        found = self._sorted_subscribers.get(sender)
        if found is None:
            found = self._sorted_subscribers[sender] = tuple(sorted(self.subscribers.get(sender, ())))
        return found

    def _subscribed(self, receiver: str, senders: Iterable[str]) -> None:
        for sender in senders:
            self.subscribers.setdefault(sender, set()).add(receiver)
            self._sorted_subscribers.pop(sender, None)

    def _enqueue(self, receiver: str, envelope: Envelope) -> None:
        self._ready.append((receiver, envelope))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._ready = self._ready, []
        now = self.clock.now()
        if now >= self._next_progress:  # long runs of any algorithm show that they are alive
            if self._next_progress:
                log.info("network.progress", run=self.run_id, delivered=self.stats.delivered,
                         in_flight=self._in_flight)
            self._next_progress = now + PROGRESS_EVERY_S
        if self._shuffle and self._rng is not None and len(batch) > 1:
            batch = [batch[i] for i in self._rng.permutation(len(batch))]
        carriers, done = self.carriers, 0
        try:
            for receiver, envelope in batch:
                self.stats.delivered += 1
                handler = carriers[receiver]._receive(envelope)
                if handler is None or self._start(handler, envelope, receiver):
                    done += 1  # finished at once (most handlers): no task, counted out together
        finally:
            self._busy(-done)

    def _start(self, handler: Coroutine[Any, Any, None], envelope: Envelope, receiver: str) -> bool:
        """Run ``handler`` at once (:func:`start_eagerly`); only one that waits becomes a task of the network.
        Whether it finished."""
        if self._tasks is None:  # a delayed delivery after the run: refused, as its task would be
            handler.close()
            raise RuntimeError(_NOT_RUNNING)
        rest, context = start_eagerly(handler)
        if rest is None:
            return True
        self._spawn(self._handle(rest), f"handle:{receiver}:{envelope.body.kind}", context)
        return False

    async def _handle(self, handler: Awaitable[None]) -> None:
        try:
            await handler
        finally:
            self._busy(-1)

    def _busy(self, delta: int) -> None:
        self._in_flight += delta
        if self._in_flight == 0:
            self._idle.set()
        else:
            self._idle.clear()
