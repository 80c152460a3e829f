"""A stop signal (SIGTERM/SIGHUP) acts as Ctrl-C, and never leaves a half-built event loop behind."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.runtime import interrupts


@pytest.fixture
def stop_handler() -> Iterator[None]:
    """SIGTERM handled as the CLI handles it; SIGINT left to Python's default (what asyncio.Runner looks for)."""
    before = signal.signal(signal.SIGTERM, interrupts.stop_signal)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        interrupts.take_stop()  # no stop left pending for the next test


async def _until_cancelled(seen: list[str]) -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        seen.append("cancelled")
        raise


class _SignalWhileBuilding(asyncio.DefaultEventLoopPolicy):
    """The SIGTERM arrives while the loop is being built (where it once left a loop without its self-pipe)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        signal.raise_signal(signal.SIGTERM)
        return super().new_event_loop()


def test_a_stop_signal_while_the_loop_is_built_waits_then_cancels_the_coroutine(
    stop_handler: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    seen: list[str] = []

    async def main() -> str:
        seen.append("started")
        await _until_cancelled(seen)
        return "finished"

    asyncio.set_event_loop_policy(_SignalWhileBuilding())
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupts.run(main())
    finally:
        asyncio.set_event_loop_policy(None)
    assert seen == ["started", "cancelled"]  # the coroutine ran (no "never awaited") and was cancelled
    assert interrupts.take_stop() is signal.SIGTERM
    assert unraisable == []  # no loop finaliser failed


def test_a_stop_signal_while_the_coroutine_runs_cancels_it(stop_handler: None) -> None:
    seen: list[str] = []

    async def main() -> None:
        asyncio.get_running_loop().call_soon(signal.raise_signal, signal.SIGTERM)
        await _until_cancelled(seen)

    with pytest.raises(KeyboardInterrupt):
        interrupts.run(main())
    assert seen == ["cancelled"]


def test_a_stop_signal_outside_an_event_loop_is_ctrl_c(stop_handler: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGTERM)
    assert interrupts.take_stop() is signal.SIGTERM


def test_a_stop_whose_interrupt_was_lost_stops_the_next_run_before_it_starts(stop_handler: None) -> None:
    """A KeyboardInterrupt raised where Python ignores exceptions (an at-fork hook) never gets out: the stop stays
    pending, and no run starts until the command has taken it."""
    with contextlib.suppress(KeyboardInterrupt):  # as the ignored hook does
        signal.raise_signal(signal.SIGTERM)
    started: list[str] = []

    async def main() -> None:
        started.append("main")

    with pytest.raises(KeyboardInterrupt):
        interrupts.run(main())
    assert started == []
    assert interrupts.take_stop() is signal.SIGTERM
    assert interrupts.take_stop() is None  # taken once


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_inside_held_waits_for_the_end_of_the_block(stop_handler: None, signum: signal.Signals) -> None:
    """A fork runs ``logging``'s at-fork hooks, where an interrupt is printed and lost: inside :func:`held` a stop
    signal or Ctrl-C raises nothing until the block is left."""
    reached: list[str] = []
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        signal.raise_signal(signum)
        reached.append("after the signal")
    assert reached == ["after the signal"]
    assert interrupts.take_stop() is (signal.SIGTERM if signum is signal.SIGTERM else None)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C acts at once again
    with interrupts.held():
        pass  # nothing came: nothing is raised


def test_held_inside_a_running_loop_cancels_the_main_task_once_left(stop_handler: None) -> None:
    seen: list[str] = []

    async def main() -> None:
        with interrupts.held():
            signal.raise_signal(signal.SIGTERM)
            seen.append("held")
        await _until_cancelled(seen)

    with pytest.raises(KeyboardInterrupt):
        interrupts.run(main())
    assert seen == ["held", "cancelled"]


def test_run_returns_what_the_coroutine_returns(stop_handler: None) -> None:
    async def main() -> int:
        await asyncio.sleep(0)
        return 7

    assert interrupts.run(main()) == 7
    with pytest.raises(KeyboardInterrupt):  # nothing is held once run has returned
        signal.raise_signal(signal.SIGTERM)


def test_a_cancellation_that_meets_the_result_is_not_lost() -> None:
    """Python 3.11's ``asyncio.wait_for`` returns the result when the cancellation and the result come in the same
    loop iteration: a SIGTERM that landed as the launcher's CONNACK arrived was lost (``solve`` ran on and exited 0).
    The package waits with ``asyncio.timeout`` instead, which passes the cancellation on."""

    async def cancelled_as_it_completes() -> str:
        future = asyncio.get_running_loop().create_future()

        async def waiter() -> object:
            async with asyncio.timeout(5):
                return await future

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        future.set_result(1)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "returned"

    assert asyncio.run(cancelled_as_it_completes()) == "cancelled"
    package = Path(__file__).resolve().parents[2] / "edge_agent"
    assert [str(p) for p in package.rglob("*.py") if "asyncio.wait_for(" in p.read_text(encoding="utf-8")] == []
