"""The carrier contract, the same tests on every carrier: in process, over MQTT (the session's Mosquitto) and over
Zenoh (peers on 127.0.0.1). Bytes and presence exist only on the networked carriers: those tests skip in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from edge_agent.algorithms.admm.messages import AdmmAnswer
from edge_agent.errors import RunTimeout, TransportError
from edge_agent.messages import Envelope
from edge_agent.runtime import PrivateBroker

from .fabric import CARRIERS, Fabric, zenoh_or_skip
from .helpers import Echo, request
from .test_malformed import MALFORMED, SMALL_LIMIT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture(params=CARRIERS)
async def fabric(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Fabric]:
    kind = str(request.param)
    if kind == "zenoh":
        zenoh_or_skip()
    broker = request.getfixturevalue("broker") if kind == "mqtt" else None
    assert broker is None or isinstance(broker, PrivateBroker)
    async with Fabric(kind, prefix, None if broker is None else broker.url).open() as opened:
        yield opened


async def test_requests_are_answered_each_with_its_own_reply(fabric: Fabric) -> None:
    async with fabric.node() as a, fabric.node() as b:
        b.add(Echo("echo"))
        me = a.add(Echo("me"))
        await a.settled()
        await b.settled()
        answers = await asyncio.gather(*(me.request(request(k), "echo", timeout=5) for k in range(20)))
    assert [(x.round, x.x.tolist()) for x in answers if isinstance(x, AdmmAnswer)] == [
        (k, [float(k), float(k)]) for k in range(20)]


async def test_a_reply_is_bound_to_its_request_and_to_the_participant_asked(fabric: Fabric) -> None:
    async with fabric.node() as a, fabric.node() as b:
        echo = Echo("echo", silent=True)
        echo_carrier = b.add(echo)
        mallory = b.add(Echo("mallory"))
        me = a.add(Echo("me"))
        await a.settled()
        await b.settled()
        answer = me.request(request(1), "echo", timeout=5)
        await echo.received(1)
        asked = echo.seen[0]
        # mallory learnt the request's id: its reply, and a reply to an id nobody asked, are dropped
        mallory.reply(AdmmAnswer(round=666, x=request(666).reference), asked)
        mallory.reply(AdmmAnswer(round=667, x=request(667).reference),
                      Envelope(id="0123456789abcdef", sender="me", receiver="mallory", seq=0, body=request(667)))
        fence = await me.request(request(2), "mallory", timeout=5)  # both replies went ahead of its answer
        assert isinstance(fence, AdmmAnswer)
        assert fence.round == 2
        assert not answer.done()
        echo_carrier.reply(AdmmAnswer(round=1, x=request(1).reference), asked)  # the one asked answers
        reply = await answer
    assert isinstance(reply, AdmmAnswer)
    assert reply.round == 1


async def test_gossip_reaches_each_subscriber_once_and_nobody_else(fabric: Fabric) -> None:
    async with fabric.node() as a, fabric.node() as b:
        speaker = a.add(Echo("speaker"))
        near, far, deaf = Echo("near"), Echo("far"), Echo("deaf")
        a.add(near).subscribe(["speaker"])  # on the publisher's own node
        b.add(far).subscribe(["speaker"])
        b.add(deaf)
        await a.settled()
        await b.settled()
        speaker.publish(request(1))
        speaker.send(request(2), "deaf")
        speaker.publish(request(3))
        speaker.send(request(4), "deaf")
        await asyncio.gather(near.received(2), far.received(2), deaf.received(2))
    assert [(e.receiver, e.body.round) for e in near.seen] == [("*", 1), ("*", 3)]  # type: ignore[attr-defined]
    assert [(e.receiver, e.body.round) for e in far.seen] == [("*", 1), ("*", 3)]  # type: ignore[attr-defined]
    assert [(e.receiver, e.body.round) for e in deaf.seen] == [("deaf", 2), ("deaf", 4)]  # type: ignore[attr-defined]


async def test_presence_shows_participants_coming_and_leaving(fabric: Fabric) -> None:
    async with fabric.node() as a:
        if not a.networked:
            pytest.skip("in process every participant is present for the network's lifetime")
        watcher = a.add(Echo("watcher"))
        async with fabric.node() as b:
            b.add(Echo("d1"))
            b.add(Echo("d2"))
            await watcher.wait_present(["d1", "d2"], within_s=10)  # type: ignore[attr-defined]
            assert watcher.others() == ["d1", "d2"]
        await watcher.wait_absent(["d1", "d2"], within_s=10)  # type: ignore[attr-defined]
        assert watcher.others() == []
        with pytest.raises(RunTimeout, match=r"not online within 0\.2 s: d1"):
            await watcher.wait_present(["d1"], within_s=0.2)  # type: ignore[attr-defined]


async def test_malformed_and_oversized_payloads_are_rejected_and_the_receiver_keeps_serving(fabric: Fabric) -> None:
    async with fabric.node(max_payload=SMALL_LIMIT) as target, fabric.node() as attacker:
        if not target.networked:
            pytest.skip("in process there are no bytes: messages are typed objects from end to end")
        echo = Echo("echo")
        target.add(echo)
        me = attacker.add(Echo("me"))
        await target.settled()
        await attacker.settled()
        for payload, _ in MALFORMED.values():
            await attacker.inject("mallory", "echo", payload)
        answer = await me.request(request(7), "echo", timeout=5)  # sent after the others, so handled after
        assert isinstance(answer, AdmmAnswer)
        assert answer.round == 7
        assert target.rejected == len(MALFORMED)
        assert [e.sender for e in echo.seen] == ["me"]
        with pytest.raises(TransportError, match=r"payload of \d+ bytes for .* exceeds the"):
            me.send(request(1, size=300_000), "echo")  # over either limit: refused before it leaves
