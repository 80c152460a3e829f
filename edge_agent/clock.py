"""Clocks: the only source of time for algorithms and carriers.

``LoopClock`` follows the running asyncio loop. ``ManualClock`` only moves when a test calls
:meth:`ManualClock.advance`, so deadlines and periodic work can be tested without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "LoopClock", "ManualClock", "TimerHandle"]


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What algorithms and carriers may ask of time."""

    def now(self) -> float:
        """Current time in seconds (arbitrary origin)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now, on the event loop."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """Real time, as kept by the running asyncio loop."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = _nothing  # as asyncio's handles do: a cancelled timer keeps nothing alive


def _nothing() -> None:
    pass


class ManualClock:
    """A clock that only moves when told to; timers fire in order during :meth:`advance`."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _ManualTimer(callback)
        heapq.heappush(self._timers, (self._now + max(delay, 0.0), next(self._order), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        handle = self.call_later(seconds, wake)
        try:
            await done
        finally:
            handle.cancel()

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers in order and letting woken tasks run."""
        end = self._now + seconds
        await _settle()  # let already-runnable tasks register their timers first
        while self._timers and self._timers[0][0] <= end:
            due, _, timer = heapq.heappop(self._timers)
            self._now = due
            if not timer.cancelled:
                timer.callback()
                await _settle()
        self._now = end
        await _settle()


async def _settle(rounds: int = 5) -> None:
    """Yield to the loop a few times so that tasks woken by a timer get to run."""
    for _ in range(rounds):
        await asyncio.sleep(0)
