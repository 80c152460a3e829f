"""The closed-form ADMM steps against OSQP on seeded random problems of each shape, and the shapes they refuse."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.algorithms.admm.flex_actor import one_to_many_problem
from edge_agent.devices import Battery, FlexibleLoad, Generator
from edge_agent.errors import SolverError
from edge_agent.solvers.qp import ConvexQP, ProximalSolver

TOL = 1e-5  # OSQP runs at eps 1e-8 (absolute and relative): its x is within about 1e-6 of the exact one


def _agree(problem: ConvexQP, rng: np.random.Generator, scale: float = 3.0, steps: int = 12) -> None:
    exact = ProximalSolver(problem, rho=1.0)
    assert exact.method == "closed form", problem.owner
    reference = ProximalSolver(problem, rho=1.0, method="osqp")
    for k in range(steps):
        rho = (1.0, 0.05, 7.0, 1.0)[k % 4]
        r = rng.normal(0, scale, problem.size)
        np.testing.assert_allclose(exact.solve(r, rho), reference.solve(r, rho), atol=TOL * max(1.0, scale), rtol=0,
                                   err_msg=f"{problem.owner}, step {k}, rho {rho}")


@pytest.mark.parametrize("seed", range(8))
def test_bounds_only_with_a_diagonal_cost(seed: int) -> None:
    rng = np.random.default_rng([seed, 1])
    n = int(rng.integers(1, 30))
    lb = rng.uniform(-5, 0, n)
    ub = lb + rng.uniform(0, 5, n) * (rng.random(n) > 0.2)  # some variables fixed (lb = ub)
    problem = ConvexQP(owner=f"box-{seed}", lb=lb, ub=ub, c=rng.normal(size=n), Q=np.diag(rng.uniform(0, 2, n)))
    _agree(problem, rng)


@pytest.mark.parametrize("seed", range(12))
def test_one_row_equality_or_range(seed: int) -> None:
    """Energy rows (equality), one-sided and two-sided ranges, a row at the edge of the box; zero and negative
    weights."""
    rng = np.random.default_rng([seed, 2])
    n = int(rng.integers(2, 30))
    lb, ub = rng.uniform(-4, 0, n), rng.uniform(0, 4, n)
    a = rng.normal(size=n) * (rng.random(n) > 0.2)
    middle = float(a @ rng.uniform(lb, ub))
    highest = float(np.where(a > 0, ub, lb) @ a)  # the largest a'x in the box
    lo, hi = [(middle, middle), (middle - 1, middle + 1), (-np.inf, middle), ((middle + highest) / 2, np.inf)][seed % 4]
    problem = ConvexQP(owner=f"row-{seed}", lb=lb, ub=ub, c=rng.normal(size=n), Q=np.diag(rng.uniform(0, 1, n)),
                       A=a[None, :], lo=np.array([lo]), hi=np.array([hi]))
    _agree(problem, rng, scale=6.0)


def test_a_row_that_only_the_corner_of_the_box_meets_gives_that_corner() -> None:
    """OSQP calls this degenerate problem primal infeasible; it has exactly one feasible point."""
    rng = np.random.default_rng(9)
    lb, ub, a = rng.uniform(-3, 0, 6), rng.uniform(0, 3, 6), rng.normal(size=6)
    corner = np.where(a > 0, ub, lb)
    problem = ConvexQP(owner="corner", lb=lb, ub=ub, A=a[None, :], lo=np.array([a @ corner]), hi=np.array([np.inf]))
    for _ in range(5):
        np.testing.assert_allclose(ProximalSolver(problem, 1.0).solve(rng.normal(0, 3, 6), 1.0), corner, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_one_to_many_converters(seed: int) -> None:
    """Fixed output ratios: a segment through the origin (zero efficiencies pin their output to 0)."""
    rng = np.random.default_rng([seed, 3])
    m = int(rng.integers(1, 6))
    eta = rng.uniform(-1, 1, m) * (rng.random(m) > 0.2)
    if not eta.any():
        eta[0] = 0.7
    problem = one_to_many_problem(f"o2m-{seed}", float(rng.uniform(1, 20)), eta, rng.uniform(-0.1, 0.1, m))
    _agree(problem, rng, scale=10.0)


def test_a_line_not_through_the_origin_with_a_full_quadratic_cost() -> None:
    rng = np.random.default_rng(4)
    half = rng.normal(size=(3, 3))
    problem = ConvexQP(owner="line", lb=-np.full(3, 5.0), ub=np.full(3, 5.0), c=rng.normal(size=3),
                       Q=half @ half.T, A=np.array([[1.0, -1.0, 0.0], [0.0, 1.0, 1.0]]),
                       lo=np.array([1.0, 2.0]), hi=np.array([1.0, 2.0]))
    _agree(problem, rng, scale=8.0)


def test_device_models_take_the_closed_form_where_they_have_one() -> None:
    horizon = 24
    generator = Generator(id="g", kind="generator", p_max=80, cost_linear=2.0, cost_quadratic=0.04)
    load = FlexibleLoad(id="l", kind="flexible-load", p_max=3.0, energy=20.0)
    battery = Battery(id="b", kind="battery", power_max=2.0, energy_max=10.0, energy_initial=5.0)
    assert ProximalSolver(generator.local_problem(horizon), 1.0).method == "closed form"
    assert ProximalSolver(load.local_problem(horizon), 1.0).method == "closed form"
    assert ProximalSolver(battery.local_problem(horizon), 1.0).method == "osqp"  # cumulative energy rows
    _agree(load.local_problem(horizon), np.random.default_rng(5), scale=3.0)


def test_shapes_without_a_closed_form_go_to_osqp() -> None:
    rng = np.random.default_rng(6)
    half = rng.normal(size=(4, 4))
    full_q = ConvexQP(owner="q", lb=-np.ones(4), ub=np.ones(4), Q=half @ half.T)
    two_ranges = ConvexQP(owner="r", lb=-np.ones(4), ub=np.ones(4), A=rng.normal(size=(2, 4)),
                          lo=-np.ones(2), hi=np.ones(2))
    plane = ConvexQP(owner="p", lb=-np.ones(4), ub=np.ones(4), A=np.ones((1, 4)) * [[1, 1, 0, 0]],
                     lo=np.zeros(1), hi=np.zeros(1), Q=half @ half.T)  # one equality row leaves a plane
    for problem in (full_q, two_ranges, plane):
        assert ProximalSolver(problem, 1.0).method == "osqp", problem.owner


@pytest.mark.parametrize(("lo", "hi"), [(3.0, 4.0), (-np.inf, -0.5), (2.5, np.inf)])
def test_an_unreachable_row_is_a_solver_error_naming_the_participant(lo: float, hi: float) -> None:
    problem = ConvexQP(owner="dev-3", lb=np.zeros(2), ub=np.ones(2), A=np.ones((1, 2)),
                       lo=np.array([lo]), hi=np.array([hi]))
    with pytest.raises(SolverError, match=r"participant 'dev-3': local QP not solved: primal infeasible \(a'x ranges"):
        ProximalSolver(problem, 1.0).solve(np.zeros(2), 1.0)
