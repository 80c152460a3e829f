"""DisLRP's figure: both bounds per cycle, and the optimum when the scenario knows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.plots import pyplot, save

__all__ = ["plot_bounds"]


def plot_bounds(report: dict[str, Any], path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    upper = report.get("dual_history") or []
    lower = report.get("feasible_history") or []
    axes.plot(range(len(upper)), upper, label="dual bound (Lagrangian)", color="tab:red")
    axes.plot(range(len(lower)), [float("nan") if v is None else v for v in lower],
              label="feasible assignment (repaired)", color="tab:blue")
    optimum = report.get("known_optimum")
    if optimum is not None:
        axes.axhline(optimum, color="black", linestyle="--", linewidth=1, label=f"known optimum {optimum:g}")
    axes.set_xlabel("cycle")
    axes.set_ylabel("objective")
    axes.set_title(f"{report.get('scenario')}: DisLRP bounds ({report.get('status')})")
    axes.legend()
    return save(plt, figure, path)
