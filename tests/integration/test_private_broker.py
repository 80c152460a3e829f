"""The private broker helper and the credentials script: ports, crash and restart, clear errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.errors import TransportError
from edge_agent.runtime import PrivateBroker

from .helpers import FAST, Echo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

ROOT = Path(__file__).resolve().parents[2]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_kill_and_restart_keep_the_port() -> None:
    with PrivateBroker() as broker:
        port = broker.port
        assert broker.url == f"mqtt://127.0.0.1:{port}"
        assert _accepts(port)
        broker.kill()
        assert not broker.running
        assert not _accepts(port)
        broker.restart()
        assert broker.running
        assert broker.port == port
        assert _accepts(port)
        config = (broker.directory / "mosquitto.conf").read_text().splitlines()
        assert f"listener {port} 127.0.0.1" in config
        assert {"allow_anonymous true", "set_tcp_nodelay true", "message_size_limit 262144"} <= set(config)
        assert "running" in broker.log_tail()
    assert not _accepts(port)


async def test_async_context_manager_serves_a_connection(prefix: str) -> None:
    async with PrivateBroker() as broker, MqttConnection(broker.url, prefix=prefix, options=FAST) as conn:
        conn.add(Echo("solo"))
        await conn.wait_present(["solo"], within_s=5)


def test_a_config_mosquitto_rejects_fails_with_its_log() -> None:
    broker = PrivateBroker(extra_config=["no_such_option 1"])
    with pytest.raises(TransportError, match=r"(?s)Mosquitto exited with code \d+ on start; log:.*no_such_option"):
        broker.start()
    broker.close()


def test_make_credentials_reads_a_fleet_file_and_keeps_known_passwords(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("- id: dev-1\n- id: dev-2\n")
    script = [sys.executable, str(ROOT / "broker/make_credentials.py"), "--out", str(tmp_path / "out")]
    subprocess.run([*script, "--fleet", str(fleet)], check=True, capture_output=True)
    first = (tmp_path / "out/credentials.json").read_text()
    subprocess.run([*script, "dev-3"], check=True, capture_output=True)
    before, after = json.loads(first), json.loads((tmp_path / "out/credentials.json").read_text())
    assert sorted(after) == ["dev-1", "dev-2", "dev-3"]
    assert {k: after[k] for k in before} == before
    users = [line.split(":")[0] for line in (tmp_path / "out/passwd").read_text().splitlines()]
    assert users == ["dev-1", "dev-2", "dev-3"]
    assert "$7$" in (tmp_path / "out/passwd").read_text()  # hashed by mosquitto_passwd
