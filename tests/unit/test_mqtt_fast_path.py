"""The MQTT fast path's byte codec and client against packets that paho itself encodes (no broker needed).

A paho client connects to a listening socket of this test, which answers CONNECT with a CONNACK: what paho
then writes (PUBLISH, PUBACK) are the packets under test, and what the socket sends back is read by a
``FastPathClient`` and by a plain ``paho.Client`` so that their results can be compared. Truncated and random
bytes are compared with paho's own decoders (``paho.mqtt._packet``, a private module of paho 2.2: when a
paho upgrade removes it, this module names the break). The short decoders must agree with paho, or decline
(return None, so that paho's decoder takes the packet); they must never raise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.carrier._fast_path import (
    FastPathClient,
    decode_publish,
    plain_puback,
    publish_properties,
    whole_packet,
)
from edge_agent.carrier.mqtt import MqttLink
from edge_agent.carrier.mqtt_options import FAST_PATH_VARIABLE, PROTOCOL_VARIABLE, BrokerAddress, Inbound, MqttOptions
from edge_agent.errors import ConfigError

CONNACK = bytes([0x20, 0x03, 0x00, 0x00, 0x00])  # MQTT 5: no session present, success, no properties
CONNACK_V311 = bytes([0x20, 0x02, 0x00, 0x00])  # MQTT 3.1.1: no session present, accepted
MQTTV5 = paho.MQTTv5
MQTTV311 = paho.MQTTv311
Decoded = tuple[str, int, bytes, str | None, bytes | None]  # topic, mid, payload, response topic, correlation


# -- a broker-shaped socket ----------------------------------------------------------------------
def _remaining_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(length, offset of the body) of the packet at ``at``, or None if the header is not all there."""
    length, shift, at = 0, 0, at + 1
    while at < len(data):
        byte = data[at]
        length += (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return length, at
        shift += 7
    return None


def _wait_readable(sock: socket.socket | Any, timeout: float = 2.0) -> bool:
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)


def _receive_packets(conn: socket.socket, count: int, client: paho.Client | None = None) -> list[bytes]:
    """The next ``count`` whole packets the client wrote (``client`` writes what its socket did not take)."""
    data = b""
    while True:
        if client is not None:
            client.loop_write()
        packets, at = [], 0
        while (header := _remaining_length(data, at)) is not None and header[1] + header[0] <= len(data):
            packets.append(data[at:header[1] + header[0]])
            at = header[1] + header[0]
        if len(packets) >= count:
            assert len(packets) == count, "the client wrote more packets than expected"
            assert at == len(data), "the client wrote part of a packet more than expected"
            return packets
        assert _wait_readable(conn), f"the client wrote {len(packets)} of {count} packets"
        chunk = conn.recv(1 << 20)
        assert chunk, "the client closed the connection"
        data += chunk


@contextlib.contextmanager
def _connected(client: paho.Client) -> Iterator[socket.socket]:
    """``client`` connected to a socket of this test that plays the broker; yields the broker's side."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client.connect("127.0.0.1", listener.getsockname()[1], keepalive=60)  # writes CONNECT at once
        conn, _ = listener.accept()
    with conn:
        (connect,) = _receive_packets(conn, 1)
        assert connect[0] == 0x10
        conn.sendall(CONNACK if client.protocol == MQTTV5 else CONNACK_V311)
        assert _wait_readable(client.socket())
        client.loop_read()
        assert client.is_connected()
        try:
            yield conn
        finally:
            sock = client.socket()
            if sock is not None:
                sock.close()


def _client(kind: type[paho.Client] = paho.Client, protocol: int = MQTTV5) -> paho.Client:
    client = kind(CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol, reconnect_on_failure=False)
    client.max_inflight_messages_set(0)  # no limit: every QoS 1 publish is written at once
    return client


# -- packets encoded by paho -------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    name: str
    topic: str
    payload: bytes
    qos: int
    response_topic: str | None = None
    correlation: bytes | None = None
    other: dict[str, Any] = field(default_factory=dict)  # other PUBLISH properties: the short path declines

    def properties(self) -> Properties | None:
        if self.response_topic is None and self.correlation is None and not self.other:
            return None
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if self.response_topic is not None:
            properties.ResponseTopic = self.response_topic
        if self.correlation is not None:
            properties.CorrelationData = self.correlation
        for name, value in self.other.items():
            setattr(properties, name, value)
        return properties


SPECS = [
    Spec("qos0 bare", "a/b", b"hello", 0),
    Spec("qos1 bare", "edge/dev-1/to/coordinator", b'{"v":1}', 1),
    Spec("qos1 request", "edge/me/to/echo", b"x" * 235, 1, "edge/echo/to/me", b"abc-1"),
    Spec("qos0 response topic only", "t", b"p", 0, response_topic="r/t"),
    Spec("qos1 correlation only", "t", b"p", 1, correlation=bytes(range(256)) * 2),
    Spec("empty payload", "t/empty", b"", 1, "r", b"c"),
    Spec("empty payload qos0", "t/empty", b"", 0),
    Spec("empty response topic and correlation", "t", b"p", 1, "", b""),
    Spec("unicode topic", "gerät/ü/€/😀", "grüße".encode(), 1, "antwort/ü", b"\x00\xff"),
    Spec("long topic", "l/" + "x" * 300, b"p", 1, "r/" + "y" * 300, b"z" * 300),
    Spec("very long topic", "v/" + "t" * 20_000, b"p" * 10, 0),
    Spec("user property", "t", b"p", 1, "r", b"c", {"UserProperty": [("k", "v")]}),
    Spec("expiry", "t", b"p", 0, other={"MessageExpiryInterval": 60}),
    Spec("content type", "t", b"{}", 1, "r", other={"ContentType": "application/json"}),
    Spec("payload format", "t", b"text", 1, other={"PayloadFormatIndicator": 1}),
    Spec("topic alias", "t", b"p", 0, other={"TopicAlias": 3}),
    Spec("remaining length 2 bytes", "t", b"m" * 200, 1, "r", b"c"),
    Spec("remaining length 3 bytes", "t", b"k" * 20_000, 1, "r", b"c"),
    Spec("remaining length 4 bytes", "t", b"M" * 2_100_000, 1, "r", b"c"),
]
MID_START = 0x0123  # mids above 255 catch byte-order slips


def _header_length(packet: bytes) -> int:
    header = _remaining_length(packet, 0)
    assert header is not None
    return header[1]


@pytest.fixture(scope="module")
def encoded() -> dict[str, bytes]:
    """Each spec as the PUBLISH packet a paho client writes for it (fixed header included)."""
    client = _client()
    with _connected(client) as conn:
        for _ in range(MID_START - 1):  # paho numbers every publish: move past one-byte mids
            client.publish("warm", b"", 0)
        assert len(_receive_packets(conn, MID_START - 1)) == MID_START - 1
        out = {}
        for spec in SPECS:
            info = client.publish(spec.topic, spec.payload, spec.qos, properties=spec.properties())
            assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            (out[spec.name],) = _receive_packets(conn, 1, client)
    return out


def _reference(header: int, body: bytes) -> Decoded | None:
    """paho's own decoding of a PUBLISH body, None if paho finds it malformed."""
    try:
        result = _packet.decode_publish(header, body, MQTTV5)
    except MalformedPacket:
        return None
    props = result.properties
    return (result.topic.decode("utf-8", "surrogateescape"), result.mid, bytes(result.payload),
            getattr(props, "ResponseTopic", None), getattr(props, "CorrelationData", None))


def _short(body: bytes, qos: int) -> Decoded | None:
    decoded = decode_publish(bytearray(body), qos)
    if decoded is None:
        return None
    topic, mid, payload_at, response_topic, correlation = decoded
    assert 0 <= payload_at <= len(body)
    return topic, mid, body[payload_at:], response_topic, correlation


def _agrees_or_declines(header: int, body: bytes) -> bool:
    """The short decoder agrees with paho or declines; True if it decoded."""
    short = _short(body, (header & 0x06) >> 1)
    if short is not None:
        assert short == _reference(header, body), body[:80]
    return short is not None


# -- the PUBLISH decoder ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_paho_encoded_publish_decodes_as_paho_decodes_it(spec: Spec, encoded: dict[str, bytes]) -> None:
    packet = encoded[spec.name]
    start = _header_length(packet)
    assert packet[0] == 0x30 | (spec.qos << 1)
    length = len(packet) - start
    assert start - 1 == (1 if length < 128 else 2 if length < 16_384 else 3 if length < 2_097_152 else 4)
    header, body = packet[0], packet[start:]
    expected = _reference(header, body)
    assert expected is not None
    assert expected[0] == spec.topic
    assert expected[2] == spec.payload
    assert (expected[3], expected[4]) == (spec.response_topic, spec.correlation)
    short = _short(body, spec.qos)
    if spec.other:
        assert short is None  # other properties: paho's decoder takes the packet
    else:
        assert short == expected
        assert short[1] >= MID_START if spec.qos else short[1] == 0


def _body(topic: bytes, mid: int | None, properties: bytes, payload: bytes = b"p") -> bytes:
    mid_bytes = b"" if mid is None else mid.to_bytes(2, "big")
    return len(topic).to_bytes(2, "big") + topic + mid_bytes + bytes([len(properties)]) + properties + payload


def _string_property(identifier: int, value: bytes) -> bytes:
    return bytes([identifier]) + len(value).to_bytes(2, "big") + value


@pytest.mark.parametrize(
    "response_topic",
    [b"a\x00b", "a\ufeffb".encode(), b"\xed\xa0\x80", b"\xc0\xaf", b"\xff", b"ok/then\x00"],
    ids=["nul", "bom", "surrogate", "overlong", "invalid", "trailing nul"],
)
@pytest.mark.parametrize("qos", [0, 1])
def test_a_response_topic_paho_refuses_is_left_to_paho(response_topic: bytes, qos: int) -> None:
    body = _body(b"t/x", 7 if qos else None, _string_property(0x08, response_topic) + _string_property(0x09, b"c"))
    assert _reference(0x30 | qos << 1, body) is None  # [MQTT-1.5.4]: paho reports a malformed packet
    assert _short(body, qos) is None


def test_handmade_bodies_at_the_edges_decode_as_paho_or_are_declined() -> None:
    cases = [
        _body(b"", 1, b""),  # an empty topic (MQTT 5 allows it with a topic alias)
        _body(b"t", 0, b""),  # mid 0 at QoS 1
        _body(b"t", 1, _string_property(0x08, b"r") * 2),  # a repeated property
        _body(b"t", 1, _string_property(0x09, b"c") * 2),
        _body(b"t", 1, b"\x08\x00"),  # a property cut inside its length
        _body(b"t", 1, b"\x08"),
        _body(b"t", 1, _string_property(0x08, b"r")[:-1]),  # a value longer than the properties
        len(b"t").to_bytes(2, "big") + b"t" + b"\x00\x01" + b"\x80\x00" + b"p",  # a non-minimal length
        len(b"t").to_bytes(2, "big") + b"t" + b"\x00\x01" + b"\x80\x80\x80\x80\x00" + b"p",  # five bytes
        len(b"t").to_bytes(2, "big") + b"t" + b"\x00\x01" + b"\xff\xff\xff\x7f",  # 256 MB of properties
        b"\xff\xff" + b"t" * 10,  # a topic longer than the packet
        b"\x00",
        b"",
    ]
    for body in cases:
        for header in (0x30, 0x32):
            _agrees_or_declines(header, body)


def test_remaining_lengths_of_one_to_four_bytes_are_covered(encoded: dict[str, bytes]) -> None:
    assert {_header_length(packet) - 1 for packet in encoded.values()} == {1, 2, 3, 4}


def _cuts(size: int) -> Iterator[int]:
    """Every cut of a packet up to 4 KB; of a longer one, the first 4,000 and last 100 cuts (every header
    and property byte) and 200 cuts at random in between."""
    if size <= 4000:
        yield from range(size)
        return
    yield from range(4000)
    yield from random.Random(size).sample(range(4000, size - 100), 200)
    yield from range(size - 100, size)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_every_truncated_publish_body_decodes_as_paho_or_is_declined(spec: Spec, encoded: dict[str, bytes]) -> None:
    packet = encoded[spec.name]
    start = _header_length(packet)
    header, body = packet[0], packet[start:]
    decoded = sum(_agrees_or_declines(header, body[:cut]) for cut in _cuts(len(body)))
    if not spec.other:
        # a body cut inside its payload is still a valid PUBLISH, with less payload
        assert decoded >= min(len(spec.payload), 400)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_a_truncated_packet_is_never_taken_for_a_whole_one(spec: Spec, encoded: dict[str, bytes]) -> None:
    packet = encoded[spec.name]
    start = _header_length(packet)
    for cut in _cuts(len(packet)):
        assert whole_packet(packet[:cut], 0) is None
        assert whole_packet(b"\x40\x02\x00\x01" + packet[:cut], 4) is None  # behind a packet already taken
    assert whole_packet(packet, 0) == (packet[0], start, len(packet) - start)
    assert whole_packet(b"\x40\x02\x00\x01" + packet + b"\x30", 4) == (packet[0], start + 4, len(packet) - start)


def test_random_bytes_decode_as_paho_or_are_declined(encoded: dict[str, bytes]) -> None:
    rng = random.Random(20261207)
    bodies = [packet[_header_length(packet):] for packet in encoded.values() if len(packet) < 2000]
    decoded = 0
    for trial in range(10_000):
        header = rng.choice([0x30, 0x31, 0x32, 0x33, 0x38, 0x3A])  # QoS 0/1, retain, dup
        if trial % 2:
            body = rng.randbytes(rng.randrange(0, 48))
            if trial % 4 == 1:
                body = bytes([0, rng.randrange(0, 6)]) + body  # short topic lengths reach the properties
        else:  # a paho-encoded body with one to three bytes changed, dropped or inserted
            mutated = bytearray(rng.choice(bodies))
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(mutated) + 1)
                match rng.randrange(3):
                    case 0 if at < len(mutated):
                        mutated[at] = rng.randrange(256)
                    case 1 if at < len(mutated):
                        del mutated[at]
                    case _:
                        mutated.insert(at, rng.randrange(256))
            body = bytes(mutated)
        decoded += _agrees_or_declines(header, body)
        result = whole_packet(body, 0)
        if result is not None:
            _, start, length = result
            assert 2 <= start <= 5
            assert start + length <= len(body)
    assert decoded > 500  # the mutations reach the short path, not only its refusals


def test_packed_publish_properties_are_what_paho_packs(encoded: dict[str, bytes]) -> None:
    for response_topic, correlation in [("r", None), (None, b"c"), ("edge/echo/to/me", b"abc-1"), ("", b""),
                                        ("ü/" + "y" * 300, bytes(range(256)))]:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if response_topic is not None:
            properties.ResponseTopic = response_topic
        if correlation is not None:
            properties.CorrelationData = correlation
        assert publish_properties(response_topic, correlation).pack() == properties.pack()


# -- the PUBACK decoder -----------------------------------------------------------------------------
def _pubacks() -> list[bytes]:
    """PUBACK bodies built from paho's own ReasonCode and Properties."""
    bodies = []
    for mid in (1, 0x0123, 0xFFFF):
        for reason in ("Success", "No matching subscribers", "Not authorized", "Payload format invalid"):
            packed_reason = ReasonCode(PacketTypes.PUBACK, reason).pack()
            bodies.append(mid.to_bytes(2, "big") + packed_reason)
            empty = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
            bodies.append(mid.to_bytes(2, "big") + packed_reason + empty.pack())
            said = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
            said.ReasonString = "because"
            bodies.append(mid.to_bytes(2, "big") + packed_reason + said.pack())
    return bodies


def test_a_plain_puback_gives_the_mid_paho_decodes() -> None:
    rng = random.Random(7)
    candidates = _pubacks()
    candidates += [body[:cut] for body in _pubacks() for cut in range(len(body))]
    candidates += [rng.randbytes(rng.randrange(0, 8)) for _ in range(2000)]
    plain = 0
    for body in candidates:
        mid = plain_puback(body)
        if mid is None:
            continue
        plain += 1
        reference = _packet.decode_puback(0x40, body, MQTTV5)
        assert (mid, reference.reason.value, reference.properties.pack()) == (reference.mid, 0, b"\x00")
    assert plain > 6


def test_paho_writes_plain_pubacks_that_the_short_path_takes(encoded: dict[str, bytes]) -> None:
    client = _client()
    with _connected(client) as conn:
        conn.sendall(encoded["qos1 request"])
        assert _wait_readable(client.socket())
        client.loop_read()
        (puback,) = _receive_packets(conn, 1)
    start = _header_length(puback)
    assert puback[0] == 0x40
    mid = plain_puback(puback[start:])
    assert mid is not None
    assert mid == _packet.decode_puback(0x40, puback[start:], MQTTV5).mid >= MID_START


def _publishes_written(kind: type[paho.Client], max_inflight: int, count: int) -> list[list[bytes]]:
    """Publish ``count`` QoS 1 messages with at most ``max_inflight`` in flight; acknowledge each PUBLISH the
    client writes, one at a time. Returns the PUBLISH packets written after each PUBACK (the first entry: before
    any)."""
    client = _client(kind)
    client.max_inflight_messages_set(max_inflight)
    batches: list[list[bytes]] = []
    with _connected(client) as conn:
        for n in range(count):
            client.publish("t/x", f"m{n}".encode(), qos=1)
        batches.append(_receive_packets(conn, min(max_inflight, count), client))
        unacked = list(batches[0])
        while unacked:
            publish = unacked.pop(0)
            body = publish[_header_length(publish):]
            conn.sendall(bytes([0x40, 0x02]) + body[5:7])  # a plain PUBACK of its mid (after the topic "t/x")
            assert _wait_readable(client.socket())
            _read(client)
            client.loop_write()
            sent = sum(map(len, batches))
            batches.append(_receive_packets(conn, 1, client) if sent < count else [])
            unacked += batches[-1]
        assert not _wait_readable(conn, 0.05)  # nothing more
    return batches


@pytest.mark.parametrize("max_inflight", [1, 3])
def test_queued_publishes_leave_as_pubacks_free_slots_as_with_paho(max_inflight: int) -> None:
    """The fast client skips paho's scan for queued messages on a PUBACK when none can be queued."""
    ours = _publishes_written(FastPathClient, max_inflight, 7)
    assert ours == _publishes_written(paho.Client, max_inflight, 7)
    assert [p[p.index(b"m"):] for batch in ours for p in batch] == [f"m{n}".encode() for n in range(7)]
    assert len(ours[0]) == max_inflight
    assert all(len(batch) == 1 for batch in ours[1:8 - max_inflight])


# -- the read step: what handling the packets sends ---------------------------------------------------
def _writes_on_the_loop(client: paho.Client) -> None:
    """As :class:`MqttLink` sets it up: paho asks for a write step instead of writing a queued packet at once."""
    client.on_socket_register_write = lambda *_: None


REPLY_SIZES = {"small": 40, "larger than the socket takes": 3_000_000}


def _answers(kind: type[paho.Client], requests: list[bytes], reply_size: int | None) -> tuple[bytes, bool]:
    """The bytes a client writes when ``requests`` arrive in one read and each one with a response topic is
    answered, from inside the callback that reports it, by a QoS 1 reply of ``reply_size`` bytes (None: no
    reply). Also whether those bytes were all on the socket before any write step (``loop_write``) ran."""
    client = _client(kind)
    client.max_inflight_messages_set(100)

    def answer(topic: str, response_topic: str | None, correlation: bytes | None) -> None:
        if reply_size is not None and response_topic is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if correlation is not None:
                properties.CorrelationData = correlation
            client.publish(response_topic, topic.encode() * (reply_size // len(topic) + 1), qos=1,
                           properties=properties)

    if isinstance(client, FastPathClient):
        client.inbound = lambda m: answer(m.topic, m.response_topic, m.correlation)
    else:
        client.on_message = lambda c, u, m: answer(m.topic, getattr(m.properties, "ResponseTopic", None),
                                                   getattr(m.properties, "CorrelationData", None))
    with _connected(client) as conn:
        _writes_on_the_loop(client)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        conn.sendall(b"".join(requests))
        assert _wait_readable(client.socket())
        assert _read(client) == MQTTErrorCode.MQTT_ERR_SUCCESS  # the fast client: one read step for all
        while not isinstance(client, FastPathClient) and _wait_readable(client.socket(), 0.05):
            client.loop_read()  # paho reads one packet per loop_read here
        written, sent_at_once = b"", None
        while True:
            while _wait_readable(conn, 0.05):
                written += conn.recv(1 << 20)
            if sent_at_once is None:
                sent_at_once = not client.want_write()
            if not client.want_write():
                return written, sent_at_once
            client.loop_write()


@pytest.mark.parametrize("size", list(REPLY_SIZES))
def test_a_read_step_sends_pubacks_and_replies_as_paho_does(size: str, encoded: dict[str, bytes]) -> None:
    """Three requests read at once: their PUBACKs and replies, gathered by the read step, are the bytes paho
    writes, in paho's order; a reply the socket takes whole has left before the step returns, and the rest of
    one it cannot take is written by paho's writer."""
    requests = [encoded["qos1 request"], encoded["qos0 response topic only"], encoded["unicode topic"]]
    ours, at_once = _answers(FastPathClient, requests, REPLY_SIZES[size])
    theirs, _ = _answers(paho.Client, requests, REPLY_SIZES[size])
    assert ours == theirs
    assert ours.count(b"\x40\x02") >= 2  # the two QoS 1 requests' PUBACKs
    assert at_once is (size == "small")


def test_acknowledgements_alone_wait_for_the_write_step(encoded: dict[str, bytes]) -> None:
    """With no reply to send, a read step's PUBACKs join paho's queue (they leave with what the woken tasks
    publish next): nothing is written before the write step, then what paho writes."""
    requests = [encoded["qos1 request"], encoded["qos1 bare"]]
    ours, at_once = _answers(FastPathClient, requests, None)
    assert ours == _answers(paho.Client, requests, None)[0]
    assert [ours[i:i + 2] for i in (0, 4)] == [b"\x40\x02"] * 2
    assert at_once is False


def test_a_qos0_publish_during_a_read_step_keeps_its_place(encoded: dict[str, bytes]) -> None:
    """paho acts once a QoS 0 PUBLISH is written (on_publish), so the read step leaves it to paho's queue; what
    was gathered before it goes first."""

    def written(kind: type[paho.Client]) -> tuple[bytes, list[int]]:
        client = _client(kind)
        published: list[int] = []
        client.on_publish = lambda c, u, mid, reason, properties: published.append(mid)

        def answer(*_: object) -> None:
            client.publish("q/0", b"zero", qos=0)
            client.publish("q/1", b"one", qos=1)

        if isinstance(client, FastPathClient):
            client.inbound = answer
        else:
            client.on_message = answer
        with _connected(client) as conn:
            _writes_on_the_loop(client)
            conn.sendall(encoded["qos1 request"] * 2)
            assert _wait_readable(client.socket())
            _read(client)
            while not isinstance(client, FastPathClient) and _wait_readable(client.socket(), 0.05):
                client.loop_read()
            client.loop_write()
            packets = _receive_packets(conn, 6, client)
        return b"".join(packets), published

    ours, published = written(FastPathClient)
    assert (ours, published) == written(paho.Client)
    assert len(published) == 2  # the QoS 0 publishes, once written


# -- publish_qos1: paho's QoS 1 publish, short --------------------------------------------------------
SHORT_SPECS = [spec for spec in SPECS if spec.qos == 1 and not spec.other and len(spec.payload) < 100_000]


def _published(kind: type[paho.Client], protocol: int, retain: bool) -> tuple[list[bytes], list[bytes]]:
    """Each short spec published at QoS 1 (``publish_qos1`` for the fast client), then the connection lost and
    made again: the PUBLISH packets written first, and those written again after the second CONNACK."""
    client = _client(kind, protocol)
    v5 = protocol == MQTTV5
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client.connect("127.0.0.1", listener.getsockname()[1], keepalive=60)
        sessions = []
        for _ in range(2):
            conn, _ = listener.accept()
            sessions.append(conn)
            (connect,) = _receive_packets(conn, 1)
            assert connect[0] == 0x10
            conn.sendall(CONNACK if v5 else CONNACK_V311)
            assert _wait_readable(client.socket())
            _read(client)
            if len(sessions) == 1:
                for spec in SHORT_SPECS:
                    rt, cd = (spec.response_topic, spec.correlation) if v5 else (None, None)
                    if isinstance(client, FastPathClient):
                        properties = publish_properties(rt, cd) if rt is not None or cd is not None else None
                        assert client.publish_qos1(spec.topic, spec.payload, retain, properties) is not None
                    else:
                        client.publish(spec.topic, spec.payload, 1, retain, spec.properties() if v5 else None)
                first = _receive_packets(conn, len(SHORT_SPECS), client)
                conn.close()  # lost: the client finds out on its next read, and connects again
                assert _wait_readable(client.socket())
                assert _read(client) != MQTTErrorCode.MQTT_ERR_SUCCESS
                client.reconnect()
            else:
                again = _receive_packets(conn, len(SHORT_SPECS), client)
        for conn in sessions:
            conn.close()
        client.socket().close()
    return first, again


@pytest.mark.parametrize("protocol", [MQTTV5, MQTTV311])
@pytest.mark.parametrize("retain", [False, True])
def test_publish_qos1_writes_and_resends_what_paho_does(protocol: int, retain: bool) -> None:
    """The packets of ``publish_qos1`` are paho's; the messages it keeps are re-sent after a reconnect as paho
    re-sends its own (DUP set, same ids)."""
    first, again = _published(FastPathClient, protocol, retain)
    assert (first, again) == _published(paho.Client, protocol, retain)
    assert all(packet[0] == 0x32 | retain for packet in first)
    assert all(packet[0] == 0x3A | retain for packet in again)


def test_publish_qos1_leaves_to_paho_what_it_does_not_take(encoded: dict[str, bytes]) -> None:
    client = _client(FastPathClient)
    assert isinstance(client, FastPathClient)
    client.max_inflight_messages_set(1)
    assert client.publish_qos1("t", b"p") is None  # no socket yet
    with _connected(client):
        assert client.publish_qos1("t/+", b"p") is None
        with pytest.raises(ValueError, match="wildcards"):
            client.publish("t/+", b"p", 1)  # paho reports what is wrong
        assert client.publish_qos1("t", b"p") is not None
        assert client.publish_qos1("t", b"p") is None  # no free in-flight slot: paho queues it
        assert client.publish("t", b"p", 1).rc == MQTTErrorCode.MQTT_ERR_SUCCESS
        assert len(client._out_messages) == 2


def test_publish_qos1_leaves_what_paho_refuses_to_paho_untouched() -> None:
    """A topic over 65,535 bytes, a payload MQTT cannot carry or one that is not ``bytes``: paho's ``publish``
    reports it, and ``publish_qos1`` has kept nothing and taken no in-flight slot."""
    client = _client(FastPathClient)
    assert isinstance(client, FastPathClient)
    with _connected(client):
        assert client.publish_qos1("t" * 65_536, b"p") is None
        with pytest.raises(ValueError, match="too long"):
            client.publish("t" * 65_536, b"p", 1)
        assert client.publish_qos1("t", memoryview(b"p")) is None  # type: ignore[arg-type]
        assert (client._out_messages, client._inflight_messages) == ({}, 0)
        assert client.publish_qos1("t", b"p") is not None


def test_a_read_step_reads_at_most_a_few_buffers(encoded: dict[str, bytes]) -> None:
    """A flood (here QoS 0 publishes, which need no acknowledgement) does not hold the loop in one read step:
    a step takes four 64 KiB reads (and a fifth, when a packet is cut at the end of the fourth); the next steps
    take the rest, all of it, in order."""
    receiver = _Receiver(FastPathClient)
    packet = encoded["qos0 bare"]
    count = 200_000 // len(packet) * 4  # ~800 kB: more than four read-aheads
    with _connected(receiver.client) as conn:
        conn.setblocking(False)
        stream = memoryview(packet * count)
        steps = []
        while stream or _wait_readable(receiver.client.socket(), 0.05):
            with contextlib.suppress(BlockingIOError):
                stream = stream[conn.send(stream):]
            if _wait_readable(receiver.client.socket(), 0.0):
                before = len(receiver.messages)
                assert _read(receiver.client) == MQTTErrorCode.MQTT_ERR_SUCCESS
                steps.append(len(receiver.messages) - before)
    assert len(receiver.messages) == count
    assert max(steps) * len(packet) <= 5 * 65536
    assert len(steps) >= 3
    assert {m.payload for m in receiver.messages} == {b"hello"}


def test_plain_pubacks_are_reported_to_acked_and_others_to_on_publish() -> None:
    client = _client(FastPathClient)
    assert isinstance(client, FastPathClient)
    acked: list[int] = []
    refused: list[tuple[int, int]] = []
    client.acked = acked.append
    client.on_publish = lambda c, u, mid, reason, properties: refused.append((mid, reason.value))
    client.max_inflight_messages_set(2)
    with _connected(client) as conn:
        mids = [client.publish_qos1("t", b"p") for _ in range(2)]
        queued = client.publish("t", b"q", 1).mid  # behind the in-flight limit
        assert None not in mids
        _receive_packets(conn, 2, client)
        first, second = (mid.to_bytes(2, "big") for mid in mids)  # type: ignore[union-attr]
        conn.sendall(b"\x40\x02" + first + b"\x40\x04" + second + b"\x87\x00")  # success; not authorised
        assert _wait_readable(client.socket())
        _read(client)
        (released,) = _receive_packets(conn, 1, client)  # the queued message took the freed slot
    assert acked == mids[:1]
    assert refused == [(mids[1], 0x87)]
    assert released[-1:] == b"q"
    assert list(client._out_messages) == [queued]
    assert client._inflight_messages == 1


# -- the client: whole streams, cut anywhere ---------------------------------------------------------
class _Receiver:
    """A connected client and the messages it reports, as :class:`Inbound`."""

    def __init__(self, kind: type[paho.Client], protocol: int = MQTTV5) -> None:
        self.client = _client(kind, protocol)
        self.messages: list[Inbound] = []
        self.client.on_message = self._on_message
        if isinstance(self.client, FastPathClient):
            self.client.inbound = self.messages.append

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        props = message.properties
        self.messages.append(Inbound(message.topic, bytes(message.payload), bool(message.retain),
                                     getattr(props, "ResponseTopic", None), getattr(props, "CorrelationData", None)))

    def read(self) -> None:
        """Everything that arrived: what the socket holds, and what the fast path read ahead."""
        client = self.client
        while client.socket() is not None:
            buffered = isinstance(client, FastPathClient) and client.has_buffered_input()
            if not buffered and not _wait_readable(client.socket(), 0.0):
                return
            rc = _read(client)
            assert rc == MQTTErrorCode.MQTT_ERR_SUCCESS, rc


def _read(client: paho.Client) -> MQTTErrorCode:
    """One read as the link does it: the fast client's read step, paho's ``loop_read``."""
    return client.read_step() if isinstance(client, FastPathClient) else client.loop_read()


def _deliver(kind: type[paho.Client], chunks: list[bytes], protocol: int = MQTTV5) -> list[Inbound]:
    """What a client reports for ``chunks``, each sent in one ``send`` where the socket takes it whole."""
    receiver = _Receiver(kind, protocol)
    with _connected(receiver.client) as conn:
        conn.setblocking(False)
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                with contextlib.suppress(BlockingIOError):
                    view = view[conn.send(view):]
                receiver.read()  # loopback: what was sent is there to read
        while _wait_readable(receiver.client.socket(), 0.05):
            receiver.read()
    return receiver.messages


def _chunkings(stream: bytes, packets: list[bytes], seed: int) -> dict[str, list[bytes]]:
    rng = random.Random(seed)
    random_cuts, at = [], 0
    while at < len(stream):
        size = rng.choice([1, 2, 3, 7, 50, 300, 4096])
        random_cuts.append(stream[at:at + size])
        at += size
    return {"one send": [stream], "one packet per send": packets, "random sends": random_cuts}


@pytest.mark.parametrize("how", ["one send", "one packet per send", "random sends"])
def test_the_fast_client_reports_what_paho_reports_however_the_stream_is_cut(
    how: str, encoded: dict[str, bytes]
) -> None:
    packets = [encoded[spec.name] for spec in SPECS if len(encoded[spec.name]) < 100_000]
    stream = b"".join(packets)
    chunks = _chunkings(stream, packets, 11)[how]
    fast, plain = _deliver(FastPathClient, chunks), _deliver(paho.Client, chunks)
    assert fast == plain
    assert [(m.topic, m.payload, m.response_topic, m.correlation) for m in fast] == [
        (s.topic, s.payload, s.response_topic, s.correlation) for s in SPECS if len(encoded[s.name]) < 100_000
    ]


def test_a_packet_sent_byte_by_byte_and_a_large_one_arrive_whole(encoded: dict[str, bytes]) -> None:
    small = encoded["qos1 request"]
    chunks = [small[i:i + 1] for i in range(len(small))] + [encoded["remaining length 4 bytes"], small]
    fast, plain = _deliver(FastPathClient, chunks), _deliver(paho.Client, chunks)
    assert fast == plain
    assert [len(m.payload) for m in fast] == [235, 2_100_000, 235]


def _outcome(kind: type[paho.Client], garbage: bytes) -> tuple[str, list[Inbound]]:
    """How a client takes ``garbage`` after CONNACK: ``ok``, ``refused`` (an error code; paho then closes the
    connection) or the name of the exception that escaped ``loop_read``."""
    receiver = _Receiver(kind)
    client = receiver.client
    with _connected(client) as conn:
        conn.sendall(garbage)
        conn.shutdown(socket.SHUT_WR)
        try:
            while client.socket() is not None and (
                (isinstance(client, FastPathClient) and client.has_buffered_input())
                or _wait_readable(client.socket(), 1.0)
            ):
                if _read(client) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return "refused", receiver.messages
        except Exception as error:  # reported, for comparison with paho
            return type(error).__name__, receiver.messages
    return "ok", receiver.messages


def test_random_streams_never_raise_from_the_fast_client_unless_paho_raises_too(encoded: dict[str, bytes]) -> None:
    rng = random.Random(99)
    valid = encoded["qos1 request"]
    for _ in range(150):
        command = rng.choice([0x30, 0x32, 0x33, 0x40, 0x40, rng.randrange(256)])
        body = rng.randbytes(rng.randrange(0, 40))
        if rng.random() < 0.5:
            body = bytes([0, rng.randrange(0, 4)]) + body
        garbage = bytes([command, len(body)]) + body + valid[: rng.randrange(len(valid) + 1)]
        fast, plain = _outcome(FastPathClient, garbage), _outcome(paho.Client, garbage)
        assert fast[0] in ("ok", "refused", plain[0]), (garbage, fast, plain)
        assert fast[1] == plain[1], garbage


# -- the option -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("on", True), ("0", False), ("false", False),
                                            (" OFF ", False), ("", True)])
def test_the_environment_sets_the_default_of_the_option(
    value: str | None, on: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(FAST_PATH_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(FAST_PATH_VARIABLE, value)
    assert MqttOptions().fast_path is on
    assert MqttOptions(fast_path=True).fast_path is True
    link = MqttLink("mqtt://127.0.0.1:1", client_id="t", on_message=lambda message: None, on_connected=lambda: None)
    assert isinstance(link._client, FastPathClient) is on


def test_a_bad_environment_value_names_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAST_PATH_VARIABLE, "maybe")
    with pytest.raises(ConfigError, match=r"EDGE_AGENT_MQTT_FAST_PATH='maybe' is not valid: use 1/true/on/yes or 0"):
        MqttOptions()


# -- MQTT 3.1.1: the same short path, without a property section ------------------------------------
V311_SPECS = [dataclasses.replace(spec, response_topic=None, correlation=None) for spec in SPECS if not spec.other]


@pytest.fixture(scope="module")
def encoded_v311() -> dict[str, bytes]:
    """Each spec without properties as the PUBLISH packet a paho MQTT 3.1.1 client writes for it."""
    client = _client(protocol=MQTTV311)
    with _connected(client) as conn:
        for _ in range(MID_START - 1):
            client.publish("warm", b"", 0)
        assert len(_receive_packets(conn, MID_START - 1)) == MID_START - 1
        out = {}
        for spec in V311_SPECS:
            assert client.publish(spec.topic, spec.payload, spec.qos).rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            (out[spec.name],) = _receive_packets(conn, 1, client)
    return out


def _reference_v311(header: int, body: bytes) -> Decoded | None:
    try:
        result = _packet.decode_publish(header, body, MQTTV311)
    except MalformedPacket:
        return None
    return result.topic.decode("utf-8", "surrogateescape"), result.mid, bytes(result.payload), None, None


def _agrees_or_declines_v311(header: int, body: bytes) -> bool:
    decoded = decode_publish(bytearray(body), (header & 0x06) >> 1, v5=False)
    if decoded is None:
        return False
    topic, mid, payload_at, response_topic, correlation = decoded
    assert (topic, mid, body[payload_at:], response_topic, correlation) == _reference_v311(header, body), body[:80]
    return True


def test_v311_publishes_decode_as_paho_decodes_them_whole_and_cut(encoded_v311: dict[str, bytes]) -> None:
    assert len(V311_SPECS) >= 5
    for spec in V311_SPECS:
        packet = encoded_v311[spec.name]
        start = _header_length(packet)
        header, body = packet[0], packet[start:]
        assert header == 0x30 | (spec.qos << 1)
        assert _agrees_or_declines_v311(header, body)
        whole = decode_publish(bytearray(body), spec.qos, v5=False)
        assert whole is not None
        assert whole[1] >= MID_START if spec.qos else whole[1] == 0
        decoded = sum(_agrees_or_declines_v311(header, body[:cut]) for cut in _cuts(len(body)))
        assert decoded >= min(len(spec.payload), 400)  # a body cut inside its payload is still a PUBLISH


def test_v311_random_bytes_decode_as_paho_or_are_declined(encoded_v311: dict[str, bytes]) -> None:
    rng = random.Random(20261208)
    bodies = [packet[_header_length(packet):] for packet in encoded_v311.values() if len(packet) < 2000]
    decoded = 0
    for trial in range(5_000):
        header = rng.choice([0x30, 0x31, 0x32, 0x33, 0x3A])
        if trial % 2:
            body = bytes([0, rng.randrange(0, 6)]) + rng.randbytes(rng.randrange(0, 24))
        else:
            mutated = bytearray(rng.choice(bodies))
            at = rng.randrange(len(mutated))
            mutated[at] = rng.randrange(256)
            body = bytes(mutated)
        decoded += _agrees_or_declines_v311(header, body)
    assert decoded > 500


@pytest.mark.parametrize("how", ["one send", "one packet per send", "random sends"])
def test_the_fast_client_reports_what_paho_reports_under_v311(how: str, encoded_v311: dict[str, bytes]) -> None:
    specs = [spec for spec in V311_SPECS if len(encoded_v311[spec.name]) < 100_000]
    packets = [encoded_v311[spec.name] for spec in specs]
    chunks = _chunkings(b"".join(packets), packets, 12)[how]
    fast, plain = _deliver(FastPathClient, chunks, MQTTV311), _deliver(paho.Client, chunks, MQTTV311)
    assert fast == plain
    assert [(m.topic, m.payload, m.response_topic, m.correlation) for m in fast] == [
        (s.topic, s.payload, None, None) for s in specs
    ]


def test_a_v311_puback_is_a_plain_puback() -> None:
    client = _client(protocol=MQTTV311)
    with _connected(client) as conn:
        conn.sendall(bytes([0x32, 0x06, 0x00, 0x01, ord("t"), 0x01, 0x23, ord("p")]))  # QoS 1, mid 0x0123
        assert _wait_readable(client.socket())
        client.loop_read()
        (puback,) = _receive_packets(conn, 1)
    assert puback == b"\x40\x02\x01\x23"
    assert plain_puback(puback[2:]) == 0x0123


# -- the protocol option and the broker URL ---------------------------------------------------------
@pytest.mark.parametrize(("url", "option", "expected"), [
    ("mqtt://127.0.0.1:1", "5", "5"), ("mqtt://127.0.0.1:1", "3.1.1", "3.1.1"),
    ("mqtt://127.0.0.1:1?protocol=3.1.1", "5", "3.1.1"), ("mqtt://127.0.0.1:1?protocol=5", "3.1.1", "5"),
])
@pytest.mark.parametrize("fast_path", [True, False])
def test_the_url_names_the_protocol_over_the_option(url: str, option: str, expected: str, fast_path: bool) -> None:
    options = MqttOptions(protocol=option, fast_path=fast_path)  # type: ignore[arg-type]
    link = MqttLink(url, client_id="t", on_message=lambda message: None, on_connected=lambda: None, options=options)
    assert link.protocol == expected
    assert link._client.protocol == (MQTTV5 if expected == "5" else MQTTV311)
    assert isinstance(link._client, FastPathClient) is fast_path


def test_a_v311_link_sends_no_properties() -> None:
    options = MqttOptions(protocol="3.1.1")
    link = MqttLink("mqtt://127.0.0.1:1", client_id="t", on_message=lambda message: None,
                    on_connected=lambda: None, options=options)
    client = link._client
    client.on_socket_open = client.on_socket_close = None  # no event loop here: paho writes by itself
    client.on_socket_register_write = client.on_socket_unregister_write = None
    with _connected(client) as conn:
        link.publish("t/a", b"p", response_topic="t/b", correlation=b"c")
        (publish,) = _receive_packets(conn, 1, link._client)
    assert publish[0] == 0x32
    assert publish[_header_length(publish):] == b"\x00\x03t/a\x00\x01p"  # topic, mid 1, payload: nothing else


@pytest.mark.parametrize(("url", "error"), [
    ("mqtt://h:1?protocol=4", "the only parameter accepted is protocol=5 or protocol=3.1.1"),
    ("mqtt://h:1?proto=3.1.1", "has a query that is not valid"),
    ("mqtt://h:1?protocol=5&protocol=3.1.1", "has a query that is not valid"),
    ("mqtt://u:secret@h:1?x", "'mqtt://u:\\*\\*\\*@h:1\\?x'"),
])
def test_a_bad_url_query_names_what_is_accepted(url: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        BrokerAddress.parse(url, environ={})


def test_a_parsed_protocol_shows_in_the_redacted_url() -> None:
    address = BrokerAddress.parse("mqtt://u:pw@h:1884?protocol=3.1.1", environ={})
    assert (address.protocol, address.redacted()) == ("3.1.1", "mqtt://u@h:1884?protocol=3.1.1")
    assert BrokerAddress.parse("mqtt://h", environ={}).protocol is None


def test_a_bad_protocol_option_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"protocol must be one of '5', '3.1.1', got '3'"):
        MqttOptions(protocol="3")  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "expected"),
                         [(None, "5"), ("", "5"), ("5", "5"), ("3.1.1", "3.1.1"), (" 3.1.1 ", "3.1.1")])
def test_the_environment_sets_the_default_protocol(
    value: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(PROTOCOL_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(PROTOCOL_VARIABLE, value)
    assert MqttOptions().protocol == expected
    assert MqttOptions(protocol="5").protocol == "5"


def test_a_bad_protocol_in_the_environment_names_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROTOCOL_VARIABLE, "3.1")
    with pytest.raises(ConfigError, match=r"EDGE_AGENT_MQTT_PROTOCOL='3.1' is not valid: use 5 or 3.1.1"):
        MqttOptions()
