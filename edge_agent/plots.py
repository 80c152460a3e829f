"""Figures of run results (PNG). matplotlib is optional: it is imported only when a figure is asked for.

* :func:`plot_admm_convergence`: ADMM residuals against rounds;
* :func:`plot_dispatch_history`: the seed paper's figures 1-2 for a dispatch run (every generator's output
  and every agent's multiplier against the iteration, two panels of one image).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError

__all__ = ["plot_admm_convergence", "plot_cohda", "plot_dispatch_history"]


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
