"""Figures of run results (PNG). matplotlib is optional: it is imported only when a figure is asked for.

* :func:`plot_admm_convergence`: ADMM residuals against rounds;
* :func:`plot_dispatch_history`: the seed paper's figures 1-2 for a dispatch run (every generator's output
  and every agent's multiplier against the iteration, two panels of one image).
* :func:`plot_scheduling_experiment`: seed 002's figures 25-28 (active vs passive task agents);
* :func:`plot_schedule_gantt`: the schedules of one scheduling run as a Gantt chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError

__all__ = [
    "plot_admm_convergence",
    "plot_cohda",
    "plot_dispatch_history",
    "plot_schedule_gantt",
    "plot_scheduling_experiment",
]


def _pyplot() -> Any:
    try:
        import matplotlib as mpl  # noqa: PLC0415  (optional dependency, loaded on demand)
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'edge-agent[plot]'") from None
    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def plot_admm_convergence(reports: Sequence[dict[str, Any]], path: Path) -> Path:
    """Primal and dual residuals against rounds, one panel per ADMM run, tolerances dashed."""
    plt = _pyplot()
    runs = [r for r in reports if r.get("history")]
    if not runs:
        raise ConfigError("no ADMM residual history to plot")
    figure, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 4.2), squeeze=False)
    for axis, report in zip(axes[0], runs, strict=True):
        history = report["history"]
        rounds = [h["round"] for h in history]
        axis.semilogy(rounds, [max(h["r_primal"], 1e-16) for h in history], label="primal residual")
        axis.semilogy(rounds, [max(h["r_dual"], 1e-16) for h in history], label="dual residual")
        axis.semilogy(rounds, [h["eps_primal"] for h in history], "--", color="C0", lw=0.8, label="primal tolerance")
        axis.semilogy(rounds, [h["eps_dual"] for h in history], "--", color="C1", lw=0.8, label="dual tolerance")
        axis.set_title(f"{report['scenario']}: {report['status']} after {report['iterations']} rounds")
        axis.set_xlabel("ADMM round")
        axis.set_ylabel("residual (log scale)")
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _series(history: Mapping[str, Any], key: str) -> dict[str, list[float]]:
    series = history.get(key)
    if not isinstance(series, Mapping) or not series:
        raise ConfigError(f"the report's history has no per-participant {key!r} series to plot")
    return {str(pid): [float(v) for v in values] for pid, values in series.items()}


def plot_dispatch_history(report_json: Mapping[str, Any], path: str | Path) -> Path:
    """Outputs ``x_i(t)`` (top) and multipliers ``lam_i(t)`` (bottom) of a dispatch run, one line per generator.

    ``report_json`` is :meth:`RunReport.to_json` of a ``consensus-dispatch`` or ``primal-dual-dispatch`` run
    (or the same read back from JSON). Long runs get a symlog iteration axis, so the early transient shows.
    """
    history = report_json.get("history")
    if not isinstance(history, Mapping) or "iteration" not in history:
        msg = "the report has no dispatch 'history' (consensus-dispatch and primal-dual-dispatch record one)"
        raise ConfigError(msg)
    iterations = [int(k) for k in history["iteration"]]
    outputs, multipliers = _series(history, "x"), _series(history, "lam")
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    for pid, values in outputs.items():
        top.plot(iterations, values, label=pid, lw=1.4)
    for pid, values in multipliers.items():
        bottom.plot(iterations, values, label=pid, lw=1.4)
    title = f"{report_json.get('scenario', 'dispatch')} ({report_json.get('algorithm', '?')})"
    if report_json.get("demand") is not None:
        title += f", demand {float(report_json['demand']):g}"
    top.set_title(title)
    top.set_ylabel("generator output x_i(t)")
    bottom.set_ylabel("multiplier λ_i(t)")
    bottom.set_xlabel("iteration t")
    if len(iterations) > 1 and iterations[-1] > 100:
        bottom.set_xscale("symlog", linthresh=10)
    for axis in (top, bottom):
        axis.grid(True, alpha=0.3)
        axis.legend(loc="best", fontsize="small", ncols=max(1, len(outputs) // 8))
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return target


def plot_cohda(report_json: Mapping[str, Any], path: str | Path) -> Path:
    """Target against the chosen aggregate per slot (top) and the remaining deviation (bottom) of a COHDA run.

    ``report_json`` is :meth:`RunReport.to_json` of an ``algorithm: cohda`` run (or the same read back from
    JSON); the starting aggregate is drawn too when the report has it.
    """
    if report_json.get("algorithm") != "cohda" or "target" not in report_json:
        raise ConfigError("plot_cohda needs the report of a COHDA run (with 'target' and 'aggregate')")
    target = [float(v) for v in report_json["target"]]
    aggregate = [float(v) for v in report_json["aggregate"]]
    slots = list(range(len(target)))
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 6.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    if report_json.get("start_aggregate") is not None:
        top.step(slots, report_json["start_aggregate"], where="mid", color="0.6", lw=1.2, ls=":",
                 label=f"start (distance {float(report_json.get('start_distance', float('nan'))):.4g})")
    top.step(slots, target, where="mid", color="black", lw=2.0, ls="--", label="target")
    top.step(slots, aggregate, where="mid", color="C0", lw=1.8,
             label=f"chosen aggregate (distance {float(report_json.get('distance', float('nan'))):.4g})")
    deviation = [a - t for a, t in zip(aggregate, target, strict=True)]
    bottom.bar(slots, deviation, color=["C3" if d > 0 else "C2" for d in deviation], width=0.8)
    bottom.axhline(0.0, color="black", lw=0.8)
    participants = len(report_json.get("participants", {}))
    top.set_title(
        f"{report_json.get('scenario', 'cohda')}: {participants} participants, {report_json.get('status', '?')}, "
        f"{report_json.get('messages', '?')} messages"
    )
    top.set_ylabel("power per slot (sum of schedules)")
    bottom.set_ylabel("aggregate - target")
    bottom.set_xlabel("time slot")
    top.legend(loc="best", fontsize="small")
    for axis in (top, bottom):
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


_BEHAVIOUR_STYLE = {"active": {"color": "C0", "marker": "o"}, "passive": {"color": "C1", "marker": "s"}}


def _save(plt: Any, figure: Any, path: str | Path, dpi: int = 110) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    plt.close(figure)
    return out


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
    plt = _pyplot()
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
    return _save(plt, figure, path, dpi=100)


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
    plt = _pyplot()
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
    return _save(plt, figure, path)
