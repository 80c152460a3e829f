"""Figures of COHDA runs: target against the chosen aggregate, and the remaining deviation.

matplotlib is imported only when a figure is drawn (:func:`edge_agent.plots.pyplot`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.plots import pyplot, save

__all__ = ["plot_cohda"]


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
    plt = pyplot()
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
    return save(plt, figure, path)
