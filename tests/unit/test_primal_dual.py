"""Primal-dual dispatch on unbalanced digraphs (seed 001): IEEE-14, random fleets vs HiGHS, the z correction."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.optimize import brentq

from edge_agent import registry
from edge_agent.algorithms.consensus import (
    ConvexCost,
    LocalCost,
    PrimalDualResult,
    PrimalDualSettings,
    PrimalDualState,
    QuadraticCost,
    StepSize,
    simulate_primal_dual,
)
from edge_agent.carrier import InProcNetwork
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.messages import Envelope
from edge_agent.registry import load_scenario, parse_scenario
from edge_agent.runtime.inproc import solve
from edge_agent.testing.central import solve_dispatch
from edge_agent.topology import Graph

SCENARIO = Path(__file__).parents[2] / "scenarios" / "ieee14_dispatch_primal_dual.yaml"
PAPER = [66.24, 71.62, 47.15, 54.99, 60.00]
EXACT = [66.240, 71.653, 47.131, 54.986, 59.990]
LAM_STAR = -7.2992  # the paper's sign: minus the marginal cost


async def run(graph: Graph, costs: dict[str, LocalCost], demand: float, **settings: Any) -> PrimalDualResult:
    async with InProcNetwork() as network:
        return await simulate_primal_dual(network, graph, costs, demand, settings=PrimalDualSettings(**settings))


# -- IEEE 14-bus -------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
async def test_ieee14_reproduces_the_paper_and_the_exact_optimum() -> None:
    scenario = load_scenario(SCENARIO)
    report = (await solve(scenario, RunOptions(run_id="ieee14"))).to_json()
    power = [report["power"][f"gen-{i}"] for i in range(1, 6)]
    assert report["status"] == "converged"
    assert report["graph"]["balanced"] is False
    np.testing.assert_allclose(power, PAPER, rtol=0, atol=0.05)
    np.testing.assert_allclose(power, EXACT, rtol=0, atol=0.01)
    for lam in report["multipliers"].values():
        assert lam == pytest.approx(LAM_STAR, abs=0.01)
    assert abs(report["balance_residual"]) <= 0.01
    for estimate in report["residual_estimates"].values():  # each agent's own view of the residual
        assert estimate == pytest.approx(report["balance_residual"], abs=1e-4)
    assert report["objective"] == pytest.approx(1547.82, abs=0.01)
    assert 1_000 <= report["iterations"] <= 20_000
    assert report["participants"]["gen-1"]["x"] == [report["power"]["gen-1"]]
    history = report["history"]
    assert history["iteration"][0] == 0
    assert history["iteration"][-1] == report["iterations"]
    assert len(history["iteration"]) <= 1000
    assert history["x"]["gen-2"][-1] == pytest.approx(report["power"]["gen-2"])


def test_the_central_oracle_agrees_with_the_exact_optimum() -> None:
    solution, marginal = solve_dispatch([2, 3, 4, 4, 2.5], [0.04, 0.03, 0.035, 0.03, 0.04], [0] * 5,
                                        [80, 90, 70, 70, 80], 300)
    np.testing.assert_allclose(solution.x.ravel(), EXACT, atol=1e-3)
    assert -marginal == pytest.approx(LAM_STAR, abs=1e-3)
    assert solution.objective == pytest.approx(1547.82, abs=0.01)


# -- random fleets against HiGHS -------------------------------------------------------------------
def random_fleet(n: int, seed: int) -> tuple[Graph, dict[str, LocalCost], float, np.ndarray, float, float]:
    """Generators with costs a x + b x^2, half with a minimum output, demand at 30-60 % of the range,
    on a random strongly connected digraph with about 3 in-neighbours each."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(1, 8, n), rng.uniform(0.01, 0.08, n)
    lower = rng.uniform(5, 20, n) * (rng.random(n) < 0.5)
    upper = lower + rng.uniform(20, 100, n)
    demand = float(lower.sum() + rng.uniform(0.3, 0.6) * (upper - lower).sum())
    nodes = [f"g{i}" for i in range(n)]
    graph = Graph.random_strongly_connected(nodes, min(1.0, 3 / n), rng)
    costs: dict[str, LocalCost] = {
        node: QuadraticCost(a[i], b[i], lower[i], upper[i], node) for i, node in enumerate(nodes)
    }
    solution, marginal = solve_dispatch(a, b, lower, upper, demand)
    x_star = solution.x.ravel()
    free = (x_star > lower + 1e-6) & (x_star < upper - 1e-6)
    assert 0 < free.sum() < n, "the instance must have generators at their bounds"
    # Step a0 = 2 / (the fleet's price sensitivity at the optimum, sum of 1/2b over free generators).
    a0 = min(1.0, 2.0 / float(np.sum(0.5 / b[free])))
    return graph, costs, demand, x_star, -marginal, a0


@pytest.mark.parametrize(
    ("n", "seed", "iterations", "rel_tol", "lam_tol"),
    [(5, 0, 2000, 1e-3, 0.05), (5, 1, 2000, 1e-3, 0.05), (5, 2, 2000, 1e-3, 0.05), (20, 3, 1500, 3e-3, 0.1),
     (50, 4, 600, 1e-2, 0.3), (200, 5, 150, 3e-2, 1.5)],
)
@pytest.mark.timeout(60)
async def test_random_fleets_approach_the_central_optimum(
    n: int, seed: int, iterations: int, rel_tol: float, lam_tol: float
) -> None:
    # The error of a 1/t step decays like 1/t: the tolerances are what `iterations` rounds reach, with margin.
    graph, costs, demand, x_star, lam_star, a0 = random_fleet(n, seed)
    assert not graph.is_balanced()
    result = await run(graph, costs, demand, step=StepSize(a0=a0), max_iter=iterations, tol_lam=0, tol_balance=0)
    assert result.status == "max_iterations"
    x = np.array([result.x[node] for node in graph.nodes])
    f_star = sum(costs[node].value(v) for node, v in zip(graph.nodes, x_star, strict=True))
    assert np.linalg.norm(x - x_star) <= rel_tol * np.linalg.norm(x_star)
    assert abs(result.objective - f_star) <= rel_tol * f_star
    assert abs(result.residual) <= rel_tol * demand
    early = np.array([result.x_history[node][iterations // 10] for node in graph.nodes])
    assert np.linalg.norm(x - x_star) <= np.linalg.norm(early - x_star) / 3  # still converging
    assert max(abs(lam - lam_star) for lam in result.lam.values()) <= lam_tol


# -- the z correction ------------------------------------------------------------------------------
async def test_without_the_z_correction_the_multipliers_settle_on_the_wrong_point() -> None:
    nodes = ["a", "b", "c", "d"]
    graph = Graph.from_edges(nodes, [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "c"), ("a", "d")])
    costs: dict[str, LocalCost] = {
        node: QuadraticCost(float(i + 1), 0.1, 0.0, 50.0, node) for i, node in enumerate(nodes)
    }
    demand = 60.0
    # The uncorrected iteration balances sum_i pi_i (P/m - x_i(lam)), pi the Perron vector of A.
    A = np.eye(4)
    for u, v in graph.edges:
        A[nodes.index(v), nodes.index(u)] = 1
    A /= A.sum(axis=1, keepdims=True)
    values, vectors = np.linalg.eig(A.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    pi /= pi.sum()

    def supply(lam: float) -> np.ndarray:
        return np.array([costs[node].response(lam) for node in nodes])

    lam_star = brentq(lambda lam: supply(lam).sum() - demand, -100, 100)
    lam_pi = brentq(lambda lam: pi @ (demand / 4 - supply(lam)), -100, 100)
    assert abs(lam_pi - lam_star) > 0.1

    common = {"step": StepSize(a0=0.25), "max_iter": 2000, "tol_lam": 0.0, "tol_balance": 0.0}
    corrected = await run(graph, costs, demand, **common)
    plain = await run(graph, costs, demand, **common, z_correction=False)
    for lam in corrected.lam.values():
        assert lam == pytest.approx(lam_star, abs=0.01)
    assert abs(corrected.residual) <= 0.05
    for lam in plain.lam.values():
        assert lam == pytest.approx(lam_pi, abs=0.01)
    assert plain.residual == pytest.approx(supply(lam_pi).sum() - demand, abs=0.05)
    assert plain.residual < -2.0


# -- generic convex costs --------------------------------------------------------------------------
def test_the_generic_solver_matches_the_closed_form() -> None:
    closed = QuadraticCost(3.0, 0.05, 10.0, 60.0)
    generic = ConvexCost(lambda x: 3.0 * x + 0.05 * x * x, 10.0, 60.0)
    for lam in (-20.0, -9.0, -5.0, -4.0, 0.0, 5.0):
        assert generic.response(lam) == pytest.approx(closed.response(lam), abs=1e-6)  # Brent: ~1e-8 relative
    assert generic.response(0.0) == 10.0  # snapped onto the bound
    assert ConvexCost(lambda x: x * x, 2.0, 2.0).response(-100.0) == 2.0


async def test_exponential_costs_reach_the_kkt_point() -> None:
    # f_i(x) = c_i exp(x / s_i): x~(lam) = s_i ln(-lam s_i / c_i) clipped to the bounds.
    params = [(1.0, 10.0, 50.0), (2.0, 12.0, 60.0), (0.5, 8.0, 40.0), (1.5, 15.0, 50.0)]
    nodes = [f"e{i}" for i in range(len(params))]
    def exponential(c: float, s: float) -> Callable[[float], float]:
        return lambda x: c * math.exp(x / s)

    costs: dict[str, LocalCost] = {
        node: ConvexCost(exponential(c, s), 0.0, u, node) for node, (c, s, u) in zip(nodes, params, strict=True)
    }

    def kkt_supply(lam: float) -> float:
        return sum(min(max(s * math.log(max(-lam * s / c, 1e-300)), 0.0), u) for c, s, u in params)

    demand = 120.0
    lam_star = brentq(lambda lam: kkt_supply(lam) - demand, -1e3, -1e-9)
    graph = Graph.directed_ring_with_chords(nodes, 2, np.random.default_rng(1))
    result = await run(graph, costs, demand, step=StepSize(a0=0.05), max_iter=1500, tol_lam=1e-8, tol_balance=1e-3)
    for lam in result.lam.values():
        assert lam == pytest.approx(lam_star, abs=0.02)
    assert abs(result.residual) <= 0.1


# -- the protocol ----------------------------------------------------------------------------------
async def test_order_and_codec_do_not_change_the_result() -> None:
    graph, costs, demand, *_ = random_fleet(5, 0)
    settings = PrimalDualSettings(max_iter=300, tol_lam=0, tol_balance=0)
    async with InProcNetwork() as network:
        plain = await simulate_primal_dual(network, graph, costs, demand, settings=settings)
    async with InProcNetwork(rng=np.random.default_rng(2), shuffle=True, codec=registry.codec()) as network:
        jumbled = await simulate_primal_dual(network, graph, costs, demand, settings=settings)
        assert network.stats.by_kind["primal_dual.state"] == 301 * (len(graph.edges))
    for node in graph.nodes:
        assert jumbled.lam[node] == pytest.approx(plain.lam[node], abs=1e-12)


def test_the_state_message_survives_the_wire_and_rejects_nan() -> None:
    body = PrimalDualState(round=3, quiet=1, final="converged", lam=-7.3, z=np.array([0.2, 0.8]), w=0.01)
    envelope = Envelope(id="x-1", sender="a", receiver="b", seq=1, body=body)
    decoded = registry.codec().decode(registry.codec().encode(envelope)).body
    assert isinstance(decoded, PrimalDualState)
    assert decoded.final == "converged"
    assert decoded.lam == -7.3
    np.testing.assert_array_equal(decoded.z, [0.2, 0.8])
    with pytest.raises(ValueError, match="finite"):
        PrimalDualState(round=0, lam=float("nan"), z=np.array([1.0]), w=0.0)


# -- bad inputs, rejected up front -----------------------------------------------------------------
def ieee_costs() -> dict[str, LocalCost]:
    data = [(2.0, 0.040, 80), (3.0, 0.030, 90), (4.0, 0.035, 70), (4.0, 0.030, 70), (2.5, 0.040, 80)]
    return {f"g{i}": QuadraticCost(a, b, 0.0, u, f"g{i}") for i, (a, b, u) in enumerate(data)}


async def test_a_graph_that_is_not_strongly_connected_is_rejected_naming_the_node() -> None:
    nodes = list(ieee_costs())
    graph = Graph.from_edges(nodes, [("g0", "g1"), ("g1", "g2"), ("g2", "g3"), ("g3", "g4"), ("g4", "g1")])
    async with InProcNetwork() as network:
        with pytest.raises(ConfigError, match="node 'g1' cannot reach 'g0'"):
            await simulate_primal_dual(network, graph, ieee_costs(), 300.0)
    assert network.stats.sent == 0


@pytest.mark.parametrize("demand", [-1.0, 390.01, float("nan"), float("inf")])
async def test_an_infeasible_demand_is_rejected(demand: float) -> None:
    graph = Graph.ring(list(ieee_costs()), directed=True)
    async with InProcNetwork() as network:
        with pytest.raises(ConfigError, match="demand"):
            await simulate_primal_dual(network, graph, ieee_costs(), demand)
    with pytest.raises(ConfigError, match="between 0 and 390"):
        await run(graph, ieee_costs(), 400.0)


def test_bad_parameters_are_rejected() -> None:
    for a0 in (0.0, -0.05, 1.5, float("nan")):
        with pytest.raises(ValidationError, match=r"a0\n  Input should be (greater|less|a finite)"):
            StepSize(a0=a0)
    for q in (0.5, 1.2, float("nan")):
        with pytest.raises(ValidationError, match=r"q\n  Input should be (greater|less|a finite)"):
            StepSize(a0=0.05, q=q)
    with pytest.raises(ValidationError, match="tol_lam\n  Input should be greater than or equal to 0"):
        PrimalDualSettings(tol_lam=-1)
    with pytest.raises(ConfigError, match="cost coefficients must be finite"):
        QuadraticCost(float("nan"), 0.1, 0, 1)
    with pytest.raises(ConfigError, match="quadratic coefficient must be > 0"):
        QuadraticCost(1.0, 0.0, 0, 1)
    with pytest.raises(ConfigError, match="lower bound 2 exceeds upper bound 1"):
        QuadraticCost(1.0, 0.1, 2, 1)
    with pytest.raises(ConfigError, match="cannot be evaluated at the bound x=0"):
        ConvexCost(math.log, 0.0, 1.0)
    with pytest.raises(ConfigError, match="not finite at the bound x=1"):
        ConvexCost(lambda x: 1.0 / (1.0 - x) if x < 1 else math.inf, 0.0, 1.0)


async def test_costs_must_match_the_graph() -> None:
    costs = ieee_costs()
    del costs["g4"]
    with pytest.raises(ConfigError, match=r"missing \['g4'\]"):
        await run(Graph.complete([f"g{i}" for i in range(5)]), costs, 100.0)


def scenario_data(**change: Any) -> dict[str, Any]:
    return {
        "algorithm": "primal-dual-dispatch",
        "demand": 100,
        "topology": {"kind": "ring", "directed": True},
        "participants": [
            {"id": "g1", "kind": "generator", "p_max": 80, "cost_linear": 2.0, "cost_quadratic": 0.04},
            {"id": "g2", "kind": "generator", "p_max": 90, "cost_linear": 3.0, "cost_quadratic": 0.03},
        ],
        **change,
    }


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"demand": 500}, "demand 500 is infeasible: the 2 generators together deliver between 0 and 170"),
        ({"demand": float("nan")}, "demand"),
        ({"settings": {"step": {"a0": 0}}}, "settings.step.a0"),
        ({"settings": {"step": {"q": 0.5}}}, "settings.step.q"),
        ({"settings": {"max_iter": 0}}, "settings.max_iter"),
        ({"topology": {"kind": "edges", "edges": [["g1", "g2"]]}}, "node 'g2' cannot reach 'g1'"),
        ({"topology": {"kind": "edges", "edges": [["g1", "g9"]]}}, "unknown node 'g9'"),
        ({"participants": [{"id": "g1", "kind": "generator", "p_max": 80, "cost_linear": 2.0}]},
         "cost_quadratic must be > 0"),
    ],
)
def test_scenario_errors_name_the_field(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_scenario(scenario_data(**change), "dispatch.yaml")


async def test_a_small_scenario_runs_to_convergence() -> None:
    scenario = parse_scenario(scenario_data(settings={"step": {"a0": 0.05}, "tol_lam": 1e-6, "tol_balance": 0.01}))
    report = (await solve(scenario, RunOptions(run_id="small"))).to_json()
    assert report["status"] == "converged"
    # optimum: 2 + 0.08 x1 = 3 + 0.06 x2, x1 + x2 = 100 -> x1 = 50, x2 = 50, marginal cost 6
    assert report["power"]["g1"] == pytest.approx(50.0, abs=0.05)
    assert report["multipliers"]["g2"] == pytest.approx(-6.0, abs=0.01)
