"""Diffusion (adapt-then-combine) dispatch: IEEE-14 against the exact optimum (HiGHS), weights, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from edge_agent.algorithms.consensus import DiffusionSettings, QuadraticCost, StepSize, simulate_diffusion
from edge_agent.carrier import InProcNetwork
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.registry import load_scenario, parse_scenario
from edge_agent.runtime.inproc import solve
from edge_agent.testing.central import solve_dispatch
from edge_agent.topology import Graph

ROOT = Path(__file__).parents[2]
A = [2.0, 3.0, 4.0, 4.0, 2.5]
B = [0.040, 0.030, 0.035, 0.030, 0.040]
PMAX = [80.0, 90.0, 70.0, 70.0, 80.0]
NODES = ["g1", "g2", "g3", "g4", "g5"]
IRREGULAR = [("g1", "g2"), ("g1", "g3"), ("g1", "g4"), ("g1", "g5"), ("g2", "g3"), ("g4", "g5")]


def _costs() -> dict[str, QuadraticCost]:
    return {n: QuadraticCost(a, b, 0.0, p, n) for n, a, b, p in zip(NODES, A, B, PMAX, strict=True)}


def _optimum(demand: float) -> np.ndarray:
    solution, _ = solve_dispatch(A, B, [0.0] * 5, PMAX, demand)
    return np.asarray(solution.x).reshape(-1)


@pytest.mark.parametrize(("graph", "weights"), [
    (Graph.from_edges(NODES, IRREGULAR, directed=False), "metropolis"),
    (Graph.complete(NODES), "uniform"),
])
async def test_ieee14_reaches_the_exact_optimum_within_0_01_mw(graph: Graph, weights: str) -> None:
    settings = DiffusionSettings(weights=weights, max_iter=8000, tol=2e-3)
    async with InProcNetwork() as network:
        result = await simulate_diffusion(network, graph, _costs(), 300.0, settings=settings)
    powers = np.array([result.x[n][0] for n in NODES])
    assert np.abs(powers - _optimum(300.0)).max() <= 0.01
    assert result.residual <= 0.01
    assert result.status == "converged"


async def test_uniform_weights_on_an_irregular_graph_miss_the_demand() -> None:
    """Row-stochastic only: the fixed point is Perron-weighted (module docs); the status says so."""
    graph = Graph.from_edges(NODES, IRREGULAR, directed=False)
    settings = DiffusionSettings(weights="uniform", max_iter=800, tol=1e-6)
    async with InProcNetwork() as network:
        result = await simulate_diffusion(network, graph, _costs(), 300.0, settings=settings)
    assert result.residual > 0.5
    assert result.status != "converged"


async def test_a_horizon_of_demands_is_dispatched_slot_by_slot() -> None:
    demands = [250.0, 300.0, 330.0]
    settings = DiffusionSettings(max_iter=8000, tol=2e-3)
    async with InProcNetwork() as network:
        result = await simulate_diffusion(network, Graph.complete(NODES), _costs(), demands, settings=settings)
    for t, demand in enumerate(demands):
        powers = np.array([result.x[n][t] for n in NODES])
        assert np.abs(powers - _optimum(demand)).max() <= 0.01


async def test_a_constant_step_stays_off_by_an_amount_that_shrinks_with_the_step() -> None:
    errors = []
    for a0 in (0.01, 0.001):
        settings = DiffusionSettings(step=StepSize(a0=a0), constant_step=True, max_iter=4000, tol=1e-4)
        async with InProcNetwork() as network:
            result = await simulate_diffusion(network, Graph.ring(NODES), _costs(), 300.0, settings=settings)
        errors.append(np.abs(np.array([result.x[n][0] for n in NODES]) - _optimum(300.0)).max())
        assert result.residual <= 0.01  # doubly stochastic weights: the balance holds at the fixed point
    assert errors[0] > 0.1
    assert errors[1] < errors[0] / 5


async def test_bad_input_is_refused_with_a_clear_error() -> None:
    directed = Graph.directed_ring_with_chords(NODES, 1, np.random.default_rng(0))
    async with InProcNetwork() as network:
        with pytest.raises(ConfigError, match="Metropolis weights need an undirected graph"):
            await simulate_diffusion(network, directed, _costs(), 300.0)
        with pytest.raises(ConfigError, match="infeasible"):
            await simulate_diffusion(network, Graph.ring(NODES), _costs(), 500.0)


async def test_the_ieee14_diffusion_scenario_reaches_the_optimum_through_the_runtime() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ieee14_dispatch_diffusion.yaml")
    report = (await solve(scenario, RunOptions(run_id="diffusion"))).to_json()
    optimum = _optimum(300.0)
    assert report["status"] == "converged"
    for i, node in enumerate(["gen-1", "gen-2", "gen-3", "gen-4", "gen-5"]):
        assert report["power"][node] == pytest.approx(optimum[i], abs=0.01)


def test_metropolis_weights_on_a_directed_topology_are_refused_naming_the_field() -> None:
    data = yaml.safe_load((ROOT / "scenarios" / "ieee14_dispatch_diffusion.yaml").read_text())
    data["topology"] = {"kind": "ring", "directed": True}
    with pytest.raises(ConfigError, match="Metropolis weights need an undirected topology"):
        parse_scenario(data, "x.yaml")
