"""The MQTT carrier against a real Mosquitto: request/reply, send, gossip, presence, dedup (latency: bench/mqtt.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import replace

import pytest

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer
from edge_agent.carrier._fast_path import FastPathClient
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import Inbound, MqttOptions
from edge_agent.errors import ConfigError, RunTimeout, SolverError, TransportError
from edge_agent.messages import Envelope, Message
from edge_agent.runtime import PrivateBroker, free_port

from .helpers import FAST, MQTT5_ONLY, Echo, request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def test_request_reply_between_two_connections(broker: PrivateBroker, prefix: str, fast_path: bool) -> None:
    options = replace(FAST, fast_path=fast_path)
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=options) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=options) as b,
    ):
        assert isinstance(a._link._client, FastPathClient) is fast_path
        echo = Echo("echo")
        b.add(echo)
        me = a.add(Echo("me"))
        await me.wait_present(["echo"], within_s=5)
        answers = await asyncio.gather(*(me.request(request(k), "echo", timeout=5) for k in range(20)))
    assert [a.round for a in answers if isinstance(a, AdmmAnswer)] == list(range(20))
    assert all(isinstance(a, AdmmAnswer) and a.x.tolist() == [k, k] for k, a in enumerate(answers))
    assert sum(echo.calls.values()) == 20
    assert max(echo.calls.values()) == 1
    assert echo.seen[0].sender == "me"
    assert echo.seen[0].receiver == "echo"


@MQTT5_ONLY
async def test_requests_carry_an_mqtt5_response_topic_and_correlation_data(
    broker: PrivateBroker, prefix: str, fast_path: bool
) -> None:
    options = replace(FAST, fast_path=fast_path)
    arrived: list[Inbound] = []
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=options) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=options) as b,
    ):
        for conn in (a, b):
            deliver = conn._link._on_message_hook

            def spy(message: Inbound, deliver: Callable[[Inbound], None] = deliver) -> None:
                arrived.append(message)
                deliver(message)

            conn._link._on_message_hook = spy
        b.add(Echo("echo"))
        me = a.add(Echo("me"))
        await me.wait_present(["echo"], within_s=5)
        await me.request(request(1), "echo", timeout=5)
    asked, answered = (m for m in arrived if "/to/" in m.topic)
    envelope = registry.codec().decode(asked.payload)
    assert (asked.topic, asked.response_topic) == (f"{prefix}/me/to/echo", f"{prefix}/echo/to/me")
    assert asked.correlation == envelope.id.encode()
    assert (answered.topic, answered.correlation) == (f"{prefix}/echo/to/me", envelope.id.encode())
    assert registry.codec().decode(answered.payload).in_reply_to == envelope.id


async def test_send_and_gossip_reach_each_subscriber_once(broker: PrivateBroker, prefix: str, fast_path: bool) -> None:
    options = replace(FAST, fast_path=fast_path)
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=options) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=options) as b,
    ):
        speaker = a.add(Echo("speaker"))
        near, far, deaf = Echo("near"), Echo("far"), Echo("deaf")
        a.add(near).subscribe(["speaker"])  # same connection as the publisher
        b.add(far).subscribe(["speaker"])
        b.add(deaf)
        await b.settled()
        await a.settled()
        await speaker.wait_present(["near", "far", "deaf"], within_s=5)
        speaker.publish(request(1))
        speaker.send(request(2), "deaf")
        speaker.publish(request(3))  # a fence: anything extra from before would arrive ahead of it
        speaker.send(request(4), "deaf")
        await asyncio.gather(near.received(2), far.received(2), deaf.received(2))
    assert [(e.sender, e.receiver, e.body.kind) for e in near.seen] == [("speaker", "*", "admm.request")] * 2
    assert [(e.receiver, e.body.round) for e in far.seen] == [("*", 1), ("*", 3)]  # type: ignore[attr-defined]
    assert [(e.receiver, e.body.round) for e in deaf.seen] == [("deaf", 2), ("deaf", 4)]  # type: ignore[attr-defined]


async def test_presence_others_and_clean_leave(broker: PrivateBroker, prefix: str) -> None:
    async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as a:
        watcher = a.add(Echo("watcher"))
        async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as b:
            b.add(Echo("d1"))
            b.add(Echo("d2"))
            await watcher.wait_present(["d1", "d2"], within_s=5)
            assert watcher.others() == ["d1", "d2"]
        await watcher.wait_absent(["d1", "d2"], within_s=5)  # b said goodbye: retained offline records
        assert watcher.others() == []
        with pytest.raises(RunTimeout, match=r"not online within 0\.2 s: d1, d2") as info:
            await watcher.wait_present(["d1", "d2"], within_s=0.2)
        assert info.value.participants == ("d1", "d2")


async def test_a_lost_connection_is_announced_by_its_will_and_then_restored(
    broker: PrivateBroker, prefix: str, fast_path: bool
) -> None:
    slow_return = MqttOptions(will_delay_s=0, reconnect_min_s=1.0, reconnect_max_s=1.0,  # back after >= 0.5 s
                              fast_path=fast_path)
    async with (
        MqttConnection(broker.url, codec=registry.codec(),
                       prefix=prefix, options=replace(FAST, fast_path=fast_path)) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=slow_return) as b,
    ):
        watcher = a.add(Echo("watcher"))
        b.add(Echo("dev"))
        await watcher.wait_present(["dev"], within_s=5)
        sock = b._link._client.socket()  # fault injection: cut b's TCP connection under it
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        await watcher.wait_absent(["dev"], within_s=0.45)  # the will (will_delay_s=0), before b is back
        await watcher.wait_present(["dev"], within_s=5)  # reconnected with a new session
        answer = await watcher.request(request(3), "dev", timeout=5)
        assert isinstance(answer, AdmmAnswer)
        assert b._link.reconnects == 1


async def test_redelivered_envelopes_are_handled_once(broker: PrivateBroker, prefix: str, fast_path: bool) -> None:
    options = replace(FAST, fast_path=fast_path)
    async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=options) as conn:
        echo = Echo("echo")
        conn.add(echo)
        await conn.wait_present(["echo"], within_s=5)
        envelope = Envelope(id="abc-1", sender="tester", receiver="echo", seq=1, body=request(1))
        for _ in range(3):
            assert await conn.publish_raw(conn.topics.direct("tester", "echo"), registry.codec().encode(envelope)) == 0
        fence = conn.add(Echo("fence"))
        await fence.request(request(2), "echo", timeout=5)  # published after the copies: answered after them
    assert conn.stats.duplicates == 2
    assert len(echo.calls) == 2
    assert echo.calls["abc-1"] == 1


async def test_an_unknown_receiver_id_that_is_no_topic_level_is_refused(broker: PrivateBroker, prefix: str) -> None:
    async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as conn:
        me = conn.add(Echo("me"))
        with pytest.raises(ConfigError, match="receiver id 'a/b' is not a valid id"):
            me.send(request(1), "a/b")
        with pytest.raises(ConfigError, match="participant id 'me' is used twice"):
            conn.add(Echo("me"))


async def test_connecting_to_a_closed_port_fails_with_a_transport_error() -> None:
    options = MqttOptions(connect_timeout_s=0.3, reconnect_min_s=0.05, reconnect_max_s=0.1)
    with pytest.raises(TransportError, match=r"cannot connect to the MQTT broker at mqtt://127.0.0.1:\d+ within 0.3 s"):
        async with MqttConnection(f"mqtt://127.0.0.1:{free_port()}", codec=registry.codec(), options=options):
            pass


async def test_leaving_the_block_waits_for_spawned_drivers(broker: PrivateBroker, prefix: str) -> None:
    answers: list[Message] = []
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as b,
    ):
        a.add(Echo("echo"))  # a leaves the block after b, whose exit waits for the driver
        me = b.add(Echo("me"))

        async def driver() -> None:
            await me.wait_present(["echo"], within_s=5)
            for k in range(5):
                answers.append(await me.request(request(k), "echo", timeout=5))

        me.spawn(driver(), name="driver")
    assert [a.round for a in answers if isinstance(a, AdmmAnswer)] == list(range(5))


async def test_a_failing_handler_ends_the_connection_with_its_error(broker: PrivateBroker, prefix: str) -> None:
    class Failing(Echo):
        async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
            raise SolverError("infeasible", participant=self.id)

    with pytest.raises(SolverError, match="participant 'broken': infeasible"):
        async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as conn:
            conn.add(Failing("broken"))
            me = conn.add(Echo("me"))
            await me.wait_present(["broken"], within_s=5)
            me.send(request(1), "broken")
            await asyncio.Event().wait()  # never set: cancelled when the handler fails
