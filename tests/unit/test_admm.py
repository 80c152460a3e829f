"""ADMM against an independent central solve (HiGHS) on seeded random instances, and its failure modes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent import registry
from edge_agent.algorithms.admm import (
    AdmmCoordinator,
    AdmmFlexActor,
    AdmmResult,
    AdmmSettings,
    AdmmVariant,
    ConsensusVariant,
    SharingVariant,
    create_admm_flex_actor_one_to_many,
)
from edge_agent.carrier import InProcNetwork
from edge_agent.clock import ManualClock
from edge_agent.devices import Battery, FlexibleLoad, Generator
from edge_agent.errors import ConfigError, RunTimeout, SolverError
from edge_agent.solvers.qp import ConvexQP
from edge_agent.testing.central import solve_consensus, solve_sharing

from .test_inproc import Echo

OBJ_RTOL = 1e-3  # |f - f*| <= OBJ_RTOL * max(1, |f*|)
AGG_ATOL = 1e-3  # |sum x - target| where the target is reachable


async def run_admm(actors: Sequence[AdmmFlexActor], variant: AdmmVariant, size: int,
                   settings: AdmmSettings | None = None, **network: object) -> AdmmResult:
    coordinator = AdmmCoordinator(variant, [a.id for a in actors], size, settings)
    async with InProcNetwork(**network) as net:  # type: ignore[arg-type]
        for actor in actors:
            net.add(actor)
        return await coordinator.run(net.add(coordinator))


def random_flex_fleet(rng: np.random.Generator, n: int, m: int = 3) -> tuple[list[AdmmFlexActor], np.ndarray]:
    capacity = rng.uniform(5, 20, n)
    eta = rng.uniform(-1, 1, (n, m))
    target = (capacity[:, None] * eta * rng.uniform(0, 1, (n, 1))).sum(axis=0)
    actors = [
        create_admm_flex_actor_one_to_many(c, e, id=f"dev-{i}")
        for i, (c, e) in enumerate(zip(capacity, eta, strict=True))
    ]
    return actors, target


@pytest.mark.parametrize(("n", "seed"), [(3, 0), (3, 1), (10, 2), (10, 3), (40, 4)])
async def test_sharing_reaches_a_reachable_target_at_the_central_optimum(n: int, seed: int) -> None:
    actors, target = random_flex_fleet(np.random.default_rng(seed), n)
    # Pure-LP fleets can be degenerate: (3, 1) needs ~4,700 rounds (docs/admm.md, "Convergence").
    result = await run_admm(actors, SharingVariant(target), len(target), AdmmSettings(max_iters=10_000))
    central = solve_sharing([a.problem for a in actors], target, np.ones(len(target)))
    assert result.status == "converged"
    assert abs(result.objective - central.objective) <= OBJ_RTOL * max(1.0, abs(central.objective))
    np.testing.assert_allclose(result.aggregate, target, atol=AGG_ATOL)


def mixed_fleet(rng: np.random.Generator, horizon: int, n_each: int) -> list[ConvexQP]:
    problems = []
    for i in range(n_each):
        problems.append(Generator(id=f"g{i}", kind="generator", p_max=rng.uniform(2, 6),
                                  cost_linear=rng.uniform(0, 3), cost_quadratic=rng.uniform(0.05, 0.5))
                        .local_problem(horizon))
        problems.append(Battery(id=f"b{i}", kind="battery", power_max=rng.uniform(1, 3), energy_max=8,
                                energy_initial=4, wear_cost=rng.uniform(0.01, 0.1)).local_problem(horizon))
        problems.append(FlexibleLoad(id=f"l{i}", kind="flexible-load", p_max=3, energy=rng.uniform(1, 4),
                                     discomfort_cost=rng.uniform(0.01, 0.2)).local_problem(horizon))
    return problems


@pytest.mark.parametrize(("seed", "spread"), [(20, 1.0), (21, 1.0), (22, 15.0), (23, 15.0)])
async def test_sharing_with_quadratic_costs_and_storage_matches_central(seed: int, spread: float) -> None:
    """spread 15: targets partly out of reach, so the priorities trade entries off against each other."""
    rng = np.random.default_rng(seed)
    horizon = 4
    problems = mixed_fleet(rng, horizon, 3)
    target = rng.uniform(-1, 4, horizon) * spread
    priorities = rng.uniform(0.5, 20.0, horizon)
    result = await run_admm([AdmmFlexActor(p) for p in problems], SharingVariant(target, priorities), horizon)
    central = solve_sharing(problems, target, priorities)
    assert result.status == "converged"
    assert abs(result.objective - central.objective) <= OBJ_RTOL * max(1.0, abs(central.objective))
    np.testing.assert_allclose(result.aggregate, central.aggregate, atol=AGG_ATOL)
    if spread > 1:
        assert np.abs(central.aggregate - target).max() > 1.0  # the instance really is out of reach


@pytest.mark.parametrize(("seed", "alpha"), [(30, 1.0), (31, 10.0), (32, 100.0)])
async def test_consensus_matches_central_with_beta_rho_squared_over_alpha(seed: int, alpha: float) -> None:
    rng = np.random.default_rng(seed)
    horizon, rho = 3, 1.0
    problems = mixed_fleet(rng, horizon, 2)
    target = rng.uniform(-1, 3, horizon)
    result = await run_admm([AdmmFlexActor(p) for p in problems], ConsensusVariant(target, alpha, rho), horizon,
                            AdmmSettings(rho=rho))
    central = solve_consensus(problems, target, beta=rho * rho / alpha)
    assert result.status == "converged"
    assert abs(result.objective - central.objective) <= OBJ_RTOL * max(1.0, abs(central.objective))
    np.testing.assert_allclose(result.aggregate, central.aggregate, atol=AGG_ATOL)


async def test_larger_alpha_means_weaker_pull_toward_the_target() -> None:
    problems = mixed_fleet(np.random.default_rng(40), 2, 1)
    target = np.array([5.0, 5.0])
    misses = []
    for alpha in (0.1, 10.0, 1000.0):
        result = await run_admm([AdmmFlexActor(p) for p in problems], ConsensusVariant(target, alpha), 2)
        misses.append(float(np.linalg.norm(result.aggregate - target)))
    assert misses[0] < misses[1] < misses[2]


async def test_seed_three_actor_example_reaches_central_objective() -> None:
    actors = [
        create_admm_flex_actor_one_to_many(10, [0.1, 0.5, -1], id="a1"),
        create_admm_flex_actor_one_to_many(15, [0.1, 0.5, -1], id="a2"),
        create_admm_flex_actor_one_to_many(10, [-1, 0, 1], id="a3"),
    ]
    target, priorities = np.array([-4.0, 0.0, 6.0]), np.array([5.0, 1.0, 1.0])
    result = await run_admm(actors, SharingVariant(target, priorities), 3, rng=np.random.default_rng(0),
                            shuffle=True, codec=registry.codec())
    central = solve_sharing([a.problem for a in actors], target, priorities)
    assert central.objective == pytest.approx(2.0, abs=1e-6)
    assert result.objective == pytest.approx(central.objective, rel=OBJ_RTOL)
    np.testing.assert_allclose(result.aggregate, central.aggregate, atol=AGG_ATOL)


def test_one_to_many_keeps_ratios_and_pins_zero_efficiencies() -> None:
    problem = create_admm_flex_actor_one_to_many(10, [0.5, 0.0, -0.25], id="x").problem
    np.testing.assert_array_equal(problem.lb, [0.0, 0.0, -2.5])
    np.testing.assert_array_equal(problem.ub, [5.0, 0.0, 0.0])
    # every row of A is orthogonal to the conversion direction: x = s * tech satisfies A x = 0
    tech = np.array([5.0, 0.0, -2.5])
    np.testing.assert_allclose(problem.A @ tech, 0.0)
    assert problem.A.shape[0] == 1


async def _round_zero_answered(net: InProcNetwork, clock: ManualClock) -> None:
    """Let the coordinator send round 0 and every participant that answers do so, on a clock that stands still."""
    await clock.advance(0.0)  # the coordinator's task runs up to its first requests
    await net.quiescent()  # the answering devices solved (in threads) and replied


async def test_silent_participant_is_named_after_the_round_deadline() -> None:
    actors, target = random_flex_fleet(np.random.default_rng(0), 2)
    coordinator = AdmmCoordinator(SharingVariant(target), ["dev-0", "dev-1", "mute"], 3,
                                  AdmmSettings(round_timeout_s=0.2))
    clock = ManualClock()
    with pytest.raises(RunTimeout, match=r"ADMM round 0: no answer within 0.2 s from mute") as info:
        async with InProcNetwork(clock=clock) as net:
            for actor in actors:
                net.add(actor)
            net.add(Echo("mute", silent=True))
            run = net.spawn(coordinator.run(net.add(coordinator)), name="coordinator")
            await _round_zero_answered(net, clock)
            await clock.advance(0.1)
            assert not run.done()  # the deadline is 0.2 s of the network's clock, however long the solves took
            await clock.advance(0.1)
            assert run.done()
            await run
    assert info.value.participants == ("mute",)
    assert info.value.round == 0


async def test_infeasible_local_problem_fails_with_the_participants_id() -> None:
    bad = AdmmFlexActor(ConvexQP(owner="stuck", lb=np.zeros(2), ub=np.ones(2), A=np.ones((1, 2)),
                                 lo=np.array([5.0]), hi=np.array([6.0])))
    with pytest.raises(SolverError, match="participant 'stuck': round 0: local QP not solved") as info:
        await run_admm([bad], SharingVariant([1.0, 1.0]), 2)
    assert info.value.participant == "stuck"


def test_invalid_inputs_are_rejected_when_built() -> None:
    with pytest.raises(ConfigError, match="needs at least one participant"):
        AdmmCoordinator(SharingVariant([1.0]), [], 1)
    with pytest.raises(ConfigError, match="repeated: \\['a'\\]"):
        AdmmCoordinator(SharingVariant([1.0]), ["a", "a"], 1)
    with pytest.raises(ConfigError, match="priorities has length 2, but target has 3"):
        SharingVariant([1.0, 2.0, 3.0], [1.0, 1.0])
    with pytest.raises(ConfigError, match="target contains NaN"):
        SharingVariant([1.0, float("nan")])
    with pytest.raises(ConfigError, match="alpha must be a finite number > 0"):
        ConsensusVariant([1.0], alpha=0.0)
    with pytest.raises(ValidationError, match="rho\n  Input should be a finite number"):
        AdmmSettings(rho=float("inf"))
    with pytest.raises(ConfigError, match="P has length 2, expected 3"):
        create_admm_flex_actor_one_to_many(10, [0.1, 0.2, 0.3], [1.0, 2.0], id="p")


async def test_silent_participant_can_be_dropped_and_the_run_finishes_without_it() -> None:
    problems = mixed_fleet(np.random.default_rng(50), 2, 2)
    agents = [AdmmFlexActor(p) for p in problems]
    target = np.array([1.0, 2.0])
    coordinator = AdmmCoordinator(SharingVariant(target, [20.0, 20.0]), [*(a.id for a in agents), "mute"], 2,
                                  AdmmSettings(round_timeout_s=0.2, on_silent="continue"))
    clock = ManualClock()
    async with InProcNetwork(clock=clock) as net:
        for agent in agents:
            net.add(agent)
        mute = Echo("mute", silent=True)
        net.add(mute)
        run = net.spawn(coordinator.run(net.add(coordinator)), name="coordinator")
        await _round_zero_answered(net, clock)
        await clock.advance(0.2)  # round 0's deadline: mute is dropped, the others go on (no later deadline fires)
        result = await run
    central = solve_sharing(problems, target, np.array([20.0, 20.0]))
    assert mute.seen == [0]  # asked in round 0 only
    assert result.dropped == {"mute": 0}
    assert "mute" not in result.x
    assert result.status == "converged"
    assert abs(result.objective - central.objective) <= OBJ_RTOL * max(1.0, abs(central.objective))


async def test_the_coordinator_counts_the_messages_the_network_carried() -> None:
    actors, target = random_flex_fleet(np.random.default_rng(60), 4)
    coordinator = AdmmCoordinator(SharingVariant(target), [a.id for a in actors], 3)
    async with InProcNetwork() as net:
        for actor in actors:
            net.add(actor)
        result = await coordinator.run(net.add(coordinator))
    assert result.messages == net.stats.sent == 2 * 4 * result.iterations


async def test_min_iters_runs_a_fixed_number_of_rounds_and_still_reports_the_stopping_test() -> None:
    """Closed-form local steps reach an exact fixed point, so no tolerance, however small, keeps a run going:
    benchmarks and tests that need a fixed number of rounds set ``min_iters = max_iters``."""
    actors, target = random_flex_fleet(np.random.default_rng(11), 4)
    free = await run_admm(actors, SharingVariant(target), 3)
    assert free.status == "converged"
    fixed = await run_admm(random_flex_fleet(np.random.default_rng(11), 4)[0], SharingVariant(target), 3,
                           AdmmSettings(max_iters=free.iterations + 25, min_iters=free.iterations + 25))
    assert fixed.iterations == free.iterations + 25
    assert fixed.status == "converged"  # the test held at the last round as well
    with pytest.raises(ValidationError, match="min_iters <= max_iters"):
        AdmmSettings(max_iters=10, min_iters=11)
