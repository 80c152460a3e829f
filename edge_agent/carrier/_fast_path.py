"""The MQTT fast path: a paho 2.2 client subclass and the byte codec of its short decoders.

:class:`~edge_agent.carrier.mqtt.MqttLink` uses :class:`FastPathClient` when ``MqttOptions.fast_path`` is on
(the default) and a plain ``paho.Client`` otherwise. It exists for speed alone: with the responder in a second
process, the carrier's request/reply p50 was 1.97x raw paho's with paho's own reading and decoding, and is
1.19x with this path (``bench/results/mqtt.md``). Everything here leans on paho 2.2 internals; when a paho
upgrade breaks it, turn ``fast_path`` off (or set ``EDGE_AGENT_MQTT_FAST_PATH=0``) and
``tests/unit/test_mqtt_fast_path.py`` names what changed.

paho 2.2 private names this module depends on, and why:

* methods overridden: ``_sock_recv`` (one ``recv`` of up to 64 KiB serves paho's 3-4 small reads per packet),
  ``_packet_read`` (a packet already read whole takes the short path, or goes straight to ``_packet_handle``),
  ``_packet_write`` (queued packets leave in one ``send``), ``_packet_queue`` (a read step gathers what its
  packets' handling sends, see :meth:`FastPathClient.read_step`), ``_sock_close`` (drops the read-ahead),
  ``_handle_publish`` and ``_handle_pubackcomp`` (the short path, for packets paho's reader put together),
  ``_update_inflight`` (skipped when nothing is queued), ``_ssl_wrap_socket`` (paho 2.2 leaks the socket of a
  failed TLS handshake);
* methods called: ``_packet_handle``, ``_do_on_publish``, ``_sock_send``, ``_loop_rc_handle``,
  ``_call_socket_register_write``, ``_mid_generate``;
* attributes read or written: ``_in_packet`` and ``_out_packet`` (and the keys of their dicts: ``command``,
  ``packet``, ``pos``, ``to_process``, ``qos``, ``mid``, ``info``, ``have_remaining``, ``remaining_*``),
  ``_out_messages``, ``_inflight_messages``, ``_max_inflight_messages``, ``_max_queued_messages``,
  ``_out_message_mutex``, ``_msgtime_mutex``, ``_last_bytes_received``, ``_last_msg_out``, ``_manual_ack``,
  ``_protocol``, ``_sock``, ``_ssl_context``, ``_host``, ``_connect_timeout``; the slots of ``MQTTMessage``
  (:meth:`FastPathClient.publish_qos1` fills one as paho's ``publish`` does, for the PUBACK and for a resend
  after a reconnect); the module names ``time_func`` and ``mqtt_ms_wait_for_puback`` (and, for type checking
  only, ``_OutPacket``);
* :class:`PackedPublishProperties` relies on paho only calling ``pack()`` (and ``str()``) on the properties
  of an outgoing PUBLISH.

The decoders accept only what the carriers send (a QoS 0/1 MQTT 5 PUBLISH whose only properties are Response
Topic and Correlation Data, or a QoS 0/1 MQTT 3.1.1 PUBLISH, which has no properties; a PUBACK with reason 0
and no properties, or the 3.1.1 PUBACK, which is just the message id). Anything else, malformed packets
included, is handed to paho's own decoder, which reports the defect: the decoders return ``None`` and never
raise.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.carrier.mqtt_options import Inbound

if TYPE_CHECKING:
    from paho.mqtt.client import _OutPacket

__all__ = [
    "FastPathClient", "PackedPublishProperties", "decode_publish", "plain_puback", "publish_properties",
    "variable_byte_integer", "whole_packet",
]

_RESPONSE_TOPIC, _CORRELATION_DATA = 0x08, 0x09
_PUBLISH, _PUBACK, _DISCONNECT = 0x30, 0x40, 0xE0  # MQTT control packet types (high nibble)
_READ_SIZE = 65536
_MAX_REMAINING = 268_435_455  # the largest MQTT remaining length (4 bytes)
_READS_PER_STEP = 4  # a read step takes at most this many read-aheads (256 KiB), then lets the loop run


class FastPathClient(paho.Client):
    """paho's client, except that a failed TLS handshake closes its socket, that reading and writing take
    one system call for several packets (:meth:`read_step`), and that the packets of every QoS 1 exchange take
    a short path: the PUBLISH and PUBACK received (:meth:`_short_publish`, :meth:`_short_puback`) and the
    PUBLISH sent (:meth:`publish_qos1`)."""

    inbound: Callable[[Inbound], None] | None = None  # set by MqttLink: receives what the short path decodes
    acked: Callable[[int], None] | None = None  # set by MqttLink: the message ids of plain PUBACKs
    _received: bytes = b""  # read from the socket, not yet taken by paho (see _sock_recv)
    _taken = 0
    _drained = False  # the last read-ahead took less than it asked for: the socket had no more
    _batch: bytearray | None = None  # during a read step: the packets its handling sends (see read_step)
    _batch_publishes = False  # ... among which a PUBLISH
    _reads = 0  # read-aheads in the current read step

    # -- the read step: read, handle, answer ------------------------------------------------------
    def read_step(self) -> MQTTErrorCode:
        """What the loop calls when the socket is readable, instead of ``loop_read``: read what the socket
        holds and handle every packet in it. The PUBACKs and QoS 1 PUBLISHes that the handling sends (a
        request's PUBACK and the reply to it) are gathered as bytes instead of entering paho's queue one by one
        (and each asking the loop for a write step). If a PUBLISH is among them they leave in one ``send``
        before this returns; acknowledgements alone join paho's queue, and leave on the next loop iteration
        with whatever the tasks they woke publish. A step ends once it has read ``_READS_PER_STEP`` times 64 KiB
        and handled what it read (a flood must not hold the loop); the selector calls it again for the rest.
        Returns what ``loop_read`` would."""
        sock = self._sock
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        self._batch, self._batch_publishes, self._reads = bytearray(), False, 0
        try:
            while self._sock is not None:
                rc = self._packet_read()
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                    break
                if rc > 0:
                    return self._loop_rc_handle(rc)
                if not self.has_buffered_input() and (self._drained or self._reads >= _READS_PER_STEP):
                    break  # the socket is empty (no recv just to meet EAGAIN), or this step has read enough
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        finally:
            batch, self._batch = self._batch, None
            if batch and self._sock is sock:  # a lost or replaced connection: what it gathered is void (paho
                self._send_batch(batch)  # re-sends the QoS 1 messages after reconnecting)

    def _packet_queue(self, command: int, packet: bytes | bytearray, mid: int, qos: int,
                      info: paho.MQTTMessageInfo | None = None) -> MQTTErrorCode:
        batch = self._batch
        if batch is not None and not self._out_packet:
            kind = command & 0xF0
            if kind == _PUBACK or (kind == _PUBLISH and qos == 1):  # paho does nothing once these are written
                batch += packet
                self._batch_publishes |= kind == _PUBLISH
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        if batch:  # what was gathered goes first: the order of packets is kept
            self._queue_bytes(bytes(batch))
            batch.clear()
        return super()._packet_queue(command, packet, mid, qos, info)

    def _send_batch(self, batch: bytearray) -> None:
        sent = 0
        if self._batch_publishes and not self._out_packet:
            try:
                sent = self._sock_send(batch)
            except OSError:  # BlockingIOError included: paho's writer sends the rest, or meets the error again
                sent = 0
            if sent:
                with self._msgtime_mutex:
                    self._last_msg_out = paho.time_func()
        if sent < len(batch):
            self._queue_bytes(bytes(memoryview(batch)[sent:]))

    def _queue_bytes(self, data: bytes) -> None:
        """Queue packets already joined, to be written by paho's writer."""
        self._out_packet.append(_joined(data))
        self._call_socket_register_write()

    # -- reading: one recv for everything that is there ------------------------------------------
    def _sock_recv(self, bufsize: int) -> bytes:
        """paho asks for 1 byte (command), 1 byte per length byte, then the rest of each packet: ~3-4 recv
        calls per packet. This reads up to 64 KiB once and serves those requests from it; a caller of
        ``loop_read`` must then call it again while :meth:`has_buffered_input` (the socket itself no longer
        polls readable for data held here): :meth:`read_step` does."""
        taken = self._taken
        if taken >= len(self._received):
            data = super()._sock_recv(max(bufsize, _READ_SIZE))  # BlockingIOError etc. reach paho as before
            self._drained, self._reads = len(data) < _READ_SIZE, self._reads + 1
            if len(data) <= bufsize:
                return data
            self._received, taken = data, 0
        end = taken + bufsize
        self._taken = end
        return self._received[taken:end]

    def _packet_read(self) -> MQTTErrorCode:
        """A whole packet already read ahead is handled by the short path (a PUBLISH or PUBACK of the kind the
        carriers send) or handed to paho's packet handler directly; paho's own reader (byte by byte, with its
        bookkeeping) takes a packet that is not all there yet."""
        if not self._in_packet["command"]:  # between packets
            if self._taken >= len(self._received):
                rc = self._read_ahead()
                if rc is not None:
                    return rc
            whole = whole_packet(self._received, self._taken)
            if whole is not None:
                command, body, length = whole
                self._taken = end = body + length
                rc = self._short(command, self._received[body:end])
                return self._handle_whole(command, body, length) if rc is None else rc
        return super()._packet_read()

    def _read_ahead(self) -> MQTTErrorCode | None:
        """Fill the read-ahead buffer; a return code when there is nothing to read."""
        try:
            data = super()._sock_recv(_READ_SIZE)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError:
            return None  # paho's reader meets the error again and reports it
        if not data:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        self._received, self._taken, self._drained = data, 0, len(data) < _READ_SIZE
        self._reads += 1
        with self._msgtime_mutex:  # keepalive: bytes came in
            self._last_bytes_received = paho.time_func()
        return None

    def _handle_whole(self, command: int, body: int, length: int) -> MQTTErrorCode:
        self._taken = body + length
        self._in_packet = {"command": command, "have_remaining": 1, "remaining_count": [], "remaining_mult": 1,
                           "remaining_length": length, "packet": bytearray(self._received[body:body + length]),
                           "to_process": 0, "pos": 0}
        with self._msgtime_mutex:
            self._last_bytes_received = paho.time_func()
        try:
            rc = self._packet_handle()
        except MalformedPacket:
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = {"command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
                           "remaining_length": 0, "packet": bytearray(), "to_process": 0, "pos": 0}
        return rc

    def has_buffered_input(self) -> bool:
        """Bytes read but not yet parsed, here or (TLS) decrypted inside the SSL socket."""
        if self._taken < len(self._received):
            return True
        sock = self._sock
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def _sock_close(self) -> None:
        self._received, self._taken = b"", 0  # what the old connection held is void
        super()._sock_close()

    # -- writing: every queued packet in one send -------------------------------------------------
    def _packet_write(self) -> MQTTErrorCode:
        """Join the queued packets into one before paho writes them: a reply's PUBACK and the next request
        (or a reply and its request's PUBACK) leave in one ``send`` and reach the broker in one read."""
        if len(self._out_packet) > 1:
            self._coalesce()
        return super()._packet_write()

    def _coalesce(self) -> None:
        out = self._out_packet
        parts: list[bytes | bytearray | memoryview] = []
        size = 0
        for packet in out:
            command = packet["command"] & 0xF0
            if (command == _PUBLISH and packet["qos"] == 0) or command == _DISCONNECT or size > _READ_SIZE:
                break  # paho acts once each of these is written: leave them whole
            data = packet["packet"]
            parts.append(memoryview(data)[packet["pos"]:] if packet["pos"] else data)
            size += packet["to_process"]
        if len(parts) < 2:
            return
        for _ in parts:
            out.popleft()
        out.appendleft(_joined(b"".join(parts)))

    # -- the short path of the two packets of every QoS 1 exchange ------------------------------------
    def _short(self, command: int, packet: bytes | bytearray) -> MQTTErrorCode | None:
        """Handle a PUBLISH or a PUBACK on the short path; None: paho's handler must take it."""
        kind = command & 0xF0
        if kind == _PUBLISH:
            return self._short_publish(command, packet)
        if kind == _PUBACK:
            return self._short_puback(packet)
        return None

    def _handle_publish(self) -> MQTTErrorCode:
        """paho's handler of a PUBLISH its reader put together (the read-ahead held only part of it)."""
        rc = self._short_publish(self._in_packet["command"], self._in_packet["packet"])
        return super()._handle_publish() if rc is None else rc

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        rc = self._short_puback(self._in_packet["packet"]) if cmd == "PUBACK" else None
        return super()._handle_pubackcomp(cmd) if rc is None else rc

    def _short_publish(self, header: int, packet: bytes | bytearray) -> MQTTErrorCode | None:
        """A QoS 0/1 PUBLISH whose only properties are Response Topic and Correlation Data, the kind our
        carriers send, is decoded here and handed straight to :attr:`inbound`; paho would build a
        ``Properties`` object (setting ~30 attributes), an ``MQTTMessage``, and match the topic against
        filtered callbacks, ~40-130 us per message. Anything else, including every malformed packet, takes
        paho's own path (None), which also reports the defects."""
        qos = (header & 0x06) >> 1
        inbound = self.inbound
        if inbound is None or qos > 1 or self._protocol not in (paho.MQTTv5, paho.MQTTv311):
            return None
        decoded = decode_publish(packet, qos, v5=self._protocol == paho.MQTTv5)
        if decoded is None:
            return None
        topic, mid, payload_at, response_topic, correlation = decoded
        inbound(Inbound(topic, bytes(packet[payload_at:]), bool(header & 0x01), response_topic, correlation))
        if qos == 0 or self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._packet_queue(_PUBACK, bytes((_PUBACK, 2, mid >> 8, mid & 0xFF)), mid, 1)  # paho's PUBACK

    def _short_puback(self, packet: bytes | bytearray) -> MQTTErrorCode | None:
        """A plain PUBACK (success, no properties: what Mosquitto sends for an accepted message) without the
        ``ReasonCode`` and ``Properties`` objects paho builds for each; with :attr:`acked` set, it is reported
        there instead of to ``on_publish``, and the message's ``MQTTMessageInfo`` is not marked published (the
        link counts acknowledgements by message id). Anything else goes to paho (None)."""
        mid = plain_puback(packet)
        if mid is None:
            return None
        with self._out_message_mutex:
            if mid not in self._out_messages:
                return MQTTErrorCode.MQTT_ERR_SUCCESS  # as paho: an acknowledgement of nothing is ignored
            acked = self.acked
            if acked is None:
                return self._do_on_publish(mid, _PUBACK_SUCCESS, _NO_PUBACK_PROPERTIES)
            acked(mid)
            del self._out_messages[mid]
            self._inflight_messages -= 1
            return self._update_inflight() if self._max_inflight_messages else MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- publishing: a QoS 1 message that can leave now ----------------------------------------------
    def publish_qos1(self, topic: str, payload: bytes, retain: bool = False,
                     properties: PackedPublishProperties | None = None) -> int | None:
        """paho's ``publish`` of a QoS 1 message that can be written now (a socket, a free in-flight slot, room
        in the queue, a topic without wildcards of at most 65,535 bytes, ``bytes`` whose packet fits MQTT's
        remaining length): its message id, or None when paho's ``publish`` must take it
        (and report what is wrong). The message is kept in ``_out_messages`` as paho keeps it, for its PUBACK and
        for a resend after a reconnect, but without the ``MQTTMessageInfo`` (and its ``threading.Condition``)
        paho makes for each: they share one. The packet's bytes are paho's (``test_mqtt_fast_path``)."""
        if (self._sock is None or "+" in topic or "#" in topic or not topic or type(payload) is not bytes
                or 0 < self._max_inflight_messages <= self._inflight_messages
                or 0 < self._max_queued_messages <= len(self._out_messages)):
            return None
        topic_bytes = topic.encode()
        packed = b"" if self._protocol != paho.MQTTv5 else b"\x00" if properties is None else properties.pack()
        size = 4 + len(topic_bytes) + len(packed) + len(payload)
        if len(topic_bytes) > 65535 or size > _MAX_REMAINING:
            return None
        mid = self._mid_generate()
        if mid in self._out_messages:
            return None
        head = len(topic_bytes).to_bytes(2, "big") + topic_bytes + mid.to_bytes(2, "big") + packed
        packet = bytes((_PUBLISH | 0x02 | retain,)) + variable_byte_integer(size) + head + payload
        message = paho.MQTTMessage.__new__(paho.MQTTMessage)  # no MQTTMessageInfo of its own
        message.timestamp, message.state, message.dup, message.mid = paho.time_func(), _WAIT_FOR_PUBACK, False, mid
        message._topic, message.payload, message.qos, message.retain = topic_bytes, payload, 1, retain
        message.info, message.properties = _SHARED_INFO, properties
        with self._out_message_mutex:
            self._out_messages[mid] = message
            self._inflight_messages += 1
        self._packet_queue(_PUBLISH, packet, mid, 1, _SHARED_INFO)
        return mid

    # -- sending what waits for a free slot ------------------------------------------------------------
    def _update_inflight(self) -> MQTTErrorCode:
        """paho calls this on every PUBACK and scans every unacknowledged message for one queued behind the
        in-flight limit: O(n) per PUBACK, O(n^2) per round for a connection with n messages in flight (the
        coordinator of n devices). A message can only be queued while fewer messages are counted in flight
        than wait for their PUBACK, so the scan is skipped when they are all in flight."""
        if len(self._out_messages) <= self._inflight_messages:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._update_inflight()

    def _ssl_wrap_socket(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        assert self._ssl_context is not None
        tls_sock = self._ssl_context.wrap_socket(tcp_sock, server_hostname=self._host, do_handshake_on_connect=False)
        try:
            tls_sock.settimeout(self._connect_timeout)
            tls_sock.do_handshake()  # verifies the certificate chain and, with check_hostname, the host name
        except BaseException:
            tls_sock.close()
            raise
        return tls_sock


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves this constructor untyped


_PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK)  # shared by every plain PUBACK; only read by callbacks
_NO_PUBACK_PROPERTIES = _properties(PacketTypes.PUBACK)
_SHARED_INFO = paho.MQTTMessageInfo(0)  # the info of every message publish_qos1 keeps: nobody waits on it
_WAIT_FOR_PUBACK = paho.mqtt_ms_wait_for_puback


def _joined(data: bytes) -> _OutPacket:
    """paho's queue entry for packets already joined into ``data``; paho acts on none of them once written."""
    return {"command": _PUBACK, "mid": 0, "qos": 1, "pos": 0, "to_process": len(data), "packet": data, "info": None}


# -- the byte codec ------------------------------------------------------------------------------
def whole_packet(received: bytes, at: int) -> tuple[int, int, int] | None:
    """``(command, body offset, body length)`` if ``received[at:]`` starts with a whole packet; None if it is
    not all there, or if its remaining length is malformed (paho's reader then reports it)."""
    end = len(received)
    if end - at < 2:
        return None
    length = shift = 0
    body = at + 1
    while True:  # remaining length: a variable byte integer of at most 4 bytes
        byte = received[body]
        body += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
        if shift > 21 or body >= end:
            return None
    return None if body + length > end else (received[at], body, length)


def plain_puback(packet: bytes | bytearray) -> int | None:
    """The message id of a PUBACK body with reason 0 (success) and no properties, else None."""
    if len(packet) == 2 or (len(packet) == 3 and packet[2] == 0):
        return (packet[0] << 8) | packet[1]
    return None


class _Unusual(Exception):
    """A PUBLISH the short path leaves to paho's decoder."""


def decode_publish(packet: bytes | bytearray, qos: int, *, v5: bool = True
                   ) -> tuple[str, int, int, str | None, bytes | None] | None:
    """``(topic, mid, payload offset, response topic, correlation data)`` of an MQTT 5 PUBLISH body (what
    follows the fixed header), or None if it has other properties or anything unusual (paho's decoder then
    takes over). With ``v5=False`` the body is an MQTT 3.1.1 one: no property section, so the payload follows
    the message id and the last two fields are None. Never raises."""
    try:
        return _parse_publish(packet, qos, v5)
    except (IndexError, UnicodeDecodeError, _Unusual):
        return None


def _take(packet: bytes | bytearray, at: int, size: int, end: int) -> bytes:
    if at + size > end:
        raise _Unusual
    return bytes(packet[at:at + size])


def _parse_publish(packet: bytes | bytearray, qos: int, v5: bool) -> tuple[str, int, int, str | None, bytes | None]:
    end = len(packet)
    topic_size = (packet[0] << 8) | packet[1]
    topic = _take(packet, 2, topic_size, end).decode()
    at = 2 + topic_size
    mid = 0
    if qos:
        mid = (packet[at] << 8) | packet[at + 1]
        at += 2
    if not v5:  # MQTT 3.1.1: the payload follows the message id (IndexError above if that was cut short)
        if not topic:
            raise _Unusual  # an empty topic is malformed in 3.1.1: paho's decoder reports it
        return topic, mid, at, None, None
    length = shift = 0
    while True:  # property length: a variable byte integer (IndexError past the end)
        byte = packet[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80 or shift > 21:
            break
    props_end = at + length
    if byte & 0x80 or props_end > end:
        raise _Unusual
    found: dict[int, bytes] = {}
    while at < props_end:
        prop = packet[at]
        if prop not in (_RESPONSE_TOPIC, _CORRELATION_DATA) or prop in found:
            raise _Unusual  # another property, or a repeated one (paho's decoder reports the protocol error)
        value = found[prop] = _take(packet, at + 3, (packet[at + 1] << 8) | packet[at + 2], props_end)
        at += 3 + len(value)
    response_topic = None
    if _RESPONSE_TOPIC in found:
        response_topic = found[_RESPONSE_TOPIC].decode()
        if "\x00" in response_topic or "\ufeff" in response_topic:
            raise _Unusual  # forbidden in an MQTT string [MQTT-1.5.4-2/3]: paho's decoder reports it
    return topic, mid, props_end, response_topic, found.get(_CORRELATION_DATA)


class PackedPublishProperties(Properties):
    """PUBLISH properties packed once, here: paho's ``Properties.__setattr__`` scans every property name
    on each assignment (~20-30 us), and paho only ever calls ``pack()`` (and ``str()`` when it logs)."""

    _packed: bytes

    def __init__(self, packed: bytes) -> None:  # no super().__init__(): nothing else is read
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)
        object.__setattr__(self, "_packed", packed)  # paho's __setattr__ accepts only property names

    def pack(self) -> bytes:
        return self._packed

    def __str__(self) -> str:
        return f"PublishProperties({len(self._packed)} bytes)"


def variable_byte_integer(value: int) -> bytes:
    """An MQTT variable byte integer (remaining lengths, property lengths)."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def publish_properties(response_topic: str | None, correlation: bytes | None) -> PackedPublishProperties:
    """MQTT 5 PUBLISH properties: Response Topic (0x08, UTF-8 string) and Correlation Data (0x09, binary)."""
    body = b""
    if response_topic is not None:
        topic = response_topic.encode()
        body += b"\x08" + len(topic).to_bytes(2, "big") + topic
    if correlation is not None:
        body += b"\x09" + len(correlation).to_bytes(2, "big") + correlation
    return PackedPublishProperties(variable_byte_integer(len(body)) + body)
