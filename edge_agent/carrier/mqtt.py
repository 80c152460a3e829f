"""One paho-mqtt client driven by the running asyncio loop; the only module that imports paho.

:class:`MqttLink` hands paho's socket to the loop through paho's external-loop callbacks and a
:class:`~edge_agent.carrier.loop_socket.LoopSocket` (``add_reader``/``add_writer`` call ``loop_read``/
``loop_write``; a one-second timer calls ``loop_misc`` for keepalive), so no thread polls and every paho
callback that handles a packet runs on the loop thread. The blocking part
of connecting (TCP and TLS handshakes) runs in a worker thread; while it runs, publishes are held back
and flushed in order afterwards. No paho callback ever raises: each is wrapped, logs
``mqtt.callback_failed`` and carries on.

The link speaks MQTT 5 with ``TCP_NODELAY`` on its socket, keeps a session across reconnects
(clean start on the first connect only), restores every subscription after each CONNACK and reconnects
after a lost connection with jittered exponential backoff. Unacknowledged QoS 1 messages stay in paho and
are re-sent after the reconnect. Payloads are checked against ``max_payload`` before publishing: an
oversized QoS 1 publish would make the broker drop the connection and paho re-send it forever.

Transport timing (keepalive, CONNACK/PUBACK waits, backoff) follows the loop's real time because it
tracks a real socket; protocol deadlines belong to the carrier's injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import ssl
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import numpy as np
import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_agent.carrier.loop_socket import LoopSocket
from edge_agent.carrier.mqtt_options import BrokerAddress, Inbound, MqttOptions, Will
from edge_agent.errors import TransportError

__all__ = ["MqttLink"]

log = structlog.get_logger("edge_agent.mqtt")
F = TypeVar("F", bound=Callable[..., None])


class _RefusedError(TransportError):
    """The broker answered CONNECT with a failure reason code (bad credentials, not authorised...)."""


class _PahoClient(paho.Client):
    """paho's client, except that a failed TLS handshake closes its socket (paho 2.2 leaks it), and that the
    two packets of every QoS 1 exchange are decoded by a short path (see :meth:`_handle_publish`)."""

    _inbound: Callable[[Inbound], None] | None = None  # set by MqttLink: receives what the short path decodes
    _received: bytes = b""  # read from the socket, not yet taken by paho (see _sock_recv)
    _taken = 0

    # -- reading: one recv for everything that is there ------------------------------------------
    def _sock_recv(self, bufsize: int) -> bytes:
        """paho asks for 1 byte (command), 1 byte per length byte, then the rest of each packet: ~3-4 recv
        calls per packet. This reads up to 64 KiB once and serves those requests from it; the loop must
        then call :meth:`loop_read` while :meth:`has_buffered_input` (the socket itself no longer polls
        readable for data held here)."""
        taken = self._taken
        if taken >= len(self._received):
            data = super()._sock_recv(max(bufsize, _READ_SIZE))  # BlockingIOError etc. reach paho as before
            if len(data) <= bufsize:
                return data
            self._received, taken = data, 0
        end = taken + bufsize
        self._taken = end
        return self._received[taken:end]

    def _packet_read(self) -> MQTTErrorCode:
        """A whole packet already read ahead is handed to paho's packet handler directly; paho's own reader
        (byte by byte, with its bookkeeping) takes a packet that is not all there yet."""
        if not self._in_packet["command"]:  # between packets
            if self._taken >= len(self._received):
                rc = self._read_ahead()
                if rc is not None:
                    return rc
            whole = self._whole_packet()
            if whole is not None:
                return self._handle_whole(*whole)
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
        self._received, self._taken = data, 0
        return None

    def _whole_packet(self) -> tuple[int, int, int] | None:
        """``(command, body offset, body length)`` if the buffer holds the next packet whole."""
        received, at = self._received, self._taken
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

    def has_queued_publish(self) -> bool:
        """A PUBLISH waits among a few queued packets (a long queue waits for a writable socket anyway)."""
        out = self._out_packet
        return len(out) <= _FEW and any(packet["command"] & 0xF0 == _PUBLISH for packet in out)

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
        joined = b"".join(parts)
        out.appendleft({"command": _PUBACK, "mid": 0, "qos": 1, "pos": 0, "to_process": len(joined),
                        "packet": joined, "info": None})

    # -- decoding: the short path of the two packets of every QoS 1 exchange ----------------------

    def _handle_publish(self) -> MQTTErrorCode:
        """A QoS 0/1 PUBLISH whose only properties are Response Topic and Correlation Data, the kind our
        carriers send, is decoded here and handed straight to :attr:`_inbound`; paho would build a
        ``Properties`` object (setting ~30 attributes), an ``MQTTMessage``, and match the topic against
        filtered callbacks, ~40-130 us per message. Anything else, including every malformed packet, takes
        paho's own path, which also reports the defects."""
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        inbound = self._inbound
        if inbound is None or qos > 1 or self._protocol != paho.MQTTv5:
            return super()._handle_publish()
        decoded = _decode_publish(packet, qos)
        if decoded is None:
            return super()._handle_publish()
        topic, mid, payload_at, response_topic, correlation = decoded
        inbound(Inbound(topic, bytes(memoryview(packet)[payload_at:]), bool(header & 0x01), response_topic,
                        correlation))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        """A plain PUBACK (success, no properties: what Mosquitto sends for an accepted message) without the
        ``ReasonCode`` and ``Properties`` objects paho builds for each; anything else goes to paho."""
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or not (len(packet) == 2 or (len(packet) == 3 and packet[2] == 0)):
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _PUBACK_SUCCESS, _NO_PUBACK_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

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
_RESPONSE_TOPIC, _CORRELATION_DATA = 0x08, 0x09
_PUBLISH, _PUBACK, _DISCONNECT = 0x30, 0x40, 0xE0  # MQTT control packet types (high nibble)
_READ_SIZE = 65536
_FEW = 8


class _Unusual(Exception):
    """A PUBLISH the short path leaves to paho's decoder."""


def _decode_publish(packet: bytearray, qos: int) -> tuple[str, int, int, str | None, bytes | None] | None:
    """``(topic, mid, payload offset, response topic, correlation data)`` of an MQTT 5 PUBLISH body, or
    None if it has other properties or anything unusual (paho's decoder then takes over)."""
    try:
        return _parse_publish(packet, qos)
    except (IndexError, UnicodeDecodeError, _Unusual):
        return None


def _take(packet: bytearray, at: int, size: int, end: int) -> bytes:
    if at + size > end:
        raise _Unusual
    return bytes(packet[at:at + size])


def _parse_publish(packet: bytearray, qos: int) -> tuple[str, int, int, str | None, bytes | None]:
    end = len(packet)
    topic_size = (packet[0] << 8) | packet[1]
    topic = _take(packet, 2, topic_size, end).decode()
    at = 2 + topic_size
    mid = 0
    if qos:
        mid = (packet[at] << 8) | packet[at + 1]
        at += 2
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
    response_topic = found.get(_RESPONSE_TOPIC)
    return (topic, mid, props_end, None if response_topic is None else response_topic.decode(),
            found.get(_CORRELATION_DATA))


class _PackedPublishProperties(Properties):
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


def _variable_byte_integer(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _publish_properties(response_topic: str | None, correlation: bytes | None) -> Properties:
    """MQTT 5 PUBLISH properties: Response Topic (0x08, UTF-8 string) and Correlation Data (0x09, binary)."""
    body = b""
    if response_topic is not None:
        topic = response_topic.encode()
        body += b"\x08" + len(topic).to_bytes(2, "big") + topic
    if correlation is not None:
        body += b"\x09" + len(correlation).to_bytes(2, "big") + correlation
    return _PackedPublishProperties(_variable_byte_integer(len(body)) + body)


def _guarded(callback: F) -> F:
    """Wrap a paho callback so that it can never raise into paho."""

    def wrapper(*args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            with contextlib.suppress(Exception):  # even a broken log sink must not reach paho
                log.exception("mqtt.callback_failed", callback=callback.__name__)

    return wrapper  # type: ignore[return-value]


class MqttLink:
    """One MQTT 5 client on the running loop: publish, remember subscriptions, survive reconnects."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        on_message: Callable[[Inbound], None],
        on_connected: Callable[[], None],
        will: Will | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        options: MqttOptions | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        address = BrokerAddress.parse(url)
        self.url, self.client_id = url, client_id
        self.options = opts = options or MqttOptions()
        self.connected = False
        self.session = ""  # changes with every connect attempt; names the will
        self.reconnects = 0
        self._on_message_hook, self._on_connected_hook, self._will = on_message, on_connected, will
        self._rng = rng or np.random.default_rng()
        self._filters: list[str] = []
        self._acks: dict[int, asyncio.Future[int]] = {}
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._deferred: list[tuple[str, bytes, int, bool, Properties | None]] = []
        self._attempt: asyncio.Future[None] | None = None
        self._disconnected: asyncio.Future[None] | None = None
        self._in_thread = False
        self._thread_idle = asyncio.Event()
        self._thread_idle.set()
        self._closing = False  # no more reconnects
        self._closed = False  # no more publishes
        self._reconnector: asyncio.Task[None] | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

        client = _PahoClient(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5,
                             reconnect_on_failure=False)
        if username is not None or address.username is not None:
            client.username_pw_set(username or address.username, password if username else address.password)
        if tls is not None or address.tls:
            client.tls_set_context(tls or ssl.create_default_context())
        client.max_inflight_messages_set(opts.max_inflight)
        client.max_queued_messages_set(opts.max_queued)
        client.connect_timeout = opts.connect_timeout_s
        properties = _properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = opts.session_expiry_s
        client.connect_async(address.host, address.port, opts.keepalive_s,
                             clean_start=paho.MQTT_CLEAN_START_FIRST_ONLY, properties=properties)
        client.on_connect = _guarded(self._on_connect)
        client.on_disconnect = _guarded(self._on_disconnect)
        client.on_message = _guarded(self._on_message)
        client._inbound = _guarded(self._on_inbound)
        client.on_publish = _guarded(self._on_publish)
        client.on_subscribe = _guarded(self._on_subscribe)
        client.on_socket_open = _guarded(self._on_socket_open)
        client.on_socket_close = _guarded(self._on_socket_close)
        client.on_socket_register_write = _guarded(self._on_socket_register_write)
        client.on_socket_unregister_write = _guarded(self._on_socket_unregister_write)
        self._client = client
        # paho's socket on the loop; loop_misc sends PINGREQ and notices a silent broker (keepalive)
        self._socket = LoopSocket(self._read, client.loop_write, client.loop_misc, self._socket_failed)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, tasks: asyncio.TaskGroup) -> None:
        """Connect, retrying an unreachable broker for ``connect_timeout_s``; a refusal fails at once."""
        self._tasks, self._loop = tasks, asyncio.get_running_loop()
        self._socket.bind(self._loop)
        deadline = self._loop.time() + self.options.connect_timeout_s
        delay = self.options.reconnect_min_s
        while True:
            try:
                await self._connect_once()
            except _RefusedError:
                raise
            except ssl.SSLCertVerificationError as error:
                raise TransportError(f"the MQTT broker at {self.url} failed TLS verification: {error}") from None
            except (OSError, TransportError) as error:
                if self._loop.time() + delay >= deadline:
                    msg = (f"cannot connect to the MQTT broker at {self.url} within "
                           f"{self.options.connect_timeout_s:g} s: {error}")
                    raise TransportError(msg) from None
                await asyncio.sleep(self._jitter(delay))
                delay = min(2 * delay, self.options.reconnect_max_s)
            else:
                log.debug("mqtt.connected", url=self.url, client_id=self.client_id)
                return

    def stop_reconnecting(self) -> None:
        """Cancel a reconnect in progress and start no other (the first step of shutting down)."""
        self._closing = True
        if self._reconnector is not None:
            self._reconnector.cancel()

    async def close(self, grace_s: float = 2.0) -> None:
        """Send DISCONNECT (ending the session, so the broker sends no will) and release the socket."""
        self.stop_reconnecting()
        await self._thread_idle.wait()
        self._closed = True
        if self.connected and self._loop is not None:
            self._disconnected = self._loop.create_future()
            properties = _properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
            self._client.disconnect(ReasonCode(PacketTypes.DISCONNECT, "Normal disconnection"), properties)
            try:
                await asyncio.wait_for(asyncio.shield(self._disconnected), grace_s)
            except TimeoutError:
                log.warning("mqtt.disconnect_timeout", url=self.url, grace_s=grace_s)
        self._socket.forget()
        sock = self._client.socket()
        if sock is not None:
            sock.close()  # no answer to DISCONNECT: drop the socket rather than leak it
        for ack in self._acks.values():
            ack.cancel()
        for suback in self._subacks.values():
            suback.cancel()
        self.connected = False

    async def _connect_once(self) -> None:
        """One attempt: open the socket and send CONNECT in a worker thread, then await the CONNACK."""
        assert self._loop is not None
        self._socket.forget()  # the old socket, if any, is closed by paho in the thread
        self.session = secrets.token_hex(6)
        if self._will is not None:
            properties = _properties(PacketTypes.WILLMESSAGE)
            properties.WillDelayInterval = self.options.will_delay_s
            self._client.will_set(self._will.topic, self._will.payload(self.session), qos=1, retain=True,
                                  properties=properties)
        attempt = self._attempt = self._loop.create_future()
        try:
            await self._open_socket()
            await asyncio.wait_for(asyncio.shield(attempt), self.options.connect_timeout_s)
        except TimeoutError:
            msg = f"no CONNACK from {self.url} within {self.options.connect_timeout_s:g} s"
            raise TransportError(msg) from None
        finally:
            self._attempt = None
            if not attempt.done():
                attempt.cancel()
        if not self.connected:
            raise TransportError(f"the connection to {self.url} closed right after CONNACK")

    async def _open_socket(self) -> None:
        """paho's blocking ``reconnect()`` (TCP and TLS handshakes, CONNECT queued) in a worker thread."""
        assert self._loop is not None
        self._in_thread = True
        self._thread_idle.clear()
        job = self._loop.run_in_executor(None, self._client.reconnect)
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            await asyncio.wait([job])  # a handshake cannot be interrupted: let the thread end first
            if not job.cancelled():
                job.exception()  # retrieved: a failure no longer matters once cancelled
            raise
        finally:
            self._in_thread = False
            self._thread_idle.set()
            self._flush_deferred()

    async def _reconnect(self) -> None:
        delay = self.options.reconnect_min_s
        while not self._closing:
            await asyncio.sleep(self._jitter(delay))
            try:
                await self._connect_once()
            except (OSError, TransportError) as error:
                delay = min(2 * delay, self.options.reconnect_max_s)
                log.warning("mqtt.reconnect_failed", url=self.url, error=str(error), retry_s=round(delay, 3))
            else:
                self.reconnects += 1
                log.info("mqtt.reconnected", url=self.url, client_id=self.client_id)
                return

    def _read(self) -> None:
        """Everything the socket had: paho's ``loop_read`` until no read-ahead bytes are left. A PUBLISH that
        handling it queued (a reply) leaves at once; acknowledgements alone wait for the next loop
        iteration, where they share a ``send`` with whatever a woken task publishes (the next request)."""
        client = self._client
        client.loop_read()
        while client.has_buffered_input() and client.socket() is not None:
            client.loop_read()
        if client.has_queued_publish():
            self._socket.flush()

    def _jitter(self, delay: float) -> float:
        return delay * (0.5 + float(self._rng.random()))

    # -- publishing and subscribing -----------------------------------------------------------
    def check_size(self, topic: str, payload: bytes) -> None:
        """:class:`TransportError` if ``payload`` is over ``max_payload`` (the broker would refuse it)."""
        if len(payload) > self.options.max_payload:
            msg = (f"payload of {len(payload)} bytes for {topic!r} exceeds the "
                   f"{self.options.max_payload}-byte limit (max_payload, which must match the broker's "
                   "message_size_limit); not published")
            raise TransportError(msg)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                response_topic: str | None = None, correlation: bytes | None = None) -> None:
        """Queue one PUBLISH; QoS 1 messages outlive a lost connection (paho re-sends them)."""
        self.check_size(topic, payload)
        if self._closed:
            raise TransportError(f"the connection to {self.url} is closed; {topic!r} not published")
        properties = None
        if response_topic is not None or correlation is not None:
            properties = _publish_properties(response_topic, correlation)
        if not self._in_thread:
            self._publish_now(topic, payload, qos, retain, properties)
        elif len(self._deferred) < self.options.max_queued:
            self._deferred.append((topic, payload, qos, retain, properties))
        else:
            raise TransportError(f"{len(self._deferred)} messages already wait for {self.url}")

    def _publish_now(self, topic: str, payload: bytes, qos: int, retain: bool,
                     properties: Properties | None) -> paho.MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos, retain, properties)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            msg = f"{self.options.max_queued} messages already wait for {self.url}; {topic!r} not published"
            raise TransportError(msg)
        return info

    def _flush_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for topic, payload, qos, retain, properties in deferred:
            try:
                self._publish_now(topic, payload, qos, retain, properties)
            except TransportError:
                log.exception("mqtt.dropped", topic=topic)

    async def publish_acked(self, topic: str, payload: bytes, *, retain: bool = False,
                            within_s: float = 5.0) -> int:
        """Publish at QoS 1 and return the PUBACK reason code (0 accepted, 135 not authorised...)."""
        self.check_size(topic, payload)
        assert self._loop is not None
        await self._thread_idle.wait()
        info = self._publish_now(topic, payload, 1, retain, None)
        ack = self._acks[info.mid] = self._loop.create_future()
        try:
            return await asyncio.wait_for(ack, within_s)
        except TimeoutError:
            raise TransportError(f"no PUBACK for {topic!r} from {self.url} within {within_s:g} s") from None
        finally:
            self._acks.pop(info.mid, None)

    def subscribe(self, topic_filter: str) -> None:
        """Subscribe at QoS 1 now (if connected) and again after every reconnect."""
        if topic_filter not in self._filters:
            self._filters.append(topic_filter)
            if self.connected:
                self._send_subscribe([topic_filter])

    def unsubscribe(self, topic_filter: str) -> None:
        """Forget a subscription: UNSUBSCRIBE now (if connected), and no more after reconnects."""
        if topic_filter in self._filters:
            self._filters.remove(topic_filter)
            if self.connected:
                self._client.unsubscribe(topic_filter)

    def _send_subscribe(self, filters: list[str]) -> None:
        assert self._loop is not None
        rc, mid = self._client.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
            self._subacks[mid] = self._loop.create_future()

    async def subscriptions_settled(self, within_s: float = 5.0) -> None:
        """Wait until the broker has acknowledged every SUBSCRIBE sent so far."""
        if waiting := list(self._subacks.values()):
            _, pending = await asyncio.wait(waiting, timeout=within_s)
            if pending:
                msg = f"{len(pending)} SUBSCRIBE(s) not acknowledged by {self.url} within {within_s:g} s"
                raise TransportError(msg)

    # -- paho callbacks (on the loop thread, except socket callbacks during a connect) -----------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            log.error("mqtt.connect_refused", url=self.url, reason=str(reason))
            refused = _RefusedError(f"the MQTT broker at {self.url} refused the connection: {reason}")
            self._settle_attempt(refused)
            return
        self.connected = True
        for stale in self._subacks.values():
            stale.cancel()  # SUBACKs of a lost connection never come; everything is subscribed again
        self._subacks.clear()
        if self._filters:
            self._send_subscribe(self._filters)
        self._on_connected_hook()
        self._settle_attempt(None)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: paho.DisconnectFlags,
                       reason: ReasonCode, properties: Properties | None) -> None:
        was_connected, self.connected = self.connected, False
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        if self._attempt is not None:
            self._settle_attempt(TransportError(f"connection to {self.url} closed during CONNECT: {reason}"))
        else:
            if was_connected and not self._closed:
                log.warning("mqtt.disconnected", url=self.url, reason=str(reason))
            self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        running = self._reconnector is not None and not self._reconnector.done()
        if not (self._closing or running or self._tasks is None):
            name = f"mqtt.reconnect:{self.client_id}"
            self._reconnector = self._tasks.create_task(self._reconnect(), name=name)

    def _settle_attempt(self, error: TransportError | None) -> None:
        attempt = self._attempt
        if attempt is not None and not attempt.done():
            if error is None:
                attempt.set_result(None)
            else:
                attempt.set_exception(error)

    def _on_inbound(self, message: Inbound) -> None:
        self._on_message_hook(message)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        props = message.properties
        self._on_message_hook(Inbound(
            topic=message.topic,
            payload=bytes(message.payload),
            retain=bool(message.retain),
            response_topic=getattr(props, "ResponseTopic", None),
            correlation=getattr(props, "CorrelationData", None),
        ))

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if reason.is_failure:
            log.warning("mqtt.publish_refused", url=self.url, mid=mid, reason=str(reason), code=reason.value)
        ack = self._acks.pop(mid, None)
        if ack is not None and not ack.done():
            ack.set_result(reason.value)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:
        if refused := [str(r) for r in reasons if r.is_failure]:
            log.error("mqtt.subscribe_refused", url=self.url, reasons=refused)
        suback = self._subacks.pop(mid, None)
        if suback is not None and not suback.done():
            suback.set_result(None)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Nagle costs 40+ ms per round trip
        self._socket.opened(sock.fileno())

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._socket.closed()

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._socket.want_write(True)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._socket.want_write(False)

    def _socket_failed(self) -> None:
        self.connected = False
        self._schedule_reconnect()
