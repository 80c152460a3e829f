"""DCOP over MQTT: one ``edge-agent agent`` process per DCOP agent (N = 12), cycle gossip only between
constraint-graph neighbours (each agent subscribes to those), DPOP's UTIL and VALUE only along the
pseudo-tree; the launcher joins, starts, waits for every agent's own end and collects. The same seed gives
the same run as in process: DSA and MGM are synchronous (the message order cannot change them), DPOP exact."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent import registry
from edge_agent.algorithms.dcop.oracle import mip_optimum
from edge_agent.algorithms.dcop.plan import DcopPlan
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.family import RunOptions
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.host import agent_configs, launch, start_device_agents
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def _scenario(algorithm: str) -> DcopScenario:
    scenario = registry.parse_scenario({"algorithm": algorithm, "name": f"dcop-mqtt-{algorithm}",
                                        "generate": {"kind": "random", "n": 12, "edges": 24, "seed": 2},
                                        "max_cycles": 60, "quiet_cycles": 5})
    assert isinstance(scenario, DcopScenario)
    return scenario


@pytest.fixture(scope="module")
def fleet(broker: PrivateBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ProcessGroup]]:
    prefix = f"t{time.monotonic_ns() % 10**12}"
    with ProcessGroup(tmp_path_factory.mktemp("dcop-fleet")) as group:
        start_device_agents(group, agent_configs(DcopPlan(_scenario("dsa")), prefix), broker.url)
        yield prefix, group


@pytest.mark.parametrize("algorithm", ["dsa", "mgm", "mgm2", "maxsum", "dpop"])
async def test_one_process_per_agent_gives_the_in_process_run(
    algorithm: str, broker: PrivateBroker, fleet: tuple[str, ProcessGroup]
) -> None:
    prefix, group = fleet
    scenario = _scenario(algorithm)
    options = RunOptions(run_id="r", seed=5)
    expected = (await solve(scenario, options)).to_json()
    report: dict[str, Any] = (await launch(DcopPlan(scenario, options), broker.url, prefix, processes=group)).to_json()
    print(f"\n{algorithm}: objective {report['objective']} (in process {expected['objective']}), "
          f"{report['iterations']} iterations, {report['messages']} messages, {report['wall_s']:.2f} s over MQTT "
          f"({expected['wall_s']:.3f} s in process)")
    assert set(expected) <= set(report)
    for key in ("assignment", "objective", "status", "iterations", "messages", "message_bytes", "participants"):
        assert report[key] == expected[key], key
    if algorithm == "dpop":
        assert report["objective"] == pytest.approx(mip_optimum(scenario.problem()).cost)
    else:
        assert report["cost_history"] == expected["cost_history"]
    assert report["transport"]["hosting"] == "one process per DCOP agent"
    assert [c.name for c in group.children] == list(scenario.problem().agents)
    group.check()


def test_the_cli_solves_a_dcop_scenario_over_mqtt() -> None:
    path = ROOT / "scenarios/dcop_random_dpop.yaml"
    done = subprocess.run([sys.executable, "-m", "edge_agent", "solve", str(path), "--carrier", "mqtt", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    inproc = subprocess.run([sys.executable, "-m", "edge_agent", "solve", str(path), "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    expected = json.loads(inproc.stdout)
    assert report["assignment"] == expected["assignment"]
    assert report["objective"] == expected["objective"]
    assert len(report["participants"]) == 20
