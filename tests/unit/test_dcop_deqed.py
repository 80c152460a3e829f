"""DeQED: lower bound <= optimum <= upper bound at every cycle (brute force and HiGHS as oracles), mixed
domains, unary tables, maximisation, what it refuses, and its upper bound beside MGM's at 100 variables."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from edge_agent.algorithms.dcop import Constraint, Dcop, DcopScenario, Variable, generators
from edge_agent.algorithms.dcop.deqed import deqed, deqed_report
from edge_agent.algorithms.dcop.oracle import brute_force, mip_optimum
from edge_agent.algorithms.dcop.plan import dcop_plan
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve


def check_bounds(dcop: Dcop, optimum: float, cycles: int = 150) -> dict[str, object]:
    result = deqed(dcop, cycles)
    assert all(low <= optimum + 1e-6 for low in result.lower)
    assert all(high >= optimum - 1e-6 for high in result.upper)
    assert dcop.cost(result.best_assignment) == pytest.approx(result.best_upper)
    report = deqed_report(dcop, dcop.name, result)
    data = report.to_json()
    sign = -1 if dcop.maximise else 1
    assert data["lower_bound"] <= sign * optimum + 1e-6 <= data["upper_bound"] + 2e-6
    if data["optimal"]:
        assert data["status"] == "converged"
        assert sign * data["objective"] == pytest.approx(optimum)
    else:
        assert data["status"] == "max_iterations"
    return data


@pytest.mark.parametrize("seed", range(5))
def test_bounds_enclose_the_brute_force_optimum(seed: int) -> None:
    dcop = generators.random_graph(8, np.random.default_rng(seed), edges=14, costs=(0, 50))
    check_bounds(dcop, brute_force(dcop).cost)


@pytest.mark.parametrize("seed", range(2))
def test_bounds_enclose_the_mip_optimum_at_40_variables(seed: int) -> None:
    dcop = generators.scale_free(40, np.random.default_rng(seed))
    optimum = mip_optimum(dcop, 30)
    assert optimum.proven
    check_bounds(dcop, optimum.cost)


def test_mixed_domains_unary_tables_and_maximisation() -> None:
    rng = np.random.default_rng(7)
    variables = (Variable("a", (0, 1)), Variable("b", (0, 1, 2)), Variable("c", ("x", "y", "z", "w")))
    constraints = (Constraint("ab", ("a", "b"), rng.integers(0, 9, (2, 3))),
                   Constraint("bc", ("b", "c"), rng.integers(0, 9, (3, 4))),
                   Constraint("ca", ("c", "a"), rng.integers(0, 9, (4, 2))),
                   Constraint("c", ("c",), rng.integers(0, 9, 4)))
    for objective in ("min", "max"):
        dcop = Dcop("mixed", variables, constraints, objective=objective)  # type: ignore[arg-type]
        check_bounds(dcop, brute_force(dcop).cost, cycles=200)


def test_ternary_constraints_and_mqtt_are_refused() -> None:
    variables = tuple(Variable(n, (0, 1)) for n in "abc")
    dcop = Dcop("t", variables, (Constraint("abc", ("a", "b", "c"), np.zeros((2, 2, 2))),))
    with pytest.raises(ConfigError, match="unary and binary"):
        deqed(dcop)
    scenario = DcopScenario.model_validate({"algorithm": "deqed", "generate": {"kind": "random", "n": 5,
                                                                              "edges": 6}})
    with pytest.raises(ConfigError, match="in process only"):
        dcop_plan(scenario, RunOptions(run_id="r"))


def test_upper_bound_no_worse_than_mgm_at_100_variables() -> None:
    generate = {"kind": "random", "n": 100, "edges": 247, "seed": 2}
    options = RunOptions(run_id="r", seed=0)
    ours = asyncio.run(solve(DcopScenario.model_validate(
        {"algorithm": "deqed", "generate": generate, "max_cycles": 150}), options)).to_json()
    mgm = asyncio.run(solve(DcopScenario.model_validate({"algorithm": "mgm", "generate": generate}), options))
    assert ours["upper_bound"] <= mgm.objective
    assert ours["lower_bound"] <= ours["upper_bound"]
