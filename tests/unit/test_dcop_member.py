"""The DCOP launcher and device side (``dcop.join`` ... ``dcop.leave``) in one process, through the codec: the
same seed gives the same run as the in-process scenario (values, cost per cycle, messages), for every algorithm."""

from __future__ import annotations

from typing import Any

import pytest

from edge_agent import registry
from edge_agent.algorithms.dcop.launcher import DcopLauncher
from edge_agent.algorithms.dcop.plan import DcopPlan, dcop_joins, dcop_launch_report
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.device_agent import DeviceAgent
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve


def _scenario(algorithm: str, **settings: Any) -> DcopScenario:
    scenario = registry.parse_scenario({"algorithm": algorithm, "name": "members",
                                        "generate": {"kind": "random", "n": 16, "edges": 26, "seed": 4}, **settings})
    assert isinstance(scenario, DcopScenario)
    return scenario


async def _over_devices(scenario: DcopScenario, options: RunOptions) -> dict[str, Any]:
    seed = scenario.seed(options)
    joins = dcop_joins(scenario, "r1", seed)
    launcher = DcopLauncher("launcher")
    async with InProcNetwork(codec=registry.codec(), rng=options.rng(), shuffle=True) as network:
        for device in DcopPlan(scenario).agents():
            network.add(DeviceAgent(device))
        result = await launcher.run(network.add(launcher), "r1", joins)
    assert list(result.outcomes) == list(joins)
    return dcop_launch_report(scenario, result, seed).to_json()


@pytest.mark.parametrize("algorithm", ["dsa", "mgm", "mgm2", "maxsum", "dpop"])
async def test_device_agents_give_the_in_process_run(algorithm: str) -> None:
    scenario = _scenario(algorithm)
    options = RunOptions(run_id="r1", seed=11)
    expected = (await solve(scenario, options)).to_json()
    report = await _over_devices(scenario, options)
    assert set(expected) <= set(report)
    for key in ("assignment", "objective", "status", "iterations", "messages", "message_bytes", "participants"):
        assert report[key] == expected[key], key
    if algorithm != "dpop":
        assert report["cost_history"] == expected["cost_history"]
        assert report["best_cycle"] == expected["best_cycle"]
    else:
        assert report["largest_util"] == expected["largest_util"]


async def test_an_agent_that_cannot_take_part_fails_the_launch_naming_it() -> None:
    scenario = _scenario("dpop")
    joins = dcop_joins(scenario, "r2", 0)
    first = next(iter(joins))
    joins[first] = joins[first].model_copy(update={"tree": None})
    launcher = DcopLauncher("launcher")
    async with InProcNetwork() as network:
        for device in DcopPlan(scenario).agents():
            network.add(DeviceAgent(device))
        with pytest.raises(ConfigError, match=f"{first}.*needs the tree place"):
            await launcher.run(network.add(launcher), "r2", joins)


async def test_an_agent_whose_run_fails_ends_the_launch_at_once_naming_it() -> None:
    scenario = _scenario("dpop")
    joins = dcop_joins(scenario, "r3", 0)
    first = next(iter(joins))
    tiny = joins[first].settings.model_copy(update={"memory_limit_mb": 1e-9})
    joins[first] = joins[first].model_copy(update={"settings": tiny})
    launcher = DcopLauncher("launcher")
    async with InProcNetwork() as network:
        for device in DcopPlan(scenario).agents():
            network.add(DeviceAgent(device))
        with pytest.raises(ProtocolError, match=f"failed on 1 agent.*{first}: ConfigError: DPOP: variable"):
            await launcher.run(network.add(launcher), "r3", joins, run_s=30)
