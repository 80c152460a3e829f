"""A seed carrier over MQTT: :class:`MqttSeedCarrier`, one per participant process, same interface as
:class:`~edge_agent.dro.SimpleCarrier` (the peer offers ``MangoCarrier`` for networked runs).

Seed payloads are arbitrary Python objects; here only the ones this package's adapters send may travel, as a
typed :class:`~edge_agent.dro._payload.DroPayload` (never pickled; what can travel is listed there).

A request (``send_awaitable``) is an MQTT request of this project's carrier, answered through
``reply_to_other``; it fails with :class:`~edge_agent.errors.RunTimeout` after ``request_timeout_s``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from edge_agent.carrier.base import Carrier as EngineCarrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.dro._payload import DroPayload, decode, encode, seed_codec
from edge_agent.dro.carrier import Carrier
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import Envelope, Message

__all__ = ["DroPayload", "MqttSeedCarrier", "seed_codec"]

class _Inbox:
    """The engine participant receiving this seed carrier's payloads."""

    def __init__(self, seed: MqttSeedCarrier) -> None:
        self.seed = seed

    @property
    def id(self) -> str:
        return self.seed.own

    async def handle(self, carrier: EngineCarrier, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, DroPayload):
            raise ProtocolError(f"a seed carrier receives dro.payload, got {message.kind!r}", sender=envelope.sender)
        content = decode(message, self.seed.connection.codec)
        await self.seed.actor.on_exchange_message(self.seed, content, {"sender": envelope.sender,
                                                                       "envelope": envelope})


class MqttSeedCarrier(Carrier):
    """``actor`` as participant ``address`` of ``peers`` (every participant's address, this one included) on
    ``connection`` (built with :func:`seed_codec`)."""

    def __init__(self, connection: MqttConnection, address: str, actor: Any, peers: Sequence[str],
                 request_timeout_s: float = 30.0) -> None:
        if address not in peers:
            raise ConfigError(f"address {address!r} must be one of the peers {list(peers)[:10]}")
        self.connection = connection
        self.own = address
        self.actor = actor
        self.peers = list(peers)
        self.request_timeout_s = request_timeout_s
        self._engine = connection.add(_Inbox(self))

    def address(self) -> str:
        return self.own

    def others(self, participant_id: str) -> list[Any]:
        return [p for p in self.peers if p not in (self.own, participant_id)]

    def _done(self) -> asyncio.Task[Any]:
        return self.connection.spawn(asyncio.sleep(0), name=f"dro-sent-{self.own}")

    def send_to_other(self, content: Any, receiver: Any, meta: dict[str, Any] | None = None) -> asyncio.Task[Any]:
        self._engine.send(encode(content), str(receiver))
        return self._done()

    def reply_to_other(self, content: Any, meta: dict[str, Any]) -> asyncio.Task[Any]:
        envelope = meta.get("envelope")
        if not isinstance(envelope, Envelope):
            raise ConfigError("reply_to_other needs the meta of a message this carrier delivered")
        self._engine.reply(encode(content), envelope)
        return self._done()

    def send_awaitable(self, content: Any, receiver: Any, meta: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        request = self._engine.request(encode(content), str(receiver), self.request_timeout_s)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def forward(done: asyncio.Future[Message]) -> None:
            if answer.done():
                return
            if done.cancelled():
                answer.cancel()
            elif (error := done.exception()) is not None:
                answer.set_exception(error)
            else:
                body = done.result()
                if not isinstance(body, DroPayload):
                    answer.set_exception(ProtocolError(f"expected dro.payload, got {body.kind!r}",
                                                       sender=str(receiver)))
                    return
                try:
                    answer.set_result(decode(body, self.connection.codec))
                except (ProtocolError, ConfigError) as failure:
                    answer.set_exception(failure)

        request.add_done_callback(forward)
        return answer

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        return self.connection.spawn(coroutine, name=f"dro-driver-{self.own}")
