"""Bytes <-> :class:`~edge_agent.messages.Envelope`, through a closed union of known message kinds.

A :class:`Codec` is built once from the message classes it may decode (the registry builds the codec of every
registered family: :func:`edge_agent.registry.codec`) and handed to the carriers by the top-level wiring, so
no transport imports an algorithm. Decoding never looks a class up by a name taken from the payload: the
``kind`` field selects a member of the union, and anything else is a :class:`ProtocolError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any, Union

from pydantic import Field, ValidationError, create_model

from edge_agent.config import validation_problems
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import SCHEMA_VERSION, WIRE_IDS, Envelope, Message

__all__ = ["Codec"]


class Codec:
    """Encodes any envelope; decodes envelopes whose body is one of ``kinds`` (their ``kind`` values distinct)."""

    def __init__(self, kinds: Iterable[type[Message]]) -> None:
        classes = tuple(kinds)
        names = [cls.model_fields["kind"].default for cls in classes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated or not classes:
            raise ConfigError(f"a codec needs message kinds with distinct names; repeated: {repeated}")
        self.kinds: frozenset[str] = frozenset(names)
        body: Any = classes[0] if len(classes) == 1 else Annotated[Union[classes], Field(discriminator="kind")]  # noqa: UP007
        self._wire = create_model("WireEnvelope", __base__=Envelope, body=(body, ...), **WIRE_IDS)

    @staticmethod
    def encode(envelope: Envelope) -> bytes:
        """JSON bytes of ``envelope`` (arrays packed as base64)."""
        return envelope.model_dump_json().encode()

    def decode(self, payload: bytes | str) -> Envelope:
        """Parse and validate one envelope; any defect becomes a :class:`ProtocolError` naming the field."""
        try:
            envelope: Envelope = self._wire.model_validate_json(payload)
        except ValidationError as exc:
            try:
                data = json.loads(payload)
            except (ValueError, RecursionError):  # the problems are named without the values then
                data = None
            problems = "; ".join(validation_problems(exc, data, limit=5))
            raise ProtocolError(f"rejected message: {problems}") from None
        except (ValueError, RecursionError, OverflowError) as exc:  # nesting or numbers no model accepts
            raise ProtocolError(f"rejected message: {type(exc).__name__}: {str(exc)[:200]}") from None
        if envelope.v != SCHEMA_VERSION:
            raise ProtocolError(
                f"schema version {envelope.v} is not supported (this build speaks {SCHEMA_VERSION})",
                sender=envelope.sender,
            )
        return envelope
