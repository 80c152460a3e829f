"""pyDCOP's YAML format: our own example files load and solve (to the brute-force optimum); intentional
expressions are evaluated safely (never ``eval``); bad files name what is wrong."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from edge_agent import registry
from edge_agent.algorithms.dcop.expressions import parse_expression
from edge_agent.algorithms.dcop.oracle import brute_force
from edge_agent.algorithms.dcop.pydcop import load_pydcop, parse_pydcop
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "edge_agent/algorithms/dcop/examples"


def test_the_colouring_example_reads_as_written() -> None:
    dcop = load_pydcop(ROOT / "edge_agent/algorithms/dcop/examples/graph_coloring.yaml")
    assert dcop.name == "graph-coloring-5"
    assert [v.name for v in dcop.variables] == ["v1", "v2", "v3", "v4", "v5"]
    assert dcop.variable("v1").domain == ("R", "G", "B")
    assert dcop.agents == {"a1": ("v1",), "a2": ("v2",), "a3": ("v3",), "a4": ("v4",), "a5": ("v5",)}
    by_name = {c.name: c for c in dcop.constraints}
    assert by_name["v1_cost"].table.tolist() == [0.5, 0, 0]
    assert by_name["diff_1_2"].scope == ("v1", "v2")
    assert by_name["diff_4_5"].table.tolist() == [[10, 0, 0], [0, 10, 0], [0, 0, 10]]
    assert by_name["chord_1_3"].table.tolist() == [[10, 0, 1], [0, 10, 1], [1, 1, 10]]
    assert by_name["pref_5"].scope == ("v5",)
    assert by_name["pref_5"].table.tolist() == [2, 2, 0]
    assert brute_force(dcop).cost == 0


@pytest.mark.parametrize("algorithm", ["dpop", "mgm", "maxsum", "dsa"])
async def test_pydcop_files_solve_through_a_scenario(algorithm: str, tmp_path: Path) -> None:
    for name in ("graph_coloring.yaml", "meetings.yaml"):
        path = EXAMPLES / name
        scenario = registry.parse_scenario({"algorithm": algorithm, "pydcop": str(path), "max_cycles": 50})
        report = (await solve(scenario, RunOptions(run_id="t", seed=2))).to_json()
        dcop = load_pydcop(path)
        assert report["objective"] == dcop.objective_value(dcop.indices(report["assignment"]))
        if algorithm == "dpop":
            assert dcop.cost(dcop.indices(report["assignment"])) == brute_force(dcop).cost


def test_the_meetings_example_maximises_over_a_range_domain() -> None:
    dcop = load_pydcop(ROOT / "edge_agent/algorithms/dcop/examples/meetings.yaml")
    assert dcop.objective == "max"
    assert dcop.variable("m1").domain == (1, 2, 3, 4)
    assert dcop.agents == {"alice": ("m1",), "bob": ("m2",), "carol": ("m3",)}
    best = brute_force(dcop)
    assert dcop.objective_value(best.assignment) == pytest.approx(max(
        min(abs(a - b), 2) * 5 + (0 if b == c else 4 - abs(b - c) / 2) + 5 - a
        for a in range(1, 5) for b in range(1, 5) for c in range(1, 5)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "calls something other than abs, min, max or round"),
        ("__import__ + 1", "reads '__import__', which is not a variable"),
        ("x.real", "uses Attribute"),
        ("(lambda: 1)()", "calls something other"),
        ("x + (lambda: 1)", "uses Lambda"),
        ("[x for x in y]", "uses ListComp"),
        ("open('f')", "calls something other"),
        ("x +", "cannot parse expression"),
        ("z * 2", "reads 'z', which is not a variable"),
        ("2 ** 1000", "exponent 1000 is too large"),
    ],
)
def test_expressions_are_parsed_never_evaluated_by_python(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        expression = parse_expression(text, frozenset({"x", "y"}), "constraint 'c'")
        expression({"x": 1, "y": 2})


def test_a_safe_expression_evaluates() -> None:
    expression = parse_expression("10 if x == y and not x > 3 else max(x, y) - abs(-2) % 3", frozenset({"x", "y"}),
                                  "c")
    assert expression.names == ("x", "y")
    assert expression({"x": 2, "y": 2}) == 10
    assert expression({"x": 5, "y": 2}) == 3
    assert os.environ is not None  # (nothing above touched the process)


def _file(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "t", "domains": {"d": {"values": [0, 1]}},
                            "variables": {"x": {"domain": "d"}, "y": {"domain": "d"}},
                            "constraints": {"c": {"type": "intention", "function": "x + y"}}}
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_file(variables={"x": {"domain": "e"}}), "variable 'x' names unknown domain 'e'"),
        (_file(constraints={"c": {"type": "extensional", "variables": ["x", "y"], "values": {"1": "0 0"}}}),
         r"constraint 'c': no cost for \[0, 1\] and no default"),
        (_file(constraints={"c": {"type": "extensional", "variables": ["x", "y"], "values": {"1": "0"}}}),
         "gives 1 values for 2 variables"),
        (_file(constraints={"c": {"type": "extensional", "variables": ["x"], "values": {"1": "7"}}}),
         "value '7' is not in the domain"),
        (_file(constraints={"c": {"type": "extensional", "variables": ["q"], "values": {}}}), "unknown: \\['q'\\]"),
        (_file(constraints={"c": {"type": "magic"}}), "type 'magic' is not 'intention' or 'extensional'"),
        (_file(objective="best"), "objective must be 'min' or 'max'"),
        (_file(colour="blue"), r"unknown top-level key\(s\) \['colour'\]"),
        (_file(agents=["a"], distribution_hints={"must_host": {"b": ["x"]}}), "unknown agent 'b'"),
        (_file(domains={"d": {"values": ["a .. b"]}}), "range 'a .. b' needs integers"),
        (_file(constraints={"c": {"type": "intention", "function": "'s'"}}), "reads no variable"),
    ],
)
def test_bad_pydcop_files_name_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_pydcop(data)


def test_agents_without_hints_take_one_variable_each_then_round_robin() -> None:
    dcop = parse_pydcop(_file(agents=["a", "b", "c"]))
    assert dcop.agents == {"a": ("x",), "b": ("y",)}
    dcop = parse_pydcop(_file(agents={"solo": {"capacity": 1}}))
    assert dcop.agents == {"solo": ("x", "y")}


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_pydcop(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"(?s)invalid scenario.*nope\.yaml: file not found"):
        registry.parse_scenario({"algorithm": "dsa", "pydcop": str(tmp_path / "nope.yaml")})
