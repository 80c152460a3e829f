"""COHDA scenario files: what they accept, the clear errors for what they do not, and the run report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.algorithms.cohda import CohdaParticipant, EnumerationDecider, Target
from edge_agent.algorithms.cohda.scenario import CohdaScenario, run_cohda
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.registry import load_scenario, parse_scenario
from edge_agent.runtime.inproc import network, solve
from edge_agent.topology import Graph

pytestmark = pytest.mark.timeout(30)


def scenario(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "algorithm": "cohda",
        "name": "t",
        "target": [1.0, 2.0, 3.0],
        "participants": [
            {"id": "a", "schedules": [[0, 1, 2], [1, 2, 3]]},
            {"id": "b", "schedules": [[0, 1, 2], [1, 2, 3]]},
        ],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"participants": [{"id": "a", "schedules": [[0, 1]]}, {"id": "b", "schedules": [[0, 1, 2]]}]},
         "participant 'a' has schedules of 2 slots but target has 3"),
        ({"participants": [{"id": "a", "schedules": []}, {"id": "b", "schedules": [[0, 1, 2]]}]},
         r"participants\[0\] \(id 'a'\)\.schedules.*at least 1 item"),
        ({"participants": [{"id": "a", "schedules": [[0, 1, 2], [0, 1]]}, {"id": "b", "schedules": [[0, 1, 2]]}]},
         "same non-zero length"),
        ({"target": [1.0, float("nan"), 3.0]}, r"target\[1\]: Input should be a finite number \(got nan\)"),
        ({"weights": [1.0, float("inf"), 1.0]}, r"weights\[1\]: Input should be a finite number \(got inf\)"),
        ({"participants": [{"id": "a", "schedules": [[0, float("nan"), 2]]}, {"id": "b", "schedules": [[0, 1, 2]]}]},
         r"participants\[0\] \(id 'a'\)\.schedules.*\[0\]\[1\]: Input should be a finite number"),
        ({"participants": [{"id": "a", "schedules": [[0, 1, 2]]}]}, "at least two participants, got 1"),
        ({"participants": [{"id": "a", "schedules": [[0, 1, 2]]}, {"id": "a", "schedules": [[1, 1, 1]]}]},
         "participant id 'a' is used twice"),
        ({"weights": [1.0, 2.0]}, "weights has 2 entries but target has 3"),
        ({"weights": [1.0, -2.0, 1.0]}, "weights must be >= 0"),
        ({"target": []}, r"target.*at least 1 item"),
        ({"participants": [{"id": "a", "kind": "toaster"}, {"id": "b", "schedules": [[0, 1, 2]]}]},
         "toaster"),
        ({"participants": [{"id": "a", "kind": "corridor", "lower": [0, 0, 0], "upper": [1, 1]},
                           {"id": "b", "schedules": [[0, 1, 2]]}]}, "same length"),
        ({"topology": {"kind": "mesh"}}, "topology"),
        ({"settings": {"offers": -1}}, r"settings\.offers"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_scenarios_are_rejected_with_a_clear_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scenario(scenario(**changes), source="test.yaml")


async def test_errors_found_only_when_building_are_config_errors_too() -> None:
    shift = {"id": "a", "kind": "shifted-load", "profile": [1, 1, 1, 1]}  # longer than the horizon
    bad = parse_scenario(scenario(participants=[shift, {"id": "b", "schedules": [[0, 1, 2]]}]))
    with pytest.raises(ConfigError, match="no placement fits"):
        await solve(bad, RunOptions(run_id="bad"))
    edges = {"kind": "edges", "edges": [["a", "b"]]}  # b hears a, a hears nobody
    one_way = parse_scenario(scenario(topology=edges))
    with pytest.raises(ConfigError, match="not strongly connected"):
        await solve(one_way, RunOptions(run_id="one-way"))


async def test_the_runner_rejects_bad_participant_lists() -> None:
    def make(pid: str, width: int = 3) -> CohdaParticipant:
        return CohdaParticipant(pid, EnumerationDecider(pid, np.zeros((2, width))))

    target = Target.of([1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="at least two participants, got 1"):
        await run_cohda([make("a")], Graph.complete(["a"]), target, network(RunOptions(run_id="x")))
    with pytest.raises(ConfigError, match=r"ids \['a'\] are used twice"):
        await run_cohda([make("a"), make("a")], Graph.complete(["a", "b"]), target, network(RunOptions(run_id="x")))
    with pytest.raises(ConfigError, match="'b' has schedules of 2 slots but target has 3"):
        await run_cohda([make("a"), make("b", 2)], Graph.complete(["a", "b"]), target, network(RunOptions(run_id="x")))
    with pytest.raises(ConfigError, match="are not the participants"):
        await run_cohda([make("a"), make("b")], Graph.complete(["a", "c"]), target, network(RunOptions(run_id="x")))


def test_participant_kinds_default_to_a_schedule_set() -> None:
    parsed = parse_scenario(scenario(participants=[
        {"id": "a", "schedules": [[0, 1, 2]]},
        {"id": "load", "kind": "shifted-load", "profile": [1, 2]},
        {"id": "bat", "kind": "battery", "power_max": 1, "energy_max": 2, "energy_initial": 1, "count": 5},
        {"id": "hp", "kind": "corridor", "lower": [0, 0, 0], "upper": [1, 1, 1]},
    ], topology={"kind": "ring"}, performance="weighted-squares"))
    assert isinstance(parsed, CohdaScenario)
    assert [p.kind for p in parsed.participants] == ["schedules", "shifted-load", "battery", "corridor"]


async def test_report_has_the_common_keys_and_the_cohda_ones(tmp_path: Path) -> None:
    path = tmp_path / "cohda.yaml"
    path.write_text(
        "algorithm: cohda\nname: file\ntarget: [2, 2]\nweights: [1, 3]\ntopology: {kind: ring}\n"
        "participants:\n"
        "  - {id: a, schedules: [[0, 0], [1, 1], [2, 0]]}\n"
        "  - {id: b, schedules: [[0, 0], [1, 1]]}\n"
        "  - {id: c, kind: shifted-load, profile: [1]}\n",
        encoding="utf-8",
    )
    report = await solve(load_scenario(path), RunOptions(run_id="file", seed=3, shuffle=True))
    data = report.to_json()
    for key in ("status", "objective", "iterations", "messages", "wall_s", "aggregate", "participants",
                "distance", "start_distance", "chosen_index", "target", "weights", "agreed"):
        assert key in data
    assert data["status"] == "converged"
    assert data["target"] == [2.0, 2.0]
    assert data["weights"] == [1.0, 3.0]
    x = np.array([data["participants"][p]["x"] for p in "abc"])
    assert np.allclose(x.sum(axis=0), data["aggregate"])
    assert data["distance"] == pytest.approx(float(np.abs(np.array([2, 2]) - x.sum(axis=0)) @ [1, 3]))
    assert data["objective"] == pytest.approx(data["distance"])
    assert data["chosen_index"] == {p: data["participants"][p]["index"] for p in "abc"}


async def test_plot_cohda_draws_target_and_aggregate(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from edge_agent.algorithms.cohda.figure import plot_cohda

    report = await solve(parse_scenario(scenario()), RunOptions(run_id="plot"))
    path = plot_cohda(report.to_json(), tmp_path / "cohda.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="needs the report of a COHDA run"):
        plot_cohda({"algorithm": "admm-sharing"}, tmp_path / "x.png")
