"""Integration fixtures: one private Mosquitto per session (tests that crash or configure a broker start
their own) and a unique topic prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from edge_agent.runtime import PrivateBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[PrivateBroker]:
    with PrivateBroker() as running:
        yield running


@pytest.fixture(params=[True, False], ids=["fast_path", "paho_path"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    """``MqttOptions.fast_path`` on and off, for the carrier-level tests that run both ways."""
    return bool(request.param)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
