"""Participants and settings shared by the integration tests."""

from __future__ import annotations

import asyncio
import collections
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.messages import Envelope, Message
from edge_agent.runtime.processes import ProcessGroup

ROOT = Path(__file__).resolve().parents[2]

# Fast reconnects and no will delay, so crash tests spend little time in backoff.
FAST = MqttOptions(reconnect_min_s=0.02, reconnect_max_s=0.25, keepalive_s=5, will_delay_s=0, connect_timeout_s=5)
# Tests of MQTT 5 properties, skipped when the suite runs in 3.1.1 mode (EDGE_AGENT_MQTT_PROTOCOL=3.1.1)
MQTT5_ONLY = pytest.mark.skipif(FAST.protocol != "5", reason="MQTT 5 properties: none are sent in 3.1.1 mode")


@dataclass
class Echo:
    """Answers every ``admm.request`` with its reference; counts handler calls per envelope id."""

    id: str
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    seen: list[Envelope] = field(default_factory=list)
    silent: bool = False

    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        self.calls[envelope.id] += 1
        self.seen.append(envelope)
        self.arrived.set()
        if isinstance(message, AdmmRequest) and not self.silent:
            carrier.reply(AdmmAnswer(round=message.round, x=message.reference), envelope)

    async def received(self, count: int, within_s: float = 5.0) -> None:
        """Wait until ``count`` messages were handled."""
        async with asyncio.timeout(within_s):
            while len(self.seen) < count:
                self.arrived.clear()
                await self.arrived.wait()


def request(k: int, size: int = 2) -> AdmmRequest:
    return AdmmRequest(round=k, rho=1.0, reference=np.full(size, float(k)))


async def wait_until(predicate: Callable[[], bool], within_s: float = 30.0, what: str = "the condition") -> None:
    """Poll ``predicate`` until it holds, for state that offers no event to wait on (a counter, a captured log).

    ``within_s`` only guards against a hang: it is generous, and no test asserts on how long the wait took.
    """
    try:
        async with asyncio.timeout(within_s):
            while not predicate():  # noqa: ASYNC110 -- polls state that offers no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what} did not hold within {within_s:g} s") from None


def start_demo_generators(group: ProcessGroup, broker_url: str, prefix: str, folder: Path) -> None:
    """The five IEEE 14-bus generators of ``firmware_configs/`` (under ``prefix``) and the coordinator service,
    one ``edge-agent`` process each in ``group``."""
    for i in range(1, 6):
        config = yaml.safe_load((ROOT / f"firmware_configs/gen-{i}.yaml").read_text())
        config["prefix"] = prefix
        path = folder / f"gen-{i}.yaml"
        path.write_text(yaml.safe_dump(config))
        group.start(f"gen-{i}", [sys.executable, "-m", "edge_agent", "agent", "--config", str(path),
                                 "--broker", broker_url])
    group.start("coordinator", [sys.executable, "-m", "edge_agent", "coordinator", "--broker", broker_url,
                                "--prefix", prefix])
