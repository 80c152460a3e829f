"""The local problem model and its OSQP solver (the closed forms: test_exact.py)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from edge_agent.errors import ConfigError, SolverError
from edge_agent.solvers import osqp_step as qp
from edge_agent.solvers.qp import ConvexQP, ProximalSolver


def test_proximal_step_on_a_box_is_a_clipped_shift() -> None:
    rng = np.random.default_rng(0)
    lb, ub, c = -rng.uniform(0, 2, 5), rng.uniform(0, 2, 5), rng.normal(size=5)
    solver = ProximalSolver(ConvexQP(owner="box", lb=lb, ub=ub, c=c), rho=1.0, method="osqp")
    for rho in (1.0, 0.3, 4.0):  # changing rho updates P in place
        for _ in range(5):
            reference = rng.normal(0, 2, 5)
            expected = np.clip(reference - c / rho, lb, ub)
            np.testing.assert_allclose(solver.solve(reference, rho), expected, atol=1e-6)


def test_quadratic_cost_shifts_the_minimiser() -> None:
    # min b x^2 + a x + rho/2 (x - r)^2  ->  x = (rho r - a) / (2 b + rho), clipped
    problem = ConvexQP(owner="gen", lb=np.array([0.0]), ub=np.array([80.0]), c=np.array([2.0]),
                       Q=np.array([[0.08]]))
    x = ProximalSolver(problem, rho=0.5, method="osqp").solve(np.array([60.0]), 0.5)
    assert x[0] == pytest.approx((0.5 * 60 - 2.0) / (0.08 + 0.5), abs=1e-6)
    assert problem.cost(x) == pytest.approx(2.0 * x[0] + 0.04 * x[0] ** 2)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"lb": [0.0, 3.0], "ub": [1.0, 2.0]}, r"infeasible bounds, lb\[1\] = 3 > ub\[1\] = 2"),
        ({"lb": [0.0, float("nan")], "ub": [1.0, 2.0]}, "lb contains NaN or infinite values"),
        ({"lb": [0.0], "ub": [1.0, 2.0]}, "ub has length 2, expected 1"),
        ({"lb": [0.0, 0.0], "ub": [1.0, 1.0], "Q": [[1.0, 0.0], [0.0, -1.0]]}, "positive semidefinite"),
        ({"lb": [0.0, 0.0], "ub": [1.0, 1.0], "Q": [[1.0, 1.0], [0.0, 1.0]]}, "symmetric"),
        ({"lb": [], "ub": []}, "decision vector is empty"),
        ({"lb": [0.0], "ub": [1.0], "A": [[1.0, 2.0]]}, "2 columns, expected 1"),
    ],
)
def test_bad_problems_name_the_participant_and_the_defect(kwargs: dict[str, object], needle: str) -> None:
    arrays = {k: np.array(v) for k, v in kwargs.items()}
    with pytest.raises(ConfigError, match=f"participant 'dev-7': .*{needle}"):
        ConvexQP(owner="dev-7", **arrays)  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "says"), [("osqp", "OSQP status"), ("auto", "primal infeasible")])
def test_infeasible_coupling_rows_become_a_solver_error(method: Literal["auto", "osqp"], says: str) -> None:
    problem = ConvexQP(owner="dev-9", lb=np.zeros(2), ub=np.ones(2), A=np.ones((1, 2)),
                       lo=np.array([3.0]), hi=np.array([4.0]))
    with pytest.raises(SolverError, match=f"participant 'dev-9': local QP not solved: {says}") as info:
        ProximalSolver(problem, rho=1.0, method=method).solve(np.zeros(2), 1.0)
    assert info.value.participant == "dev-9"


def _fallback_problems() -> list[ConvexQP]:
    rng = np.random.default_rng(7)
    box = ConvexQP(owner="box", lb=-np.ones(4), ub=np.ones(4), c=rng.normal(size=4))
    half = rng.normal(size=(5, 5))
    coupled = ConvexQP(owner="coupled", lb=np.zeros(5), ub=np.full(5, 3.0), c=rng.normal(size=5),
                       Q=half @ half.T, A=np.ones((1, 5)), lo=np.array([2.0]), hi=np.array([4.0]))
    generator = ConvexQP(owner="gen", lb=np.zeros(24), ub=np.full(24, 80.0), c=np.full(24, 2.0),
                         Q=np.diag(np.full(24, 0.08)))
    return [box, coupled, generator]


@pytest.mark.parametrize("problem", _fallback_problems(), ids=lambda p: p.owner)
def test_the_public_osqp_api_gives_the_solutions_of_the_compiled_solver(
    problem: ConvexQP, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = qp.OsqpStep(problem, rho=1.0)
    assert fast._compiled is not None
    monkeypatch.setattr(qp, "_compiled_solver", lambda wrapper: None)
    public = qp.OsqpStep(problem, rho=1.0)
    assert public._compiled is None
    rng = np.random.default_rng(3)
    for rho in (1.0, 1.0, 0.4, 2.5):  # a rho change updates P on both paths
        reference = rng.normal(0, 3, problem.size)
        np.testing.assert_allclose(public.solve(reference, rho), fast.solve(reference, rho), atol=1e-8, rtol=0)


def test_the_fallback_reports_an_unsolved_problem_as_well(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qp, "_compiled_solver", lambda wrapper: None)
    problem = ConvexQP(owner="dev-9", lb=np.zeros(2), ub=np.ones(2), A=np.ones((1, 2)),
                       lo=np.array([3.0]), hi=np.array([4.0]))
    with pytest.raises(SolverError, match="participant 'dev-9': local QP not solved: OSQP status"):
        ProximalSolver(problem, rho=1.0, method="osqp").solve(np.zeros(2), 1.0)


def test_the_compiled_solver_is_found_or_refused_by_its_members() -> None:
    """Fails when an osqp upgrade renames the private ``_solver`` or its members: the solver still works
    (through the public API), but slower; re-measure bench/admm.py before widening the osqp pin."""
    solver = qp.OsqpStep(ConvexQP(owner="box", lb=np.zeros(2), ub=np.ones(2)), rho=1.0)
    assert qp._compiled_solver(solver._osqp) is solver._osqp._solver

    class Wrapper:
        def __init__(self, compiled: object) -> None:
            self._solver = compiled

    class NoSolve:
        info = solution = None

        def update_data_vec(self) -> None: ...

    assert qp._compiled_solver(Wrapper(None)) is None  # type: ignore[arg-type]
    assert qp._compiled_solver(Wrapper(NoSolve())) is None  # type: ignore[arg-type]
    assert qp._compiled_solver(object()) is None  # type: ignore[arg-type]
