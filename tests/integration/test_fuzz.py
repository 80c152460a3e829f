"""Finding 5 of issue 11: thousands of malformed and hostile payloads to every kind of agent process over a real
broker; afterwards every process is alive, its memory bounded, and a normal job gives the exact result.

The payloads come from a seeded generator: random bytes, truncated and mutated envelopes of every family's
messages (extreme, wrong-typed, deeply nested and oversized values, unknown and missing keys, forged senders,
kinds swapped), hostile response topics, and presence records. ``EDGE_AGENT_FUZZ_PAYLOADS`` sets how many each
agent gets (default 10,000).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edge_agent import registry
from edge_agent.algorithms.admm.job import AdmmJobSpec
from edge_agent.algorithms.admm.scenario import AdmmSharingScenario
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.errors import TransportError
from edge_agent.family import RunOptions
from edge_agent.registry import load_scenario
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.fleet import submit_jobs
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup

from .helpers import FAST

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = int(os.environ.get("EDGE_AGENT_FUZZ_PAYLOADS", "10000"))
RSS_LIMIT_MB = 400  # an idle agent takes ~75 MB
DEVICES = ["gen-1", "gen-2", "gen-3", "gen-4", "gen-5", "battery-1", "boiler-1", "pv-1", "node-1"]
TARGETS = ["gen-1", "battery-1", "boiler-1", "pv-1", "node-1", "coordinator"]  # one agent of every kind


def _templates() -> list[dict[str, Any]]:
    """One plausible body of every family's message kinds (what a hostile peer would start from)."""
    ref = {"b64": "AAAAAAAA8D8=", "shape": [1], "dtype": "<f8"}
    return [
        {"kind": "admm.request", "round": 0, "rho": 1.0, "reference": [1.0, 2.0, 3.0]},
        {"kind": "admm.request", "round": 3, "rho": 0.5, "reference": ref},
        {"kind": "admm.answer", "round": 0, "x": [1.0]},
        {"kind": "admm.job", "issued_at": time.time(),
         "job": {"algorithm": "admm-sharing", "target": [1.0], "participants": ["gen-1"]}},
        {"kind": "consensus.join", "run": "r1", "in_neighbours": ["gen-2"], "index": 0, "agents": 2, "hops": 1,
         "demand": 100.0, "method": {"algorithm": "primal-dual-dispatch", "settings": {}}},
        {"kind": "consensus.start"},
        {"kind": "primal_dual.state", "round": 0, "y": 1.0, "z": [0.5, 0.5], "lam": 0.0, "w": 0.0},
        {"kind": "consensus.collect", "run": "r1", "rounds": [0, 1]},
        {"kind": "cohda.join", "run": "r2", "in_neighbours": ["gen-2"],
         "target": {"values": [1.0, 2.0], "weights": [1.0, 1.0]}, "schedules": [[0.0, 1.0]], "settings": {}},
        {"kind": "cohda.update", "candidate": {"ids": ["gen-1"], "counters": [1], "schedules": [[1.0]]}},
        {"kind": "sched.query"},
        {"kind": "sched.patch", "resource": "node-1", "base_version": 0,
         "modifications": [{"op": "add", "task": {"id": "mallory", "duration": 1, "favourable": 3, "width": 2},
                            "start": 0}]},
        {"kind": "refusal", "reason": "no"},
    ]


EXTREMES: list[Any] = [
    None, True, -1, 0, 2**63, -(2**63), 1e308, -1e308, 1e-320, "", "x" * 20_000, "\u0000\ud7ff\uffff", [], {},
    [[[[[[[[[[]]]]]]]]]], [0.0] * 3_000, {"b64": "////", "shape": [10**9]}, {"b64": "", "shape": [1e300]},
    {"b64": "AAAA", "shape": [-1]}, ["a", None, {}], "edge/+/to/#",
]


def _mutate(value: Any, rng: np.random.Generator, depth: int = 0) -> Any:
    if isinstance(value, dict) and value and depth < 4:
        value = dict(value)
        key = list(value)[int(rng.integers(len(value)))]
        action = rng.integers(4)
        if action == 0:
            del value[key]
        elif action == 1:
            value[f"extra_{int(rng.integers(100))}"] = EXTREMES[int(rng.integers(len(EXTREMES)))]
        else:
            value[key] = _mutate(value[key], rng, depth + 1)
        return value
    if isinstance(value, list) and value and depth < 4 and rng.random() < 0.5:
        value = list(value)
        i = int(rng.integers(len(value)))
        value[i] = _mutate(value[i], rng, depth + 1)
        return value
    return EXTREMES[int(rng.integers(len(EXTREMES)))]


def hostile(rng: np.random.Generator, prefix: str, target: str) -> tuple[str, bytes, str | None]:
    """One (topic, payload, response topic) from the attacker ``mallory`` to ``target``."""
    templates = _templates()
    body = templates[int(rng.integers(len(templates)))]
    envelope: dict[str, Any] = {"v": 1, "id": f"{int(rng.integers(2**62)):016x}", "sender": "mallory",
                                "receiver": target, "seq": int(rng.integers(1000)), "run": None, "body": body}
    roll = rng.random()
    if roll < 0.1:
        payload = rng.bytes(int(rng.integers(0, 3000)))
    elif roll < 0.2:
        text = json.dumps(envelope)
        payload = text[: int(rng.integers(len(text)))].encode()
    elif roll < 0.3:
        depth = int(rng.integers(100, 50_000))
        payload = (b'{"v":1,"id":"x","sender":"mallory","receiver":"' + target.encode() + b'","seq":0,"body":'
                   + b"[" * depth + b"]" * depth + b"}")
    elif roll < 0.4:  # a forged sender, a receiver that is not the topic's, a kind swapped
        envelope["sender"] = ["gen-2", "coordinator", "operator", "mallory/x", "+"][int(rng.integers(5))]
        envelope["receiver"] = [target, "*", "gen-2", "#"][int(rng.integers(4))]
        payload = json.dumps(envelope).encode()
    else:
        envelope = _mutate(envelope, rng)
        payload = json.dumps(envelope, allow_nan=rng.random() < 0.1).encode()
    topic = f"{prefix}/mallory/to/{target}"
    if rng.random() < 0.05:
        topic = f"{prefix}/mallory/gossip"
    elif rng.random() < 0.05:
        topic = f"{prefix}/mallory/presence"
        payload = json.dumps({"online": bool(rng.integers(2)), "agent": "mallory", "node": "mallory",
                              "session": ["coordinator:x", f"{target}:y", "mallory:z", ""][int(rng.integers(4))],
                              }).encode()
    response = [None, None, f"{prefix}/{target}/to/mallory", f"{prefix}/{target}/to/#", f"{prefix}/{target}/to/+",
                f"{prefix}/x/to/mallory"][int(rng.integers(6))]
    return topic, payload[:200_000], response


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[PrivateBroker, ProcessGroup, str]]:
    prefix = "fuzz"
    with PrivateBroker() as broker, ProcessGroup(tmp_path) as group:
        for device in DEVICES:
            data = yaml.safe_load((ROOT / "firmware_configs" / f"{device}.yaml").read_text())
            data.update(broker=broker.url, prefix=prefix)
            data.pop("credentials", None)
            config = tmp_path / f"{device}.yaml"
            config.write_text(yaml.safe_dump(data))
            group.start(device, [sys.executable, "-m", "edge_agent", "agent", "--config", str(config)])
        group.start("coordinator", [sys.executable, "-m", "edge_agent", "coordinator", "--broker", broker.url,
                                    "--prefix", prefix])
        yield broker, group, prefix


async def test_hostile_payloads_crash_hang_and_poison_nothing(fleet: tuple[PrivateBroker, ProcessGroup, str]) -> None:
    broker, group, prefix = fleet
    rng = np.random.default_rng(20261207)
    async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, client_id="mallory",
                              options=FAST) as attacker:
        await attacker.wait_present([*DEVICES, "coordinator"], within_s=120)
        for k in range(PAYLOADS):
            for target in TARGETS:
                topic, payload, response = hostile(rng, prefix, target)
                with contextlib.suppress(TransportError, ValueError):  # the attacker's own client refusing
                    attacker._link.publish(topic, payload, response_topic=response, correlation=b"c")
            if k % 100 == 99:  # keep within the broker's queues: wait until the broker took this batch
                assert await attacker.publish_raw(f"{prefix}/mallory/sync", b"", within_s=60) < 128
        group.check()  # every agent process is still running
        rss = {child.name: _rss_mb(child.process.pid) for child in group.children}
    assert all(mb < RSS_LIMIT_MB for mb in rss.values()), rss

    scenario = load_scenario(ROOT / "scenarios/ieee14_dispatch_admm.yaml")
    assert isinstance(scenario, AdmmSharingScenario)
    job = AdmmJobSpec(**{**scenario.job().model_dump(), "name": "after-fuzz"})
    expected = await solve(scenario, RunOptions(run_id="inproc"))
    [report] = await submit_jobs([job], broker.url, prefix, job_timeout_s=300, wait_for=DEVICES)
    assert report.status == "converged"
    assert report.objective == pytest.approx(expected.objective, rel=1e-9)
    for pid, entry in expected.participants.items():
        assert report.participants[pid]["x"] == pytest.approx(entry["x"], abs=1e-9)
    group.check()
