"""Consensus runs among device agents, in process: the join / start / notice / collect / leave dialogue of
:class:`ConsensusLauncher` with :class:`DeviceAgent` s (the same objects the MQTT runs use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.consensus import (
    ConsensusCollect,
    ConsensusFailure,
    ConsensusJoin,
    ConsensusJoined,
    ConsensusLauncher,
    ConsensusLeave,
    ConsensusOutcome,
    ConsensusStart,
    LaunchDeadlines,
    PrimalDualMethod,
    PrimalDualSettings,
    PrimalDualState,
)
from edge_agent.algorithms.consensus.member import ConsensusMember
from edge_agent.algorithms.consensus.scenario import ConsensusDispatchScenario, PrimalDualDispatchScenario
from edge_agent.carrier import InProcNetwork
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.clock import ManualClock
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import Battery, Generator
from edge_agent.errors import ConfigError, RunTimeout
from edge_agent.family import RunOptions
from edge_agent.messages import Envelope, Message
from edge_agent.registry import load_scenario
from edge_agent.runtime.inproc import solve
from edge_agent.topology import RingTopology

from .helpers import on_the_manual_clock

SCENARIOS = Path(__file__).parents[2] / "scenarios"


async def _launch(
    scenario: PrimalDualDispatchScenario | ConsensusDispatchScenario, deadlines: LaunchDeadlines | None = None
) -> tuple[dict[str, object], list[DeviceAgent]]:
    agents = [DeviceAgent(g) for g in scenario.participants]
    async with InProcNetwork() as network:
        for agent in agents:
            network.add(agent)
        launcher = ConsensusLauncher("launcher")
        result = await launcher.run(network.add(launcher), "r1", scenario.joins("r1"), deadlines=deadlines)
        await network.quiescent()  # the leaves are delivered
    return scenario.launch_report(result, wall_s=0.0).to_json(), agents


@pytest.mark.parametrize("name", ["ieee14_dispatch_consensus.yaml", "ieee14_dispatch_primal_dual.yaml"])
async def test_device_agents_reproduce_the_simulation(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    assert isinstance(scenario, PrimalDualDispatchScenario | ConsensusDispatchScenario)
    if isinstance(scenario, PrimalDualDispatchScenario):  # 300 rounds are enough to compare
        scenario = scenario.model_copy(update={"settings": PrimalDualSettings(max_iter=300)})
    expected = (await solve(scenario, RunOptions(run_id="sim"))).to_json()
    report, agents = await _launch(scenario)
    assert set(expected) <= set(report)
    for key in ("status", "iterations", "power", "multipliers", "history", "graph", "multiplier_convention"):
        assert report[key] == expected[key], key
    assert report["objective"] == pytest.approx(expected["objective"], rel=1e-12)
    # one delivery less: the simulation also counts its single start message
    assert report["messages"] == expected["messages"] - 1
    graph = scenario.graph()
    transport = report["transport"]
    assert isinstance(transport, dict)
    for node in graph.nodes:
        assert set(transport["received"][node]) == set(graph.in_neighbours(node))
    assert all(_member(agent).runs() == [] for agent in agents)  # every device left the run


async def test_a_device_that_is_not_a_generator_refuses_to_join() -> None:
    scenario = load_scenario(SCENARIOS / "ieee14_dispatch_primal_dual.yaml")
    assert isinstance(scenario, PrimalDualDispatchScenario)
    battery = Battery(id="gen-3", kind="battery", power_max=1, energy_max=2, energy_initial=1)
    async with InProcNetwork() as network:
        for device in scenario.participants:
            network.add(DeviceAgent(battery if device.id == "gen-3" else device))
        launcher = ConsensusLauncher("launcher")
        carrier = network.add(launcher)
        with pytest.raises(ConfigError, match=r"gen-3: device 'gen-3' is a battery; only generators"):
            await launcher.run(carrier, "r1", scenario.joins("r1"))


class _Mute:
    """A participant that never answers nor publishes: a device whose process is gone."""

    def __init__(self, id: str) -> None:
        self.id = id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, ConsensusJoin):
            carrier.reply(ConsensusJoined(run=message.run), envelope)  # joins, then falls silent


async def test_a_silent_participant_stalls_the_run_and_the_launcher_names_everyone_unfinished() -> None:
    generators = [Generator(id=f"g{i}", kind="generator", p_max=50, cost_linear=1 + i, cost_quadratic=0.05)
                  for i in range(3)]
    scenario = PrimalDualDispatchScenario(
        algorithm="primal-dual-dispatch", demand=60, participants=generators,
        topology=RingTopology(kind="ring", directed=True),
        settings=PrimalDualSettings(max_iter=1_000_000, tol_lam=0, tol_balance=0),
    )
    deadlines = LaunchDeadlines(poll_s=0.05, stall_s=0.3, answer_s=0.2)
    clock = ManualClock()
    async with InProcNetwork(clock=clock) as network:
        network.add(DeviceAgent(generators[0]))
        network.add(_Mute("g1"))
        network.add(DeviceAgent(generators[2]))
        launcher = ConsensusLauncher("launcher")
        carrier = network.add(launcher)
        with pytest.raises(RunTimeout) as info:
            await on_the_manual_clock(network, clock,
                                      launcher.run(carrier, "r1", scenario.joins("r1"), deadlines=deadlines))
    assert info.value.participants == ("g0", "g1", "g2")
    message = str(info.value)
    assert "no answer from g1" in message
    assert "g0 in round 1" in message  # it heard g2's round 0, and waits for g1's... (ring g0->g1->g2->g0)
    assert info.value.round == 0


class _Garbler(_Mute):
    """Joins, then publishes a state whose Perron vector has the wrong size."""

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        await super().handle(carrier, message, envelope)
        if isinstance(message, ConsensusStart) and envelope.run is not None:
            RunCarrier(carrier, envelope.run).publish(PrimalDualState(round=0, lam=0.0, z=np.ones(7), w=0.0))


async def test_a_malformed_neighbour_state_fails_the_receivers_run_and_the_launcher_names_it() -> None:
    generators = [Generator(id=f"g{i}", kind="generator", p_max=50, cost_linear=1 + i, cost_quadratic=0.05)
                  for i in range(3)]
    scenario = PrimalDualDispatchScenario(
        algorithm="primal-dual-dispatch", demand=60, participants=generators,
        topology=RingTopology(kind="ring", directed=True),
        settings=PrimalDualSettings(max_iter=1_000_000, tol_lam=0, tol_balance=0),
    )
    clock = ManualClock()
    async with InProcNetwork(clock=clock) as network:
        network.add(DeviceAgent(generators[0]))
        network.add(_Garbler("g1"))
        network.add(DeviceAgent(generators[2]))
        launcher = ConsensusLauncher("launcher")
        carrier = network.add(launcher)
        with pytest.raises(RunTimeout) as info:
            await on_the_manual_clock(network, clock, launcher.run(
                carrier, "r1", scenario.joins("r1"), deadlines=LaunchDeadlines(poll_s=0.05, stall_s=0.3, answer_s=0.2)))
    assert "g2 failed: ProtocolError: from g1: round 0: z has 7 entries, expected 3" in str(info.value)


async def test_a_member_answers_a_repeated_join_once_more_and_refuses_unknown_runs() -> None:
    generator = Generator(id="g0", kind="generator", p_max=50, cost_linear=1, cost_quadratic=0.05)
    agent = DeviceAgent(generator)
    join = ConsensusJoin(run="r1", method=PrimalDualMethod(), in_neighbours=("g1",), index=0, agents=2, hops=1,
                         demand=30)
    async with InProcNetwork() as network:
        network.add(agent)
        network.add(DeviceAgent(Generator(id="g1", kind="generator", p_max=50, cost_quadratic=0.05)))
        asker = network.add(ConsensusLauncher("asker"))
        assert isinstance(await asker.request(join, "g0", timeout=1), ConsensusJoined)
        assert isinstance(await asker.request(join, "g0", timeout=1), ConsensusJoined)
        other = join.model_copy(update={"demand": 40.0})
        refused = await asker.request(other, "g0", timeout=1)
        assert isinstance(refused, ConsensusFailure)
        assert "already joined with other settings" in refused.reason
        unknown = await asker.request(ConsensusCollect(run="r2"), "g0", timeout=1)
        assert isinstance(unknown, ConsensusFailure)
        assert "takes no part in run 'r2'" in unknown.reason
        state = await asker.request(ConsensusCollect(run="r1", rounds=(0, 5)), "g0", timeout=1)
        assert isinstance(state, ConsensusOutcome)
        assert (state.finished, state.round) == (False, 0)
        assert state.x_history.tolist() == [state.x, state.x]  # its last value beyond its last round
        asker.send(ConsensusLeave(run="r1"), "g0")
        await network.quiescent()
    assert _member(agent).runs() == []


def _member(agent: DeviceAgent) -> ConsensusMember:
    member = agent.roles["consensus"]
    assert isinstance(member, ConsensusMember)
    return member


def test_the_control_messages_round_trip_through_the_codec() -> None:
    messages: list[Message] = [
        ConsensusJoin(run="r", method=PrimalDualMethod(), in_neighbours=("a", "b"), index=1, agents=3, hops=2,
                      demand=300),
        ConsensusJoined(run="r"),
        ConsensusFailure(run="r", reason="no"),
        ConsensusCollect(run="r", rounds=(0, 1, 10)),
        ConsensusOutcome(run="r", finished=True, round=10, stop_reason="converged", x=1.0, lam=-2.0, cost=3.0,
                         x_history=np.array([1.0]), lam_history=np.array([-2.0]), received={"a": 11}, dropped=1),
        ConsensusLeave(run="r"),
        PrimalDualState(round=1, lam=0.5, z=np.array([0.5, 0.5]), w=0.0),
    ]
    for body in messages:
        envelope = Envelope(id="x-1", sender="a", receiver="b", seq=1, run="r", body=body)
        decoded = registry.codec().decode(registry.codec().encode(envelope)).body
        assert decoded.model_dump_json() == body.model_dump_json()
    with pytest.raises(ValueError, match="lists a sender twice"):
        ConsensusJoin(run="r", method=PrimalDualMethod(), in_neighbours=("a", "a"), index=0, agents=3, hops=2,
                      demand=1)
