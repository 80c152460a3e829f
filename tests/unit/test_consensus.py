"""Averaging consensus (seed 000): rounds, buffering, termination, the economic-dispatch actor, scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent import registry
from edge_agent.algorithms.consensus import (
    AveragingParticipant,
    AveragingSettings,
    AveragingValue,
    ConsensusStart,
    EconomicDispatchActor,
    Termination,
    run_rounds,
    simulate_averaging,
)
from edge_agent.carrier import InProcNetwork, LinkModel
from edge_agent.errors import ConfigError, ProtocolError, RunTimeout
from edge_agent.family import RunOptions
from edge_agent.messages import Envelope, Message
from edge_agent.registry import load_scenario, parse_scenario
from edge_agent.runtime.inproc import solve
from edge_agent.testing.recorder import RecordingCarrier
from edge_agent.topology import Graph

T = TypeVar("T")
SCENARIOS = Path(__file__).parents[2] / "scenarios"
UNBALANCED = Graph.from_edges(
    ["g1", "g2", "g3", "g4", "g5"],
    [("g1", "g2"), ("g2", "g3"), ("g3", "g4"), ("g4", "g5"), ("g5", "g1"), ("g1", "g3"), ("g1", "g4"),
     ("g3", "g1"), ("g2", "g5")],
)


def weight_matrix(graph: Graph, alpha: float) -> np.ndarray:
    """The averaging update as a matrix: (1 - alpha) I + alpha * mean over in-neighbours."""
    index = {node: i for i, node in enumerate(graph.nodes)}
    W = np.eye(len(graph)) * (1 - alpha)
    for node in graph.nodes:
        for source in graph.in_neighbours(node):
            W[index[node], index[source]] += alpha / len(graph.in_neighbours(node))
    return W


def perron(W: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(W.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return np.asarray(pi / pi.sum(), dtype=np.float64)


# -- averaging -------------------------------------------------------------------------------------
@pytest.mark.parametrize("graph", [Graph.complete(["a", "b", "c"]), Graph.ring(["a", "b", "c"])])
async def test_regular_graphs_agree_on_the_plain_average(graph: Graph) -> None:
    # The seed's example: counting the start message as a value gave 4.88 instead of 5.33.
    async with InProcNetwork() as network:
        result = await simulate_averaging(network, graph, {"a": [1.0], "b": [5.0], "c": [10.0]})
    assert result.status == "converged"
    for lam in result.lam.values():
        assert lam[0] == pytest.approx(16 / 3, abs=1e-8)


async def test_the_start_message_is_not_a_value_whoever_gets_it() -> None:
    graph = Graph.ring([f"p{i}" for i in range(6)])
    initial = {f"p{i}": [float(i * i)] for i in range(6)}
    for start in (["p0"], ["p3"], list(graph.nodes)):
        async with InProcNetwork() as network:
            result = await simulate_averaging(network, graph, initial, start=start,
                                              settings=AveragingSettings(max_iter=500, tol=1e-12))
        assert result.status == "converged"
        for lam in result.lam.values():
            assert lam[0] == pytest.approx(np.mean([v[0] for v in initial.values()]), abs=1e-8)


async def test_irregular_graphs_converge_to_the_perron_weighted_average() -> None:
    settings = AveragingSettings(max_iter=500, tol=1e-12)
    initial = {node: [float(i), 10.0 - i] for i, node in enumerate(UNBALANCED.nodes)}
    async with InProcNetwork() as network:
        result = await simulate_averaging(network, UNBALANCED, initial, settings=settings)
    pi = perron(weight_matrix(UNBALANCED, settings.alpha))
    expected = pi @ np.array([initial[node] for node in UNBALANCED.nodes])
    assert result.status == "converged"
    for lam in result.lam.values():
        np.testing.assert_allclose(lam, expected, atol=1e-9)
    assert abs(expected[0] - 2.0) > 0.1  # the plain average would be 2.0: the graph weighs


async def test_order_delay_and_codec_do_not_change_the_result() -> None:
    initial = {node: [float(3 * i % 7)] for i, node in enumerate(UNBALANCED.nodes)}

    async def run(**kwargs: Any) -> dict[str, np.ndarray]:
        async with InProcNetwork(**kwargs) as network:
            return (await simulate_averaging(network, UNBALANCED, initial)).lam

    plain = await run()
    jumbled = await run(rng=np.random.default_rng(5), shuffle=True, codec=registry.codec(),
                        link=LinkModel(delay_s=0.0, jitter_s=0.002))
    for node in UNBALANCED.nodes:
        np.testing.assert_allclose(jumbled[node], plain[node], rtol=0, atol=1e-12)


async def test_max_iter_ends_every_participant_in_the_same_round() -> None:
    settings = AveragingSettings(max_iter=7)
    async with InProcNetwork() as network:
        result = await simulate_averaging(network, UNBALANCED, {n: [float(i)] for i, n in enumerate(UNBALANCED.nodes)},
                                          settings=settings)
    assert result.status == "max_iterations"
    assert result.iterations == 7
    assert all(len(history) == 8 for history in result.history.values())


async def test_convergence_is_detected_globally_and_every_participant_learns_it() -> None:
    settings = AveragingSettings(max_iter=1000, tol=1e-10, patience=3)
    termination = settings.termination(len(UNBALANCED))
    participants = [
        AveragingParticipant(node, UNBALANCED.in_neighbours(node), initial=[float(i)], settings=settings,
                             termination=termination)
        for i, node in enumerate(UNBALANCED.nodes)
    ]
    async with InProcNetwork() as network:
        status = await run_rounds(network, participants, ["g4"])
    assert status == "converged"
    assert all(p.finished and p.stop_reason == "converged" for p in participants)
    rounds = [p.round for p in participants]
    assert max(rounds) - min(rounds) <= termination.hops  # the end spreads within the graph's reach
    assert max(rounds) < 1000


async def test_a_lost_message_stalls_the_run_and_the_stall_is_reported() -> None:
    initial = {n: [1.0] for n in UNBALANCED.nodes}
    with pytest.raises(RunTimeout, match="the run stalled") as caught:
        async with InProcNetwork(rng=np.random.default_rng(0), link=LinkModel(loss=0.05)) as network:
            await simulate_averaging(network, UNBALANCED, initial, settings=AveragingSettings(max_iter=200))
    assert caught.value.participants
    assert caught.value.round is not None


async def test_bad_inputs_are_rejected_before_the_run() -> None:
    async with InProcNetwork() as network:
        with pytest.raises(ConfigError, match="not strongly connected: node 'b' cannot reach 'a'"):
            await simulate_averaging(network, Graph.from_edges(["a", "b"], [("a", "b")]), {"a": [1], "b": [2]})
        with pytest.raises(ConfigError, match=r"missing \['b'\]"):
            await simulate_averaging(network, Graph.complete(["a", "b"]), {"a": [1]})
        with pytest.raises(ConfigError, match="finite"):
            await simulate_averaging(network, Graph.complete(["a", "b"]), {"a": [1], "b": [float("nan")]})
    with pytest.raises(ValidationError, match=r"alpha\n  Input should be greater than 0"):
        AveragingSettings(alpha=0)
    with pytest.raises(ConfigError, match="max_iter must be >= 1"):
        Termination(max_iter=0)


# -- the round protocol, message by message --------------------------------------------------------
def published(carrier: RecordingCarrier) -> list[AveragingValue]:
    """What the participant sent: averaging values, and nothing else."""
    values = [body for body in carrier.bodies() if isinstance(body, AveragingValue)]
    assert len(values) == len(carrier.sent)
    return values


def envelope(sender: str, body: Message) -> Envelope:
    return Envelope(id=f"{sender}-x", sender=sender, receiver="me", seq=0, body=body)


async def test_rounds_wait_for_every_in_neighbour_and_drop_duplicates_stale_and_strangers() -> None:
    me = AveragingParticipant("me", ["a", "b"], initial=[0.0], settings=AveragingSettings(alpha=0.5),
                              termination=Termination(max_iter=10))
    carrier = RecordingCarrier(me)

    async def deliver(sender: str, k: int, value: float) -> None:
        body = AveragingValue(round=k, lam=np.array([value]))
        await me.handle(carrier, body, envelope(sender, body))

    await me.handle(carrier, ConsensusStart(), envelope("launcher", ConsensusStart()))
    assert [m.round for m in published(carrier)] == [0]
    await me.handle(carrier, ConsensusStart(), envelope("launcher", ConsensusStart()))  # second start: ignored
    await deliver("a", 1, 100.0)  # early: buffered for round 1
    await deliver("a", 0, 4.0)
    await deliver("a", 0, 999.0)  # duplicate of round 0: dropped
    await deliver("zed", 0, 999.0)  # not an in-neighbour: dropped
    assert me.round == 0
    await deliver("b", 0, 8.0)  # round 0 complete: 0 + 0.5 * (6 - 0) = 3
    assert me.round == 1
    assert me.lam[0] == pytest.approx(3.0)
    await deliver("b", 0, 999.0)  # stale: dropped
    await deliver("b", 1, 0.0)  # round 1 complete with the buffered 100: 3 + 0.5 * (50 - 3)
    assert me.round == 2
    assert me.lam[0] == pytest.approx(26.5)
    assert me.dropped == 3
    assert [m.round for m in published(carrier)] == [0, 1, 2]
    await deliver("a", 2, 0.0)
    bad = AveragingValue(round=2, lam=np.array([1.0, 2.0]))
    with pytest.raises(ProtocolError, match=r"shape \(2,\)"):
        await me.handle(carrier, bad, envelope("b", bad))


async def test_a_final_message_ends_the_receiver_one_round_later_with_the_same_reason() -> None:
    me = AveragingParticipant("me", ["a"], initial=[0.0], settings=AveragingSettings(),
                              termination=Termination(max_iter=50))
    carrier = RecordingCarrier(me)
    body = AveragingValue(round=0, lam=np.array([1.0]), final="converged")
    await me.handle(carrier, body, envelope("a", body))  # wakes up, then finishes
    assert me.finished
    assert me.stop_reason == "converged"
    assert [(m.round, m.final) for m in published(carrier)] == [(0, None), (1, "converged")]
    later = AveragingValue(round=1, lam=np.array([1.0]))
    await me.handle(carrier, later, envelope("a", later))
    assert len(published(carrier)) == 2


# -- the economic-dispatch actor -------------------------------------------------------------------
def dispatch_actors(n_share: int, demand: float = 300.0) -> dict[str, EconomicDispatchActor]:
    specs = [(2.0, 0.040, 80), (3.0, 0.030, 90), (4.0, 0.035, 70), (4.0, 0.030, 70), (2.5, 0.040, 80)]
    return {
        f"g{i + 1}": EconomicDispatchActor(cost=a, p_max=p_max, epsilon=b, p_target=[demand], n=n_share)
        for i, (a, b, p_max) in enumerate(specs)
    }


async def run_dispatch(graph: Graph, actors: dict[str, EconomicDispatchActor]) -> dict[str, float]:
    settings = AveragingSettings(max_iter=3000, tol=1e-12)
    async with InProcNetwork() as network:
        result = await simulate_averaging(network, graph, {n: [10.0] for n in graph.nodes}, settings=settings,
                                          actors=actors)
    assert result.status == "converged"
    return {node: float(actors[node].power(result.lam[node])[0]) for node in graph.nodes}


async def test_dispatch_on_a_regular_graph_meets_the_demand() -> None:
    power = await run_dispatch(Graph.complete(list(dispatch_actors(5))), dispatch_actors(5))
    assert sum(power.values()) == pytest.approx(300.0, abs=1e-6)


async def test_the_n_guess_trap_scales_the_supply_by_n_over_n_guess() -> None:
    # The seed divides the target by n_guess = 10: five generators then deliver 5/10 of it.
    power = await run_dispatch(Graph.complete(list(dispatch_actors(10))), dispatch_actors(10))
    assert sum(power.values()) == pytest.approx(150.0, abs=1e-6)


async def test_dispatch_on_an_unbalanced_graph_misses_the_demand() -> None:
    # Documented limitation (and the reason for the primal-dual algorithm): the gradient terms cancel
    # only in the Perron-weighted sense, so the supply is off (-2.18 MW here).
    power = await run_dispatch(UNBALANCED, dispatch_actors(5))
    assert sum(power.values()) - 300.0 == pytest.approx(-2.182, abs=0.01)


def test_dispatch_actor_validates_its_parameters() -> None:
    with pytest.raises(ConfigError, match="p_min = 5 exceeds p_max = 1"):
        EconomicDispatchActor(cost=1, p_max=1, p_min=5, p_target=[1], n=1)
    with pytest.raises(ConfigError, match="must be finite"):
        EconomicDispatchActor(cost=float("nan"), p_max=1, p_target=[1], n=1)
    with pytest.raises(ConfigError, match=r"n \(number of participants\) must be >= 1"):
        EconomicDispatchActor(cost=1, p_max=1, p_target=[1], n=0)
    actor = EconomicDispatchActor(cost=2, p_max=10, epsilon=0.5, rho=0.1, p_target=[20], n=4)
    np.testing.assert_allclose(actor.gradient_term(np.array([7.0])), [0.1 * (5 - 5)])
    np.testing.assert_allclose(actor.gradient_term(np.array([100.0])), [0.1 * (5 - 10)])


# -- scenarios -------------------------------------------------------------------------------------
async def test_averaging_scenario_file() -> None:
    report = (await solve(load_scenario(SCENARIOS / "averaging_example.yaml"), RunOptions(run_id="t"))).to_json()
    assert report["status"] == "converged"
    assert report["aggregate"] == pytest.approx([16 / 3], abs=1e-8)
    assert report["objective"] < 1e-8
    for values in report["participants"].values():
        assert values["x"] == pytest.approx([16 / 3], abs=1e-8)
    assert report["history"]["iteration"][0] == 0


async def test_consensus_dispatch_scenario_file_reports_its_bias() -> None:
    scenario = load_scenario(SCENARIOS / "ieee14_dispatch_consensus.yaml")
    report = (await solve(scenario, RunOptions(run_id="t", seed=3, shuffle=True, codec_check=True))).to_json()
    # the averaging settled (its own test), but 2.2 MW short of the demand: not "converged" (issue 12)
    assert report["status"] == "infeasible_result"
    assert report["balance_residual"] == pytest.approx(-2.182, abs=0.01)
    assert report["status_basis"] == {"balance_residual": report["balance_residual"], "balance_tolerance": 0.01}
    assert report["graph"]["balanced"] is False
    assert set(report["power"]) == set(report["multipliers"]) == {f"gen-{i}" for i in range(1, 6)}
    assert report["history"]["x"]["gen-1"][-1] == pytest.approx(report["power"]["gen-1"])


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"participants": [{"id": "a", "initial": 1}, {"id": "a", "initial": 2}]}, "used twice"),
        ({"participants": [{"id": "a", "initial": [1, 2]}, {"id": "b", "initial": 2}]}, "same non-zero length"),
        ({"topology": {"kind": "edges", "edges": [["a", "b"]]}}, "not strongly connected"),
        ({"topology": {"kind": "edges", "edges": [["a", "q"]]}}, "unknown node 'q'"),
        ({"settings": {"alpha": 0}}, "settings.alpha"),
        ({"settings": {"alpha": float("nan")}}, "settings.alpha"),
    ],
)
def test_averaging_scenario_errors_name_the_field(change: dict[str, Any], fragment: str) -> None:
    data: dict[str, Any] = {
        "algorithm": "averaging",
        "participants": [{"id": "a", "initial": 1}, {"id": "b", "initial": 2}],
        **change,
    }
    with pytest.raises(ConfigError, match=fragment):
        parse_scenario(data, "x.yaml")


# -- module boundaries -----------------------------------------------------------------------------
def test_public_names() -> None:
    from edge_agent.algorithms import consensus

    assert sorted(consensus.__all__) == sorted([
        "LAUNCHER_ID", "AveragingParticipant", "AveragingResult", "AveragingSettings", "AveragingValue",
        "ConsensusActor", "ConsensusStart", "ConvexCost", "DiffusionParticipant", "DiffusionResult",
        "DiffusionSettings", "DiffusionValue", "EconomicDispatchActor", "LocalCost",
        "PrimalDualParticipant", "PrimalDualResult", "PrimalDualSettings", "PrimalDualState", "QuadraticCost",
        "QuiescentNetwork", "RoundMessage", "RoundParticipant", "StepSize", "StopReason", "Termination",
        "check_feasible_demand", "run_rounds", "simulate_averaging", "simulate_diffusion", "simulate_primal_dual",
        # running among device agents (job.py, member.py, launcher.py)
        "AveragingDispatchMethod", "ConsensusCollect", "ConsensusFailure", "ConsensusJoin",
        "ConsensusJoined", "ConsensusLauncher", "ConsensusLeave", "ConsensusMember", "ConsensusOutcome",
        "DispatchMethod", "LaunchDeadlines", "LaunchResult", "PrimalDualMethod", "sample_rounds",
    ])

