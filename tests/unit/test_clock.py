from __future__ import annotations

import asyncio

from edge_agent.clock import ManualClock


async def test_manual_clock_fires_timers_in_order_and_wakes_sleepers() -> None:
    clock = ManualClock()
    fired: list[tuple[str, float]] = []
    clock.call_later(2.0, lambda: fired.append(("b", clock.now())))
    clock.call_later(1.0, lambda: fired.append(("a", clock.now())))
    cancelled = clock.call_later(1.5, lambda: fired.append(("never", clock.now())))
    cancelled.cancel()
    sleeper = asyncio.create_task(clock.sleep(3.0))
    await clock.advance(2.5)
    assert fired == [("a", 1.0), ("b", 2.0)]
    assert not sleeper.done()
    await clock.advance(0.5)
    assert sleeper.done()
    assert clock.now() == 3.0
