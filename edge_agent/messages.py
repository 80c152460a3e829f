"""Wire message models shared by every algorithm and carrier.

A message body is a frozen pydantic model whose ``kind`` field names it; an :class:`Envelope`
carries one body with its routing data. Arrays travel as :data:`FloatVector` / :data:`FloatMatrix`:
numpy ``float64`` arrays, read-only once built, always finite, encoded in JSON as little-endian
bytes in base64 (about half the size of a list of decimal floats). Decoding checks dtype, shape and
finiteness, so an algorithm never sees a NaN that came over the wire.

Bodies are decoded through the closed union in :mod:`edge_agent.codec`; nothing is looked up by
name at run time.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, SerializeAsAny, WithJsonSchema

from edge_agent.ids import ID_PATTERN, AgentId

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["SCHEMA_VERSION", "WIRE_IDS", "Envelope", "FloatMatrix", "FloatVector", "Message", "Refusal", "as_array"]

SCHEMA_VERSION: Final = 1


def as_array(value: Any, ndim: int) -> NDArray[np.float64]:
    """Turn a list, an ndarray or the compact wire form into a read-only, finite float64 array.

    Raises ``ValueError`` (which pydantic reports with the field's path) on anything else.
    """
    import numpy as np  # noqa: PLC0415  (numpy loads with the first array, not with the envelope: lean agents)

    if isinstance(value, dict):
        try:
            raw = base64.b64decode(value["b64"], validate=True)
            shape = tuple(int(n) for n in value["shape"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            msg = "a packed array needs 'b64' (base64 of little-endian float64) and 'shape' (list of ints)"
            raise ValueError(msg) from exc
        if len(shape) != ndim or any(not 0 <= n <= len(raw) for n in shape):
            msg = f"shape {list(shape)[:4]} is not the shape of a {ndim}-dimensional array of {len(raw) // 8} values"
            raise ValueError(msg)
        if value.get("dtype", "<f8") != "<f8":
            msg = f"dtype {value.get('dtype')!r} is not accepted; only '<f8' (little-endian float64)"
            raise ValueError(msg)
        if len(raw) != 8 * math.prod(shape):
            msg = f"{len(raw)} bytes do not hold a float64 array of shape {list(shape)}"
            raise ValueError(msg)
        array = np.frombuffer(raw, dtype="<f8").reshape(shape).astype(np.float64)
    else:
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            msg = f"expected numbers, got {type(value).__name__}"
            raise ValueError(msg) from exc
    if array.ndim != ndim:
        shape_name = {1: "a list of numbers", 2: "a list of equal-length lists of numbers"}[ndim]
        msg = f"expected {shape_name} (ndim {ndim}), got an array of shape {list(array.shape)}"
        raise ValueError(msg)
    if not np.logical_and.reduce(np.isfinite(array), axis=None):  # ndarray.all() adds a Python layer
        msg = "NaN or infinite values are not accepted"
        raise ValueError(msg)
    array.setflags(write=False)
    return array


def _pack(array: NDArray[np.float64]) -> dict[str, Any]:
    import numpy as np  # noqa: PLC0415  (see as_array)

    data = np.ascontiguousarray(array, dtype="<f8")
    return {"dtype": "<f8", "shape": list(data.shape), "b64": base64.b64encode(data.tobytes()).decode()}


def _array_type(ndim: int) -> Any:
    items: dict[str, Any] = {"type": "number"}
    for _ in range(ndim):
        items = {"type": "array", "items": items}
    # the runtime type is opaque to pydantic (the validator builds the array), so numpy is not imported here
    return Annotated[
        Any,
        PlainValidator(lambda value: as_array(value, ndim)),
        PlainSerializer(_pack, when_used="json"),
        WithJsonSchema(items),
    ]


FloatVector = _array_type(1)
FloatMatrix = _array_type(2)


class Message(BaseModel):
    """Base of every message body. Subclasses set ``kind: Literal["..."] = "..."``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    kind: str


# How the codec reads an envelope's ids off the wire (the one id rule; in process the carriers build envelopes
# from the ids of the participants they host, which were checked when they were added).
WIRE_IDS: dict[str, Any] = {
    "id": (Annotated[str, Field(min_length=1, max_length=128)], ...),
    "sender": (AgentId, ...),
    "receiver": (Annotated[str, Field(pattern=f"^(\\*|{ID_PATTERN.pattern})$")], ...),
}


class Refusal(Message):
    """Receiver -> sender, in reply: the message could not be handled; the receiver keeps serving."""

    kind: Literal["refusal"] = "refusal"
    reason: str = Field(max_length=2000)


class Envelope(BaseModel):
    """Routing data around one message body.

    ``seq`` counts the messages of one sender and ``id`` is unique per message: together they let a
    receiver drop duplicates delivered by an at-least-once transport. ``in_reply_to`` holds the ``id``
    of the request a reply answers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = SCHEMA_VERSION
    id: str
    sender: str  # an AgentId: checked where an envelope is read (WIRE_IDS), built from hosted participants' ids
    receiver: str  # an AgentId, or GOSSIP ("*")
    seq: int
    run: str | None = None
    in_reply_to: str | None = None
    body: SerializeAsAny[Message]
