"""DisLRP over MQTT: one ``edge-agent agent`` process per GMAP agent, cycle gossip only between agents sharing
a good; the launcher joins, starts, waits for every agent's own end and collects the histories. Synchronous
cycles and deterministic knapsacks: the same run, bounds and report as in process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent import registry
from edge_agent.algorithms.gmap.plan import GmapPlan
from edge_agent.algorithms.gmap.scenario import GmapScenario
from edge_agent.family import RunOptions
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.host import agent_configs, launch, start_device_agents
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def _seed_example() -> GmapScenario:
    scenario = registry.load_scenario(ROOT / "scenarios/gmap_seed_example.yaml")
    assert isinstance(scenario, GmapScenario)
    return scenario


def _generated() -> GmapScenario:  # five agents a1..a5, like gap1
    scenario = registry.parse_scenario({"algorithm": "dislrp", "name": "gmap-mqtt-c", "max_cycles": 60,
                                        "generate": {"type": "C", "agents": 5, "goods": 20, "seed": 3}})
    assert isinstance(scenario, GmapScenario)
    return scenario


@pytest.fixture(scope="module")
def fleet(broker: PrivateBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ProcessGroup]]:
    prefix = f"t{time.monotonic_ns() % 10**12}"
    with ProcessGroup(tmp_path_factory.mktemp("gmap-fleet")) as group:
        plans = [GmapPlan(_seed_example()), GmapPlan(_generated())]
        configs = [config for plan in plans for config in agent_configs(plan, prefix)]
        start_device_agents(group, configs, broker.url)
        yield prefix, group


@pytest.mark.parametrize("which", ["seed-example", "generated"])
async def test_one_process_per_agent_gives_the_in_process_run(
    which: str, broker: PrivateBroker, fleet: tuple[str, ProcessGroup]
) -> None:
    prefix, group = fleet
    scenario = _seed_example() if which == "seed-example" else _generated()
    options = RunOptions(run_id="r", seed=1)
    expected = (await solve(scenario, options)).to_json()
    report: dict[str, Any] = (await launch(GmapPlan(scenario, options), broker.url, prefix,
                                           processes=group)).to_json()
    for key in ("status", "objective", "lower_bound", "upper_bound", "iterations", "messages", "participants",
                "dual_history", "feasible_history", "optimal"):
        assert report[key] == expected[key], key
    assert report["transport"]["hosting"] == "one process per GMAP agent"
    if which == "seed-example":
        assert report["status"] == "converged"
        assert report["objective"] == 15
        assert report["upper_bound"] == 15
    group.check()
