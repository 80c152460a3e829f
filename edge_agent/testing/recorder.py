"""A carrier that keeps what its participant sends: drive one participant message by message, with no network."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from edge_agent.carrier.base import Carrier, Participant
from edge_agent.clock import Clock, ManualClock
from edge_agent.messages import Envelope, Message

__all__ = ["RecordingCarrier"]

T = TypeVar("T")


class RecordingCarrier(Carrier):
    """Keeps every envelope its participant sends in :attr:`sent`, starts nothing it spawns (the task is
    cancelled at once), runs blocking work inline and knows of no other participant."""

    def __init__(self, participant: Participant, clock: Clock | None = None) -> None:
        super().__init__(participant, clock or ManualClock())
        self.sent: list[Envelope] = []

    def bodies(self) -> list[Message]:
        return [envelope.body for envelope in self.sent]

    def _transmit(self, envelope: Envelope) -> None:
        self.sent.append(envelope)

    def subscribe(self, senders: Iterable[str]) -> None:
        return None

    def unsubscribe(self, senders: Iterable[str]) -> None:
        return None

    def others(self) -> list[str]:
        return []

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coroutine)
        task.cancel()
        return task

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        return function(*args)
