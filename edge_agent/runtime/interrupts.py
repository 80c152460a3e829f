"""SIGTERM and SIGHUP end a command the way Ctrl-C does, and never while an event loop is being built.

``edge-agent`` turns SIGTERM and SIGHUP into a SIGINT (:func:`stop_signal`): inside :func:`run` the main task
is cancelled, elsewhere ``KeyboardInterrupt`` is raised, so every broker, process and temporary folder the
command started is torn down on the way out. The long-running services handle them on their event loop.

A signal can land anywhere, though, and one that lands while ``asyncio.run`` builds its loop leaves a half-built
loop, whose finaliser prints a traceback, and a coroutine that is never awaited (seen once in ~40 SIGTERMs sent
as ``solve --carrier mqtt`` started its agents). :func:`run` is ``asyncio.run`` with the stop signals held
from before the loop is built until the coroutine runs: one that came meanwhile then cancels it.

Nor does the ``KeyboardInterrupt`` always get out: raised inside a hook whose exceptions Python prints and
ignores (``logging``'s at-fork hook, as ``subprocess`` starts an agent: seen in ~1 of 40 SIGTERMs), it is lost,
and Python prints its traceback. So every fork of the package runs inside :func:`held`, where a stop signal or
Ctrl-C waits until the fork is done. A stop also stays pending until the command takes it (:func:`take_stop`):
:func:`run` starts nothing while one is pending, and the command reports it even if it finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["held", "run", "stop_signal", "take_stop"]

T = TypeVar("T")


class _Stops:
    """The stop signals this process received, and whether :func:`run` holds them back right now."""

    def __init__(self) -> None:
        self.pending: signal.Signals | None = None  # the last stop signal, until the command takes it
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
    _STOPS.pending = signal.Signals(signum)
    if _STOPS.held:
        _STOPS.waiting = True
        return
    signal.raise_signal(signal.SIGINT)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Stop signals and Ctrl-C wait until the block is left, then act (``KeyboardInterrupt`` here, or the
    running loop's main task cancelled). Around a fork: ``logging``'s at-fork hooks run in this process, and
    an interrupt raised inside them is printed and lost."""
    previous = signal.getsignal(signal.SIGINT)
    if _STOPS.held or previous is None or threading.current_thread() is not threading.main_thread():
        yield  # held already (run builds its loop), or signals are not this thread's to handle
        return
    signal.signal(signal.SIGINT, _wait)
    _STOPS.held = True
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _STOPS.release()


def _wait(signum: int, frame: object) -> None:
    _STOPS.waiting = True


def take_stop() -> signal.Signals | None:
    """The stop signal received since the last call, if any (the command is stopping because of it)."""
    received, _STOPS.pending = _STOPS.pending, None
    return received


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with stop signals held until ``main`` runs on the loop; ``KeyboardInterrupt`` at
    once, ``main`` closed unrun, if a stop is pending."""
    if _STOPS.pending is not None:
        main.close()
        raise KeyboardInterrupt
    _STOPS.held = True
    try:
        with asyncio.Runner() as runner:
            return runner.run(_released(main))
    finally:
        _STOPS.release()


async def _released(main: Coroutine[Any, Any, T]) -> T:
    _STOPS.release()  # the loop runs and asyncio's SIGINT handler is set: a waiting signal now cancels this task
    return await main
