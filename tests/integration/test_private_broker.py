"""The private broker helper and the credentials script: ports, crash and restart, clear errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from edge_agent import registry
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
    async with PrivateBroker() as broker, MqttConnection(broker.url, codec=registry.codec(),
                                                         prefix=prefix, options=FAST) as conn:
        conn.add(Echo("solo"))
        await conn.wait_present(["solo"], within_s=5)


def test_a_config_mosquitto_rejects_fails_with_its_log() -> None:
    broker = PrivateBroker(extra_config=["no_such_option 1"])
    with pytest.raises(TransportError, match=r"(?s)Mosquitto exited with code \d+ on start; log:.*no_such_option"):
        broker.start()
    broker.close()


