"""One paho-mqtt client driven by the running asyncio loop; this module and :mod:`._fast_path` alone import paho.

:class:`MqttLink` hands paho's socket to the loop through paho's external-loop callbacks and a
:class:`~edge_agent.carrier.loop_socket.LoopSocket` (``add_reader``/``add_writer`` call the fast path's read
step, or ``loop_read``, and ``loop_write``; a one-second timer calls ``loop_misc`` for keepalive), so no thread
polls and every paho callback that handles a packet runs on the loop thread. The blocking part of connecting
(TCP and TLS handshakes) runs in a worker thread; while it runs, publishes are held back and flushed in order
afterwards. No paho callback ever raises: each is wrapped, logs
``mqtt.callback_failed`` and carries on.

The link speaks MQTT 5 with ``TCP_NODELAY`` on its socket, keeps a session across reconnects
(clean start on the first connect only), restores every subscription after each CONNACK and reconnects
after a lost connection with jittered exponential backoff. Unacknowledged QoS 1 messages stay in paho and
are re-sent after the reconnect. With ``MqttOptions.protocol = "3.1.1"`` (or ``?protocol=3.1.1`` in the URL) it
speaks MQTT 3.1.1 instead: clean session on every connect, no PUBLISH, CONNECT, will or DISCONNECT
properties (the response topic and correlation data a request carries under MQTT 5 are dropped: the envelope
names the same), no will delay. Payloads are checked against ``max_payload`` before publishing: an
oversized QoS 1 publish would make the broker drop the connection and paho re-send it forever.

With ``MqttOptions.fast_path`` on (the default) the client is :mod:`._fast_path`'s paho subclass, which
reads, writes and decodes the carriers' own packets on a short path built on paho 2.2 internals; with it off
(or ``EDGE_AGENT_MQTT_FAST_PATH=0``) it is a plain ``paho.Client`` and this module uses paho's public API only.

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
from typing import TYPE_CHECKING, Any, TypeVar

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_agent.carrier._fast_path import FastPathClient, PackedPublishProperties, publish_properties
from edge_agent.carrier.loop_socket import LoopSocket
from edge_agent.carrier.mqtt_options import BrokerAddress, Inbound, MqttOptions, Will
from edge_agent.errors import ConfigError, TransportError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MqttLink"]

log = structlog.get_logger("edge_agent.mqtt")
F = TypeVar("F", bound=Callable[..., None])


class _RefusedError(TransportError):
    """The broker answered CONNECT with a failure reason code (bad credentials, not authorised...)."""


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves this constructor untyped


def _standard_publish_properties(response_topic: str | None, correlation: bytes | None) -> Properties:
    """The same PUBLISH properties as :func:`~edge_agent.carrier._fast_path.publish_properties`, built the
    way paho documents (used with the fast path off)."""
    properties = _properties(PacketTypes.PUBLISH)
    if response_topic is not None:
        properties.ResponseTopic = response_topic
    if correlation is not None:
        properties.CorrelationData = correlation
    return properties


class _ClosingSSLSocket(ssl.SSLSocket):
    """A TLS socket that closes itself when its handshake fails: paho 2.2 drops such a socket unclosed
    (a ``ResourceWarning``, and a descriptor held until it is collected). With the fast path off it becomes
    the ``sslsocket_class`` of the link's TLS context (public ``ssl`` API), unless that context has its own."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _tls_pending(sock: object) -> bool:
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _guarded(callback: F) -> F:
    """Wrap a paho callback so that it can never raise into paho."""

    def wrapper(*args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            with contextlib.suppress(Exception):  # even a broken log sink must not reach paho
                log.exception("mqtt.callback_failed", callback=callback.__name__)

    return wrapper  # type: ignore[return-value]


def _client(address: BrokerAddress, client_id: str, *, username: str | None, password: str | None,
            tls: ssl.SSLContext | None, opts: MqttOptions, v5: bool) -> paho.Client:
    """The paho client of one link (the fast path's or paho's own), its credentials, TLS and limits set."""
    client_class = FastPathClient if opts.fast_path else paho.Client
    if v5:
        client = client_class(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5,
                              reconnect_on_failure=False)
    else:  # a clean session each time: the broker keeps nothing for us (nor leaks a queue) while we are away
        client = client_class(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                              clean_session=True, reconnect_on_failure=False)
    if username is not None or address.username is not None:
        client.username_pw_set(username or address.username, password if username else address.password)
    if tls is not None and not address.tls:
        msg = f"a TLS context was given for {address.redacted()}, a plain MQTT URL: use mqtts:// for TLS"
        raise ConfigError(msg)
    if address.tls:
        context = tls or ssl.create_default_context()
        if not opts.fast_path and context.sslsocket_class is ssl.SSLSocket:
            context.sslsocket_class = _ClosingSSLSocket  # the fast path's _ssl_wrap_socket closes it itself
        client.tls_set_context(context)
    client.max_inflight_messages_set(opts.max_inflight)
    client.max_queued_messages_set(opts.max_queued)
    client.connect_timeout = opts.connect_timeout_s
    if not v5:
        client.connect_async(address.host, address.port, opts.keepalive_s)
        return client
    properties = _properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = opts.session_expiry_s
    client.connect_async(address.host, address.port, opts.keepalive_s,
                         clean_start=paho.MQTT_CLEAN_START_FIRST_ONLY, properties=properties)
    return client


class MqttLink:
    """One MQTT 5 (or 3.1.1) client on the running loop: publish, remember subscriptions, survive reconnects."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        on_message: Callable[[Inbound], None],
        on_connected: Callable[[], None],
        on_refused: Callable[[str, str], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        will: Will | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        options: MqttOptions | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        address = BrokerAddress.parse(url)
        self.url, self.client_id = address.redacted(), client_id  # for logs and errors: never the password
        self.options = opts = options or MqttOptions()
        self.protocol = address.protocol or opts.protocol  # the URL's ?protocol= wins over the option
        self._v5 = self.protocol == "5"
        self.connected = False
        self.session = ""  # changes with every connect attempt; names the will
        self.reconnects = 0
        self._on_message_hook, self._on_connected_hook, self._will = on_message, on_connected, will
        self._on_refused_hook = on_refused  # (topic, reason) of a QoS 1 publish the broker refused
        self._on_lost_hook = on_lost  # a connection that was up is lost (before any reconnect)
        self._topic_of: dict[int, str] = {}  # message id -> topic, for the QoS 1 publishes not acknowledged yet
        self._rng = rng  # None: a fresh generator at the first reconnect (numpy loads only then: lean agents)
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

        client = _client(address, client_id, username=username, password=password, tls=tls, opts=opts, v5=self._v5)
        client.on_connect = _guarded(self._on_connect)
        client.on_disconnect = _guarded(self._on_disconnect)
        client.on_message = _guarded(self._on_message)
        if isinstance(client, FastPathClient):
            client.inbound = _guarded(self._on_inbound)
            client.acked = _guarded(self._acked)
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
            if self._v5:
                properties = _properties(PacketTypes.DISCONNECT)
                properties.SessionExpiryInterval = 0
                self._client.disconnect(ReasonCode(PacketTypes.DISCONNECT, "Normal disconnection"), properties)
            else:
                self._client.disconnect()
            try:
                async with asyncio.timeout(grace_s):
                    await asyncio.shield(self._disconnected)
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
            properties = None
            if self._v5:
                properties = _properties(PacketTypes.WILLMESSAGE)
                properties.WillDelayInterval = self.options.will_delay_s
            self._client.will_set(self._will.topic, self._will.payload(self.session), qos=1, retain=True,
                                  properties=properties)
        attempt = self._attempt = self._loop.create_future()
        try:
            await self._open_socket()
            async with asyncio.timeout(self.options.connect_timeout_s):
                await asyncio.shield(attempt)
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
        """Everything the socket had. The fast path's :meth:`~._fast_path.FastPathClient.read_step` sends a
        reply that handling the packets published before it returns. paho's own client (fast path off) reads a
        few packets per ``loop_read`` and leaves the rest readable on the socket; only TLS can hold decrypted
        bytes the selector does not see. It sends what it queued at once."""
        client = self._client
        if isinstance(client, FastPathClient):
            client.read_step()
            return
        client.loop_read()
        while _tls_pending(client.socket()):  # decrypted bytes the selector cannot see
            client.loop_read()
        if client.want_write():
            self._socket.flush()

    def _jitter(self, delay: float) -> float:
        if self._rng is None:
            import numpy as np  # noqa: PLC0415  (see __init__)

            self._rng = np.random.default_rng()
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
        """Queue one PUBLISH; QoS 1 messages outlive a lost connection (paho re-sends them). Under MQTT 3.1.1
        ``response_topic`` and ``correlation`` are not sent (the envelope carries what they repeat)."""
        self.check_size(topic, payload)
        if self._closed:
            raise TransportError(f"the connection to {self.url} is closed; {topic!r} not published")
        properties = None
        if self._v5 and (response_topic is not None or correlation is not None):
            build = publish_properties if self.options.fast_path else _standard_publish_properties
            properties = build(response_topic, correlation)
        if not self._in_thread:
            self._publish_now(topic, payload, qos, retain, properties)
        elif len(self._deferred) < self.options.max_queued:
            self._deferred.append((topic, payload, qos, retain, properties))
        else:
            raise TransportError(f"{len(self._deferred)} messages already wait for {self.url}")

    def _publish_now(self, topic: str, payload: bytes, qos: int, retain: bool, properties: Properties | None) -> int:
        """The message id of a publish queued (or, from a fast path read step, sent) now."""
        client = self._client
        mid = None
        if qos == 1 and isinstance(client, FastPathClient) and (
                properties is None or isinstance(properties, PackedPublishProperties)):
            mid = client.publish_qos1(topic, payload, retain, properties)  # None: paho's publish takes it
        if mid is None:
            info = client.publish(topic, payload, qos, retain, properties)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                msg = f"{self.options.max_queued} messages already wait for {self.url}; {topic!r} not published"
                raise TransportError(msg)
            mid = info.mid
        if qos and self._on_refused_hook is not None:
            self._topic_of[mid] = topic
        return mid

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
        mid = self._publish_now(topic, payload, 1, retain, None)
        ack: asyncio.Future[int] = self._loop.create_future()
        self._acks[mid] = ack
        try:
            async with asyncio.timeout(within_s):
                return await ack
        except TimeoutError:
            raise TransportError(f"no PUBACK for {topic!r} from {self.url} within {within_s:g} s") from None
        finally:
            self._acks.pop(mid, None)

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
        if self._v5:
            rc, mid = self._client.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
        else:
            rc, mid = self._client.subscribe([(f, 1) for f in filters])
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
        if was_connected and not self._closed and self._on_lost_hook is not None:
            self._on_lost_hook()
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
            topic = self._topic_of.get(mid)
            log.warning("mqtt.publish_refused", url=self.url, mid=mid, topic=topic, reason=str(reason),
                        code=reason.value)
            if topic is not None and self._on_refused_hook is not None:
                self._on_refused_hook(topic, f"{reason} ({reason.value})")
        self._acked(mid, reason.value)

    def _acked(self, mid: int, code: int = 0) -> None:
        """The broker acknowledged the QoS 1 message ``mid`` with reason ``code`` (the fast path reports plain
        PUBACKs, code 0, here directly)."""
        self._topic_of.pop(mid, None)
        ack = self._acks.pop(mid, None)
        if ack is not None and not ack.done():
            ack.set_result(code)

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
        was_connected, self.connected = self.connected, False
        if was_connected and self._on_lost_hook is not None:
            self._on_lost_hook()
        self._schedule_reconnect()
