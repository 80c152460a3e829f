"""Bytes <-> :class:`~edge_agent.messages.Envelope`, through the closed union of known message kinds.

A new message kind becomes decodable by adding its class to :data:`AnyMessage`; decoding never
looks a class up by a name taken from the payload.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, ValidationError

from edge_agent.algorithms.admm.job import AdmmJob, AdmmJobResult
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmFailure, AdmmRequest
from edge_agent.algorithms.cohda.job import CohdaChoice, CohdaCollect, CohdaJoin, CohdaJoined, CohdaLeave
from edge_agent.algorithms.cohda.messages import CohdaStart, CohdaUpdate
from edge_agent.algorithms.consensus.job import (
    ConsensusCollect,
    ConsensusFailure,
    ConsensusJoin,
    ConsensusJoined,
    ConsensusLeave,
    ConsensusOutcome,
)
from edge_agent.algorithms.consensus.messages import AveragingValue, ConsensusStart, PrimalDualState
from edge_agent.algorithms.scheduling.messages import (
    BookingNotice,
    PatchOutcome,
    PatchReview,
    PatchSubmit,
    ReviewAnswer,
    ScheduleQuery,
    ScheduleState,
)
from edge_agent.config import validation_problems
from edge_agent.errors import ProtocolError
from edge_agent.messages import SCHEMA_VERSION, Envelope

__all__ = ["AnyMessage", "decode", "encode"]

AnyMessage = Annotated[
    AdmmRequest | AdmmAnswer | AdmmFailure | AdmmJob | AdmmJobResult
    | ConsensusStart | AveragingValue | PrimalDualState
    | ConsensusJoin | ConsensusJoined | ConsensusFailure | ConsensusCollect | ConsensusOutcome | ConsensusLeave
    | CohdaStart | CohdaUpdate | CohdaJoin | CohdaJoined | CohdaCollect | CohdaChoice | CohdaLeave
    | ScheduleQuery | ScheduleState | PatchSubmit | PatchOutcome | PatchReview | ReviewAnswer | BookingNotice,
    Field(discriminator="kind"),
]


class _WireEnvelope(Envelope):
    body: AnyMessage  # narrows the base field to the closed union


def encode(envelope: Envelope) -> bytes:
    """JSON bytes of ``envelope`` (arrays packed as base64)."""
    return envelope.model_dump_json().encode()


def decode(payload: bytes | str) -> Envelope:
    """Parse and validate one envelope; any defect becomes a :class:`ProtocolError` naming the field."""
    try:
        envelope = _WireEnvelope.model_validate_json(payload)
    except ValidationError as exc:
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        problems = "; ".join(validation_problems(exc, data, limit=5))
        raise ProtocolError(f"rejected message: {problems}") from None
    if envelope.v != SCHEMA_VERSION:
        raise ProtocolError(
            f"schema version {envelope.v} is not supported (this build speaks {SCHEMA_VERSION})",
            sender=envelope.sender,
        )
    return envelope
