"""Issue 12: statuses that can be trusted, and the convergence options on the hard classes, against HiGHS."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.algorithms.admm import (
    AdmmCoordinator,
    AdmmFlexActor,
    AdmmResult,
    AdmmSettings,
    ConsensusVariant,
    SharingVariant,
    create_admm_flex_actor_one_to_many,
)
from edge_agent.algorithms.consensus import PrimalDualResult, PrimalDualSettings, simulate_primal_dual
from edge_agent.carrier import InProcNetwork
from edge_agent.results import EXIT_CODES, Status, exit_code, worst_exit_code
from edge_agent.testing.central import solve_consensus, solve_sharing
from edge_agent.topology import Graph

from .test_admm import mixed_fleet
from .test_primal_dual import random_fleet

REL_GAP = 1e-4  # |f - f*| <= REL_GAP * max(1, |f*|)
DISPATCH_ATOL = 0.01  # MW, every generator against the exact dispatch


# -- statuses and exit codes -------------------------------------------------------------------------
def test_every_status_has_its_own_exit_code() -> None:
    statuses = set(get_args(Status))
    assert statuses == set(EXIT_CODES)
    codes = list(EXIT_CODES.values())
    assert len(set(codes)) == len(codes)
    assert 2 not in codes  # reserved for invalid input
    assert [s for s, c in EXIT_CODES.items() if c == 0] == ["converged"]
    assert exit_code("no-such-status") == 1
    assert worst_exit_code([]) == 0
    assert worst_exit_code(["converged", "approximate"]) == EXIT_CODES["approximate"]
    assert worst_exit_code(["converged", "diverged", "max_iterations"]) == EXIT_CODES["diverged"]


# -- ADMM on priced fleets ---------------------------------------------------------------------------
def priced_fleet(n: int, seed: int, reachable: bool) -> tuple[list[AdmmFlexActor], np.ndarray, np.ndarray]:
    """One-to-many devices with prices S in [-0.1, 0.1] and priorities in [0.5, 5] (the class of issue 12);
    the unreachable target asks 1.5 times what the fleet can give in each slot's direction."""
    rng = np.random.default_rng([seed, n, int(reachable)])
    capacity, eta = rng.uniform(5, 20, n), rng.uniform(-1, 1, (n, 3))
    prices, priorities = rng.uniform(-0.1, 0.1, (n, 3)), rng.uniform(0.5, 5, 3)
    tech = capacity[:, None] * eta
    if reachable:
        target = (rng.uniform(0, 1, (n, 1)) * tech).sum(axis=0)
    else:
        target = 1.5 * np.maximum(tech, 0).sum(axis=0) * rng.choice([-1, 1], 3)
    actors = [create_admm_flex_actor_one_to_many(float(c), e, p, id=f"d{i}")
              for i, (c, e, p) in enumerate(zip(capacity, eta, prices, strict=True))]
    return actors, target, priorities


async def run_sharing(actors: list[AdmmFlexActor], target: np.ndarray, priorities: np.ndarray,
                      settings: AdmmSettings) -> AdmmResult:
    coordinator = AdmmCoordinator(SharingVariant(target, priorities), [a.id for a in actors], 3, settings)
    async with InProcNetwork() as network:
        for actor in actors:
            network.add(actor)
        return await coordinator.run(network.add(coordinator))


def assert_honest(result: AdmmResult, settings: AdmmSettings) -> None:
    last = result.history[-1]
    if result.status == "converged":
        assert last.coupling <= settings.feasibility_tol
        assert last.r_primal <= last.eps_primal
        assert last.r_dual <= last.eps_dual


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(
    "settings",
    [AdmmSettings(max_iters=400, rho_update="balance"), AdmmSettings(max_iters=400, rho=0.1, acceleration="anderson")],
    ids=["balance", "anderson"],
)
async def test_priced_fleets_with_an_unreachable_target_reach_the_central_optimum(
    seed: int, settings: AdmmSettings
) -> None:
    actors, target, priorities = priced_fleet(30, seed, reachable=False)
    result = await run_sharing(actors, target, priorities, settings)
    central = solve_sharing([a.problem for a in actors], target, priorities)
    assert result.status == "converged"
    assert_honest(result, settings)
    assert abs(result.objective - central.objective) <= REL_GAP * max(1.0, abs(central.objective))


async def test_residual_balancing_cuts_the_rounds_on_unreachable_priced_targets() -> None:
    actors, target, priorities = priced_fleet(30, 3, reachable=False)
    fixed = await run_sharing(actors, target, priorities, AdmmSettings(max_iters=2000))
    actors, target, priorities = priced_fleet(30, 3, reachable=False)
    balanced = await run_sharing(actors, target, priorities, AdmmSettings(max_iters=2000, rho_update="balance"))
    assert fixed.status == balanced.status == "converged"
    assert balanced.iterations * 2 < fixed.iterations
    assert len({r.rho for r in balanced.history}) > 1


async def test_a_met_residual_test_with_a_missed_coupling_is_not_converged() -> None:
    actors, target, priorities = priced_fleet(10, 4, reachable=True)
    settings = AdmmSettings(max_iters=2000, abs_tol=1e-2, rel_tol=1e-2, feasibility_tol=1e-9)
    result = await run_sharing(actors, target, priorities, settings)
    assert result.status == "infeasible_result"
    assert result.history[-1].coupling > settings.feasibility_tol


def test_admm_settings_name_the_valid_values() -> None:
    with pytest.raises(ValidationError, match=r"acceleration\n  Input should be 'none' or 'anderson'"):
        AdmmSettings(acceleration="nesterov")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="rho_min <= rho <= rho_max"):
        AdmmSettings(rho=10, rho_max=1)
    with pytest.raises(ValidationError, match=r"relaxation\n  Input should be less than 2"):
        AdmmSettings(relaxation=2.0)


# -- primal-dual on unbalanced digraphs --------------------------------------------------------------
async def run_dispatch(graph: Graph, costs: dict, demand: float, settings: PrimalDualSettings) -> PrimalDualResult:  # type: ignore[type-arg]
    async with InProcNetwork() as network:
        return await simulate_primal_dual(network, graph, costs, demand, settings=settings)


@pytest.mark.parametrize(("n", "seed"), [(20, 3), (20, 6), (40, 7)])
@pytest.mark.timeout(60)
async def test_tracking_reaches_the_exact_dispatch_on_random_digraphs(n: int, seed: int) -> None:
    graph, costs, demand, x_star, _, _ = random_fleet(n, seed)
    assert not graph.is_balanced()
    settings = PrimalDualSettings(update="tracking", max_iter=2000, tol_balance=1e-3)
    result = await run_dispatch(graph, costs, demand, settings)
    assert result.status == "converged"
    assert abs(result.residual) <= settings.tol_balance
    x = np.array([result.x[node] for node in graph.nodes])
    assert np.abs(x - x_star).max() <= DISPATCH_ATOL
    assert result.iterations < 800


def ring_fleet(n: int, seed: int) -> tuple[Graph, dict, float]:  # type: ignore[type-arg]
    graph, costs, demand, *_ = random_fleet(n, seed)
    nodes = list(graph.nodes)
    return Graph.directed_ring_with_chords(nodes, n // 10, np.random.default_rng(seed)), costs, demand


@pytest.mark.timeout(60)
async def test_the_seed_method_diverges_on_a_long_ring_and_says_so() -> None:
    graph, costs, demand = ring_fleet(300, 0)
    result = await run_dispatch(graph, costs, demand, PrimalDualSettings(max_iter=200))
    assert result.status == "diverged"
    assert result.iterations < 60  # stopped at once, not after max_iter rounds
    assert result.z_min < 1e-6  # the Perron estimate dipped: the cause


@pytest.mark.timeout(60)
async def test_the_price_box_keeps_the_multipliers_bounded_on_the_same_ring() -> None:
    graph, costs, demand = ring_fleet(300, 0)
    result = await run_dispatch(graph, costs, demand, PrimalDualSettings(max_iter=60, price_box=True))
    assert result.status == "max_iterations"
    lo = min(-(c.a + 2 * c.b * c.upper) for c in costs.values())
    hi = max(-(c.a + 2 * c.b * c.lower) for c in costs.values())
    for history in result.lam_history.values():  # lam_i(0) = lam0 = 0 is the start, before any projection
        assert lo - 1e-9 <= min(history[1:])
        assert max(history[1:]) <= hi + 1e-9


@pytest.mark.parametrize(
    "options", [{}, {"rho_update": "balance"}, {"acceleration": "anderson"}, {"relaxation": 1.6},
                {"rho_update": "settle"}],
    ids=["fixed", "balance", "anderson", "relaxed", "settle"],
)
async def test_consensus_admm_options_keep_the_problem_and_reach_the_central_optimum(options: dict) -> None:  # type: ignore[type-arg]
    # beta = rho0^2 / alpha is fixed by the variant: a changing rho must not change the problem solved
    actors = [AdmmFlexActor(problem) for problem in mixed_fleet(np.random.default_rng(30), 4, 3)]
    target = np.array([4.0, -2.0, 6.0, 1.0])
    variant = ConsensusVariant(target, alpha=10.0, rho=1.0)
    settings = AdmmSettings(max_iters=3000, **options)
    coordinator = AdmmCoordinator(variant, [a.id for a in actors], 4, settings)
    async with InProcNetwork() as network:
        for actor in actors:
            network.add(actor)
        result = await coordinator.run(network.add(coordinator))
    central = solve_consensus([a.problem for a in actors], target, variant.beta)
    assert result.status == "converged"
    assert_honest(result, settings)
    assert abs(result.objective - central.objective) <= 1e-3 * max(1.0, abs(central.objective))
