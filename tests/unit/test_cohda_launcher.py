"""The COHDA launcher and device side (``cohda.join`` ... ``cohda.leave``) in one process, through the codec:
the same instance and the same in-process FIFO order as ``run_cohda`` give the same result."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent import registry
from edge_agent.algorithms.cohda.job import CohdaJoin
from edge_agent.algorithms.cohda.launcher import CohdaLauncher
from edge_agent.algorithms.cohda.member import CohdaMember
from edge_agent.algorithms.cohda.plan import CohdaPlan, cohda_launch_report
from edge_agent.algorithms.cohda.scenario import CohdaScenario
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.clock import ManualClock
from edge_agent.device_agent import DeviceAgent
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.messages import Envelope
from edge_agent.registry import load_scenario
from edge_agent.runtime.inproc import solve

from .helpers import on_the_manual_clock

ROOT = Path(__file__).resolve().parents[2]


def _scenario() -> CohdaScenario:
    scenario = load_scenario(ROOT / "scenarios/cohda_small_world.yaml")
    assert isinstance(scenario, CohdaScenario)
    return scenario


def test_a_join_carries_the_participants_own_schedules_and_survives_the_codec() -> None:
    scenario = _scenario()
    joins = scenario.joins("r1", RunOptions(run_id="r1"))
    assert list(joins) == [p.id for p in scenario.participants]
    for join in joins.values():
        envelope = Envelope(id="e1", sender="launcher", receiver="x", run="r1", seq=0, body=join)
        wire = registry.codec()
        assert wire.decode(wire.encode(envelope)).body.model_dump_json() == join.model_dump_json()
    assert joins["heat-pump"].corridor is not None
    assert joins["heat-pump"].schedules is None
    battery = joins["battery-1"].schedules
    assert battery is not None
    assert battery.shape == (30, 12)


async def test_launcher_and_device_agents_in_process_reach_the_in_process_result() -> None:
    scenario = _scenario()
    options = RunOptions(run_id="r2")
    expected = (await solve(scenario, options)).to_json()
    joins = scenario.joins("r2", options)
    launcher = CohdaLauncher("launcher")
    clock = ManualClock()  # the quiet period that ends the run passes only once no message is on its way
    async with InProcNetwork(codec=registry.codec(), clock=clock) as network:
        for device in CohdaPlan(scenario).agents():
            network.add(DeviceAgent(device))
        carrier = network.add(launcher)
        result = await on_the_manual_clock(network, clock, launcher.run(carrier, "r2", joins, quiet_s=0.2))
    report = cohda_launch_report(scenario, result, scenario.build(options)[2]).to_json()
    assert report["status"] == "converged"
    assert report["agreed"] is True
    assert set(expected) <= set(report)
    assert report["start_distance"] == pytest.approx(expected["start_distance"])
    assert report["distance"] == pytest.approx(expected["distance"])
    assert report["chosen_index"] == expected["chosen_index"]


async def test_a_participant_that_cannot_take_part_fails_the_launch_naming_it() -> None:
    scenario = _scenario()
    joins = scenario.joins("r3", RunOptions(run_id="r3"))
    bad = joins["washer"].model_copy(update={"schedules": None})  # neither schedules nor corridor
    joins = {**joins, "washer": CohdaJoin.model_validate(bad.model_dump())}
    launcher = CohdaLauncher("launcher")
    async with InProcNetwork() as network:
        for device in CohdaPlan(scenario).agents():
            network.add(DeviceAgent(device))
        carrier = network.add(launcher)
        with pytest.raises(ConfigError, match="washer"):
            await launcher.run(carrier, "r3", joins, quiet_s=0.2)


async def test_a_repeated_join_is_answered_again_and_a_changed_one_refused() -> None:
    scenario = _scenario()
    join = scenario.joins("r4", RunOptions(run_id="r4"))["washer"]
    agent = DeviceAgent(CohdaPlan(scenario).agents()[0])
    asker = CohdaLauncher("asker")
    async with InProcNetwork() as network:
        network.add(agent)
        carrier = network.add(asker)
        first = await carrier.request(join, "washer", timeout=1.0)
        again = await carrier.request(join, "washer", timeout=1.0)
        other = await carrier.request(join.model_copy(update={"in_neighbours": ("dryer",)}), "washer", timeout=1.0)
    assert getattr(first, "reason", "?") is None
    assert getattr(again, "reason", "?") is None
    assert "already joined with other settings" in str(getattr(other, "reason", ""))
    member = agent.roles["cohda"]
    assert isinstance(member, CohdaMember)
    assert member.runs() == ["r4"]
