"""A seed carrier over MQTT: :class:`MqttSeedCarrier`, one per participant process, same interface as
:class:`~edge_agent.dro.SimpleCarrier` (the peer offers ``MangoCarrier`` for networked runs).

Seed payloads are arbitrary Python objects; here only the ones this package's adapters send may travel, as a
typed :class:`DroPayload` (never pickled): an engine envelope (JSON, decoded again by the registry's codec on
arrival, so every field is validated) with the run's start data (nothing, a number, a vector, or a COHDA
target), or a start message (``AveragingConsensusMessage`` with ``initial=True``, a COHDA ``WorkingMemory``
carrying only the target). Anything else is a :class:`ConfigError` naming what can travel.

A request (``send_awaitable``) is an MQTT request of this project's carrier, answered through
``reply_to_other``; it fails with :class:`~edge_agent.errors.RunTimeout` after ``request_timeout_s``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from edge_agent import registry
from edge_agent.carrier.base import Carrier as EngineCarrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.codec import Codec
from edge_agent.dro._bridge import Wire
from edge_agent.dro.carrier import Carrier
from edge_agent.dro.cohda import SystemConfig, TargetParams, WorkingMemory
from edge_agent.dro.consensus import AveragingConsensusMessage
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import Envelope, FloatVector, Message, Refusal

__all__ = ["DroPayload", "MqttSeedCarrier", "seed_codec"]

MAX_INNER = 4_000_000


class DroPayload(Message):
    """One seed-carrier payload on the wire (module docstring)."""

    kind: Literal["dro.payload"] = "dro.payload"
    inner: str | None = Field(None, max_length=MAX_INNER, description="an engine envelope, JSON")
    start: Literal["consensus", "cohda"] | None = None
    data: Literal["none", "number", "vector", "target"] = "none"
    number: float | None = Field(None, allow_inf_nan=False)
    values: FloatVector | None = None
    weights: FloatVector | None = None
    lam: FloatVector | None = None


def seed_codec() -> Codec:
    """The registry's codec plus :class:`DroPayload`: what an :class:`MqttConnection` for seed carriers needs."""
    return Codec((Refusal, *(kind for family in registry.families() for kind in family.messages), DroPayload))


def _data_fields(data: Any) -> dict[str, Any]:
    if data is None:
        return {"data": "none"}
    if isinstance(data, TargetParams):
        return {"data": "target", "values": np.asarray(data.schedule, dtype=np.float64),
                "weights": np.asarray(data.weights, dtype=np.float64)}
    if np.ndim(data) == 0:
        return {"data": "number", "number": float(data)}
    if np.ndim(data) == 1:
        return {"data": "vector", "values": np.asarray(data, dtype=np.float64)}
    raise ConfigError(f"start data must be None, a number, a list of numbers or TargetParams to travel over MQTT, "
                      f"got {type(data).__name__} of shape {np.shape(data)}")


def _data(payload: DroPayload) -> Any:
    if payload.data == "number":
        return payload.number
    if payload.data == "vector":
        return payload.values
    if payload.data == "target":
        if payload.values is None or payload.weights is None:
            raise ProtocolError("a target needs values and weights")
        return TargetParams(payload.values, payload.weights)
    return None


def encode(content: Any) -> DroPayload:
    if isinstance(content, Wire):
        return DroPayload(inner=Codec.encode(content.envelope).decode(), **_data_fields(content.data))
    if isinstance(content, AveragingConsensusMessage) and content.initial:
        return DroPayload(start="consensus", lam=np.asarray(content.lam, dtype=np.float64),
                          **_data_fields(content.data))
    if isinstance(content, WorkingMemory) and content.target_params is not None:
        return DroPayload(start="cohda", **_data_fields(content.target_params))
    raise ConfigError(f"{type(content).__name__} cannot travel over MQTT: only this package's adapters' messages, "
                      "a consensus start (AveragingConsensusMessage, initial=True) and a COHDA start can")


def decode(payload: DroPayload, codec: Codec) -> Any:
    data = _data(payload)
    if payload.start == "consensus":
        if payload.lam is None:
            raise ProtocolError("a consensus start needs lam")
        return AveragingConsensusMessage(payload.lam, 0, data, initial=True)
    if payload.start == "cohda":
        return WorkingMemory(data, SystemConfig(), None)
    if payload.inner is None:
        raise ProtocolError("a payload needs an engine envelope or a start")
    return Wire(codec.decode(payload.inner), data)


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
