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


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
