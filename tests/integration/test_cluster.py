"""A fleet across a two-node NATS cluster (``deploy/cluster/nats-node.conf``, run on free loopback ports): the
devices on one node, the coordinator on the other; the run equals the Mosquitto run."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import yaml

from edge_agent.algorithms.admm.plan import admm_plan
from edge_agent.algorithms.admm.scenario import AdmmSharingScenario
from edge_agent.family import RunOptions
from edge_agent.registry import load_scenario
from edge_agent.results import RunReport
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.host import agent_configs, launch
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.testing.engines import NatsCluster, nats_missing

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
NODE_CONFIG = ROOT / "deploy/cluster/nats-node.conf"


def _hosted_run(devices_url: str, coordinator_url: str, prefix: str, work: Path) -> RunReport:
    """The IEEE 14-bus dispatch with its five generators in one ``edge-agent host`` on ``devices_url`` and the
    coordinator (this process) on ``coordinator_url``."""
    scenario = load_scenario(ROOT / "scenarios/ieee14_dispatch_admm.yaml")
    assert isinstance(scenario, AdmmSharingScenario)
    plan = admm_plan(scenario, RunOptions(run_id=prefix))
    configs = work / "configs"
    configs.mkdir()
    for config in agent_configs(plan, prefix):
        data = config.model_dump(mode="json", exclude_none=True)
        data["device"].pop("id", None)
        (configs / f"{config.id}.yaml").write_text(yaml.safe_dump(data | {"broker": devices_url}), encoding="utf-8")
    with ProcessGroup(work) as group:
        group.start("host", [sys.executable, "-m", "edge_agent", "host", "--configs", str(configs)])
        return asyncio.run(launch(plan, coordinator_url, prefix, processes=group))


def test_devices_on_one_node_and_the_coordinator_on_the_other_match_the_mosquitto_run(
    broker: PrivateBroker, prefix: str, tmp_path: Path
) -> None:
    if (missing := nats_missing()) is not None:
        pytest.skip(missing)
    (tmp_path / "mosquitto").mkdir()
    (tmp_path / "cluster").mkdir()
    expected = _hosted_run(broker.url, broker.url, f"{prefix}m", tmp_path / "mosquitto")
    with NatsCluster(NODE_CONFIG, nodes=2) as cluster:
        devices_url, coordinator_url = cluster.urls
        report = _hosted_run(devices_url, coordinator_url, f"{prefix}c", tmp_path / "cluster")

    assert report.status == expected.status == "converged"
    assert report.iterations == expected.iterations
    assert report.objective == pytest.approx(expected.objective, rel=1e-12)
    for pid, result in expected.participants.items():
        assert report.participants[pid]["x"] == pytest.approx(result["x"], abs=1e-9)
