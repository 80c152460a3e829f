"""SIGTERM and SIGHUP end a command the way Ctrl-C does, and never while an event loop is being built.

``edge-agent`` turns SIGTERM and SIGHUP into a SIGINT (:func:`stop_signal`): inside :func:`run` the main task
is cancelled, elsewhere ``KeyboardInterrupt`` is raised, so every broker, process and temporary folder the
command started is torn down on the way out. The long-running services handle them on their event loop.

A signal can land anywhere, though, and one that lands while ``asyncio.run`` builds its loop leaves a half-built
loop, whose finaliser prints a traceback, and a coroutine that is never awaited (seen once in ~40 SIGTERMs sent
as ``solve --carrier mqtt`` started its agents). :func:`run` is ``asyncio.run`` with the stop signals held
from before the loop is built until the coroutine runs: one that came meanwhile then cancels it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run", "stop_signal", "stopped_by"]

T = TypeVar("T")


class _Stops:
    """The stop signals this process received, and whether :func:`run` holds them back right now."""

    def __init__(self) -> None:
        self.received: list[signal.Signals] = []
        self.held = False  # a stop signal that arrives now waits (run is building its loop)
        self.waiting = False  # one arrived while held

    def release(self) -> None:
        self.held = False
        if self.waiting:
            self.waiting = False
            signal.raise_signal(signal.SIGINT)


_STOPS = _Stops()


def stop_signal(signum: int, frame: object) -> None:
    """The handler of SIGTERM and SIGHUP: record the signal, then act as Ctrl-C (unless held by :func:`run`)."""
    _STOPS.received.append(signal.Signals(signum))
    if _STOPS.held:
        _STOPS.waiting = True
        return
    signal.raise_signal(signal.SIGINT)


def stopped_by() -> signal.Signals:
    """The last stop signal received; SIGINT if none was (Ctrl-C itself)."""
    return _STOPS.received[-1] if _STOPS.received else signal.SIGINT


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with stop signals held until ``main`` runs on the loop."""
    _STOPS.held = True
    try:
        with asyncio.Runner() as runner:
            return runner.run(_released(main))
    finally:
        _STOPS.release()


async def _released(main: Coroutine[Any, Any, T]) -> T:
    _STOPS.release()  # the loop runs and asyncio's SIGINT handler is set: a waiting signal now cancels this task
    return await main
