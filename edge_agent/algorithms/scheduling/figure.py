"""Figures of scheduling: seed 002's figures 25-28 (active vs passive task agents) and the Gantt chart of
one run's schedules.

matplotlib is imported only when a figure is drawn (:func:`edge_agent.plots.pyplot`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.plots import pyplot, save

__all__ = ["plot_schedule_gantt", "plot_scheduling_experiment"]


_BEHAVIOUR_STYLE = {"active": {"color": "C0", "marker": "o"}, "passive": {"color": "C1", "marker": "s"}}


def _experiment_distributions(top: Any, bottom: Any, summary: Mapping[str, Any], behaviours: list[str]) -> None:
    """Histogram of the runs' total satisfaction (top) and of the per-configuration ratio (bottom)."""
    distribution = summary["distribution"]
    values = [float(v) for b in behaviours for v in distribution[b]]
    bins = max(8, min(40, len(values) // 20))
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    edges = [low + (high - low + 1e-9) * i / bins for i in range(bins + 1)]
    for b in behaviours:
        runs = [float(v) for v in distribution[b]]
        top.hist(runs, bins=edges, alpha=0.55, color=_BEHAVIOUR_STYLE[b]["color"],
                 label=f"{b} (mean {sum(runs) / max(1, len(runs)):.2f})")
    top.set_xlabel("total satisfaction of a run")
    top.set_ylabel("runs")
    top.set_title("distribution of the total satisfaction")
    top.legend(fontsize="small")
    overall = summary.get("overall", {})
    ratios = [float(c["ratio"]) for c in summary.get("configs", []) if c.get("ratio") is not None]
    if ratios:
        bottom.hist(ratios, bins=20, color="C2", alpha=0.8)
        bottom.axvline(1.0, color="black", lw=0.8)
        if overall.get("ratio") is not None:
            bottom.axvline(float(overall["ratio"]), color="C3", ls="--",
                           label=f"whole grid: {float(overall['ratio']):.3f}")
            bottom.legend(fontsize="small")
    bottom.set_xlabel("active / passive mean total satisfaction")
    bottom.set_ylabel("configurations")
    bottom.set_title("ratio per configuration")


def _experiment_lines(axes: Any, summary: Mapping[str, Any], behaviours: list[str]) -> None:
    """Mean total satisfaction (row 0) and mean tasks scheduled (row 1) against each varied parameter."""
    panels = (("by_tasks", "tasks", "number of tasks"), ("by_duration", "duration", "task duration (h)"),
              ("by_width", "width", "satisfaction width (h)"))
    metrics = (("satisfaction", "mean total satisfaction", "total satisfaction"),
               ("scheduled", "mean tasks scheduled", "tasks scheduled"))
    for column, (key, name, label) in enumerate(panels, start=1):
        rows = summary[key]
        xs = [float(r[name]) for r in rows]
        for row_index, (metric, ylabel, title) in enumerate(metrics):
            axis = axes[row_index][column]
            for b in behaviours:
                axis.plot(xs, [float(r[b][metric]["mean"]) for r in rows], label=b, lw=1.6, **_BEHAVIOUR_STYLE[b])
            axis.set_xlabel(label)
            axis.set_ylabel(ylabel)
            axis.set_xticks(xs)
            axis.set_title(f"{title} vs {name}")
            axis.legend(fontsize="small")


def plot_scheduling_experiment(summary: Mapping[str, Any], path: str | Path) -> Path:
    """The scheduling experiment's figures (seed 002, figures 25-28) in one image.

    ``summary`` is :func:`edge_agent.scheduling_experiment.summarise` (or the same read back from JSON). Top
    row: the distribution of the total satisfaction of the runs, active against passive, then the mean total
    satisfaction against the number of tasks, the duration and the satisfaction width; bottom row: the
    distribution of the per-configuration active/passive ratio, then the mean number of scheduled tasks
    against the same three parameters.
    """
    distribution = summary.get("distribution")
    if not isinstance(distribution, Mapping) or not distribution or "by_tasks" not in summary:
        raise ConfigError("plot_scheduling_experiment needs the summary of a scheduling experiment")
    behaviours = [b for b in ("active", "passive") if b in distribution]
    plt = pyplot()
    figure, axes = plt.subplots(2, 4, figsize=(18, 8.5))
    _experiment_distributions(axes[0][0], axes[1][0], summary, behaviours)
    _experiment_lines(axes, summary, behaviours)
    for axis in axes.flat:
        axis.grid(True, alpha=0.3)
    grid, overall = summary.get("grid", {}), summary.get("overall", {})
    title = "scheduling experiment (seed 002)"
    if grid:
        title += (f": {grid.get('resources')} resource(s), horizon {grid.get('horizon')} h, favourable times "
                  f"U{list(grid.get('window', []))} h, {grid.get('repeats')} repetition(s)")
    if overall.get("ratio") is not None:
        title += f"; active / passive = {float(overall['ratio']):.3f}"
    figure.suptitle(title)
    figure.tight_layout()
    return save(plt, figure, path, dpi=100)


def _gantt_row(axis: Any, row: int, schedule: Mapping[str, Any], right: float, colours: Any) -> None:
    up = bool(schedule.get("up", True))
    horizon = float(schedule["horizon"])
    if not up:
        axis.axhspan(row - 0.45, row + 0.45, color="0.85", zorder=0)
        axis.text(0.0, row + 0.32, " down", color="0.35", fontsize="small", va="center")
    if horizon < right:
        axis.plot([horizon, horizon], [row - 0.45, row + 0.45], color="black", ls=":", lw=1.0)
    for booking in schedule["bookings"]:
        start, end = float(booking["start"]), float(booking["end"])
        satisfaction, favourable = float(booking["satisfaction"]), float(booking["favourable"])
        axis.barh(row, end - start, left=start, height=0.6, color=colours(satisfaction) if up else "0.7",
                  edgecolor="black", lw=0.6, zorder=2)
        axis.text((start + end) / 2, row, f"{booking['task']}\n{satisfaction:.2f}", ha="center", va="center",
                  fontsize=7, zorder=3, rotation=90 if end - start < 1.2 else 0, color="black" if up else "0.3")
        axis.plot([favourable], [row - 0.38], marker="v", color="black", ms=5, zorder=3)
        axis.plot([end, favourable], [row - 0.38, row - 0.38], color="black", lw=0.5, zorder=1)


def _gantt_notes(report_json: Mapping[str, Any], schedules: Mapping[str, Any]) -> str:
    """Unscheduled (not on a resource that is up) and cancelled tasks."""
    booked = {b["task"] for s in schedules.values() if s.get("up", True) for b in s["bookings"]}
    cancelled = sorted(set(report_json.get("cancelled", [])))
    unscheduled = sorted(set(report_json.get("participants", {})) - booked - set(cancelled))
    return "; ".join(f"{what}: {', '.join(ids[:30])}{', ...' if len(ids) > 30 else ''}"
                     for what, ids in (("unscheduled", unscheduled), ("cancelled", cancelled)) if ids)


def plot_schedule_gantt(report_json: Mapping[str, Any], path: str | Path) -> Path:
    """Gantt chart of a scheduling run: one row per resource, one bar per booking labelled with its task,
    coloured by its satisfaction (colour bar), a marker at every task's favourable completion time; resources
    that are down are greyed. Unscheduled and cancelled tasks are listed under the chart.

    ``report_json`` is :meth:`RunReport.to_json` of an ``algorithm: scheduling`` run (or the same read back
    from JSON). The time axis covers the bookings and the satisfaction triangles, not an unbounded horizon.
    """
    schedules = report_json.get("schedules")
    if report_json.get("algorithm") != "scheduling" or not isinstance(schedules, Mapping) or not schedules:
        raise ConfigError("plot_schedule_gantt needs the report of a scheduling run (with 'schedules')")
    plt = pyplot()
    import matplotlib as mpl  # noqa: PLC0415  (loaded by _pyplot)

    colours = mpl.colormaps["RdYlGn"]
    resources = list(schedules)
    bookings = [b for s in schedules.values() for b in s["bookings"]]
    edges = [float(b["end"]) for b in bookings] + [float(b["favourable"]) + float(b["width"]) / 2 for b in bookings]
    right = max(edges) if bookings else max(float(s["horizon"]) for s in schedules.values())
    figure, axis = plt.subplots(figsize=(max(9.0, min(16.0, right / 2.5)), max(3.6, 1.6 + 1.1 * len(resources))))
    for row, rid in enumerate(resources):
        _gantt_row(axis, row, schedules[rid], right, colours)
    axis.set_yticks(range(len(resources)))
    axis.set_yticklabels([rid if schedules[rid].get("up", True) else f"{rid} (down)" for rid in resources])
    axis.set_ylim(len(resources) - 0.5, -0.5)
    axis.set_xlim(0.0, right * 1.02)
    axis.set_xlabel("time (h); bar = booking, ▼ = favourable completion time, label = task and satisfaction")
    axis.grid(True, axis="x", alpha=0.3)
    figure.colorbar(mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0.0, 1.0), cmap=colours), ax=axis,
                    label="satisfaction of the booking", pad=0.01)
    title = f"{report_json.get('scenario', 'scheduling')} ({report_json.get('behaviour', '?')})"
    if report_json.get("scheduled") is not None and report_json.get("tasks") is not None:
        title += f": {report_json['scheduled']} of {report_json['tasks']} tasks scheduled"
    total = report_json.get("total_satisfaction", report_json.get("objective"))
    if total is not None:
        title += f", total satisfaction {float(total):.3f}"
    axis.set_title(title)
    notes = _gantt_notes(report_json, schedules)
    if notes:
        figure.text(0.01, 0.01, notes, fontsize="small", va="bottom")
    figure.tight_layout(rect=(0, 0.04 if notes else 0, 1, 1))
    return save(plt, figure, path)
