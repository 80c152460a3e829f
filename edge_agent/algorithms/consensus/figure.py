"""Figures of dispatch runs: the seed paper's figures 1-2 (every generator's output and every agent's
multiplier against the iteration, two panels of one image).

matplotlib is imported only when a figure is drawn (:func:`edge_agent.plots.pyplot`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.plots import pyplot, save

__all__ = ["plot_dispatch_history"]


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
    plt = pyplot()
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
    return save(plt, figure, path)
