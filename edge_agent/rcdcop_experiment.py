"""The seed's experiment (Matsui & Matsuo, tables 1 and 2) on the tree DP, with spread over seeds.

    edge-agent experiment rcdcop                    # 10 seeds, 20 dynamic rounds; tables on stdout, and
                                                    # out/rcdcop-experiment/rcdcop-experiment.{md,json,png}
    edge-agent experiment rcdcop --repeats 3 --rounds 10
    edge-agent experiment rcdcop --supply-ratio 0.6 --capacity 2 4 --out out/rcdcop-tight

Instances: ``generators.feeder`` on a chain ("linear") and a binary tree with (providers, consumers) = (2, 10)
and (4, 20); consumers demand 2 and pay the units left unserved (0, 1 or 2), providers cost 0, total supply 60 %
of the demand (fewer units than consumers: in every single problem someone gets nothing), link capacities uniform
in 4..8 (``--supply-ratio`` and ``--capacity`` change both); seeds ``seed .. seed + repeats - 1``.

Table 1 (single problem): for each aggregation (sum, max) and tie-break (greedy, center), the search effort and
the population variance of the agents' costs (all nodes). Effort is what this DP does: ``entries`` (pairs of
finite table entries combined, UTIL and VALUE phases), ``steps`` (partial choices tried while picking values),
``distinct`` (distinct finite costs in the UTIL tables sent: the size of the cost space the seed credits for max's
shorter search), message bytes.

Table 2 (dynamic, max + center): ``R`` rounds on the same tree; after each, the agents with the round's largest
cost raise their functions (``ge_max``: values >= their current cost, ``gt_min``: values above their function's
minimum; +1). Reported: the largest per-node average cost over the rounds and the mean per-round
variance, and the variance over nodes of their average costs, all measured on the original cost functions.
Cells are "median [min, max]" over the seeds.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from edge_agent.algorithms.rcdcop import RcSettings, RcTree, feeder, rc_report, round_summary, run_rcdcop, run_rounds
from edge_agent.algorithms.rcdcop.dynamic import Variant
from edge_agent.algorithms.rcdcop.generators import Shape
from edge_agent.algorithms.rcdcop.model import Aggregation, TieBreak
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.errors import ConfigError, SolverError
from edge_agent.plots import pyplot, save

__all__ = ["Experiment", "run", "tables", "write"]

log = structlog.get_logger("edge_agent.rcdcop")
GRAPHS: tuple[tuple[str, Shape], ...] = (("linear", "chain"), ("binary tree", "binary"))
SIZES = ((2, 10), (4, 20))
VARIANTS: tuple[Variant, ...] = ("ge_max", "gt_min")
RUNS: tuple[tuple[Aggregation, TieBreak], ...] = (("sum", "greedy"), ("max", "greedy"), ("sum", "center"),
                                                  ("max", "center"))


async def solve(tree: RcTree, how: Aggregation, tie: TieBreak, seed: int) -> dict[str, Any]:
    settings = RcSettings(how, tie)
    outcome = await run_rcdcop(tree, settings, InProcNetwork(rng=np.random.default_rng(seed), shuffle=True))
    report = rc_report(tree, settings, outcome).to_json()
    if report["status"] != "converged":
        raise SolverError(f"{tree.name} ({how}, {tie}): {report['status']}", status=report["status"])
    return report


async def single(tree: RcTree, seed: int) -> dict[str, dict[str, float]]:
    found = {}
    for how, tie in RUNS:
        report = await solve(tree, how, tie, seed)
        found[f"{how}, {tie}"] = {"entries": report["effort"]["entries"], "steps": report["effort"]["steps"],
                                  "distinct": report["effort"]["distinct_util_costs"],
                                  "bytes": report["effort"]["message_bytes"],
                                  "variance": report["costs"]["variance"], "max": report["costs"]["max"]}
    return found


async def dynamic(tree: RcTree, variant: Variant, rounds: int, seed: int) -> dict[str, float]:
    def network() -> InProcNetwork:
        return InProcNetwork(rng=np.random.default_rng(seed), shuffle=True)

    return round_summary(await run_rounds(tree, variant, rounds, RcSettings("max", "center"), network))


Rows = dict[tuple[str, str], list[dict[str, dict[str, float]]]]


def _bars(axis: Any, groups: list[str], series: dict[str, list[list[float]]], title: str) -> None:
    """Grouped bars at the medians, whiskers from min to max over the seeds."""
    width = 0.8 / len(series)
    for k, (label, per_group) in enumerate(series.items()):
        x = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
        medians = np.array([statistics.median(v) for v in per_group])
        low = medians - np.array([min(v) for v in per_group])
        high = np.array([max(v) for v in per_group]) - medians
        axis.bar(x, medians, width, yerr=[low, high], capsize=3, label=label)
    axis.set_xticks(np.arange(len(groups)), groups, fontsize=8)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)


def figure(single_rows: Rows, dynamic_rows: Rows, path: Path) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    groups = [f"{label}\n{size}" for label, size in single_rows]
    _bars(axes[0], groups, {name: [[r[name]["variance"] for r in runs] for runs in single_rows.values()]
                            for name in ("max, greedy", "max, center")}, "variance of the agents' costs")
    _bars(axes[1], groups, {f"{how}, center": [[r[f"{how}, center"]["distinct"] for r in runs]
                                               for runs in single_rows.values()] for how in ("sum", "max")},
          "distinct costs in the UTIL tables (cost space)")
    _bars(axes[2], groups, {shown: [[r[variant]["max_average_cost"] for r in runs] for runs in dynamic_rows.values()]
                            for variant, shown in (("ge_max", ">= max cost"), ("gt_min", "> min cost"))},
          "dynamic: largest per-node average cost")
    fig.tight_layout()
    return save(plt, fig, path)


def cell(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3g} [{min(values):.3g}, {max(values):.3g}]"


@dataclass(frozen=True)
class Experiment:
    """What to run; the CLI's options, checked here (a bad value names its option)."""

    repeats: int = 10  # seeds seed .. seed + repeats - 1
    seed: int = 0
    rounds: int = 20
    supply_ratio: float = 0.4
    capacity: tuple[int, int] = (4, 8)

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.rounds < 1:
            raise ConfigError(f"--repeats and --rounds must be >= 1, got {self.repeats} and {self.rounds}")
        if not 0 < self.supply_ratio <= 1:
            raise ConfigError(f"--supply-ratio must lie in (0, 1], got {self.supply_ratio}")
        if not 1 <= self.capacity[0] <= self.capacity[1]:
            raise ConfigError(f"--capacity needs 1 <= LO <= HI, got {self.capacity[0]} {self.capacity[1]}")


async def run(experiment: Experiment) -> tuple[Rows, Rows]:
    """Tables 1 and 2: every graph and size on every seed."""
    single_rows: Rows = {}
    dynamic_rows: Rows = {}
    for label, shape in GRAPHS:
        for providers, consumers in SIZES:
            key = (label, f"{providers}, {consumers}")
            for seed in range(experiment.seed, experiment.seed + experiment.repeats):
                tree = feeder(shape, providers, consumers, np.random.default_rng(seed), name=f"{shape}-{seed}",
                              supply_ratio=experiment.supply_ratio, capacity=experiment.capacity)
                single_rows.setdefault(key, []).append(await single(tree, seed))
                dynamic_rows.setdefault(key, []).append(
                    {v: await dynamic(tree, v, experiment.rounds, seed) for v in VARIANTS})
                log.info("rcdcop_experiment.progress", graph=label, size=key[1], seed=seed)
    return single_rows, dynamic_rows


def tables(experiment: Experiment, single_rows: Rows, dynamic_rows: Rows) -> str:
    lines = ["## Table 1: single problem (effort and cost variance)", "",
             "| graph | #prov., #cons. | algorithm | entries | steps | distinct UTIL costs | message bytes "
             "| var. of cost | max cost |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (label, size), runs in single_rows.items():
        for how, tie in RUNS:
            name = f"{how}, {tie}"
            keys = ("entries", "steps", "distinct", "bytes", "variance", "max")
            cells = [cell([r[name][k] for r in runs]) for k in keys]
            lines.append(f"| {label} | {size} | {name} | " + " | ".join(cells) + " |")
    lines += ["", f"## Table 2: dynamic, max + center, {experiment.rounds} rounds", "",
              "| graph | #prov., #cons. | raise | max. avg. cost | var. of cost (mean over rounds) "
              "| var. of the nodes' avg. costs |",
              "|---|---|---|---|---|---|"]
    for (label, size), runs in dynamic_rows.items():
        for variant in VARIANTS:
            shown = {"ge_max": ">= max cost", "gt_min": "> min cost"}[variant]
            lines.append(f"| {label} | {size} | {shown} | "
                         f"{cell([r[variant]['max_average_cost'] for r in runs])} | "
                         f"{cell([r[variant]['mean_variance'] for r in runs])} | "
                         f"{cell([r[variant]['variance_of_averages'] for r in runs])} |")
    return "\n".join(lines)


def write(experiment: Experiment, single_rows: Rows, dynamic_rows: Rows, out: Path) -> list[Path]:
    """``rcdcop-experiment.{md,json,png}`` in ``out``; the markdown records the command that made it."""
    out.mkdir(parents=True, exist_ok=True)
    e = experiment
    header = (f"# RCDCOP experiment (seed 003)\n\n`edge-agent experiment rcdcop --repeats {e.repeats} --seed {e.seed} "
              f"--rounds {e.rounds} --supply-ratio {e.supply_ratio} --capacity {e.capacity[0]} {e.capacity[1]}`, "
              f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; cells are median [min, max] over seeds "
              f"{e.seed}..{e.seed + e.repeats - 1}; instances and measures in `edge_agent/rcdcop_experiment.py` "
              f"and docs/rcdcop.md.\n\n")
    paths = [out / "rcdcop-experiment.md", out / "rcdcop-experiment.json", out / "rcdcop-experiment.png"]
    paths[0].write_text(header + tables(e, single_rows, dynamic_rows) + "\n", encoding="utf-8")
    payload = {"single": {" / ".join(k): v for k, v in single_rows.items()},
               "dynamic": {" / ".join(k): v for k, v in dynamic_rows.items()}}
    paths[1].write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    figure(single_rows, dynamic_rows, paths[2])
    return paths
