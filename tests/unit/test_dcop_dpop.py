"""DPOP in process: the MIP optimum on every seeded instance it accepts (random, grid, scale-free, n-ary,
maximisation, agents with several variables, UTIL tables in parts); the pseudo-tree's invariants; a clear
refusal before a table would exceed the memory limit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.dcop import Constraint, Dcop, dpop, generators
from edge_agent.algorithms.dcop.oracle import brute_force, mip_optimum
from edge_agent.algorithms.dcop.pseudo_tree import pseudo_tree
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve


def _scenario(dcop: Dcop, **settings: Any) -> DcopScenario:
    scenario = registry.parse_scenario({"algorithm": "dpop", "name": dcop.name, "dcop": {
        "objective": dcop.objective,
        "variables": {v.name: list(v.domain) for v in dcop.variables},
        "constraints": {c.name: {"scope": list(c.scope), "table": c.table.tolist()} for c in dcop.constraints},
        "agents": {a: list(vs) for a, vs in dcop.agents.items()}}, **settings})
    assert isinstance(scenario, DcopScenario)
    return scenario


def _instances() -> list[Dcop]:
    found = []
    for seed in range(4):
        found.append(generators.random_graph(25, np.random.default_rng(seed), edges=32 + 4 * seed))
    found.append(generators.grid(4, 5, np.random.default_rng(1)))
    found.append(generators.scale_free(30, np.random.default_rng(2), m=1))
    found.append(generators.colouring(15, np.random.default_rng(3), edges=22, preference=10))
    rng = np.random.default_rng(9)
    base = generators.random_graph(12, rng, edges=14, domain=2)
    extra = (Constraint("t1", ("v000", "v005", "v009"), rng.integers(0, 60, size=(2, 2, 2)).astype(float)),
             Constraint("u1", ("v003",), np.array([7.0, 1.0])))
    names = [v.name for v in base.variables]
    found.append(Dcop("nary-max", base.variables, (*base.constraints, *extra),
                      agents={f"a{k}": tuple(names[k::3]) for k in range(3)}, objective="max"))
    return found


@pytest.mark.parametrize("dcop", _instances(), ids=lambda d: d.name)
async def test_dpop_finds_the_mip_optimum(dcop: Dcop) -> None:
    report = (await solve(_scenario(dcop), RunOptions(run_id="t", codec_check=True))).to_json()
    assignment = dcop.indices(report["assignment"])
    optimum = mip_optimum(dcop)
    assert optimum.proven
    assert dcop.cost(assignment) == pytest.approx(optimum.cost)
    assert report["objective"] == dcop.objective_value(assignment)
    assert report["status"] == "converged"
    assert report["optimal"] is True
    assert report["largest_util"]["bytes"] == 8 * report["largest_util"]["entries"]
    assert report["induced_width"] >= 1


def test_small_instances_match_brute_force_too() -> None:
    dcop = _instances()[-1]
    tree = pseudo_tree(dcop)
    for name, node in tree.nodes.items():  # every constraint lies on one root path, handled at its deepest
        for k in node.constraints:
            scope = dcop.constraints[k].scope
            assert name in scope
            ancestors, up = set(), node.parent
            while up is not None:
                ancestors.add(up)
                up = tree.nodes[up].parent
            assert set(scope) - {name} <= ancestors
    assert brute_force(dcop).cost == pytest.approx(mip_optimum(dcop).cost)


async def test_util_tables_travel_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    dcop = generators.random_graph(20, np.random.default_rng(5), edges=40)
    whole = (await solve(_scenario(dcop), RunOptions(run_id="a"))).to_json()
    monkeypatch.setattr(dpop, "CHUNK", 4)
    parts = (await solve(_scenario(dcop), RunOptions(run_id="b", codec_check=True))).to_json()
    assert parts["assignment"] == whole["assignment"]
    assert parts["messages"] > whole["messages"]


async def test_dpop_refuses_before_a_table_exceeds_the_memory_limit() -> None:
    dcop = generators.random_graph(40, np.random.default_rng(0), edges=120)
    scenario = _scenario(dcop, memory_limit_mb=0.001)
    with pytest.raises(ConfigError, match=r"DPOP refuses .*variable 'v\d+' would build a table of .* above the "
                                          r"memory limit of 0.0 MB"):
        await solve(scenario, RunOptions(run_id="t"))
