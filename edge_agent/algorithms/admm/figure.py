"""Figures of ADMM runs: primal and dual residuals against rounds, one panel per run.

matplotlib is imported only when a figure is drawn (:func:`edge_agent.plots.pyplot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.plots import pyplot, save

__all__ = ["plot_admm_convergence"]


def plot_admm_convergence(reports: Sequence[dict[str, Any]], path: Path) -> Path:
    """Primal and dual residuals against rounds, one panel per ADMM run, tolerances dashed."""
    plt = pyplot()
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
    return save(plt, figure, path)
