"""The RCDCOP launcher and node side (``rcdcop.join`` ... ``rcdcop.leave``) in one process, through the codec, on
device agents: the same choice as the in-process scenario, infeasible instances reported as such, a node that
cannot take part named."""

from __future__ import annotations

from typing import Any

import pytest

from edge_agent import registry
from edge_agent.algorithms.rcdcop.launcher import RcLauncher
from edge_agent.algorithms.rcdcop.plan import RcPlan, launch_outcome, rc_joins
from edge_agent.algorithms.rcdcop.runner import rc_report
from edge_agent.algorithms.rcdcop.scenario import RcdcopScenario
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.device_agent import DeviceAgent
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve


def _scenario(**settings: Any) -> RcdcopScenario:
    spec = {"algorithm": "rcdcop", "name": "members", "generate": {"shape": "random", "providers": 3,
                                                                   "consumers": 12, "seed": 4}, **settings}
    scenario = registry.parse_scenario(spec)
    assert isinstance(scenario, RcdcopScenario)
    return scenario


async def _over_devices(scenario: RcdcopScenario, joins: dict[str, Any] | None = None) -> dict[str, Any]:
    joins = joins or rc_joins(scenario, "r1")
    launcher = RcLauncher("launcher")
    async with InProcNetwork(codec=registry.codec(), rng=RunOptions("r1", seed=3).rng(), shuffle=True) as network:
        for device in RcPlan(scenario).agents():
            network.add(DeviceAgent(device))
        result = await launcher.run(network.add(launcher), "r1", joins)
    assert list(result.outcomes) == list(joins)
    return rc_report(scenario.problem(), scenario.settings(), launch_outcome(result)).to_json()


@pytest.mark.parametrize(("aggregation", "tie_break"), [("sum", "greedy"), ("max", "center")])
async def test_device_agents_give_the_in_process_choice(aggregation: str, tie_break: str) -> None:
    scenario = _scenario(aggregation=aggregation, tie_break=tie_break)
    expected = (await solve(scenario, RunOptions(run_id="r", seed=1))).to_json()
    report = await _over_devices(scenario)
    for key in ("objective", "status", "messages", "participants", "costs", "effort"):
        assert report[key] == expected[key], key


async def test_an_infeasible_tree_is_reported_over_devices() -> None:
    scenario = registry.parse_scenario({"algorithm": "rcdcop", "tree": {
        "s": {"costs": {-1: 0}}, "a": {"parent": "s", "capacity": 1, "costs": {2: 0, 3: 1}},
        "b": {"parent": "a", "capacity": 1, "costs": {0: 0}}}})
    assert isinstance(scenario, RcdcopScenario)
    report = await _over_devices(scenario)
    assert report["status"] == "infeasible"


async def test_a_node_that_cannot_take_part_fails_the_launch_naming_it() -> None:
    scenario = _scenario()
    joins = rc_joins(scenario, "r1")
    joins["n3"] = joins["n3"].model_copy(update={"parent": None, "capacity": 2})
    with pytest.raises(ConfigError, match=r"n3: node 'n3' is the root: it has no link"):
        await _over_devices(scenario, joins)
