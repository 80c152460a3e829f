"""Participants over Zenoh: one :class:`ZenohConnection` per process hands each one a :class:`ZenohCarrier`.

The only module that imports ``zenoh`` (the optional extra ``edge-agent[zenoh]``); nothing else imports this one
at module level.

::

    options = ZenohOptions(listen=["tcp/127.0.0.1:7447"])            # peer mode, no broker
    async with ZenohConnection(options, codec=registry.codec(), prefix="edge", node="site-a") as conn:
        carrier = conn.add(participant)        # declares its inbox subscriber, then its liveliness token
        await conn.wait_present(["coordinator"], within_s=30)

Envelopes, codec and key layout are MQTT's (:mod:`.topics` with ``*`` for one level): a direct message is put
on ``<prefix>/<sender>/to/<receiver>``, gossip on ``<prefix>/<sender>/gossip``; request/reply is correlated by
envelope id (:class:`~edge_agent.carrier.base.Carrier`), not by Zenoh queries, so the same reply binding, the
same duplicate removal and the same cache of sent replies (:mod:`.recall`) apply. Puts are reliable with
congestion control ``BLOCK`` (never dropped when a queue is full).

Every sample from a peer is untrusted: its key must belong to the layout, its size must be at most
``max_payload``, it must decode with the codec, and the envelope's sender (and receiver) must be the ones its
key names; anything else is logged as ``zenoh.rejected`` and the connection keeps serving. Zenoh itself does
not authenticate a key's sender level: on an open network, Zenoh's access control (or TLS with client
certificates on a router) must confine each device to its own keys, as the broker's ACL does over MQTT.

Presence is a liveliness token per hosted agent, ``<prefix>/<agent>/alive/<node>/<token>`` (``token`` new with
each session). Zenoh withdraws the tokens of a session that closes, or whose link is lost or silent for its
lease (10 s by default): the Last Will, without a broker. A peer killed with SIGKILL shows as gone as soon as
the kernel closes its TCP connections. A token that appears in a new session makes the requests still waiting
for that agent go again (same envelope ids: the replier answers a repeat from its cache).

Reconnects are Zenoh's own: a session keeps retrying its ``connect`` endpoints, and after a link comes back the
peers exchange their declarations again (subscribers, tokens), so nothing is restored by hand here. Puts made
while no peer is reachable are lost (Zenoh keeps no queue for absent subscribers); a request then waits out
its timeout or is sent again when its receiver's token reappears. Deadlines count all the time (there is no
broker connection whose downtime could be subtracted).

Zenoh calls its callbacks on its own threads; each one only copies the sample's key and bytes and hands them to
the event loop (``call_soon_threadsafe``), where all decoding and routing happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Iterable
from typing import Any, Self

import structlog
import zenoh

from edge_agent.carrier.base import GOSSIP, Participant
from edge_agent.carrier.hosting import ConnectionCarrier, HostingConnection
from edge_agent.carrier.outages import Outages
from edge_agent.carrier.presence import PresenceRecord, session_of
from edge_agent.carrier.recall import KeptReply
from edge_agent.carrier.topics import Route, Topics
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.clock import Clock, LoopClock
from edge_agent.codec import Codec
from edge_agent.errors import ConfigError, ProtocolError, TransportError
from edge_agent.ids import validate_id
from edge_agent.messages import Envelope

__all__ = ["ZenohCarrier", "ZenohConnection"]

log = structlog.get_logger("edge_agent.zenoh")


class ZenohCarrier(ConnectionCarrier["ZenohConnection"]):
    """One participant's view of a :class:`ZenohConnection`."""


class ZenohConnection(HostingConnection["ZenohCarrier"]):
    """One Zenoh session per process hosting any number of participants."""

    transport = "zenoh"

    def __init__(
        self,
        options: ZenohOptions | None = None,
        *,
        codec: Codec,
        prefix: str = "edge",
        node: str | None = None,
        clock: Clock | None = None,
        run_id: str | None = None,
        dedup_size: int = 8192,
    ) -> None:
        super().__init__(codec=codec, topics=Topics(prefix, wildcard="*"), clock=clock or LoopClock(),
                         run_id=run_id, node=validate_id(node or f"ea-{secrets.token_hex(6)}", "Zenoh node id"),
                         dedup_size=dedup_size)
        self.options = options or ZenohOptions()
        self.token = secrets.token_hex(6)  # this session's; a restarted process has a new one
        self.outages = Outages(f"the Zenoh session of {self.node!r}")  # never lost: Zenoh reconnects by itself
        self._declared: dict[str, Any] = {}  # key expression -> its subscriber, or an agent's liveliness token
        self._session: zenoh.Session | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        config = zenoh.Config()
        try:
            for key, value in self.options.config_items():
                config.insert_json5(key, value)
        except zenoh.ZError as error:
            raise ConfigError(f"Zenoh rejected the session's configuration: {error}") from None
        opening = asyncio.to_thread(zenoh.open, config)  # it may wait for its connect endpoints
        try:
            async with asyncio.timeout(self.options.open_timeout_s):
                self._session = await opening
        except TimeoutError:
            msg = f"the Zenoh session did not open within {self.options.open_timeout_s:g} s ({self._where()})"
            raise TransportError(msg) from None
        except zenoh.ZError as error:
            raise TransportError(f"cannot open the Zenoh session ({self._where()}): {error}") from None
        session = self._session
        try:
            self._declared[self.topics.alive_all()] = session.liveliness().declare_subscriber(
                self.topics.alive_all(), self._guard(self._from_liveliness), history=True)
            ping = self.topics.ping(self.node)
            self._declared[ping] = session.declare_queryable(ping, self._guard(self._answer_ping))
        except zenoh.ZError as error:
            await self._close()
            raise TransportError(f"the Zenoh session of {self.node!r} refused a declaration: {error}") from None
        tasks = self._tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        log.debug("zenoh.opened", node=self.node, mode=self.options.mode, zid=str(session.info.zid()))
        return self

    async def _close(self) -> None:
        """Withdraw every token first (peers see the agents leave), then close the session."""
        for entity in reversed(list(self._declared.values())):
            with contextlib.suppress(zenoh.ZError):
                entity.undeclare()
        self._declared.clear()
        session, self._session = self._session, None
        if session is not None:
            await asyncio.to_thread(session.close)

    def _where(self) -> str:
        return f"mode {self.options.mode}, listen {list(self.options.listen)}, connect {list(self.options.connect)}"

    def add(self, participant: Participant) -> ZenohCarrier:
        """Host ``participant``: declare its inbox subscriber, then its liveliness token (in that order)."""
        pid = validate_id(participant.id)
        if pid in self.carriers:
            raise ConfigError(f"participant id {pid!r} is used twice; ids must be unique")
        session = self._open_session()
        carrier = ZenohCarrier(self, participant)
        self.carriers[pid] = carrier
        inbox = self.topics.inbox(pid)
        self._declared[inbox] = session.declare_subscriber(inbox, self._guard(self._from_subscriber))
        alive = self.topics.alive(pid, self.node, self.token)
        self._declared[alive] = session.liveliness().declare_token(alive)
        return carrier

    def _open_session(self) -> zenoh.Session:
        if self._session is None:
            raise RuntimeError("the connection is not open: use `async with ZenohConnection(...)`")
        return self._session

    # -- presence ------------------------------------------------------------------------------
    async def settled(self, within_s: float = 10.0) -> None:
        """Wait until every session of the fleet that answers knows the subscriptions declared here so far, and
        (peer mode) the peers form a full mesh: peers do not forward for each other, so two that are not linked
        yet (one still retrying the other's endpoint) would lose what they send each other.

        Every session answers on its ping key with its mode and its number of peers; it answers after it
        processed what this session sent before the query (one link, in order). :class:`TransportError` if the
        mesh is not complete within ``within_s``.
        """
        session = self._open_session()

        def ask() -> list[bytes]:
            replies = session.get(self.topics.ping_all(), target=zenoh.QueryTarget.ALL,
                                  consolidation=zenoh.ConsolidationMode.NONE, timeout=min(within_s, 5.0))
            return [reply.ok.payload.to_bytes() for reply in replies if reply.ok is not None]

        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            answers = await asyncio.to_thread(ask)
            peers = [int(a.removeprefix(b"peer:")) for a in answers if a.startswith(b"peer:") and a[5:].isdigit()]
            short = sum(1 for count in peers if count < len(answers) - 1)
            if not short:
                log.debug("zenoh.settled", node=self.node, sessions=len(answers))
                return
            if asyncio.get_running_loop().time() > deadline:
                msg = (f"{short} of {len(answers)} Zenoh sessions of {self.topics.prefix!r} are not linked to every "
                       f"other within {within_s:g} s (peers do not forward for each other: check listen/connect)")
                raise TransportError(msg)
            await asyncio.sleep(0.05)  # links still forming: Zenoh retries their endpoints; nothing to wait on

    # -- sending -------------------------------------------------------------------------------
    def transmit(self, envelope: Envelope) -> None:
        """Put ``envelope`` on its key; :class:`TransportError` if it is too large or the session is closed."""
        sender, receiver = envelope.sender, envelope.receiver
        if receiver == GOSSIP:
            key = self.topics.gossip(sender)
        else:
            key = self.topics.direct(sender, validate_id(receiver, "receiver id"))
        payload = self.codec.encode(envelope)
        self._put(key, payload)
        self.stats.sent += 1
        if envelope.in_reply_to is not None and receiver != GOSSIP:
            self._recall.keep_reply((self.topics.direct(receiver, sender), envelope.in_reply_to),
                                    KeptReply(key, payload))

    def _send_again(self, kept: KeptReply) -> None:
        self._put(kept.topic, kept.payload)

    def _put(self, key: str, payload: bytes) -> None:
        if len(payload) > self.options.max_payload:
            msg = (f"payload of {len(payload)} bytes for {key!r} exceeds the {self.options.max_payload}-byte "
                   "limit (zenoh.max_payload); not sent")
            raise TransportError(msg)
        if self._session is None:
            raise TransportError(f"the Zenoh session of {self.node!r} is closed; {key!r} not sent")
        try:
            self._session.put(key, payload, congestion_control=zenoh.CongestionControl.BLOCK)
        except zenoh.ZError as error:
            raise TransportError(f"Zenoh could not send {key!r}: {error}") from None

    async def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, within_s: float = 5.0) -> int:
        """Put bytes as they are (tools, tests, progress records). Zenoh keeps nothing: ``retain`` has no
        effect (a late subscriber does not get the last value). Returns 0, as an accepted MQTT PUBACK."""
        self._put(topic, payload)
        return 0

    def subscribe_gossip(self, subscriber: str, senders: Iterable[str]) -> None:
        session = self._open_session()
        for sender in senders:
            if self._first_hearing(subscriber, sender):
                key = self.topics.gossip(sender)
                self._declared[key] = session.declare_subscriber(key, self._guard(self._from_subscriber))

    def unsubscribe_gossip(self, subscriber: str, senders: Iterable[str]) -> None:
        for sender in senders:
            if self._last_hearing(subscriber, sender):
                declared = self._declared.pop(self.topics.gossip(sender), None)
                if declared is not None:
                    declared.undeclare()

    def _resend(self, receiver: str) -> None:
        """Send the requests still waiting for ``receiver`` again, same envelope ids (it is back)."""
        for carrier in self.carriers.values():
            for envelope in carrier.waiting(receiver):
                try:
                    self.transmit(envelope)
                except TransportError as error:
                    log.warning("zenoh.resend_failed", participant=carrier.id, receiver=receiver, error=str(error))
                else:
                    self.stats.resent += 1

    # -- from Zenoh's threads ------------------------------------------------------------------
    def _guard(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """Wrap a Zenoh callback so that it never raises into Zenoh."""

        def guarded(item: Any) -> None:
            try:
                callback(item)
            except RuntimeError:  # the loop is closed: the connection is gone
                pass
            except Exception:
                with contextlib.suppress(Exception):
                    log.exception("zenoh.callback_failed", callback=callback.__name__)

        return guarded

    def _from_subscriber(self, sample: zenoh.Sample) -> None:
        key, size = str(sample.key_expr), len(sample.payload)
        payload = sample.payload.to_bytes() if size <= self.options.max_payload else b""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._on_sample, key, payload, size)

    def _from_liveliness(self, sample: zenoh.Sample) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._on_alive, str(sample.key_expr), sample.kind == zenoh.SampleKind.PUT)

    def _answer_ping(self, query: zenoh.Query) -> None:
        """``peer:<number of linked peers>`` (peer mode) or ``client``: what :meth:`settled` checks."""
        session = self._session
        if session is not None:
            answer = f"peer:{len(list(session.info.peers_zid()))}" if self.options.mode == "peer" else "client"
            query.reply(self.topics.ping(self.node), answer.encode())

    # -- on the loop ---------------------------------------------------------------------------
    def _on_alive(self, key: str, alive: bool) -> None:
        parsed = self.topics.parse_alive(key)
        if parsed is None:
            self._reject(key, "liveliness key outside the layout", 0)
            return
        agent, node, token = parsed
        session = session_of(node, token)
        before = self.presence.session(agent)
        try:
            self.presence.apply(agent, PresenceRecord(online=alive, agent=agent, node=node, session=session,
                                                      reason="connected" if alive else "will"))
        except ProtocolError as error:
            self._reject(key, str(error), 0)
            return
        log.debug("zenoh.presence", agent=agent, node=node, online=alive)
        if alive and before != session and agent not in self.carriers:
            self._resend(agent)

    def _on_sample(self, key: str, payload: bytes, size: int) -> None:
        checked = self._check(key, payload, size)
        if isinstance(checked, str):
            self._reject(key, checked, size)
            return
        route, envelope = checked
        if not self._admit(key, route, envelope):
            return
        carrier = self.carriers.get(envelope.receiver)
        if carrier is None:
            self._reject(key, f"no participant {envelope.receiver!r} is hosted here", size)
            return
        self._deliver(carrier, envelope)

    def _check(self, key: str, payload: bytes, size: int) -> tuple[Route, Envelope] | str:
        """The route and envelope of an untrusted sample, or why it is rejected."""
        route = self.topics.parse(key)
        if route is None or route.kind not in ("direct", "gossip"):
            return "key outside the layout"
        if size > self.options.max_payload:
            return f"payload of {size} bytes exceeds {self.options.max_payload}"
        try:
            envelope = self.codec.decode(payload)
        except ProtocolError as error:
            return str(error)
        if envelope.sender != route.sender:
            return f"envelope sender {envelope.sender!r} differs from the key's {route.sender!r}"
        if envelope.receiver != (GOSSIP if route.kind == "gossip" else route.receiver):
            return f"envelope receiver {envelope.receiver!r} does not match the key"
        return route, envelope

    def _reject(self, key: str, reason: str, size: int) -> None:
        self.stats.rejected += 1
        log.warning("zenoh.rejected", key=key, reason=reason, size=size)

