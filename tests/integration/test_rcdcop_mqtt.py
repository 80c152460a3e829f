"""RCDCOP over MQTT: one ``edge-agent agent`` process per tree node (N = 12), UTIL and VALUE only between parent
and child; the launcher joins, starts, waits for every node's decision and collects. The tree DP is exact and
its choices do not depend on the message order, so the run equals the in-process one; the CLI runs the example
scenario over MQTT."""

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
from edge_agent.algorithms.rcdcop.oracle import mip_optimum
from edge_agent.algorithms.rcdcop.plan import RcPlan
from edge_agent.algorithms.rcdcop.scenario import RcdcopScenario
from edge_agent.family import RunOptions
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.host import agent_configs, launch, start_device_agents
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def _scenario(aggregation: str, tie_break: str) -> RcdcopScenario:
    scenario = registry.parse_scenario({"algorithm": "rcdcop", "name": f"rcdcop-mqtt-{aggregation}",
                                        "aggregation": aggregation, "tie_break": tie_break,
                                        "generate": {"shape": "binary", "providers": 2, "consumers": 10, "seed": 3}})
    assert isinstance(scenario, RcdcopScenario)
    return scenario


@pytest.fixture(scope="module")
def fleet(broker: PrivateBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ProcessGroup]]:
    prefix = f"t{time.monotonic_ns() % 10**12}"
    with ProcessGroup(tmp_path_factory.mktemp("rcdcop-fleet")) as group:
        start_device_agents(group, agent_configs(RcPlan(_scenario("sum", "greedy")), prefix), broker.url)
        yield prefix, group


@pytest.mark.parametrize(("aggregation", "tie_break"), [("sum", "greedy"), ("max", "center")])
async def test_one_process_per_node_gives_the_in_process_run(
    aggregation: str, tie_break: str, broker: PrivateBroker, fleet: tuple[str, ProcessGroup]
) -> None:
    prefix, group = fleet
    scenario = _scenario(aggregation, tie_break)
    options = RunOptions(run_id="r", seed=5)
    expected = (await solve(scenario, options)).to_json()
    report: dict[str, Any] = (await launch(RcPlan(scenario, options), broker.url, prefix, processes=group)).to_json()
    print(f"\n{aggregation}/{tie_break}: objective {report['objective']}, {report['messages']} messages, "
          f"{report['wall_s']:.2f} s over MQTT ({expected['wall_s']:.3f} s in process)")
    for key in ("objective", "status", "messages", "participants", "costs", "effort"):
        assert report[key] == expected[key], key
    assert report["objective"] == mip_optimum(scenario.problem(), aggregation).cost  # type: ignore[arg-type]
    assert report["transport"]["hosting"] == "one process per tree node"
    assert [c.name for c in group.children] == list(scenario.problem().order)
    group.check()


def test_the_cli_solves_the_example_over_mqtt() -> None:
    path = ROOT / "scenarios/rcdcop_binary_feeder.yaml"
    done = subprocess.run([sys.executable, "-m", "edge_agent", "solve", str(path), "--carrier", "mqtt", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    inproc = subprocess.run([sys.executable, "-m", "edge_agent", "solve", str(path), "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    expected = json.loads(inproc.stdout)
    assert report["status"] == expected["status"] == "converged"
    assert report["participants"] == expected["participants"]
    assert report["objective"] == expected["objective"]
