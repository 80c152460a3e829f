"""The deploy files and docs work as written (issue 11, finding 20): the compose broker config reaches the
other containers, and the `schedule` example of docs/scheduling.md runs against compute nodes on a broker."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_agent import registry
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.processes import ProcessGroup

from .helpers import FAST

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy/container/compose.yaml"


def _broker_config() -> Path:
    service = yaml.safe_load(COMPOSE.read_text())["services"]["broker"]
    source, target, *_ = service["volumes"][0].split(":")
    assert target == "/mosquitto/config/mosquitto.conf"
    return (COMPOSE.parent / source).resolve()


def test_the_compose_broker_listens_beyond_its_container_loopback() -> None:
    listeners = [line.split()[1:] for line in _broker_config().read_text().splitlines()
                 if line.startswith("listener ")]
    assert listeners == [["1883"]]  # every interface of the broker container; the host publishes 127.0.0.1 only
    ports = yaml.safe_load(COMPOSE.read_text())["services"]["broker"]["ports"]
    assert ports == ["127.0.0.1:1883:1883"]


async def test_the_compose_broker_config_runs_and_takes_the_emulated_fleet() -> None:
    config = _broker_config().read_text().replace("listener 1883", "listener {port} 127.0.0.1")
    async with (PrivateBroker(config_template=config) as broker,
                MqttConnection(broker.url, codec=registry.codec(), prefix="compose", options=FAST)):
        pass  # anonymous, as the agents in compose.yaml connect


def test_the_schedule_example_of_the_docs_runs_against_running_nodes(
    broker: PrivateBroker, prefix: str, tmp_path: Path
) -> None:
    lines = [line for line in (ROOT / "docs/scheduling.md").read_text().splitlines()
             if line.startswith("edge-agent schedule ")]
    assert lines, "docs/scheduling.md shows no `edge-agent schedule` command"
    command = shlex.split(line := lines[0], comments=True)
    assert re.fullmatch(r"edge-agent schedule \S+ --broker mqtt://host:1883 +# .*", line)
    with ProcessGroup(tmp_path) as group:
        for node in ("node-1", "node-2"):
            config = yaml.safe_load((ROOT / f"firmware_configs/{node}.yaml").read_text())
            path = tmp_path / f"{node}.yaml"
            path.write_text(yaml.safe_dump({**config, "prefix": prefix}))
            group.start(node, [sys.executable, "-m", "edge_agent", "agent", "--config", str(path),
                               "--broker", broker.url])
        done = subprocess.run(
            [sys.executable, "-m", "edge_agent", "schedule", str(ROOT / command[2]), "--broker", broker.url,
             "--prefix", prefix, "--json"],
            capture_output=True, text=True, timeout=100, check=False,
        )
        group.check()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "converged"
