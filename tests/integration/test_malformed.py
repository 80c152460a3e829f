"""Malformed payloads on an agent's inbox are rejected and logged while the agent keeps answering;
an oversized outgoing message fails before it is published (no PUBACK 149 reconnect loop)."""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.errors import TransportError
from edge_agent.messages import Envelope
from edge_agent.runtime import PrivateBroker

from .helpers import FAST, MQTT5_ONLY, Echo, request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def _valid(sender: str = "mallory") -> dict[str, object]:
    envelope = Envelope(id="m-1", sender=sender, receiver="echo", seq=1, body=request(1))
    data: dict[str, object] = json.loads(registry.codec().encode(envelope))
    return data


def _with(**changes: object) -> bytes:
    data = _valid()
    body = dict(data["body"])  # type: ignore[call-overload]
    for key, value in changes.items():
        if key.startswith("body_"):
            body[key[5:]] = value
        else:
            data[key] = value
    data["body"] = body
    return json.dumps(data).encode()


NAN_VECTOR = {"dtype": "<f8", "shape": [1], "b64": base64.b64encode(struct.pack("<d", float("nan"))).decode()}
SMALL_LIMIT = 4096  # the receiving connection's max_payload, below the broker's 256 KiB

MALFORMED: dict[str, tuple[bytes, str]] = {
    "not json": (b"\x00\xffnot json at all", "rejected message"),
    "wrong schema": (_with(seq="first"), "seq"),
    "missing field": (json.dumps({"v": 1, "id": "x"}).encode(), "rejected message"),
    "unknown kind": (_with(body_kind="admm.telepathy"), "admm.telepathy"),
    "nan array": (_with(body_reference=NAN_VECTOR), "NaN or infinite"),
    "nan literal": (_with(body_rho="NaN").replace(b'"NaN"', b"NaN"), "rejected message"),
    "wrong version": (_with(v=99), "schema version 99 is not supported"),
    "spoofed sender": (_with(sender="coordinator"), "differs from the topic's 'mallory'"),
    "wrong receiver": (_with(receiver="someone"), "does not match the topic"),
    "oversized": (b"x" * (SMALL_LIMIT + 1), f"exceeds {SMALL_LIMIT}"),
}


async def test_malformed_payloads_are_rejected_and_the_agent_keeps_serving(
    broker: PrivateBroker, prefix: str, fast_path: bool
) -> None:
    small = MqttOptions(max_payload=SMALL_LIMIT, reconnect_min_s=0.02, reconnect_max_s=0.25, fast_path=fast_path)
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=small) as target,
        MqttConnection(broker.url, codec=registry.codec(),
                       prefix=prefix, options=replace(FAST, fast_path=fast_path)) as attacker,
    ):
        echo = Echo("echo")
        target.add(echo)
        me = attacker.add(Echo("me"))
        await me.wait_present(["echo"], within_s=5)
        topic = target.topics.direct("mallory", "echo")
        with capture_logs() as logs:
            for payload, _ in MALFORMED.values():
                assert await attacker.publish_raw(topic, payload) == 0
            await attacker.publish_raw(f"{prefix}/mallory/to/echo/extra", b"{}")  # not subscribed: never arrives
            answer = await me.request(request(7), "echo", timeout=5)  # sent after, so handled after
        assert isinstance(answer, AdmmAnswer)
        assert answer.round == 7
    rejected = [entry for entry in logs if entry["event"] == "mqtt.rejected"]
    assert all(entry["topic"] == topic and entry["log_level"] == "warning" for entry in rejected)
    assert len(rejected) == len(MALFORMED)
    for (name, (_, reason)), entry in zip(MALFORMED.items(), rejected, strict=True):
        assert reason in entry["reason"], (name, entry["reason"])
    assert target.stats.rejected == len(MALFORMED)
    assert [e.sender for e in echo.seen] == ["me"]


async def test_an_oversized_message_fails_before_publishing(broker: PrivateBroker, prefix: str) -> None:
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as a,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as b,
    ):
        echo = Echo("echo")
        b.add(echo)
        me = a.add(Echo("me"))
        await me.wait_present(["echo"], within_s=5)
        huge = request(1, size=40_000)  # ~430 KB of JSON, over the broker's 256 KiB message_size_limit
        with pytest.raises(TransportError, match=r"payload of \d+ bytes for .* exceeds the 262144-byte limit"):
            me.request(huge, "echo", timeout=5)
        with pytest.raises(TransportError, match="exceeds the 262144-byte limit"):
            me.send(huge, "echo")
        assert me._pending == {}  # the refused request left no future or timer behind
        answer = await me.request(request(2), "echo", timeout=5)  # the connection was never poisoned
        assert isinstance(answer, AdmmAnswer)
    assert a._link.reconnects == 0
    assert [e.body.kind for e in echo.seen] == ["admm.request"]


@MQTT5_ONLY
@pytest.mark.parametrize("response_topic", ["{prefix}/echo/to/#", "{prefix}/echo/+/mallory", "{prefix}/echo/x/y/z"])
async def test_a_hostile_response_topic_is_not_used_for_the_reply(
    broker: PrivateBroker, prefix: str, response_topic: str
) -> None:
    """A request whose MQTT 5 response topic is not the requester's own inbox (with a wildcard, paho refused the
    publish of the reply and the replier's process ended) is refused before any work; the replier serves on."""
    async with (
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as target,
        MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as attacker,
    ):
        echo = Echo("echo")
        target.add(echo)
        attacker.add(Echo("mallory"))
        me = attacker.add(Echo("me"))
        await me.wait_present(["echo"], within_s=5)
        envelope = Envelope(id="m-1", sender="mallory", receiver="echo", seq=1, body=request(1))
        attacker._link.publish(target.topics.direct("mallory", "echo"), registry.codec().encode(envelope),
                               response_topic=response_topic.format(prefix=prefix), correlation=b"m-1")
        answer = await me.request(request(7), "echo", timeout=5)  # sent after, so answered after
        assert isinstance(answer, AdmmAnswer)
        assert answer.round == 7
    assert "m-1" not in echo.calls
    assert target.stats.rejected == 1
    assert attacker.stats.received == 1  # the answer to me, nothing for mallory
    assert target._link.reconnects == 0
