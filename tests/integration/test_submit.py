"""`edge-agent submit` against a running coordinator service and device agents (all real processes)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.processes import ProcessGroup

from .helpers import ROOT, start_demo_generators

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]



def test_jobs_submitted_from_the_cli_are_run_by_the_coordinator_service(
    broker: PrivateBroker, prefix: str, tmp_path: Path
) -> None:
    with ProcessGroup(tmp_path) as group:
        start_demo_generators(group, broker.url, prefix, tmp_path)
        done = subprocess.run(
            [sys.executable, "-m", "edge_agent", "submit", str(ROOT / "deploy/jobs/ieee14.yaml"),
             "--broker", broker.url, "--prefix", prefix, "--json"],
            capture_output=True, text=True, timeout=100, check=False,
        )
        group.check()  # every service is still running after serving the job
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    powers = [report["participants"][f"gen-{i}"]["x"][0] for i in range(1, 6)]
    assert powers == pytest.approx([66.240, 71.653, 47.131, 54.986, 59.990], abs=0.01)
    assert report["messages"] == 2 * 5 * report["iterations"]
    retained = _retained(broker, f"{prefix}/coordinator/results")
    assert retained["kind"] == "admm.job_result"
    assert retained["job"] == "ieee14-dispatch"
    assert retained["report"]["objective"] == pytest.approx(report["objective"])


def _retained(broker: PrivateBroker, topic: str) -> dict[str, object]:
    """The retained message on ``topic``, read with a plain paho client."""
    got: queue.Queue[bytes] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = lambda _c, _u, message: got.put(message.payload)
    client.connect("127.0.0.1", broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        return dict(json.loads(got.get(timeout=10)))
    finally:
        client.loop_stop()
        client.disconnect()
