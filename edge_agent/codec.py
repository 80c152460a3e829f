"""Bytes <-> :class:`~edge_agent.messages.Envelope`, through a closed union of known message kinds.

A :class:`Codec` is built once from the message classes it may decode (the registry builds the codec of every
registered family: :func:`edge_agent.registry.codec`) and handed to the carriers by the top-level wiring, so
no transport imports an algorithm. Decoding never looks a class up by a name taken from the payload: the
``kind`` field selects a member of the union, and anything else is a :class:`ProtocolError` naming the field.

A codec may also grow: given ``load`` (the registry's :func:`~edge_agent.registry.lazy_codec` gives it), a
body whose kind is not in the union yet is handed to ``load``, which returns the message classes of the family
that owns that kind (importing it then) or nothing; the union is rebuilt with them and the payload decoded
again. A device agent process so imports a family on the first message of one of its kinds
(``docs/lean-agents.md``); once loaded, decoding costs what it costs with the full union.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Union

from pydantic import Field, ValidationError, create_model

from edge_agent.config import validation_problems
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import SCHEMA_VERSION, WIRE_IDS, Envelope, Message

__all__ = ["Codec"]


class Codec:
    """Encodes any envelope; decodes envelopes whose body is one of ``kinds`` (their ``kind`` values distinct),
    and, with ``load``, of the kinds ``load`` returns classes for when one first arrives."""

    def __init__(
        self,
        kinds: Iterable[type[Message]],
        load: Callable[[str], Iterable[type[Message]]] | None = None,
    ) -> None:
        self._load = load
        self._build(tuple(kinds))

    def _build(self, classes: tuple[type[Message], ...]) -> None:
        names = [cls.model_fields["kind"].default for cls in classes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated or not classes:
            raise ConfigError(f"a codec needs message kinds with distinct names; repeated: {repeated}")
        body: Any = classes[0] if len(classes) == 1 else Annotated[Union[classes], Field(discriminator="kind")]  # noqa: UP007
        wire = create_model("WireEnvelope", __base__=Envelope, body=(body, ...), **WIRE_IDS)
        self._classes, self.kinds, self._wire = classes, frozenset(names), wire

    def extend(self, classes: Iterable[type[Message]]) -> bool:
        """Decode ``classes`` too (those whose kind is new); True if any was added."""
        added = tuple(cls for cls in classes if cls.model_fields["kind"].default not in self.kinds)
        if added:
            self._build(self._classes + added)
        return bool(added)

    def _grow(self, data: Any) -> bool:
        """Add the classes ``load`` gives for the body kind of ``data`` if that kind is new; True if it grew."""
        if self._load is None or not isinstance(data, dict) or not isinstance(data.get("body"), dict):
            return False
        kind = data["body"].get("kind")
        if not isinstance(kind, str) or kind in self.kinds:
            return False
        return self.extend(self._load(kind))

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
            if self._grow(data):  # the first message of a family not loaded yet: decode it with its kinds
                return self.decode(payload)
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
