"""The scheduling experiment (seed 002, section 6): grid, task sets, summary arithmetic, figures, CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
from pathlib import Path

import pytest

from edge_agent.algorithms.scheduling.figure import plot_schedule_gantt, plot_scheduling_experiment
from edge_agent.cli import main
from edge_agent.errors import ConfigError
from edge_agent.scheduling_experiment import (
    Configuration,
    ExperimentGrid,
    RunRecord,
    markdown_report,
    message_seed,
    representative,
    representative_reports,
    run_experiment,
    summarise,
    task_set,
)

TINY = ExperimentGrid(tasks=(3, 6), durations=(2.0, 4.0), widths=(6.0,), repeats=2, window=(0.0, 12.0), horizon=60.0)


@pytest.fixture(scope="module")
def tiny_records() -> list[RunRecord]:
    return run_experiment(TINY)


@pytest.mark.timeout(20)
def test_tiny_grid_runs_every_configuration_behaviour_and_repetition(tiny_records: list[RunRecord]) -> None:
    assert len(tiny_records) == TINY.runs == 4 * 2 * 2
    cells = {(r.tasks, r.duration, r.width, r.behaviour, r.repetition) for r in tiny_records}
    assert len(cells) == len(tiny_records)
    for record in tiny_records:
        assert 0 <= record.satisfied <= record.scheduled <= record.tasks
        assert 0.0 <= record.total_satisfaction <= record.satisfied + 1e-9
        assert record.messages > 0


@pytest.mark.timeout(20)
def test_summary_arithmetic_matches_the_records(tiny_records: list[RunRecord]) -> None:
    summary = summarise(TINY, tiny_records)
    overall = summary["overall"]
    active = [r for r in tiny_records if r.behaviour == "active"]
    passive = [r for r in tiny_records if r.behaviour == "passive"]
    total_a, total_p = sum(r.total_satisfaction for r in active), sum(r.total_satisfaction for r in passive)
    assert overall["ratio"] == pytest.approx(total_a / total_p)
    assert overall["active"]["total_satisfaction"] == pytest.approx(total_a)
    assert overall["passive"]["scheduled"] == sum(r.scheduled for r in passive)
    for rep in range(TINY.repeats):
        expected = (sum(r.total_satisfaction for r in active if r.repetition == rep)
                    / sum(r.total_satisfaction for r in passive if r.repetition == rep))
        assert overall["ratio_by_repetition"][str(rep)] == pytest.approx(expected)
    reps = overall["ratio_by_repetition_range"]
    assert reps["min"] <= overall["ratio_by_repetition"]["0"] <= reps["max"]
    assert len(summary["configs"]) == overall["configurations"] == 4
    fewer = 0
    for row in summary["configs"]:
        cell = (row["tasks"], row["duration"], row["width"])
        own = [r for r in tiny_records if (r.tasks, r.duration, r.width) == cell]
        for behaviour in ("active", "passive"):
            values = [r.total_satisfaction for r in own if r.behaviour == behaviour]
            assert row[behaviour]["satisfaction"]["mean"] == pytest.approx(statistics.fmean(values))
            assert row[behaviour]["satisfaction"]["min"] == pytest.approx(min(values))
            assert row[behaviour]["scheduled"]["mean"] == pytest.approx(
                statistics.fmean(r.scheduled for r in own if r.behaviour == behaviour))
        means = {b: row[b]["satisfaction"]["mean"] for b in ("active", "passive")}
        assert row["ratio"] == pytest.approx(means["active"] / means["passive"])
        fewer += row["active"]["scheduled"]["mean"] < row["passive"]["scheduled"]["mean"]
    assert overall["configs_fewer_tasks"] == fewer
    by_tasks = {row["tasks"]: row for row in summary["by_tasks"]}
    assert sorted(by_tasks) == [3, 6]
    assert by_tasks[6]["active"]["satisfaction"]["mean"] == pytest.approx(
        statistics.fmean(r.total_satisfaction for r in active if r.tasks == 6))
    assert sorted(summary["distribution"]["passive"]) == sorted(r.total_satisfaction for r in passive)
    json.dumps(summary)  # JSON-ready
    text = markdown_report(summary)
    for heading in ("## Overall", "## By tasks", "## By duration", "## By width"):
        assert heading in text
    assert f"{overall['ratio']:.3f}" in text


@pytest.mark.timeout(10)
def test_task_sets_differ_only_in_favourable_times_and_are_seeded() -> None:
    config = Configuration(10, 3.0, 9.0)
    tasks = task_set(TINY, config, 0)
    assert len(tasks) == 10
    assert len({t.id for t in tasks}) == 10
    assert {(t.duration, t.width) for t in tasks} == {(3.0, 9.0)}
    assert len({t.favourable for t in tasks}) == 10
    assert all(0.0 <= t.favourable <= 12.0 for t in tasks)
    assert task_set(TINY, config, 0) == tasks  # the same for both behaviours (the behaviour is not an input)
    assert task_set(TINY, config, 1) != tasks
    assert task_set(dataclasses.replace(TINY, seed=1), config, 0) != tasks
    # a configuration draws the same tasks whatever else the grid contains
    assert task_set(dataclasses.replace(TINY, tasks=(10,), widths=(9.0, 12.0)), config, 0) == tasks
    assert message_seed(TINY, config, 0) == message_seed(TINY, config, 0) != message_seed(TINY, config, 1)


@pytest.mark.timeout(20)
def test_behaviours_get_the_same_tasks_and_the_same_seed_gives_the_same_records(
    tiny_records: list[RunRecord],
) -> None:
    reports = asyncio.run(representative_reports(TINY))
    config = representative(TINY)
    expected = {t.id: t for t in task_set(TINY, config, 0)}
    assert set(reports) == {"active", "passive"}
    for report in reports.values():
        assert set(report["participants"]) == set(expected)
        for booking in (b for s in report["schedules"].values() for b in s["bookings"]):
            task = expected[booking["task"]]
            assert (booking["favourable"], booking["width"]) == (task.favourable, task.width)
            assert booking["end"] - booking["start"] == pytest.approx(task.duration)
    again = run_experiment(TINY)

    def key(r: RunRecord) -> tuple[object, ...]:
        return r.tasks, r.duration, r.width, r.behaviour, r.repetition, r.total_satisfaction, r.scheduled, r.messages

    assert [key(r) for r in again] == [key(r) for r in tiny_records]


@pytest.mark.timeout(20)
def test_plots_write_png_files(tiny_records: list[RunRecord], tmp_path: Path) -> None:
    summary = json.loads(json.dumps(summarise(TINY, tiny_records)))  # as read back from the JSON file
    figure = plot_scheduling_experiment(summary, tmp_path / "experiment.png")
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert figure.stat().st_size > 10_000
    report = asyncio.run(representative_reports(TINY))["active"]
    report["schedules"]["node-x"] = {"up": False, "horizon": 60.0, "version": 3, "bookings": [
        {"task": "gone", "start": 1.0, "end": 3.0, "favourable": 4.0, "width": 6.0, "satisfaction": 0.67}]}
    gantt = plot_schedule_gantt(report, tmp_path / "gantt.png")
    assert gantt.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ConfigError, match="scheduling run"):
        plot_schedule_gantt({"algorithm": "cohda"}, tmp_path / "bad.png")
    with pytest.raises(ConfigError, match="scheduling experiment"):
        plot_scheduling_experiment({}, tmp_path / "bad.png")


@pytest.mark.timeout(20)
def test_cli_experiment_writes_its_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "exp"
    code = main(["experiment", "scheduling", "--tasks", "3", "5", "--durations", "2", "--widths", "6", "--repeats",
                 "2", "--window", "0", "10", "--horizon", "50", "--resources", "2", "--seed", "7", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "## Overall" in stdout
    assert "active / passive total satisfaction" in stdout
    names = {p.name for p in out.iterdir()}
    assert names == {"scheduling-experiment.json", "scheduling-experiment.md", "scheduling-experiment.png",
                     "scheduling-experiment-gantt-active.png", "scheduling-experiment-gantt-passive.png"}
    payload = json.loads((out / "scheduling-experiment.json").read_text())
    assert payload["grid"]["resources"] == 2
    assert payload["grid"]["window"] == [0.0, 10.0]
    assert len(payload["records"]) == 2 * 2 * 2
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--repeats", "0"], "--repeats"),
        (["--window", "10", "5"], "--window"),
        (["--resources", "0"], "--resources"),
        (["--tasks", "0"], "--tasks"),
        (["--durations", "2", "-1"], "--durations"),
        (["--widths", "3", "3"], "--widths"),
        (["--horizon", "5", "--window", "0", "5", "--durations", "6"], "--durations"),
        (["--horizon", "10", "--window", "0", "24"], "--window"),
        (["--seed", "-1"], "--seed"),
    ],
)
@pytest.mark.timeout(10)
def test_cli_experiment_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], needle: str
) -> None:
    code = main(["experiment", "scheduling", *argv, "--out", str(tmp_path / "never")])
    stdout, stderr = capsys.readouterr()
    assert code == 2
    assert stdout == ""
    assert stderr.startswith(f"edge-agent: error: {needle}: must be")
    assert "Traceback" not in stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.timeout(10)
def test_cli_experiment_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["experiment", "scheduling", "--repeats", "x"], ["experiment", "nothing"],
                 ["experiment", "scheduling", "--window", "1"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "--repeats" in capsys.readouterr().err


@pytest.mark.timeout(20)
def test_solve_plots_a_scheduling_run_as_gantt_chart(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "scheduling_two_nodes.yaml"
    code = main(["solve", str(scenario), "--plot", str(tmp_path / "gantt.png")])
    _, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert (tmp_path / "gantt.png").read_bytes()[:4] == b"\x89PNG"
