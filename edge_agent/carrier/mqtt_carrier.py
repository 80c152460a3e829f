"""Participants over MQTT: one :class:`MqttConnection` per process hands each one an :class:`MqttCarrier`.

::

    async with MqttConnection("mqtt://broker:1883", codec=registry.codec(), prefix="edge", ...) as conn:
        carrier = conn.add(participant)            # subscribes its inbox, publishes its presence
        await conn.wait_present(["coordinator"], within_s=30)

The connection owns every task (handlers, spawned drivers, reconnects) in one ``TaskGroup``, decodes each
payload once where it arrives, rejects what is malformed (logged as ``mqtt.rejected`` with topic and reason;
the connection keeps serving), drops QoS 1 redeliveries by envelope id (a bounded LRU) and checks that an
envelope's sender is the agent whose topic it came on. Topics are laid out by :mod:`.topics`.

Request/reply survives a broker that lost its state (an in-memory broker restarted): at-least-once delivery,
exactly-once handling. The requester sends every request still waiting for its answer again, with the same
envelope id, after each reconnect (its subscriptions are restored first) and whenever the receiver announces
itself in a new session (its inbox is subscribed again). The replier keeps the replies it sent (a bounded
cache keyed by request topic and id): a duplicate of an answered request is answered again from the cache, a
duplicate of one still being handled is dropped (its reply will come); no handler runs twice. Deadlines do not
count the time this connection was down (:mod:`.outages`).

Leaving the block waits for handlers and spawned drivers (reconnecting if the broker goes away meanwhile),
then publishes a retained offline record for every hosted agent and disconnects cleanly (so no will).
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Self

import structlog

from edge_agent.carrier.base import GOSSIP, Participant
from edge_agent.carrier.hosting import ConnectionCarrier, HostingConnection
from edge_agent.carrier.mqtt import MqttLink
from edge_agent.carrier.mqtt_options import Inbound, MqttOptions, Will
from edge_agent.carrier.outages import Outages
from edge_agent.carrier.presence import PresenceRecord, session_of
from edge_agent.carrier.recall import KeptReply
from edge_agent.carrier.topics import Route, RouteKind, Topics
from edge_agent.clock import Clock, LoopClock
from edge_agent.codec import Codec
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, TransportError
from edge_agent.ids import validate_id
from edge_agent.messages import Envelope, Message

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MqttCarrier", "MqttConnection"]

log = structlog.get_logger("edge_agent.mqtt")
_REPLY_ROUTES_KEPT = 4096


class MqttCarrier(ConnectionCarrier["MqttConnection"]):
    """One participant's view of an :class:`MqttConnection`."""

    def __init__(self, connection: MqttConnection, participant: Participant) -> None:
        super().__init__(connection, participant)
        self._requesting = False

    def request(self, body: Message, receiver: str, timeout: float) -> asyncio.Future[Message]:
        self._connection.watch(receiver)  # its new sessions resend the request
        self._requesting = True  # _transmit adds an MQTT 5 response topic and correlation data
        try:
            return super().request(body, receiver, timeout)
        finally:
            self._requesting = False

    def _transmit(self, envelope: Envelope) -> None:  # a request that cannot leave is released by request()
        self._connection.transmit(envelope, expects_reply=self._requesting)


class MqttConnection(HostingConnection["MqttCarrier"]):
    """One MQTT client per process hosting any number of participants."""

    transport = "mqtt"

    def __init__(
        self,
        url: str,
        *,
        codec: Codec,
        prefix: str = "edge",
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        options: MqttOptions | None = None,
        clock: Clock | None = None,
        rng: np.random.Generator | None = None,
        run_id: str | None = None,
        dedup_size: int = 8192,
        watch_presence: bool = True,
    ) -> None:
        super().__init__(codec=codec, topics=Topics(prefix), clock=clock or LoopClock(), run_id=run_id,
                         node=validate_id(client_id or username or f"ea-{secrets.token_hex(6)}", "MQTT client id"),
                         dedup_size=dedup_size)
        self._correlations: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()  # (replier, request id)
        self._followers: dict[str, Callable[[Route, bytes], None]] = {}  # route kind -> handler (records)
        self._was_connected = False
        will = Will(self.topics.presence(self.node), self._will_payload)
        self._link = MqttLink(url, client_id=self.node, on_message=self._on_message,
                              on_connected=self._connected, on_refused=self._refused, on_lost=self._lost, will=will,
                              username=username, password=password, tls=tls, options=options, rng=rng)
        self.options = self._link.options
        self.outages = Outages(f"the connection to the MQTT broker at {self._link.url}")
        # Who watches every presence record: launchers, coordinators, dashboards. A device agent does not (N
        # agents each reading N records made a fleet's start-up O(N^2)); it reads only the records of agents it
        # sends requests to or waits for (:meth:`watch`).
        self.watches_all = watch_presence
        if watch_presence:
            self._link.subscribe(self.topics.presence_all())

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        tasks = self._tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        try:
            await self._link.start(tasks)
        except BaseException:
            self._tasks = None
            self._link.stop_reconnecting()
            await tasks.__aexit__(None, None, None)  # nothing was spawned yet: this returns at once
            await self._link.close()
            raise
        return self

    def _closing(self) -> None:
        self._link.stop_reconnecting()

    async def _close(self) -> None:
        """Retained offline records for every hosted agent, then a clean DISCONNECT (no will)."""
        if self._link.connected:
            for agent in self.carriers:
                try:
                    await self._link.publish_acked(self.topics.presence(agent),
                                                   self._record(agent, online=False, reason="shutdown"),
                                                   retain=True, within_s=1.0)
                except EdgeAgentError as error:
                    log.warning("mqtt.offline_record_failed", agent=agent, error=str(error))
        await self._link.close()

    def add(self, participant: Participant) -> MqttCarrier:
        """Host ``participant``: subscribe its inbox, then announce it (in that order on the wire)."""
        pid = validate_id(participant.id)
        if pid in self.carriers:
            raise ConfigError(f"participant id {pid!r} is used twice; ids must be unique")
        carrier = MqttCarrier(self, participant)
        self.carriers[pid] = carrier
        self._link.subscribe(self.topics.inbox(pid))
        if self._link.connected:
            self._announce(pid)
        return carrier

    # -- presence ------------------------------------------------------------------------------
    @property
    def reconnects(self) -> int:
        """Connections re-established after a loss (metrics)."""
        return self._link.reconnects

    @property
    def connected(self) -> bool:
        return self._link.connected

    def follow(self, kind: RouteKind, topic_filter: str, handler: Callable[[Route, bytes], None]) -> None:
        """Subscribe ``topic_filter`` (records of the layout, e.g. ``topics.all_of("progress")``) and hand every
        payload of route ``kind`` to ``handler``, which must not raise."""
        if kind in ("direct", "gossip", "presence"):
            raise ConfigError(f"route {kind!r} is the connection's own; follow records, not messages")
        self._followers[kind] = handler
        self._link.subscribe(topic_filter)

    async def wait_present(self, agents: Iterable[str], within_s: float) -> None:
        """Wait until ``agents`` are online. Under MQTT 3.1.1 each awaited agent's presence topic is also
        subscribed by its exact name: RabbitMQ's MQTT plugin sends retained messages only to subscriptions
        without wildcards (``docs/brokers.md``); elsewhere a record then arrives twice, which changes nothing."""
        agents = list(agents)
        if self._link.protocol == "3.1.1" or not self.watches_all:
            for agent in agents:
                self._link.subscribe(self.topics.presence(validate_id(agent, "awaited agent id")))
        await super().wait_present(agents, within_s)

    async def wait_absent(self, agents: Iterable[str], within_s: float) -> None:
        agents = list(agents)
        for agent in agents:
            self.watch(agent)
        await super().wait_absent(agents, within_s)

    def watch(self, agent: str) -> None:
        """Follow ``agent``'s presence record (a connection that does not watch every record): its requests to
        ``agent`` are then sent again when it comes back in a new session."""
        if not self.watches_all:
            self._link.subscribe(self.topics.presence(validate_id(agent, "watched agent id")))

    async def settled(self, within_s: float = 5.0) -> None:
        """Wait until the broker acknowledged every subscription made so far (e.g. before gossip starts)."""
        await self._link.subscriptions_settled(within_s)

    def _record(self, agent: str, *, online: bool, reason: str) -> bytes:
        return PresenceRecord.model_validate(
            {"online": online, "agent": agent, "node": self.node, "session": session_of(self.node, self._link.session),
             "reason": reason}
        ).encode()

    def _will_payload(self, session: str) -> bytes:
        return PresenceRecord(online=False, agent=self.node, node=self.node, session=session_of(self.node, session),
                              reason="will").encode()

    def _announce(self, agent: str) -> None:
        self._link.publish(self.topics.presence(agent), self._record(agent, online=True, reason="connected"),
                           retain=True)

    def _connected(self) -> None:
        """On every CONNACK (the link has subscribed everything again): announce every hosted agent, and after a
        reconnect send every waiting request again (the broker may have lost it or its reply)."""
        self.outages.restored(self.clock.now())
        for agent in self.carriers:
            self._announce(agent)
        if self._was_connected:
            self._resend(None)
        self._was_connected = True

    def _lost(self) -> None:
        self.outages.lost(self.clock.now())
        log.warning("mqtt.connection_lost", url=self._link.url, waiting=sum(len(c.waiting()) for c in
                                                                              self.carriers.values()))

    def _resend(self, receiver: str | None) -> None:
        """Send the requests still waiting for ``receiver`` (None: for anybody) again, same envelope ids."""
        for carrier in self.carriers.values():
            for envelope in carrier.waiting(receiver):
                try:
                    self.transmit(envelope, expects_reply=True)
                except TransportError as error:
                    log.warning("mqtt.resend_failed", participant=carrier.id, receiver=envelope.receiver,
                                error=str(error))
                else:
                    self.stats.resent += 1
                    log.info("mqtt.resent", participant=carrier.id, receiver=envelope.receiver,
                             kind=envelope.body.kind)

    # -- sending -------------------------------------------------------------------------------
    def transmit(self, envelope: Envelope, *, expects_reply: bool = False) -> None:
        """Publish ``envelope`` on its topic; :class:`TransportError` if it is too large to publish."""
        sender, receiver = envelope.sender, envelope.receiver
        response_topic: str | None = None
        correlation: bytes | None = None
        if receiver == GOSSIP:
            topic = self.topics.gossip(sender)
        else:
            validate_id(receiver, "receiver id")
            topic = self.topics.direct(sender, receiver)
            if expects_reply:
                response_topic, correlation = self.topics.direct(receiver, sender), envelope.id.encode()
            elif envelope.in_reply_to is not None:  # a reply goes to the requester's inbox, whatever it asked for
                correlation = self._correlations.pop((sender, envelope.in_reply_to), None)
        payload = self.codec.encode(envelope)
        self._link.publish(topic, payload, response_topic=response_topic, correlation=correlation)
        self.stats.sent += 1
        if envelope.in_reply_to is not None and receiver != GOSSIP:
            self._recall.keep_reply((self.topics.direct(receiver, sender), envelope.in_reply_to),
                                    KeptReply(topic, payload, correlation))

    def subscribe_gossip(self, subscriber: str, senders: Iterable[str]) -> None:
        for sender in senders:
            if self._first_hearing(subscriber, sender):
                self._link.subscribe(self.topics.gossip(sender))

    def unsubscribe_gossip(self, subscriber: str, senders: Iterable[str]) -> None:
        """``subscriber`` no longer hears ``senders``; the MQTT subscription goes when nobody here does."""
        for sender in senders:
            if self._last_hearing(subscriber, sender):
                self._link.unsubscribe(self.topics.gossip(sender))

    async def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, within_s: float = 5.0) -> int:
        """Publish bytes as they are (tools, tests) at QoS 1; returns the PUBACK reason code."""
        return await self._link.publish_acked(topic, payload, retain=retain, within_s=within_s)

    def _refused(self, topic: str, reason: str) -> None:
        """The broker refused a message (e.g. the ACL): its sender's requests to that receiver fail now, naming
        the reason, instead of waiting out their timeout."""
        route = self.topics.parse(topic)
        carrier = self.carriers.get(route.sender) if route is not None and route.kind == "direct" else None
        if route is not None and route.receiver is not None and carrier is not None:
            carrier.fail_requests(route.receiver, TransportError(
                f"the broker refused {route.sender!r}'s message to {route.receiver!r} on {topic}: {reason}; "
                f"is {route.sender!r} allowed to send there (the broker's ACL, the user of this connection)?"))

    # -- receiving -----------------------------------------------------------------------------
    def _on_message(self, message: Inbound) -> None:
        route = self.topics.parse(message.topic)
        if route is None:
            self._reject(message, "topic outside the layout")
        elif len(message.payload) > self.options.max_payload:
            self._reject(message, f"payload of {len(message.payload)} bytes exceeds {self.options.max_payload}")
        elif route.kind == "presence":
            before = self.presence.session(route.sender)
            try:
                self.presence.update(route.sender, message.payload)
            except ProtocolError as error:
                self._reject(message, str(error))
            else:
                session = self.presence.session(route.sender)
                if session is not None and session != before:  # (back) online: its inbox is subscribed
                    self._resend(route.sender)
        elif route.kind in self._followers:
            self._followers[route.kind](route, message.payload)
        elif route.kind in ("direct", "gossip"):
            try:
                envelope = self.codec.decode(message.payload)
            except ProtocolError as error:
                self._reject(message, str(error))
            else:
                self._accept(message, route, envelope)

    def _accept(self, message: Inbound, route: Route, envelope: Envelope) -> None:
        if envelope.sender != route.sender:
            self._reject(message, f"envelope sender {envelope.sender!r} differs from the topic's {route.sender!r}")
            return
        expected_receiver = GOSSIP if route.kind == "gossip" else route.receiver
        if envelope.receiver != expected_receiver:
            self._reject(message, f"envelope receiver {envelope.receiver!r} does not match the topic")
            return
        if not self._admit(message.topic, route, envelope):
            return
        carrier = self.carriers.get(envelope.receiver)
        if carrier is None:
            self._reject(message, f"no participant {envelope.receiver!r} is hosted here")
            return
        if message.response_topic is not None and envelope.in_reply_to is None:
            if message.response_topic != self.topics.direct(envelope.receiver, envelope.sender):
                self._reject(message, f"response topic {message.response_topic!r} is not the requester's inbox")
                return
            self._correlations[(envelope.receiver, envelope.id)] = message.correlation
            if len(self._correlations) > _REPLY_ROUTES_KEPT:
                self._correlations.popitem(last=False)
        self._deliver(carrier, envelope)

    def _send_again(self, kept: KeptReply) -> None:
        self._link.publish(kept.topic, kept.payload, correlation=kept.correlation)

    def _reject(self, message: Inbound, reason: str) -> None:
        self.stats.rejected += 1
        log.warning("mqtt.rejected", topic=message.topic, reason=reason, size=len(message.payload))

