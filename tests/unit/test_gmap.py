"""DisLRP on GMAP/GAP: the seed's example, seeded instances against a HiGHS MIP, OR-Library problems with
known optima, infeasible and malformed input, the knapsack against brute force, the wire message."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.gmap import DisLrpCycle, Gmap, GmapScenario, generate, read_orlib, solve_knapsack
from edge_agent.algorithms.gmap.member import build_agent
from edge_agent.algorithms.gmap.messages import DisLrpJoin
from edge_agent.algorithms.gmap.plan import gmap_joins
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.family import RunOptions
from edge_agent.messages import Envelope
from edge_agent.runtime.inproc import solve
from edge_agent.testing.gap import solve_gap

REFERENCE = Path(__file__).resolve().parents[1] / "data"  # gap1.txt, OR-Library (public data)
SEED_EXAMPLE: dict[str, Any] = {
    "algorithm": "dislrp", "name": "seed-example", "gmap": {
        "goods": ["g1", "g2", "g3"],
        "agents": {"agent1": {"capacity": 4, "profit": [5, 6, 5], "weight": [2, 2, 1]},
                   "agent2": {"capacity": 3, "profit": [4, 2, 2], "weight": [2, 2, 2]}}}}


def run(data: dict[str, Any], *, codec_check: bool = False) -> dict[str, Any]:
    scenario = registry.parse_scenario(data)
    return asyncio.run(solve(scenario, RunOptions(run_id="t", codec_check=codec_check))).to_json()


def as_problem(gain: np.ndarray, weight: np.ndarray, capacity: np.ndarray) -> dict[str, Any]:
    m, n = gain.shape
    return {"goods": [f"g{j}" for j in range(n)],
            "agents": {f"a{i}": {"capacity": int(capacity[i]), "profit": gain[i].tolist(),
                                 "weight": weight[i].tolist()} for i in range(m)}}


def owner_of(report: dict[str, Any], n: int) -> list[int]:
    owner = [-1] * n
    for i, part in enumerate(report["participants"].values()):
        for j in part["x"]:
            owner[int(j)] = i
    return owner


def test_the_seed_example_is_solved_to_15_with_bound_15() -> None:
    report = run(SEED_EXAMPLE, codec_check=True)
    assert report["status"] == "converged"
    assert report["optimal"] is True
    assert report["objective"] == 15
    assert report["lower_bound"] == 15
    assert report["upper_bound"] == 15
    assert report["participants"]["agent1"]["goods"] == ["g2", "g3"]
    assert report["participants"]["agent2"]["goods"] == ["g1"]


def test_the_knapsack_is_exact() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 9))
        values, weights, capacity = rng.normal(5, 5, n), rng.integers(0, 8, n), int(rng.integers(0, 15))
        value, chosen = solve_knapsack(values, weights, capacity)
        best = max(sum(values[j] for j in range(n) if bits[j]) for bits in itertools.product((0, 1), repeat=n)
                   if sum(weights[j] for j in range(n) if bits[j]) <= capacity)
        assert value == pytest.approx(best, abs=1e-9)
        assert weights[chosen].sum() <= capacity
        assert values[chosen].sum() == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_bounds_hold_at_every_cycle_against_the_mip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = 3, int(rng.integers(6, 10))
    gain = rng.integers(1, 30, (m, n)).astype(float)
    weight = rng.integers(1, 10, (m, n))
    tight = seed % 3 == 2  # some instances too tight for any assignment
    capacity = (weight.sum(axis=1) * (0.2 if tight else 0.45)).astype(int)
    optimum = solve_gap(gain, weight, capacity)
    report = run({"algorithm": "dislrp", "max_cycles": 120, "gmap": as_problem(gain, weight, capacity)})
    if not optimum.feasible:
        assert report["status"] != "converged"
        assert report["optimal"] is False
        assert report["lower_bound"] is None or report["infeasible"]
        return
    assert optimum.value is not None
    for upper in report.get("dual_history", []):
        assert upper >= optimum.value - 1e-6
    for lower in report.get("feasible_history", []):
        assert lower is None or lower <= optimum.value + 1e-6
    if report["feasible_objective"] is not None:
        problem = Gmap("p", tuple(f"a{i}" for i in range(m)), tuple(f"g{j}" for j in range(n)), gain, weight,
                       capacity)
        owner = owner_of(report, n)
        assert problem.violation(owner) is None
        assert problem.value(owner) == report["feasible_objective"]
    if report["optimal"]:
        assert report["status"] == "converged"
        assert report["objective"] == pytest.approx(optimum.value)
    else:
        assert report["status"] != "converged"


def test_a_minimisation_instance_keeps_its_bounds_in_order() -> None:
    problem = generate("C", 3, 15, np.random.default_rng(5))
    optimum = solve_gap(problem.gain, problem.weight, problem.capacity)
    report = run({"algorithm": "dislrp", "max_cycles": 150, "generate": {"type": "C", "agents": 3, "goods": 15,
                                                                        "seed": 5}})
    assert optimum.value is not None
    cost = -optimum.value
    assert report["lower_bound"] <= cost + 1e-6 <= report["upper_bound"] + 2e-6
    assert report["objective"] == report["upper_bound"]  # the feasible cost


@pytest.mark.parametrize("problem", [1, 2])
def test_or_library_gap1_bounds_around_the_known_optimum(problem: int) -> None:
    known = [336, 327][problem - 1]
    report = run({"algorithm": "dislrp", "max_cycles": 150,
                  "orlib": {"file": str(REFERENCE / "gap1.txt"), "problem": problem}})
    instance = read_orlib(REFERENCE / "gap1.txt")[problem - 1]
    owner = owner_of(report, len(instance.goods))
    assert instance.violation(owner) is None
    assert instance.value(owner) == report["lower_bound"]
    assert report["lower_bound"] <= known <= report["upper_bound"]
    assert (known - report["lower_bound"]) / known < 0.01


def test_a_good_no_agent_can_take_is_infeasible() -> None:
    data = {**SEED_EXAMPLE, "gmap": {**SEED_EXAMPLE["gmap"], "agents": {
        "agent1": {"capacity": 4, "profit": [5, 6, 5], "weight": [2, 9, 1]},
        "agent2": {"capacity": 3, "profit": [4, 2, 2], "weight": [2, 9, 2]}}}}
    report = run(data)
    assert report["status"] == "infeasible"
    assert report["infeasible"] is True
    assert report["optimal"] is False
    assert "'g2'" in report["reason"]


@pytest.mark.parametrize(("agent", "match"), [
    ({"capacity": -1, "profit": [1, 1, 1], "weight": [1, 1, 1]}, "capacity of agent 'agent2' is -1"),
    ({"capacity": 3, "profit": [1, 1, 1], "weight": [1, -2, 1]}, "weight of good 'g2' for agent 'agent2' is -2"),
    ({"capacity": 3, "profit": [1, 1], "weight": [1, 1, 1]}, "agent 'agent2': profit lists 2 numbers for 3 goods"),
    ({"capacity": 3, "profit": [1, 1, 1], "weight": [1, 1.5, 1]}, "weight table must hold integers"),
])
def test_bad_input_is_refused_with_a_clear_message(agent: dict[str, Any], match: str) -> None:
    data = {**SEED_EXAMPLE, "gmap": {**SEED_EXAMPLE["gmap"], "agents": {
        "agent1": SEED_EXAMPLE["gmap"]["agents"]["agent1"], "agent2": agent}}}
    with pytest.raises(ConfigError, match=match):
        registry.parse_scenario(data)


def test_or_library_defects_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "gapx.txt"
    bad.write_text("1\n2 3\n1 2 3\n")
    with pytest.raises(ConfigError, match=r"gapx.txt: problem 1: expected 14 numbers"):
        read_orlib(bad)


def test_the_cycle_message_round_trips_and_defects_are_refused() -> None:
    body = DisLrpCycle(cycle=3, chosen=(0, 2), value=4.5, quiet=1)
    envelope = Envelope(id="m1", sender="a1", receiver="a2", seq=0, run="r1", body=body)
    codec = registry.codec()
    assert codec.decode(codec.encode(envelope)).body == body
    raw = codec.encode(envelope).replace(b'"cycle":3', b'"cycle":-3')
    with pytest.raises(ProtocolError):
        codec.decode(raw)


def test_the_join_carries_the_agents_row_and_refuses_mismatched_sizes() -> None:
    scenario = registry.parse_scenario(SEED_EXAMPLE)
    assert isinstance(scenario, GmapScenario)
    joins = gmap_joins(scenario, "r1")
    envelope = Envelope(id="m1", sender="launcher", receiver="agent1", seq=0, run="r1", body=joins["agent1"])
    codec = registry.codec()
    back = codec.decode(codec.encode(envelope)).body
    assert isinstance(back, DisLrpJoin)
    agent = build_agent("agent1", back)
    assert agent.local.capacity == 4
    assert agent.local.neighbours == ("agent2",)
    assert agent.local.gain.tolist() == [5, 6, 5]
    with pytest.raises(ValueError, match="must match"):
        DisLrpJoin.model_validate({**back.model_dump(), "weight": [1, 2]})
    with pytest.raises(ValueError, match="distinct indices"):
        DisLrpJoin.model_validate({**back.model_dump(), "goods": [0, 0, 1]})


def test_an_agent_that_can_take_nothing_runs_alone_and_the_rest_still_solve() -> None:
    data = {**SEED_EXAMPLE, "gmap": {**SEED_EXAMPLE["gmap"], "agents": {
        **SEED_EXAMPLE["gmap"]["agents"], "idle": {"capacity": 0, "profit": [9, 9, 9], "weight": [1, 1, 1]}}}}
    report = run(data)
    assert report["status"] == "converged"
    assert report["objective"] == 15
    assert report["participants"]["idle"]["goods"] == []


def test_the_repair_returns_feasible_assignments_or_none() -> None:
    from edge_agent.algorithms.gmap import repair

    rng = np.random.default_rng(8)
    found = 0
    for seed in range(30):
        problem = generate("C", 4, 14, np.random.default_rng(seed))
        chosen = rng.random(problem.shape) < 0.2
        for i in range(problem.shape[0]):  # each agent's choice within its capacity, as a knapsack's would be
            while problem.weight[i, chosen[i]].sum() > problem.capacity[i]:
                chosen[i, np.flatnonzero(chosen[i])[0]] = False
        owner = repair(problem, chosen)
        if owner is not None:
            found += 1
            assert problem.violation(owner) is None
    assert found == 30  # all 30 instances are feasible (HiGHS)
