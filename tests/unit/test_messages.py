"""Wire models and codec: arrays validated on the way in, every defect named on the way out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.errors import ProtocolError
from edge_agent.messages import Envelope


def _envelope(body: AdmmRequest | AdmmAnswer) -> Envelope:
    return Envelope(id="abc-1", sender="coordinator", receiver="dev-1", seq=1, run="r1", body=body)


def test_round_trip_keeps_values_exactly() -> None:
    reference = np.array([1.5, -2.25, 1e-300, 3e300])
    envelope = _envelope(AdmmRequest(round=3, rho=0.5, reference=reference))
    decoded = registry.codec().decode(registry.codec().encode(envelope))
    assert isinstance(decoded.body, AdmmRequest)
    assert decoded.body.round == 3
    np.testing.assert_array_equal(decoded.body.reference, reference)
    assert (decoded.id, decoded.sender, decoded.receiver, decoded.seq, decoded.run) == (
        "abc-1", "coordinator", "dev-1", 1, "r1",
    )


def test_arrays_are_packed_compactly() -> None:
    body = AdmmAnswer(round=0, x=np.linspace(0, 1, 96))
    packed = len(registry.codec().encode(_envelope(body)))
    as_text = len(json.dumps(np.linspace(0, 1, 96).tolist()))
    assert packed < 0.7 * as_text + 200


def test_arrays_are_read_only_copies() -> None:
    source = np.array([1.0, 2.0])
    body = AdmmAnswer(round=0, x=source)
    source[0] = 99.0
    assert body.x[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        body.x[0] = 5.0


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ([1.0, float("nan")], "NaN or infinite"),
        ([1.0, float("inf")], "NaN or infinite"),
        ([[1.0], [2.0]], "ndim 1"),
        (["a", "b"], "expected numbers"),
        ({"b64": "AAAA", "shape": [1]}, "do not hold a float64 array"),
        ({"b64": "!!", "shape": [1]}, "packed array needs"),
        ({"b64": "AAAAAAAAAAA=", "shape": [1], "dtype": "<f4"}, "only '<f8'"),
    ],
)
def test_bad_arrays_are_rejected_with_a_reason(value: object, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        AdmmAnswer(round=0, x=value)  # type: ignore[arg-type]


def test_messages_are_frozen() -> None:
    body = AdmmRequest(round=0, rho=1.0, reference=[0.0])
    with pytest.raises(ValidationError, match="frozen"):
        body.round = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"id": "x"}', "sender: Field required"),
        (
            b'{"id":"x","sender":"a","receiver":"b","seq":0,"body":{"kind":"admm.launch"}}',
            "does not match any of the expected tags",
        ),
        (
            b'{"id":"x","sender":"a","receiver":"b","seq":0,"body":{"kind":"admm.answer","round":0,"x":[NaN]}}',
            "x: NaN or infinite values are not accepted",
        ),
        (
            b'{"id":"x","sender":"a","receiver":"b","seq":0,"body":{"kind":"admm.answer","round":0,"x":[1],"y":2}}',
            "Extra inputs are not permitted",
        ),
        (
            b'{"v":2,"id":"x","sender":"a","receiver":"b","seq":0,"body":{"kind":"admm.answer","round":0,"x":[1]}}',
            "schema version 2 is not supported",
        ),
    ],
)
def test_decode_rejects_defects_with_protocol_error(payload: bytes, needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle):
        registry.codec().decode(payload)
