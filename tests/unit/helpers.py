"""Shared by the unit tests: driving a run on an in-process network whose clock only moves by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from edge_agent.carrier import InProcNetwork
from edge_agent.clock import ManualClock

T = TypeVar("T")


async def on_the_manual_clock(network: InProcNetwork, clock: ManualClock, run: Awaitable[T],
                              step_s: float = 0.05, limit_s: float = 60.0) -> T:
    """Await ``run`` while moving ``clock`` on by ``step_s`` whenever every message on ``network`` has settled:
    deadlines, polls and quiet periods then expire after the same messages however fast the machine is."""
    task = asyncio.ensure_future(run)
    while not task.done():
        assert clock.now() < limit_s, f"the run neither finished nor gave up within {limit_s:g} s of its clock"
        await network.quiescent()
        await clock.advance(step_s)
    return await task
