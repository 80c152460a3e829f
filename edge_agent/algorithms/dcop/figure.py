"""The figure of a cycle-based DCOP run (DSA, MGM, Max-Sum, DeQED): the cost after every cycle,
recomputed from the agents' values, with the best assignment seen marked, and DeQED's Lagrangian bound.
DPOP has no cycles to draw.

matplotlib is imported only when a figure is drawn (:func:`edge_agent.plots.pyplot`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.plots import pyplot, save

__all__ = ["plot_dcop"]


def plot_dcop(report_json: Mapping[str, Any], path: str | Path) -> Path:
    """Cost per cycle of one run (``report_json``: :meth:`RunReport.to_json` of a DSA, MGM or Max-Sum run)."""
    history = report_json.get("cost_history")
    if not history:
        raise ConfigError(f"--plot draws the cost per cycle of DSA, MGM and Max-Sum runs; a "
                          f"{report_json.get('algorithm', '?')} run has none")
    cycles = list(range(len(history)))
    best_cycle = int(report_json.get("best_cycle", 0))
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5))
    axis.plot(cycles, history, color="C0", lw=1.6, label="cost after each cycle")
    dual = report_json.get("dual_history")
    if dual:  # DeQED: the Lagrangian bound of each cycle
        axis.plot(cycles[: len(dual)], dual, color="C2", lw=1.2, label="Lagrangian bound after each cycle")
    axis.scatter([best_cycle], [history[best_cycle]], color="C3", zorder=3,
                 label=f"best seen: {history[best_cycle]:.6g} at cycle {best_cycle}")
    objective = "utility" if report_json.get("sense") == "max" else "cost"
    axis.set_title(f"{report_json.get('scenario', 'dcop')} ({report_json.get('algorithm')}): "
                   f"{report_json.get('variables', '?')} variables, {report_json.get('status')}, "
                   f"{report_json.get('messages', '?')} messages")
    axis.set_xlabel("cycle")
    axis.set_ylabel(objective)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return save(plt, figure, path)
