"""The DCOP model, its generators, the scenario file form and the two oracles (HiGHS MIP, brute force)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.dcop import Constraint, Dcop, Variable, generators
from edge_agent.algorithms.dcop.oracle import brute_force, mip_optimum
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve

D3 = (0, 1, 2)


def _pair(table: list[list[float]], name: str = "c", scope: tuple[str, ...] = ("x", "y")) -> Constraint:
    return Constraint(name, scope, np.array(table, dtype=np.float64))


def _small() -> Dcop:
    return Dcop("small", (Variable("x", D3), Variable("y", D3)),
                (_pair([[5, 1, 2], [0, 9, 9], [3, 3, 3]]),))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Dcop("d", (Variable("x", D3),), (_pair([[0] * 3] * 3),)),
         r"constraint 'c' names unknown variable\(s\) \['y'\]"),
        (lambda: Dcop("d", (Variable("x", D3), Variable("y", (0, 1))), (_pair([[0] * 3] * 3),)),
         r"constraint 'c': table of shape \[3, 3\] does not match .* \(sizes \[3, 2\]\)"),
        (lambda: Variable("x", ()), "variable 'x' has an empty domain"),
        (lambda: _pair([[0, float("nan"), 0]] * 3), "constraint 'c': its table holds NaN"),
        (lambda: _pair([[0, float("inf"), 0]] * 3), "constraint 'c': its table holds an infinite cost"),
        (lambda: Dcop("d", (Variable("x", D3), Variable("x", D3)), ()), "variable name 'x' is used twice"),
        (lambda: Dcop("d", (Variable("x", D3), Variable("y", D3)), (_pair([[0] * 3] * 3), _pair([[0] * 3] * 3))),
         "constraint name 'c' is used twice"),
        (lambda: Variable("x", (1, 1)), "variable 'x': its domain lists a value twice"),
        (lambda: _pair([[0, 1]], scope=("x",)), "constraint 'c': a table of 2 axes for 1 variables"),
        (lambda: Dcop("d", (Variable("x", D3),), (), agents={"a": ("x",), "b": ("x",)}),
         "variable 'x' is owned by both 'a' and 'b'"),
        (lambda: Dcop("d", (Variable("x", D3), Variable("y", D3)), (), agents={"a": ("x",)}),
         r"variable\(s\) \['y'\] belong to no agent"),
        (lambda: Dcop("d", (Variable("x", D3),), (), agents={"a": ("z",)}), "agent 'a' owns unknown variable 'z'"),
        (lambda: Dcop("d", (Variable("x", D3),), (), agents={"a b": ("x",)}), "agent 'a b' is not a valid id"),
        (lambda: Dcop("d", (), ()), "has no variables"),
    ],
)
def test_bad_input_is_refused_naming_the_item(build: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()  # type: ignore[operator]


def test_cost_objective_and_the_derived_graphs() -> None:
    dcop = Dcop("d", (Variable("x", D3), Variable("y", D3), Variable("z", ("r", "g"))),
                (_pair([[5, 1, 2], [0, 9, 9], [3, 3, 3]]), Constraint("u", ("z",), np.array([4.0, 7.0]))),
                agents={"a1": ("x", "z"), "a2": ("y",)})
    assert dcop.cost({"x": 0, "y": 1, "z": 1}) == 1 + 7
    assert dcop.values({"x": 0, "y": 1, "z": 1}) == {"x": 0, "y": 1, "z": "g"}
    assert dcop.indices({"x": 0, "y": 1, "z": "g"}) == {"x": 0, "y": 1, "z": 1}
    assert dcop.neighbours == {"x": ("y",), "y": ("x",), "z": ()}
    assert dcop.agent_neighbours == {"a1": ("a2",), "a2": ("a1",)}
    with pytest.raises(ConfigError, match="'z': value index 2 outside its domain of 2"):
        dcop.cost({"x": 0, "y": 0, "z": 2})
    with pytest.raises(ConfigError, match="leaves \\['y'\\] without a value"):
        dcop.cost({"x": 0, "z": 0})
    utility = Dcop("m", dcop.variables, dcop.constraints, objective="max")
    assert utility.objective_value({"x": 1, "y": 1, "z": 1}) == 9 + 7
    assert utility.cost({"x": 1, "y": 1, "z": 1}) == -16
    assert brute_force(utility).assignment in ({"x": 1, "y": 1, "z": 1}, {"x": 1, "y": 2, "z": 1})


def test_generators_are_seeded_and_have_the_announced_shape() -> None:
    a = generators.random_graph(30, np.random.default_rng(4), edges=75)
    b = generators.random_graph(30, np.random.default_rng(4), edges=75)
    assert len(a.constraints) == 75
    pairs = zip(a.constraints, b.constraints, strict=True)
    assert all(np.array_equal(x.table, y.table) and x.scope == y.scope for x, y in pairs)
    assert all(c.table.min() >= 0 and c.table.max() <= 100 for c in a.constraints)
    assert len({c.scope for c in a.constraints}) == 75
    sf = generators.scale_free(50, np.random.default_rng(1), m=2)
    assert len(sf.constraints) == 3 + 2 * (50 - 3)
    assert len(sf.components()) == 1
    g = generators.grid(3, 4, np.random.default_rng(1))
    assert len(g.constraints) == 3 * 3 + 2 * 4
    assert g.diameter_bound() == 5
    col = generators.colouring(10, np.random.default_rng(2), colours=3, density=0.4)
    assert all(np.array_equal(c.table, 100 * np.eye(3)) for c in col.constraints)
    with pytest.raises(ConfigError, match="exactly one of density"):
        generators.random_edges(5, np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(6))
def test_the_mip_oracle_agrees_with_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dcop = generators.random_graph(8, rng, density=0.4, domain=3)
    if seed % 2:  # an n-ary constraint and a unary one too
        ternary = Constraint("t", ("v000", "v001", "v002"), rng.integers(0, 50, size=(3, 3, 3)).astype(float))
        unary = Constraint("u", ("v003",), np.array([5.0, 0.0, 2.0]))
        dcop = Dcop(dcop.name, dcop.variables, (*dcop.constraints, ternary, unary))
    exact = brute_force(dcop)
    mip = mip_optimum(dcop)
    assert mip.proven
    assert mip.cost == pytest.approx(exact.cost)
    assert dcop.cost(mip.assignment) == pytest.approx(exact.cost)


def test_scenario_files_report_the_item_at_fault() -> None:
    base = {"algorithm": "dsa", "name": "s"}
    with pytest.raises(ConfigError, match="exactly one of dcop, generate and pydcop"):
        registry.parse_scenario(base)
    bad = {**base, "dcop": {"domains": {"d": [0, 1]}, "variables": {"x": "d", "y": "e"}}}
    with pytest.raises(ConfigError, match="variable 'y' names unknown domain 'e'"):
        registry.parse_scenario(bad)
    bad = {**base, "dcop": {"variables": {"x": [0, 1]}, "constraints": {"c": {"scope": ["x", "q"], "table": [[1]]}}}}
    with pytest.raises(ConfigError, match=r"constraint 'c' names unknown variable\(s\) \['q'\]"):
        registry.parse_scenario(bad)
    with pytest.raises(ConfigError, match="a random instance needs n"):
        registry.parse_scenario({**base, "generate": {"kind": "random", "edges": 3}})
    ok = registry.parse_scenario({**base, "dcop": {
        "objective": "max", "domains": {"d": [0, 1]}, "variables": {"x": "d", "y": "d"},
        "constraints": {"c": {"scope": ["x", "y"], "table": [[1, 2], [3, 4]]}}, "agents": {"a": ["x", "y"]}}})
    assert ok.algorithm == "dsa"
    assert registry.family_running("mgm").name == "dcop"


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("dcop_*.yaml")), ids=lambda p: p.name)
async def test_every_dcop_scenario_file_loads_and_solves(path: Path) -> None:
    scenario = registry.load_scenario(path)
    report = (await solve(scenario, RunOptions(run_id="t", seed=1))).to_json()
    dcop = scenario.problem()  # type: ignore[attr-defined]
    assert report["objective"] == dcop.objective_value(dcop.indices(report["assignment"]))
    if report["algorithm"] == "dpop":
        assert dcop.cost(dcop.indices(report["assignment"])) == pytest.approx(mip_optimum(dcop).cost)
