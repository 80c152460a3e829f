"""Issue 11's findings over a real broker: what operators and hostile peers did to processes (in process:
``tests/unit/test_hardening.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_agent.runtime import PrivateBroker

from .helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_solve_over_mqtt_stops_its_broker_agents_and_temp_files(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Finding 14: systemd's stop, a closed terminal or `timeout` left the private Mosquitto and temp folders."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    solve = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "solve", str(ROOT / "scenarios/ieee14_dispatch_primal_dual.yaml"),
         "--carrier", "mqtt"],
        env={**os.environ, "TMPDIR": str(temp)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        # the broker and the five generator agents run: the run is under way
        asyncio.run(wait_until(lambda: len(_children(solve.pid)) >= 6, within_s=120, what="the broker and 5 agents"))
        solve.send_signal(signum)
        _, err = solve.communicate(timeout=60)
    finally:
        if solve.poll() is None:
            solve.kill()
            solve.communicate()
    assert solve.returncode == 128 + signum
    assert f"interrupted ({signum.name}); everything it started was stopped" in err
    assert "Traceback" not in err
    assert _processes_mentioning(str(temp)) == []
    assert list(temp.iterdir()) == []


def test_solve_on_a_shared_broker_leaves_the_devices_already_there_alone(broker: PrivateBroker, tmp_path: Path) -> None:
    """Finding 15: `solve --carrier mqtt --broker X` started agents with the ids of devices running on X."""
    config = tmp_path / "gen-1.yaml"
    config.write_text(yaml.safe_dump({"id": "gen-1", "broker": broker.url, "prefix": "edge",
                                      "device": {"kind": "generator", "p_max": 10}}))
    device = subprocess.Popen([sys.executable, "-m", "edge_agent", "agent", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "edge_agent", "solve", str(ROOT / "scenarios/ieee14_dispatch_admm.yaml"),
             "--carrier", "mqtt", "--broker", broker.url, "--json"],
            capture_output=True, text=True, timeout=150, check=False,
        )
        assert device.poll() is None  # the real gen-1 was never knocked off
    finally:
        device.terminate()
        _, device_err = device.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "converged"
    assert report["transport"]["prefix"].startswith("edge-solve-")
    assert "session taken over" not in device_err.lower()
