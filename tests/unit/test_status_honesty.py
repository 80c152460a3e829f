"""Issue 12, honest status: no example scenario of any registered family reports ``converged`` while the
feasibility residual it is judged by misses its stated tolerance.

Every ``scenarios/*.yaml`` runs in process; its report is checked by its family's rule, recomputing the residual
from the report's own numbers (the participants' ``x``, the target or demand) wherever the report allows:

- ADMM (sharing, consensus): ``status_basis`` records the coupling residual against ``feasibility_tol`` and the
  scaled primal/dual residuals against their epsilons;
- consensus, diffusion and primal-dual dispatch: ``|sum P - demand|`` (recomputed) against
  ``status_basis.balance_tolerance``;
- averaging: the disagreement ``max |lam_i - mean|`` (recomputed, = ``objective``); its report records no
  tolerance for it (its own test is the step ``settings.tol``), so the bound here is ``n * tol / alpha`` (each
  participant within ``tol / alpha`` of its neighbours' mean, over at most ``n`` hops);
- COHDA: no coupling constraint; every reported schedule is one of the participant's own (rebuilt from the
  scenario) and the distance in the report and in ``status_basis`` is the recomputed one;
- scheduling: no booking overlaps another on a resource, none is foreign or inconsistent;
- resource-constrained DCOP on trees: no balance violation listed, and the resources sum to 0 (node balance
  summed over the tree: every link's flow cancels);
- GMAP (DisLRP): every good taken exactly once, no agent over its capacity, the objective the recomputed profit,
  and ``converged`` only with the lower and upper bounds equal;
- DCOP: every variable has a value of its domain and the objective is finite and equals the recomputed one
  (DCOP reports carry no ``status_basis``; a selection of domain values has no coupling residual).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.algorithms.cohda import EnumerationDecider, LocalSearchDecider
from edge_agent.algorithms.cohda.scenario import CohdaScenario
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.algorithms.gmap.scenario import GmapScenario
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.registry import families, family_of, load_scenario
from edge_agent.results import EXIT_CODES
from edge_agent.runtime.inproc import solve

pytestmark = pytest.mark.timeout(120)

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))
Report = dict[str, Any]


def check_admm(scenario: ScenarioModel, report: Report) -> None:
    basis = report["status_basis"]
    assert basis["coupling"] <= basis["feasibility_tol"]
    assert basis["r_primal"] <= basis["eps_primal"]
    assert basis["r_dual"] <= basis["eps_dual"]


def check_consensus(scenario: ScenarioModel, report: Report) -> None:
    if report["algorithm"] == "averaging":
        final = np.array([p["x"] for p in report["participants"].values()])
        disagreement = float(np.max(np.abs(final - final.mean(axis=0))))
        assert report["objective"] == pytest.approx(disagreement, abs=1e-12)
        settings = scenario.settings  # type: ignore[attr-defined]
        assert disagreement <= len(final) * settings.tol / settings.alpha
        return
    basis = report["status_basis"]
    residual = sum(p["x"][0] for p in report["participants"].values()) - report["demand"]
    assert basis["balance_residual"] == pytest.approx(residual, abs=1e-9)
    assert abs(residual) <= basis["balance_tolerance"]


def check_cohda(scenario: ScenarioModel, report: Report) -> None:
    assert isinstance(scenario, CohdaScenario)
    participants, _, target = scenario.build(RunOptions(run_id="rebuild"))
    rows = []
    for p in participants:
        x = np.asarray(report["participants"][p.id]["x"])
        decider = p.decider
        if isinstance(decider, EnumerationDecider):
            assert np.array_equal(x, decider.schedules[report["participants"][p.id]["index"]])
        else:
            assert isinstance(decider, LocalSearchDecider)
            assert (x >= decider.lower).all()
            assert (x <= decider.upper).all()
        rows.append(x)
    aggregate = np.sum(rows, axis=0)
    distance = float((np.abs(target.values - aggregate) * target.weights).sum())
    assert report["aggregate"] == pytest.approx(aggregate.tolist(), abs=1e-9)
    assert report["distance"] == pytest.approx(distance, abs=1e-9)
    assert report["status_basis"]["distance"] == pytest.approx(distance, abs=1e-9)
    assert report["status_basis"]["agreed"]
    assert report["status_basis"]["complete"]


def check_scheduling(scenario: ScenarioModel, report: Report) -> None:
    assert report["consistency_problems"] == []
    assert report["foreign_bookings"] == []
    for resource in report["schedules"].values():
        bookings = sorted(resource["bookings"], key=lambda b: b["start"])
        for b in bookings:
            assert 0.0 <= b["start"] <= b["end"] <= resource["horizon"]
        for a, b in itertools.pairwise(bookings):
            assert a["end"] <= b["start"] + 1e-9


def check_dcop(scenario: ScenarioModel, report: Report) -> None:
    assert np.isfinite(report["objective"])
    assert isinstance(scenario, DcopScenario)
    domains = {v.name: v.domain for v in scenario.problem().variables}
    assert set(report["assignment"]) == set(domains)
    for name, value in report["assignment"].items():
        assert value in domains[name]
    indices = {name: domains[name].index(value) for name, value in report["assignment"].items()}
    assert scenario.problem().objective_value(indices) == pytest.approx(report["objective"])


def check_rcdcop(scenario: ScenarioModel, report: Report) -> None:
    assert report["violations"] == []
    resources = [p["x"][0] for p in report["participants"].values()]
    assert sum(resources) == pytest.approx(0.0, abs=1e-9)
    assert report["aggregate"] == pytest.approx([sum(resources)], abs=1e-9)


def check_gmap(scenario: ScenarioModel, report: Report) -> None:
    assert isinstance(scenario, GmapScenario)
    gmap = scenario.problem()
    owner = {good: gmap.agents.index(agent) for agent, p in report["participants"].items() for good in p["goods"]}
    held = [good for p in report["participants"].values() for good in p["goods"]]
    assert sorted(held) == sorted(gmap.goods)  # every good taken exactly once
    load = np.zeros(len(gmap.agents))
    for j, good in enumerate(gmap.goods):
        load[owner[good]] += gmap.weight[owner[good], j]
    assert (load <= gmap.capacity).all()
    profit = sum(gmap.profit[owner[good], j] for j, good in enumerate(gmap.goods))
    assert report["objective"] == pytest.approx(profit)
    assert report["lower_bound"] == pytest.approx(report["upper_bound"])  # converged = proven optimal


CHECKS: dict[str, Callable[[ScenarioModel, Report], None]] = {
    "admm": check_admm,
    "consensus": check_consensus,
    "cohda": check_cohda,
    "scheduling": check_scheduling,
    "dcop": check_dcop,
    "rcdcop": check_rcdcop,
    "gmap": check_gmap,
}


def test_every_registered_family_has_a_rule_and_an_example_scenario() -> None:
    names = {family.name for family in families()}
    assert set(CHECKS) == names
    assert {family_of(load_scenario(path)).name for path in SCENARIOS} == names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
async def test_a_converged_report_meets_its_feasibility_tolerance(path: Path) -> None:
    scenario = load_scenario(path)
    report = (await solve(scenario, RunOptions(run_id="honest", seed=0))).to_json()
    assert report["status"] in EXIT_CODES
    if report["status"] == "converged":
        CHECKS[family_of(scenario).name](scenario, report)
