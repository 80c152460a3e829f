"""`edge-agent ros2-bridge` between a real fleet (Mosquitto, device agents, the coordinator service) and a Zenoh
session standing in for a ROS 2 graph on rmw_zenoh: every sample is decoded with rosbags' type store on the key
expression rmw_zenoh would use, and a setpoint published in CDR from here is run by the fleet.

No ROS 2 installation is involved: this is a format-level test (docs/ros2.md says so)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytest.importorskip("zenoh", reason="the ros2 extra (eclipse-zenoh) is not installed: pip install 'edge-agent[ros2]'")
pytest.importorskip("rosbags", reason="the ros2 extra (rosbags) is not installed: pip install 'edge-agent[ros2]'")

import zenoh  # (imported after the skips above)

from edge_agent.ros2.interfaces import (
    DIAGNOSTIC_ARRAY,
    RUN_PROGRESS,
    RUN_RESULT,
    SETPOINT,
    STRING,
    RosType,
    decode,
    encode,
)
from edge_agent.ros2.keys import Attachment, data_key
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.processes import ProcessGroup

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = 7
GENERATORS = ["gen-1", "gen-2", "gen-3"]


def _key(topic: str, kind: RosType) -> str:
    return data_key(DOMAIN, topic, kind.dds_name, kind.type_hash)


@dataclass
class _Sample:
    key: str
    payload: bytes
    attachment: bytes | None


class _Graph:
    """A Zenoh peer listening where the bridge connects, recording every data sample and liveliness token."""

    def __init__(self, port: int) -> None:
        config = zenoh.Config()
        config.insert_json5("mode", '"peer"')
        config.insert_json5("scouting/multicast/enabled", "false")
        config.insert_json5("listen/endpoints", json.dumps([f"tcp/127.0.0.1:{port}"]))
        self.session = zenoh.open(config)
        self.samples: list[_Sample] = []
        self.tokens: set[str] = set()
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._subscriber = self.session.declare_subscriber(f"{DOMAIN}/**", self._on_sample)
        self._tokens = self.session.liveliness().declare_subscriber(f"@ros2_lv/{DOMAIN}/**", self._on_token,
                                                                     history=True)

    def _on_sample(self, sample: Any) -> None:  # Zenoh's thread
        attachment = sample.attachment.to_bytes() if sample.attachment is not None else None
        item = _Sample(str(sample.key_expr), sample.payload.to_bytes(), attachment)
        self._loop.call_soon_threadsafe(self._add, item)

    def _on_token(self, sample: Any) -> None:  # Zenoh's thread
        key, alive = str(sample.key_expr), sample.kind == zenoh.SampleKind.PUT
        self._loop.call_soon_threadsafe(self._token, key, alive)

    def _add(self, item: _Sample) -> None:
        self.samples.append(item)
        self._changed.set()

    def _token(self, key: str, alive: bool) -> None:
        (self.tokens.add if alive else self.tokens.discard)(key)
        self._changed.set()

    def messages(self, topic: str, kind: RosType) -> list[Any]:
        key = _key(topic, kind)
        return [decode(kind, s.payload) for s in self.samples if s.key == key]

    async def until(self, predicate: Callable[[], bool], what: str, within_s: float = 30.0) -> None:
        """Wait, on each new sample or token, until ``predicate`` holds (``within_s`` only guards a hang)."""
        try:
            async with asyncio.timeout(within_s):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{what} did not happen within {within_s:g} s") from None

    def close(self) -> None:
        self.session.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fleet(broker: PrivateBroker, prefix: str, tmp_path: Path) -> Iterator[ProcessGroup]:
    with ProcessGroup(tmp_path) as group:
        for name in GENERATORS:
            config = yaml.safe_load((ROOT / f"firmware_configs/{name}.yaml").read_text())
            config["prefix"] = prefix
            path = tmp_path / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config))
            group.start(name, [sys.executable, "-m", "edge_agent", "agent", "--config", str(path),
                               "--broker", broker.url])
        group.start("coordinator", [sys.executable, "-m", "edge_agent", "coordinator", "--broker", broker.url,
                                    "--prefix", prefix])
        yield group


def _values(status: Any) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _setpoint(target: list[float], devices: list[str], job: str) -> bytes:
    return encode(SETPOINT, SETPOINT.new(job=job, algorithm="", target=np.array(target, dtype=np.float64),
                                         priorities=np.array([100.0] * len(target), dtype=np.float64),
                                         devices=devices))


async def test_the_fleet_is_seen_and_driven_from_a_ros2_graph(
    broker: PrivateBroker, prefix: str, fleet: ProcessGroup, tmp_path: Path
) -> None:
    port = _free_port()
    graph = _Graph(port)
    with (tmp_path / "bridge.log").open("wb") as output:
        bridge = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge_agent", "ros2-bridge", "--broker", broker.url, "--prefix", prefix,
            "--zenoh-connect", f"tcp/127.0.0.1:{port}", "--zenoh-listen", "--domain-id", str(DOMAIN),
            "--period", "0.5", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=output,
        )
    try:
        def latest() -> dict[str, Any]:
            return {s.hardware_id: s for a in graph.messages("/diagnostics", DIAGNOSTIC_ARRAY) for s in a.status}

        def devices_online() -> bool:
            statuses = latest()
            return (all(g in statuses and statuses[g].level == 0 and _values(statuses[g])["kind"] == "generator"
                        for g in GENERATORS)
                    and "coordinator" in statuses and statuses["coordinator"].level == 0)

        await graph.until(devices_online, "every device online, with its kind, in /diagnostics")
        statuses = latest()
        assert statuses["gen-1"].message == "online"
        assert _values(statuses["gen-1"])["online"] == "true"
        assert statuses["gen-1"].name == f"edge_agent/{prefix}/gen-1"

        node = [t for t in graph.tokens if "/NN/" in t]
        assert len(node) == 1
        assert node[0].endswith("/NN/%/%/edge_agent_bridge")
        published = {t.split("/")[9] for t in graph.tokens if "/MP/" in t}
        assert published == {"%diagnostics", "%edge_agent%run_progress", "%edge_agent%run_result",
                             "%edge_agent%setpoint_status"}
        [reader] = [t for t in graph.tokens if "/MS/" in t]
        assert f"/%edge_agent%setpoint/{SETPOINT.dds_name}/{SETPOINT.type_hash}/" in reader
        [sample] = [s for s in graph.samples if s.key == _key("/diagnostics", DIAGNOSTIC_ARRAY)][:1]
        assert sample.attachment is not None
        assert len(Attachment.decode(sample.attachment).gid) == 16

        setpoints = graph.session.declare_publisher(_key("/edge_agent/setpoint", SETPOINT))
        attachment = Attachment(1, time.time_ns(), bytes(16)).encode()
        setpoints.put(_setpoint([150.0], ["gen-9"], "nowhere"), attachment=attachment)
        setpoints.put(_setpoint([150.0], GENERATORS, "evening"), attachment=attachment)

        def status(prefix_text: str) -> list[str]:
            return [m.data for m in graph.messages("/edge_agent/setpoint_status", STRING)
                    if m.data.startswith(prefix_text)]

        await graph.until(lambda: bool(status("finished evening")), "the setpoint's job finishing")
        [refused] = status("refused")
        assert "devices: 'gen-9' not online in the fleet" in refused
        await graph.until(lambda: any(r.job == "evening" for r in graph.messages("/edge_agent/run_result", RUN_RESULT)),
                          "the run's result on /edge_agent/run_result")

        [result] = [r for r in graph.messages("/edge_agent/run_result", RUN_RESULT) if r.job == "evening"]
        assert result.status == "converged"
        assert result.driver == "coordinator"
        assert result.aggregate.tolist() == pytest.approx([150.0], abs=0.05)
        assert sorted(result.devices) == GENERATORS
        assert all(cost > 0 for cost in result.device_costs)
        progress = [p for p in graph.messages("/edge_agent/run_progress", RUN_PROGRESS) if p.job == "evening"]
        assert progress
        assert progress[-1].run == result.run
        assert progress[-1].status == "converged"
        assert progress[-1].participants == len(GENERATORS)
        fleet.check()
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(bridge.wait(), timeout=20)
        finally:
            if bridge.returncode is None:
                bridge.kill()
                await bridge.wait()
            graph.close()
    log = (tmp_path / "bridge.log").read_text(encoding="utf-8", errors="replace")
    assert code == 0, log
    assert "Traceback" not in log
