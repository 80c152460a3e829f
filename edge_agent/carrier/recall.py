"""What a networked connection remembers of its traffic, the same over every transport (MQTT, Zenoh).

At-least-once delivery, exactly-once handling: a connection drops an envelope it has seen before (a bounded
LRU of ``(key, envelope id)``, the key being the topic or key expression it came on), and keeps the replies
it sent (a bounded cache keyed by the request's key and id, capped in count and bytes) so that a request
that comes again after it was answered is answered again, byte for byte, without running its handler twice.
:class:`Recall` holds both; :class:`ConnectionStats` counts what a connection did; :class:`Connection` is what
a launcher needs of any connection that hosts participants (``runtime/host.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from edge_agent.carrier.base import Carrier, Participant
from edge_agent.carrier.topics import Topics
from edge_agent.errors import ConfigError

__all__ = ["Connection", "ConnectionStats", "KeptReply", "Recall", "counted_in_thread"]

T = TypeVar("T")

_REPLIES_KEPT = 1024  # replies kept to answer a repeated request again
_REPLY_BYTES_KEPT = 16 * 2**20


@dataclass
class ConnectionStats:
    sent: int = 0
    received: int = 0  # envelopes decoded and accepted (before duplicate removal)
    duplicates: int = 0
    rejected: int = 0
    resent: int = 0  # requests sent again after a reconnect or a receiver's new session
    answered_again: int = 0  # repeated requests answered from the cache of sent replies
    blocking_calls: int = 0  # Carrier.run_blocking calls finished (local solves)
    blocking_s: float = 0.0  # their total wall time


async def counted_in_thread(stats: ConnectionStats, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker thread (the connection keeps being serviced), counted in ``stats``."""
    started = time.perf_counter()
    try:
        return await asyncio.to_thread(function, *args)
    finally:
        stats.blocking_calls += 1
        stats.blocking_s += time.perf_counter() - started


class KeptReply(NamedTuple):
    """A reply as it went on the wire: where to, its bytes, and the MQTT 5 correlation data it carried."""

    topic: str
    payload: bytes
    correlation: bytes | None = None


class Recall:
    """The envelope ids a connection saw, and the replies it sent (both bounded, oldest forgotten first)."""

    def __init__(self, dedup_size: int = 8192, replies_kept: int = _REPLIES_KEPT,
                 reply_bytes_kept: int = _REPLY_BYTES_KEPT) -> None:
        if dedup_size < 1:
            raise ConfigError(f"dedup_size must be >= 1, got {dedup_size}")
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._dedup_size = dedup_size
        self._replies: OrderedDict[tuple[str, str], KeptReply] = OrderedDict()
        self._reply_bytes = 0
        self._replies_kept, self._reply_bytes_kept = replies_kept, reply_bytes_kept

    def first_time(self, key: tuple[str, str]) -> bool:
        """Whether ``(topic, envelope id)`` is new (it is remembered from now on)."""
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._dedup_size:
            self._seen.popitem(last=False)
        return True

    def answered(self, request: tuple[str, str]) -> KeptReply | None:
        """The reply sent to ``(request topic, request id)``, if it is still kept."""
        kept = self._replies.get(request)
        if kept is not None:
            self._replies.move_to_end(request)
        return kept

    def keep_reply(self, request: tuple[str, str], reply: KeptReply) -> None:
        old = self._replies.pop(request, None)
        if old is not None:
            self._reply_bytes -= len(old.payload)
        self._replies[request] = reply
        self._reply_bytes += len(reply.payload)
        while len(self._replies) > self._replies_kept or self._reply_bytes > self._reply_bytes_kept:
            _, dropped = self._replies.popitem(last=False)
            self._reply_bytes -= len(dropped.payload)


class Connection(Protocol):
    """One process's connection hosting participants, whatever its transport: what a launcher uses."""

    @property
    def node(self) -> str: ...

    @property
    def topics(self) -> Topics: ...

    @property
    def stats(self) -> ConnectionStats: ...

    def add(self, participant: Participant) -> Carrier: ...

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]: ...

    def online(self, excluding: str | None = None) -> list[str]: ...

    async def settled(self, within_s: float = 5.0) -> None: ...

    async def wait_present(self, agents: Iterable[str], within_s: float) -> None: ...

    async def wait_absent(self, agents: Iterable[str], within_s: float) -> None: ...

    async def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, within_s: float = 5.0) -> int: ...
