"""DisLRP's launcher and device side (``gmap.dislrp_join`` ... ``gmap.dislrp_leave``) in one process, through
the codec with a shuffled delivery order: the same report as the in-process scenario (bounds per cycle,
assignment, messages); an agent that cannot take part fails the launch naming it."""

from __future__ import annotations

from typing import Any

import pytest

from edge_agent import registry
from edge_agent.algorithms.gmap.launcher import GmapLauncher
from edge_agent.algorithms.gmap.messages import DisLrpJoin
from edge_agent.algorithms.gmap.plan import GmapPlan, gmap_joins, gmap_launch_report
from edge_agent.algorithms.gmap.scenario import GmapScenario
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.device_agent import DeviceAgent
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve


def _scenario() -> GmapScenario:
    scenario = registry.parse_scenario({"algorithm": "dislrp", "name": "members", "max_cycles": 80,
                                        "generate": {"type": "D", "agents": 4, "goods": 14, "seed": 2}})
    assert isinstance(scenario, GmapScenario)
    return scenario


async def _over_devices(scenario: GmapScenario, joins: dict[str, DisLrpJoin]) -> dict[str, Any]:
    launcher = GmapLauncher("launcher")
    async with InProcNetwork(codec=registry.codec(), rng=RunOptions(run_id="r", seed=3).rng(),
                             shuffle=True) as network:
        for device in GmapPlan(scenario).agents():
            network.add(DeviceAgent(device))
        result = await launcher.run(network.add(launcher), "r1", joins)
    assert list(result.outcomes) == list(joins)
    return gmap_launch_report(scenario.problem(), scenario.name, result).to_json()


async def test_device_agents_give_the_in_process_run() -> None:
    scenario = _scenario()
    expected = (await solve(scenario, RunOptions(run_id="r1"))).to_json()
    report = await _over_devices(scenario, gmap_joins(scenario, "r1"))
    for key in ("status", "objective", "lower_bound", "upper_bound", "iterations", "messages", "participants",
                "dual_history", "feasible_history"):
        assert report[key] == expected[key], key


async def test_an_agent_that_cannot_take_part_fails_the_launch_naming_it() -> None:
    scenario = _scenario()
    joins = gmap_joins(scenario, "r1")
    joins["a1"] = joins["a1"].model_copy(update={"in_neighbours": ("a1", *joins["a1"].in_neighbours)})
    with pytest.raises(ConfigError, match=r"a1: agent 'a1' lists itself as a neighbour"):
        await _over_devices(scenario, joins)
