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
from dataclasses import dataclass, field, replace

import pytest

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.errors import TransportError
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


@pytest.mark.parametrize("lost", ["requests", "replies"])
async def test_requests_or_replies_an_in_memory_broker_lost_are_sent_again_and_handled_once(
    lost: str, fast_path: bool, prefix: str
) -> None:
    """Issue 11, finding 11: what the restarted broker never got is not lost. ``requests``: they are sent while
    the requester's connection is down and reach the new broker before the replier subscribed again (dropped
    there); ``replies``: the replier answers while the broker is down, reconnects first and re-sends them to a
    broker where the requester has not subscribed again (dropped). The requester sends every waiting request
    again (same id) once it is back and once the replier announces itself; the replier answers a repeated
    request from its cache of sent replies, and no handler runs twice."""
    fast = replace(FAST, fast_path=fast_path)
    slow = replace(fast, reconnect_min_s=1.5, reconnect_max_s=1.5)  # back 0.75-2.25 s after the other side
    requester_options, replier_options = (fast, slow) if lost == "requests" else (slow, fast)
    async with (
        PrivateBroker() as broker,  # in memory: the restart loses sessions, subscriptions and queued messages
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=requester_options) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=replier_options) as b,
    ):
        echo = _HeldEcho("echo")
        b.add(echo)
        me = a.add(Echo("me"))
        await b.settled()
        await me.wait_present(["echo"], within_s=10)
        if lost == "requests":
            echo.release.set()
            broker.kill()
            await wait_until(lambda: not a._link.connected, what="the requester noticed the crash")
            waiting = [me.request(request(k), "echo", timeout=20) for k in range(4)]  # queued in paho meanwhile
        else:
            waiting = [me.request(request(k), "echo", timeout=20) for k in range(4)]
            await echo.received(4, within_s=10)
            broker.kill()
            await wait_until(lambda: not b._link.connected, what="the replier noticed the crash")
            echo.release.set()  # the four replies wait in the replier's client for the new broker
        await asyncio.to_thread(broker.restart)
        answers = await asyncio.wait_for(asyncio.gather(*waiting), timeout=30)

    assert [answer.round for answer in answers] == [0, 1, 2, 3]  # type: ignore[attr-defined]
    assert len(echo.calls) == 4
    assert max(echo.calls.values()) == 1  # at-least-once delivery, exactly-once handling
    assert a.stats.resent >= 4
    if lost == "replies":
        assert b.stats.answered_again >= 4  # from the cache: the handler did not run again
    assert a.outages.losses == b.outages.losses == 1


async def test_a_request_fails_naming_the_broker_when_it_stays_away_past_the_timeout(prefix: str) -> None:
    """A broker that does not come back within a request's timeout is named, never the peer asked."""
    async with (
        PrivateBroker() as broker,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as b,
    ):
        b.add(Echo("echo", silent=True))
        me = a.add(Echo("me"))
        await b.settled()
        await me.wait_present(["echo"], within_s=10)
        waiting = me.request(request(1), "echo", timeout=1.0)
        await asyncio.sleep(0.3)
        broker.kill()
        with pytest.raises(TransportError, match=r"connection to the MQTT broker at mqtt://127\.0\.0\.1:\d+ has "
                                                 r"been down for .* longer than the 1 s timeout; 'echo' may be fine"):
            await asyncio.wait_for(waiting, timeout=10)
        await asyncio.to_thread(broker.restart)  # let both connections close cleanly
        await wait_until(lambda: a._link.connected and b._link.connected, what="both connections are back")


async def test_time_the_connection_was_down_does_not_count_against_a_request(prefix: str) -> None:
    """The broker is away for longer than the request's timeout allows once it is back, but the connection
    was down for most of it: the request is answered (the deadline did not run while the connection was down)."""
    slow_replier = replace(FAST, reconnect_min_s=0.6, reconnect_max_s=0.6)
    async with (
        PrivateBroker() as broker,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=slow_replier) as b,
    ):
        b.add(Echo("echo"))
        me = a.add(Echo("me"))
        await b.settled()
        await me.wait_present(["echo"], within_s=10)
        broker.kill()
        await wait_until(lambda: not a._link.connected, what="the requester noticed the crash")
        waiting = me.request(request(7), "echo", timeout=3.0)
        # down for 1.8 s of the 3 s (and more while the broker restarts)
        await wait_until(lambda: a.outages.down_for(a.clock.now()) >= 1.8, what="1.8 s of outage")
        await asyncio.to_thread(broker.restart)
        answer = await asyncio.wait_for(waiting, timeout=20)
    assert answer.round == 7  # type: ignore[attr-defined]
    assert a.outages.downtime(0.0, a.clock.now()) >= 1.8
