"""The broker is killed (SIGKILL) and restarted mid-run: requests complete or time out, nothing hangs,
nothing is processed twice, and every subscription works again afterwards."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.errors import RunTimeout
from edge_agent.runtime import PrivateBroker

from .helpers import FAST, Echo, request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.mark.parametrize("persistence", [False, True], ids=["in-memory", "persistent"])
async def test_requests_survive_a_broker_crash_or_time_out(persistence: bool, prefix: str) -> None:
    async with PrivateBroker(persistence=persistence) as broker:  # this test's own broker, to crash
        await _crash_during_requests(broker, prefix)


async def _crash_during_requests(broker: PrivateBroker, prefix: str) -> None:
    outcomes: list[str] = []
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as b,
    ):
        echo, listener = Echo("echo"), Echo("listener")
        b.add(echo)
        b.add(listener).subscribe(["me"])
        me = a.add(Echo("me"))
        await me.wait_present(["echo", "listener"], within_s=5)

        async def one(k: int) -> None:
            try:
                answer = await me.request(request(k), "echo", timeout=1.5)
            except RunTimeout:
                outcomes.append("timeout")
            else:
                assert isinstance(answer, AdmmAnswer)
                assert answer.round == k
                outcomes.append("answered")

        async def crash() -> None:
            await asyncio.sleep(0.25)
            broker.kill()
            await asyncio.sleep(0.3)
            await asyncio.to_thread(broker.restart)

        crashing = asyncio.create_task(crash())
        started, k = time.monotonic(), 0
        while time.monotonic() - started < 1.5 or not crashing.done():
            await asyncio.gather(*(one(k + j) for j in range(4)))
            k += 4
        await crashing

        # Afterwards everything works again: inbox, gossip (re-subscribed) and presence.
        await me.wait_present(["echo", "listener"], within_s=5)
        answer = await me.request(request(10_000), "echo", timeout=5)
        assert isinstance(answer, AdmmAnswer)
        me.publish(request(20_000))
        await listener.received(1)
        assert [e.sender for e in listener.seen] == ["me"]

    assert len(outcomes) == k
    assert outcomes.count("answered") >= k // 2, outcomes
    assert max(echo.calls.values()) == 1  # duplicates (QoS 1 re-sends) were dropped, not handled again
    assert a._link.reconnects == b._link.reconnects == 1
