"""The private broker helper and the credentials script, where neither needs Mosquitto: settings checked when
built, a clear error when there is no broker to start, ids refused before any file is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.errors import ConfigError, TransportError
from edge_agent.runtime import PrivateBroker

ROOT = Path(__file__).resolve().parents[2]


def test_without_mosquitto_or_docker_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge_agent.runtime.broker.shutil.which", lambda *_, **__: None)
    monkeypatch.setitem(sys.modules, "testcontainers", None)  # as if the optional package were missing
    monkeypatch.setitem(sys.modules, "testcontainers.core.container", None)
    broker = PrivateBroker()
    with pytest.raises(TransportError, match="apt-get install mosquitto"):
        broker.start()
    broker.close()


def test_settings_are_checked_when_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        PrivateBroker(password_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match="message_size_limit must be >= 1"):
        PrivateBroker(message_size_limit=0)


def test_make_credentials_refuses_ids_that_are_no_topic_level(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "broker/make_credentials.py"), "--out", str(tmp_path),
                             "dev-1", "dev/2"], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "invalid device id(s) ['dev/2']" in result.stderr
    assert list(tmp_path.iterdir()) == []
