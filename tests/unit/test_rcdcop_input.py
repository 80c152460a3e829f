"""RCDCOP input and wire: bad trees give errors naming the node; messages survive the codec and defects are
refused; a UTIL or VALUE from a node that is not the right neighbour is a protocol error; dynamic rounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.rcdcop import (
    RcAgent,
    RcNode,
    RcSettings,
    RcTree,
    next_tree,
    raise_costs,
    round_summary,
    run_rounds,
)
from edge_agent.algorithms.rcdcop.messages import RcUtil, RcValue
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.cli import main
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import Envelope

ROOT = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {
    "s": {"costs": {-4: 0, 0: 0}},
    "a": {"parent": "s", "capacity": 3, "costs": {2: 0, 1: 1, 0: 2}},
    "b": {"parent": "a", "capacity": 2, "costs": {2: 0, 1: 1, 0: 2}},
}


def parse(tree: dict[str, Any]) -> Any:
    return registry.parse_scenario({"algorithm": "rcdcop", "tree": tree})


@pytest.mark.parametrize(("change", "needle"), [
    ({"b": {"parent": "x", "capacity": 2, "costs": {0: 0}}}, r"'b' names parent 'x'.*no path to the root"),
    ({"a": {"parent": "b", "capacity": 3, "costs": {0: 0}}}, r"no path to the root 's'.*cycle \(a -> b -> a"),
    ({"b": {"parent": "b", "capacity": 2, "costs": {0: 0}}}, r"'b' is its own parent"),
    ({"b": {"parent": "a", "capacity": -1, "costs": {0: 0}}}, r"tree\.b\.capacity.*greater than or equal to 0"),
    ({"b": {"parent": "a", "capacity": 2, "costs": {}}}, r"tree\.b\.costs.*at least 1"),
    ({"b": {"parent": "a", "capacity": 2, "costs": {0: -1}}}, r"tree\.b.*costs must be >= 0"),
    ({"b": {"parent": "a", "capacity": 2, "costs": {0: float("nan")}}}, r"tree\.b\.costs"),
    ({"b": {"capacity": 0, "costs": {0: 0}}}, r"exactly one root.*\['s', 'b'\]"),
    ({"s": {"capacity": 3, "costs": {0: 0}}}, r"'s' is the root.*capacity must be 0"),
])
def test_bad_trees_are_refused_naming_the_node(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse({**GOOD, **change})


def test_a_bad_scenario_file_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("algorithm: rcdcop\ntree:\n  r: {costs: {0: 0}}\n  a: {parent: a, capacity: 1, costs: {0: 1}}\n")
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'a' is its own parent" in err
    assert "Traceback" not in err


def test_the_example_scenario_runs_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(ROOT / "scenarios/rcdcop_binary_feeder.yaml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "converged"
    assert report["aggregation"] == "max"


def _envelope(body: Any, sender: str = "n1", receiver: str = "n0") -> Envelope:
    return Envelope(id="m1", sender=sender, receiver=receiver, seq=0, body=body)


def test_messages_round_trip_and_defects_are_refused() -> None:
    codec = registry.codec()
    for body in (RcUtil(child="n1", parent="n0", capacity=1, costs=(2.0, None, 0.0)),
                 RcValue(parent="n0", child="n1", flow=-1), RcValue(parent="n0", child="n1", flow=None)):
        assert codec.decode(codec.encode(_envelope(body))).body == body
    good = json.loads(codec.encode(_envelope(RcUtil(child="n1", parent="n0", capacity=1, costs=(1.0, 1.0, 1.0)))))
    for field, value, needle in [("costs", [1.0, -2.0, 1.0], "greater than or equal to 0"),
                                 ("costs", [], "at least 1"), ("child", "a/b", "pattern"),
                                 ("capacity", 10**9, "less than or equal")]:
        bad = json.loads(json.dumps(good))
        bad["body"][field] = value
        with pytest.raises(ProtocolError, match=needle):
            codec.decode(json.dumps(bad))
    with pytest.raises(ProtocolError, match=r"NaN|finite"):
        codec.decode(json.dumps(good).replace("1.0,", "NaN,", 1))


async def test_a_util_or_value_from_the_wrong_node_is_a_protocol_error() -> None:
    tree = parse(GOOD).problem()
    root = RcAgent(tree.nodes["s"], {"a": 3}, RcSettings())
    leaf = RcAgent(tree.nodes["b"], {}, RcSettings())
    async with InProcNetwork(rng=np.random.default_rng(0)) as network:
        carrier = network.add(root)
        leaf_carrier = network.add(leaf)
        forged = RcUtil(child="a", parent="s", capacity=3, costs=(0.0,) * 7)
        with pytest.raises(ProtocolError, match="does not come from one of its children"):
            await root.handle(carrier, forged, _envelope(forged, sender="b", receiver="s"))
        short = RcUtil(child="a", parent="s", capacity=3, costs=(0.0,) * 3)
        with pytest.raises(ProtocolError, match="needs 7"):
            await root.handle(carrier, short, _envelope(short, sender="a", receiver="s"))
        value = RcValue(parent="s", child="b", flow=1)
        with pytest.raises(ProtocolError, match="only its parent 'a'"):
            await leaf.handle(leaf_carrier, value, _envelope(value, sender="s", receiver="b"))


async def test_dynamic_rounds_pass_the_shortage_around() -> None:
    # One unit for two consumers: round 0 leaves one of them short; it raises its cost of 0 and the other is short
    # next; from then on both have raised once and the shortage keeps moving, so nobody is short every round.
    tree = RcTree("two", {"r": RcNode("r", None, 0, {-1: 0.0, 0: 0.0}),
                          "a": RcNode("a", "r", 1, {1: 0.0, 0: 1.0}), "b": RcNode("b", "r", 1, {1: 0.0, 0: 1.0})})
    for variant in ("ge_max", "gt_min"):
        history = await run_rounds(tree, variant, 4, RcSettings("max", "center"),  # type: ignore[arg-type]
                                   lambda: InProcNetwork(rng=np.random.default_rng(0)))
        assert [sorted(h.values()) for h in history] == [[0.0, 0.0, 1.0]] * 4
        assert history[0]["a"] != history[1]["a"]
        assert round_summary(history)["max_average_cost"] < 1.0


def test_dynamic_raises_follow_the_two_variants() -> None:
    costs = {2: 0.0, 1: 1.0, 0: 2.0}
    assert raise_costs(costs, 1.0, "ge_max") == {2: 0.0, 1: 2.0, 0: 3.0}
    assert raise_costs(costs, 2.0, "ge_max") == {2: 0.0, 1: 1.0, 0: 3.0}
    assert raise_costs(costs, 2.0, "gt_min") == {2: 0.0, 1: 2.0, 0: 3.0}
    tree = RcTree("t", {"r": RcNode("r", None, 0, {0: 0.0, -1: 0.0}), "c": RcNode("c", "r", 1, dict(costs))})
    raised = next_tree(tree, {"r": 0.0, "c": 2.0}, "ge_max")
    assert raised.nodes["c"].costs == {2: 0.0, 1: 1.0, 0: 3.0}
    assert raised.nodes["r"] is tree.nodes["r"]
    summary = round_summary([{"r": 0.0, "c": 2.0}, {"r": 0.0, "c": 0.0}])
    assert summary == {"max_average_cost": 1.0, "mean_variance": 0.5, "variance_of_averages": 0.25,
                       "mean_max_cost": 1.0}


def test_the_experiment_command_prints_both_tables_and_writes_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["experiment", "rcdcop", "--repeats", "1", "--rounds", "2", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "## Table 1: single problem" in out
    assert "## Table 2: dynamic, max + center, 2 rounds" in out
    assert out.count("| linear |") == 4 * 2 + 2 * 2  # 4 algorithms and 2 rules, for both sizes
    data = json.loads((tmp_path / "rcdcop-experiment.json").read_text())
    assert set(data) == {"single", "dynamic"}
    assert (tmp_path / "rcdcop-experiment.png").stat().st_size > 0
    assert "edge-agent experiment rcdcop --repeats 1" in (tmp_path / "rcdcop-experiment.md").read_text()


@pytest.mark.parametrize(("argv", "needle"), [
    (["--tasks", "5"], "--tasks: an option of the scheduling experiment, not of rcdcop"),
    (["--supply-ratio", "0"], "--supply-ratio must lie in (0, 1]"),
    (["--capacity", "5", "2"], "--capacity needs 1 <= LO <= HI"),
])
def test_bad_experiment_options_exit_2_naming_the_option(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["experiment", "rcdcop", *argv]) == 2
    assert needle in capsys.readouterr().err
