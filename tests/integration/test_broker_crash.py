"""The broker is killed (SIGKILL) and restarted while requests are in flight: once both connections are back,
every request is answered exactly once, and every subscription works again afterwards.

The crash lands at a defined point: the echo has received the requests and holds its replies until the
test releases them. A request that is still on its way when the broker dies may be lost with it (the
broker had acknowledged it, or the receiver's subscription was not yet restored when it was re-sent) and
then ends in :class:`RunTimeout`: which of the two happens depends on timing, so the test leaves no request
on its way at the moment of the crash.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.messages import Envelope, Message
from edge_agent.runtime import PrivateBroker

from .helpers import FAST, Echo, request, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@dataclass
class _HeldEcho(Echo):
    """An echo that answers only once ``release`` is set."""

    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        self.calls[envelope.id] += 1
        self.seen.append(envelope)
        self.arrived.set()
        await self.release.wait()
        if isinstance(message, AdmmRequest):
            carrier.reply(AdmmAnswer(round=message.round, x=message.reference), envelope)


@pytest.mark.parametrize("persistence", [False, True], ids=["in-memory", "persistent"])
async def test_requests_in_flight_during_a_broker_crash_are_answered_once(persistence: bool, prefix: str) -> None:
    async with (
        PrivateBroker(persistence=persistence) as broker,  # this test's own broker, to crash
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as b,
    ):
        echo, listener = _HeldEcho("echo"), Echo("listener")
        b.add(echo)
        b.add(listener).subscribe(["me"])
        me = a.add(Echo("me"))
        await b.settled()
        await me.wait_present(["echo", "listener"], within_s=10)

        echo.release.set()  # before the crash: answered at once
        before = await asyncio.gather(*(me.request(request(k), "echo", timeout=10) for k in range(4)))
        echo.release.clear()
        held = [me.request(request(k), "echo", timeout=30) for k in range(4, 8)]
        await echo.received(8, within_s=10)  # all four arrived and wait for their replies

        broker.kill()
        await asyncio.to_thread(broker.restart)
        await wait_until(lambda: a._link.reconnects == b._link.reconnects == 1
                         and a._link.connected and b._link.connected, what="both connections are back")
        await a.settled()  # the inbox of `me` is subscribed again: the replies can reach it
        await b.settled()
        echo.release.set()
        during = await asyncio.gather(*held)

        # Afterwards everything works again: inbox, gossip (re-subscribed) and presence.
        await me.wait_present(["echo", "listener"], within_s=10)
        after = await me.request(request(10_000), "echo", timeout=10)
        me.publish(request(20_000))
        await listener.received(1, within_s=10)

    answers = [*before, *during, after]
    assert all(isinstance(answer, AdmmAnswer) for answer in answers)
    assert [answer.round for answer in answers] == [*range(8), 10_000]  # type: ignore[attr-defined]
    assert [answer.x.tolist() for answer in during] == [[k, k] for k in range(4, 8)]  # type: ignore[attr-defined]
    assert [e.sender for e in listener.seen] == ["me"]
    assert len(echo.calls) == 9
    assert max(echo.calls.values()) == 1  # duplicates (QoS 1 re-sends) were dropped, not handled again
    assert a._link.reconnects == b._link.reconnects == 1
