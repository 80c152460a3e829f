"""The typed payload a networked seed carrier sends (:class:`DroPayload`): what of the seed's Python payloads
may travel, and how (never pickled). Used by :mod:`edge_agent.dro.mqtt` and :mod:`edge_agent.dro.mango`.

An engine envelope travels as JSON and is decoded again by the registry's codec on arrival (every field
validated), with the run's start data (nothing, a number, a vector, or a COHDA target); a start message
(``AveragingConsensusMessage`` with ``initial=True``, a COHDA ``WorkingMemory`` carrying only the target) travels
as its data. Anything else is a :class:`ConfigError` naming what can travel.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from edge_agent import registry
from edge_agent.codec import Codec
from edge_agent.dro._bridge import Wire
from edge_agent.dro.cohda import SystemConfig, TargetParams, WorkingMemory
from edge_agent.dro.consensus import AveragingConsensusMessage
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import FloatVector, Message, Refusal

__all__ = ["DroPayload", "decode", "encode", "seed_codec"]

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
