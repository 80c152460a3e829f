"""The computational experiment of seed 002 (Kiriakov & Skobelev 2025, section 6): active vs passive task agents.

The grid of the paper: behaviour (active, passive) x number of tasks 5..25 step 5 x task duration 2..6 h step 1
x satisfaction width 3..12 h step 3. In one configuration all tasks are identical except their favourable
(completion) times, which are drawn uniformly from a window; every configuration is played ``repeats`` times,
each repetition with its own task set and its own random message order. All tasks arrive at once. Reported:
the total satisfaction and the number of scheduled tasks, their distribution and their dependence on the
varied parameters (the paper's figures 25-28).

The paper leaves the number of resources, the horizon and the distribution of favourable times open; they are
parameters of :class:`ExperimentGrid` with the defaults argued in ``docs/scheduling-experiment.md``.

* :func:`run_grid` (async) / :func:`run_experiment` play the grid in process and return one
  :class:`RunRecord` per run; every run is checked for consistency (schedules vs agents);
* :func:`summarise` turns the records into a JSON-ready summary (per configuration, per varied parameter,
  overall ratio with its spread);
* :func:`markdown_report`, :func:`write_outputs` write it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from edge_agent.algorithms.scheduling import Arrival, Behaviour, Limits, Task
from edge_agent.algorithms.scheduling.figure import plot_schedule_gantt, plot_scheduling_experiment
from edge_agent.algorithms.scheduling.scenario import SchedulingOutcome, run_scheduling
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import network

__all__ = [
    "Configuration",
    "ExperimentGrid",
    "RunRecord",
    "markdown_report",
    "representative",
    "representative_reports",
    "run_configuration",
    "run_experiment",
    "run_grid",
    "summarise",
    "task_set",
    "write_figures",
    "write_outputs",
]

log = structlog.get_logger("edge_agent.scheduling_experiment")

BEHAVIOURS: tuple[Behaviour, ...] = ("active", "passive")
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True)
class Configuration:
    """One cell of the grid: ``tasks`` tasks of ``duration`` hours with a satisfaction base of ``width`` hours."""

    tasks: int
    duration: float
    width: float

    def key(self) -> str:
        return f"n={self.tasks} d={self.duration:g} w={self.width:g}"


def _bad(name: str, need: str, got: object) -> ConfigError:
    return ConfigError(f"must be {need}, got {got}", source=name)


@dataclass(frozen=True)
class ExperimentGrid:
    """The varied parameters (the paper's grid by default) and the ones the paper leaves open.

    * ``resources``: compute nodes, all with the horizon ``[0, horizon]`` (paper: not stated; default 1, as
      in all of its worked examples);
    * ``horizon``: hours (paper: "the time axis has no limits"; default 200 h, longer than the favourable
      window plus the work of the largest configuration, 24 + 25 x 6 = 174 h, so it never constrains a
      booking; the left end 0 is "now", when every task arrives);
    * ``window``: favourable completion times are drawn uniformly from ``[lo, hi]`` hours (paper: not
      stated; default one day, ``[0, 24]``);
    * ``repeats``: repetitions of every configuration (paper: 5); repetition ``r`` draws its own task set
      and message order, the same for both behaviours;
    * ``seed``: base seed of the task sets and the message orders.
    """

    behaviours: tuple[Behaviour, ...] = BEHAVIOURS
    tasks: tuple[int, ...] = (5, 10, 15, 20, 25)
    durations: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 6.0)
    widths: tuple[float, ...] = (3.0, 6.0, 9.0, 12.0)
    resources: int = 1
    horizon: float = 200.0
    window: tuple[float, float] = (0.0, 24.0)
    repeats: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.behaviours or any(b not in BEHAVIOURS for b in self.behaviours):
            raise _bad("behaviours", "a non-empty subset of ('active', 'passive')", self.behaviours)
        for name in ("behaviours", "tasks", "durations", "widths"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise _bad(name, "at least one value, without repetitions", list(values))
        if any(int(n) != n or n < 1 for n in self.tasks):
            raise _bad("tasks", "whole numbers >= 1", list(self.tasks))
        for name in ("durations", "widths"):
            values = getattr(self, name)
            if any(not (np.isfinite(v) and v > 0) for v in values):
                raise _bad(name, "finite numbers > 0 (hours)", list(values))
        for name, least in (("resources", 1), ("repeats", 1), ("seed", 0)):
            if getattr(self, name) < least:
                raise _bad(name, f">= {least}", getattr(self, name))
        if not (np.isfinite(self.horizon) and self.horizon > 0):
            raise _bad("horizon", "a finite number > 0 (hours)", self.horizon)
        if len(self.window) != 2 or not all(np.isfinite(self.window)) \
                or not 0 <= self.window[0] <= self.window[1] <= self.horizon:
            raise _bad("window", f"LO HI with 0 <= LO <= HI <= horizon ({self.horizon:g})", list(self.window))
        if max(self.durations) > self.horizon:
            raise _bad("durations", f"at most the horizon ({self.horizon:g} h)", list(self.durations))

    def configurations(self) -> list[Configuration]:
        return [Configuration(n, float(d), float(w)) for n, d, w in product(self.tasks, self.durations, self.widths)]

    @property
    def runs(self) -> int:
        return len(self.configurations()) * len(self.behaviours) * self.repeats

    def resource_ids(self) -> list[str]:
        return [f"node-{i + 1}" for i in range(self.resources)]

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _entropy(grid: ExperimentGrid, config: Configuration, repetition: int) -> list[int]:
    # values, not grid positions: a configuration draws the same tasks whatever else the grid contains
    return [grid.seed, config.tasks, round(config.duration * 1000), round(config.width * 1000), repetition]


def task_set(grid: ExperimentGrid, config: Configuration, repetition: int) -> list[Task]:
    """The tasks of one configuration and repetition: identical but for their favourable times, drawn
    uniformly from ``grid.window``; independent of the behaviour."""
    rng = np.random.default_rng(_entropy(grid, config, repetition))
    lo, hi = grid.window
    favourable = lo + (hi - lo) * rng.random(config.tasks)
    width = len(str(config.tasks))
    return [Task(f"t{i + 1:0{width}d}", config.duration, float(f), config.width) for i, f in enumerate(favourable)]


def message_seed(grid: ExperimentGrid, config: Configuration, repetition: int) -> int:
    """Seed of the message-order shuffle of one configuration and repetition (same for both behaviours)."""
    return int(np.random.SeedSequence([*_entropy(grid, config, repetition), 1]).generate_state(1)[0])


@dataclass(frozen=True)
class RunRecord:
    tasks: int
    duration: float
    width: float
    behaviour: Behaviour
    repetition: int
    total_satisfaction: float
    scheduled: int
    messages: int
    wall_s: float
    limited: int = 0  # task agents stopped by the message limiter
    satisfied: int = 0  # scheduled tasks with a satisfaction > 0 (a shift may push a booked task to 0)

    @property
    def config(self) -> Configuration:
        return Configuration(self.tasks, self.duration, self.width)


async def run_configuration(
    grid: ExperimentGrid, config: Configuration, behaviour: Behaviour, repetition: int, limits: Limits | None = None
) -> SchedulingOutcome:
    """One run: the configuration's task set for this repetition, all arriving at 0, messages shuffled."""
    events = [Arrival(0.0, task) for task in task_set(grid, config, repetition)]
    options = RunOptions(run_id=f"exp-{config.tasks}-{config.duration:g}-{config.width:g}-{behaviour}-{repetition}",
                         seed=message_seed(grid, config, repetition), shuffle=True)
    horizons = dict.fromkeys(grid.resource_ids(), grid.horizon)
    outcome = await run_scheduling(horizons, events, behaviour, network(options), limits)
    problems = outcome.consistency_problems()
    if problems:
        msg = (f"experiment run {config.key()} {behaviour} repetition {repetition}: inconsistent schedules: "
               f"{'; '.join(problems[:5])}")
        raise EdgeAgentError(msg)
    return outcome


async def run_grid(
    grid: ExperimentGrid,
    limits: Limits | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> list[RunRecord]:
    """Every configuration x behaviour x repetition, in this order (configurations outermost). Logs progress
    (``info``, about every 5 s) and calls ``progress(configurations done, total, elapsed s)`` after each
    configuration."""
    configs = grid.configurations()
    records: list[RunRecord] = []
    started = last = time.perf_counter()
    log.info("experiment.started", configurations=len(configs), runs=grid.runs,
             resources=grid.resources, horizon=grid.horizon, window=list(grid.window), repeats=grid.repeats)
    for done, config in enumerate(configs, start=1):
        for behaviour in grid.behaviours:
            for repetition in range(grid.repeats):
                outcome = await run_configuration(grid, config, behaviour, repetition, limits)
                records.append(RunRecord(
                    tasks=config.tasks, duration=config.duration, width=config.width, behaviour=behaviour,
                    repetition=repetition, total_satisfaction=outcome.total_satisfaction,
                    scheduled=len(outcome.placed), messages=outcome.messages, wall_s=outcome.wall_s,
                    limited=sum(1 for a in outcome.agents.values() if a.limited),
                    satisfied=sum(1 for state in outcome.states.values() if state.up for b in state.bookings
                                  if b.task.task().satisfaction_at(b.start + b.task.duration) > 0),
                ))
        now = time.perf_counter()
        if progress is not None:
            progress(done, len(configs), now - started)
        if now - last >= PROGRESS_EVERY_S or done == len(configs):
            last = now
            log.info("experiment.progress", configurations_done=done, configurations=len(configs),
                     elapsed_s=round(now - started, 1))
    return records


def run_experiment(grid: ExperimentGrid, limits: Limits | None = None) -> list[RunRecord]:
    """:func:`run_grid` in a fresh event loop."""
    return asyncio.run(run_grid(grid, limits))


def representative(grid: ExperimentGrid) -> Configuration:
    """The largest configuration of the grid (most tasks, longest, widest), shown as a Gantt chart."""
    return Configuration(max(grid.tasks), float(max(grid.durations)), float(max(grid.widths)))


async def representative_reports(grid: ExperimentGrid, limits: Limits | None = None) -> dict[str, dict[str, Any]]:
    """Behaviour -> report JSON (:meth:`RunReport.to_json`) of repetition 0 of :func:`representative`."""
    config = representative(grid)
    reports: dict[str, dict[str, Any]] = {}
    for behaviour in grid.behaviours:
        outcome = await run_configuration(grid, config, behaviour, 0, limits)
        reports[behaviour] = outcome.report(f"{config.key()}, repetition 0").to_json()
    return reports


# --------------------------------------------------------------------------------------------------- summary


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def _ratio(active: float, passive: float) -> float | None:
    return active / passive if passive > 0 else None


def _quantiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    q = np.quantile(np.asarray(values, dtype=float), [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
    return dict(zip(("min", "p10", "p25", "median", "p75", "p90", "max"), (float(v) for v in q), strict=True))


def _group(records: Iterable[RunRecord], key: Callable[[RunRecord], Any]) -> dict[Any, list[RunRecord]]:
    groups: dict[Any, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return groups


def _behaviour_means(records: Sequence[RunRecord], behaviours: Sequence[str]) -> dict[str, Any]:
    """Mean total satisfaction and scheduled tasks of each behaviour, and the active/passive ratio of the means."""
    row: dict[str, Any] = {}
    for behaviour in behaviours:
        own = [r for r in records if r.behaviour == behaviour]
        row[behaviour] = {
            "satisfaction": _stats([r.total_satisfaction for r in own]),
            "scheduled": _stats([float(r.scheduled) for r in own]),
            "messages": statistics.fmean(r.messages for r in own),
            "runs": len(own),
        }
    if {"active", "passive"} <= set(behaviours):
        row["ratio"] = _ratio(row["active"]["satisfaction"]["mean"], row["passive"]["satisfaction"]["mean"])
    return row


def _bootstrap_ratio(per_config: Sequence[tuple[float, float]], seed: int, samples: int = 2000) -> list[float] | None:
    """95 % interval of sum(active) / sum(passive) when the configurations are resampled with replacement."""
    if len(per_config) < 2:
        return None
    sums = np.asarray(per_config, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), size=(samples, len(sums)))
    active, passive = sums[picks, 0].sum(axis=1), sums[picks, 1].sum(axis=1)
    ratios = active[passive > 0] / passive[passive > 0]
    return [float(v) for v in np.quantile(ratios, [0.025, 0.975])] if len(ratios) else None


def summarise(grid: ExperimentGrid, records: Sequence[RunRecord]) -> dict[str, Any]:
    """JSON-ready summary of a finished grid (see ``docs/scheduling-experiment.md`` for every key)."""
    if not records:
        raise ConfigError("no experiment records to summarise")
    behaviours = [b for b in grid.behaviours if any(r.behaviour == b for r in records)]
    both = {"active", "passive"} <= set(behaviours)
    by_config = _group(records, lambda r: r.config)
    configs: list[dict[str, Any]] = []
    fewer: list[str] = []
    config_ratios: list[float] = []
    config_sums: list[tuple[float, float]] = []
    for config, own in by_config.items():
        row = {"tasks": config.tasks, "duration": config.duration, "width": config.width,
               **_behaviour_means(own, behaviours)}
        if both:
            active = [r for r in own if r.behaviour == "active"]
            passive = [r for r in own if r.behaviour == "passive"]
            row["fewer_tasks"] = row["active"]["scheduled"]["mean"] < row["passive"]["scheduled"]["mean"] - 1e-12
            row["active_fewer_runs"] = sum(
                1 for a in active for p in passive if a.repetition == p.repetition and a.scheduled < p.scheduled)
            if row["fewer_tasks"]:
                fewer.append(config.key())
            if row["ratio"] is not None:
                config_ratios.append(row["ratio"])
            config_sums.append((sum(r.total_satisfaction for r in active), sum(r.total_satisfaction for r in passive)))
        configs.append(row)

    totals = {b: sum(r.total_satisfaction for r in records if r.behaviour == b) for b in behaviours}
    overall: dict[str, Any] = {
        "runs": len(records),
        "configurations": len(by_config),
        **{b: {"total_satisfaction": totals[b],
               "mean_satisfaction": statistics.fmean(r.total_satisfaction for r in records if r.behaviour == b),
               "mean_scheduled": statistics.fmean(r.scheduled for r in records if r.behaviour == b),
               "scheduled": sum(r.scheduled for r in records if r.behaviour == b),
               "satisfied": sum(r.satisfied for r in records if r.behaviour == b),
               "tasks": sum(r.tasks for r in records if r.behaviour == b),
               "messages": sum(r.messages for r in records if r.behaviour == b),
               "limited_agents": sum(r.limited for r in records if r.behaviour == b),
               "wall_s": sum(r.wall_s for r in records if r.behaviour == b)}
           for b in behaviours},
    }
    if both:
        by_rep = _group(records, lambda r: r.repetition)
        rep_ratios = {rep: _ratio(sum(r.total_satisfaction for r in own if r.behaviour == "active"),
                                  sum(r.total_satisfaction for r in own if r.behaviour == "passive"))
                      for rep, own in sorted(by_rep.items())}
        known = [v for v in rep_ratios.values() if v is not None]
        overall.update({
            "ratio": _ratio(totals["active"], totals["passive"]),
            "ratio_by_repetition": {str(k): v for k, v in rep_ratios.items()},
            "ratio_by_repetition_range": ({"min": min(known), "median": statistics.median(known), "max": max(known)}
                                          if known else None),
            "ratio_bootstrap_95": _bootstrap_ratio(config_sums, grid.seed),
            "config_ratio_quantiles": _quantiles(config_ratios),
            "configs_active_beats_passive": sum(1 for v in config_ratios if v > 1),
            "configs_fewer_tasks": len(fewer),
            "configs_fewer_tasks_list": fewer,
            "runs_active_fewer_tasks": sum(c["active_fewer_runs"] for c in configs),
        })

    def by(name: str, key: Callable[[RunRecord], float]) -> list[dict[str, Any]]:
        return [{name: value, **_behaviour_means(own, behaviours)}
                for value, own in sorted(_group(records, key).items())]

    return {
        "grid": grid.to_json(),
        "overall": overall,
        "by_tasks": by("tasks", lambda r: r.tasks),
        "by_duration": by("duration", lambda r: r.duration),
        "by_width": by("width", lambda r: r.width),
        "configs": configs,
        "distribution": {b: [r.total_satisfaction for r in records if r.behaviour == b] for b in behaviours},
    }


# --------------------------------------------------------------------------------------------------- output


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{100 * (ratio - 1):+.1f} %"


def _table(summary: dict[str, Any], key: str, label: str, unit: str) -> Iterator[str]:
    behaviours = [b for b in BEHAVIOURS if b in summary["grid"]["behaviours"]]
    head = " | ".join(f"{b}: satisfaction | {b}: scheduled" for b in behaviours)
    ratio = " | active / passive" if len(behaviours) == 2 else ""
    yield f"| {label}{unit} | {head}{ratio} |"
    yield "|---:|" + "---:|" * (2 * len(behaviours) + (1 if ratio else 0))
    for row in summary[key]:
        cells = " | ".join(f"{row[b]['satisfaction']['mean']:.3f} | {row[b]['scheduled']['mean']:.2f}"
                           for b in behaviours)
        extra = f" | {_fmt(row.get('ratio'))} ({_percent(row.get('ratio'))})" if ratio else ""
        yield f"| {row[key.removeprefix('by_')]:g} | {cells}{extra} |"


def markdown_report(summary: dict[str, Any], title: str = "Scheduling experiment (seed 002, section 6)") -> str:
    """Overall figures and the tables by number of tasks, duration and width (means over runs)."""
    grid, overall = summary["grid"], summary["overall"]
    behaviours = [b for b in BEHAVIOURS if b in grid["behaviours"]]
    lines = [
        f"# {title}",
        "",
        f"Grid: tasks {grid['tasks']}, durations {grid['durations']} h, widths {grid['widths']} h; "
        f"{grid['resources']} resource(s), horizon [0, {grid['horizon']:g}] h, favourable times uniform on "
        f"[{grid['window'][0]:g}, {grid['window'][1]:g}] h, {grid['repeats']} repetition(s), seed {grid['seed']}; "
        f"{overall['configurations']} configurations, {overall['runs']} runs.",
        "",
        "## Overall",
        "",
        "| behaviour | total satisfaction (sum over runs) | mean per run | tasks scheduled | mean per run "
        "| of them with satisfaction > 0 | messages | agents stopped by the limiter | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in behaviours:
        o = overall[b]
        lines.append(f"| {b} | {o['total_satisfaction']:.2f} | {o['mean_satisfaction']:.3f} | "
                     f"{o['scheduled']} / {o['tasks']} | {o['mean_scheduled']:.2f} | {o['satisfied']} | "
                     f"{o['messages']:,} | "
                     f"{o['limited_agents']} | {o['wall_s']:.1f} |")
    if "ratio" in overall:
        reps = overall["ratio_by_repetition_range"]
        boot = overall["ratio_bootstrap_95"]
        quant = overall["config_ratio_quantiles"]
        lines += [
            "",
            f"- **active / passive total satisfaction: {_fmt(overall['ratio'])} ({_percent(overall['ratio'])})** "
            "(sum over all runs of the grid)",
        ]
        if reps:
            per_rep = ", ".join(_fmt(v) for v in overall["ratio_by_repetition"].values())
            lines.append(f"- per repetition (the whole grid once each): {per_rep}; min {_fmt(reps['min'])}, "
                         f"median {_fmt(reps['median'])}, max {_fmt(reps['max'])}")
        if boot:
            lines.append(f"- 95 % bootstrap interval over configurations: [{_fmt(boot[0])}, {_fmt(boot[1])}]")
        if quant:
            lines.append(f"- per configuration (ratio of the mean totals): min {_fmt(quant['min'])}, "
                         f"p10 {_fmt(quant['p10'])}, median {_fmt(quant['median'])}, p90 {_fmt(quant['p90'])}, "
                         f"max {_fmt(quant['max'])}; active better in {overall['configs_active_beats_passive']} "
                         f"of {overall['configurations']} configurations")
        fewer = overall["configs_fewer_tasks_list"]
        lines.append(f"- configurations where active schedules fewer tasks than passive on average: "
                     f"**{overall['configs_fewer_tasks']}** of {overall['configurations']}"
                     + (f" ({', '.join(fewer[:10])}{', ...' if len(fewer) > 10 else ''})" if fewer else "")
                     + f"; single runs (same repetition): {overall['runs_active_fewer_tasks']}")
    for key, label, unit in (("by_tasks", "tasks", ""), ("by_duration", "duration", " (h)"),
                             ("by_width", "width", " (h)")):
        lines += ["", f"## By {label} (means over runs; satisfaction = total satisfaction of a run)", "",
                  *_table(summary, key, label, unit)]
    lines.append("")
    return "\n".join(lines)


@dataclass
class Outputs:
    json: Path
    markdown: Path
    figures: list[Path] = field(default_factory=list)


def write_outputs(summary: dict[str, Any], records: Sequence[RunRecord], directory: Path,
                  stem: str = "scheduling-experiment", extra: dict[str, Any] | None = None) -> Outputs:
    """``<stem>.json`` (summary, every record, ``extra``) and ``<stem>.md`` (:func:`markdown_report`)."""
    directory.mkdir(parents=True, exist_ok=True)
    outputs = Outputs(directory / f"{stem}.json", directory / f"{stem}.md")
    payload = {**summary, "records": [asdict(r) for r in records], **(extra or {})}
    outputs.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    outputs.markdown.write_text(markdown_report(summary), encoding="utf-8")
    return outputs


def write_figures(summary: dict[str, Any], reports: dict[str, dict[str, Any]], directory: Path,
                  stem: str = "scheduling-experiment") -> list[Path]:
    """``<stem>.png`` (:func:`~edge_agent.plots.plot_scheduling_experiment`) and ``<stem>-gantt-<behaviour>.png``
    (:func:`~edge_agent.plots.plot_schedule_gantt`) for every report in ``reports``."""
    paths = [plot_scheduling_experiment(summary, directory / f"{stem}.png")]
    paths += [plot_schedule_gantt(report, directory / f"{stem}-gantt-{behaviour}.png")
              for behaviour, report in reports.items()]
    return paths
