"""Scheduling experiment of seed 002 (section 6), in process: active (patches) vs passive (free gaps) task agents.

    .venv/bin/python bench/scheduling.py          # everything (~5-8 min CPU): bench/results/scheduling.{md,json,png}
    .venv/bin/python bench/scheduling.py --quick  # the grid once, no sensitivity; prints the tables, writes nothing

1. **The paper's grid** at the default open parameters (those of ``edge-agent experiment scheduling``, see
   ``docs/scheduling-experiment.md``): tasks 5..25 step 5 x duration 2..6 h x satisfaction width 3..12 h step 3,
   both behaviours, 5 repetitions (the paper's 5 "consecutive experiments"). Overall active/passive ratio of the
   total satisfaction with its spread, tasks scheduled, tables by parameter, figures 25-28 and the Gantt charts
   of the largest configuration.
2. **Against the exact optimum** (HiGHS MIP, ``edge_agent.testing.central.solve_scheduling``) on the grid's
   configurations with 5 and 10 tasks, 2 repetitions: how close each behaviour comes, and the most any scheduler
   could gain over passive agents there (optimum / passive).
3. **Sensitivity** to the parameters the paper leaves open (number of resources, horizon, window of favourable
   times), fewer repetitions each. Repetition r draws the same task set (up to the window's affine map) and the
   same message order in every setting, so the rows differ only by the setting.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.errors import SolverError
from edge_agent.logs import configure_logging
from edge_agent.scheduling_experiment import (
    ExperimentGrid,
    RunRecord,
    markdown_report,
    representative,
    representative_reports,
    run_grid,
    summarise,
    task_set,
    write_figures,
)
from edge_agent.testing.central import solve_scheduling

RESULTS = Path(__file__).parent / "results"
DEFAULT = ExperimentGrid()
SENSITIVITY: list[tuple[str, dict[str, Any]]] = [
    ("2 resources", {"resources": 2}),
    ("3 resources", {"resources": 3}),
    ("horizon 24 h", {"horizon": 24.0}),
    ("horizon 24 h, 2 resources", {"horizon": 24.0, "resources": 2}),
    ("window [0, 10] h (the range of the paper's illustrations)", {"window": (0.0, 10.0)}),
    ("window [0, 12] h", {"window": (0.0, 12.0)}),
    ("window [6, 18] h", {"window": (6.0, 18.0)}),
    ("window [6, 18] h, horizon 24 h", {"window": (6.0, 18.0), "horizon": 24.0}),
    ("window [24, 48] h (left end far away)", {"window": (24.0, 48.0)}),
]


async def timed(grid: ExperimentGrid) -> tuple[list[RunRecord], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    records = await run_grid(grid)
    return records, time.perf_counter() - wall, time.process_time() - cpu


def setting_row(name: str, grid: ExperimentGrid, records: list[RunRecord], wall_s: float | None,
                cpu_s: float | None) -> dict[str, Any]:
    overall = summarise(grid, records)["overall"]
    reps = overall["ratio_by_repetition_range"] or {}
    return {
        "setting": name, "resources": grid.resources, "horizon": grid.horizon, "window": list(grid.window),
        "repeats": grid.repeats, "ratio": overall["ratio"], "ratio_rep_min": reps.get("min"),
        "ratio_rep_max": reps.get("max"), "bootstrap_95": overall["ratio_bootstrap_95"],
        "configs_fewer_tasks": overall["configs_fewer_tasks"], "configurations": overall["configurations"],
        "active_mean_scheduled": overall["active"]["mean_scheduled"],
        "passive_mean_scheduled": overall["passive"]["mean_scheduled"],
        "active_mean_satisfaction": overall["active"]["mean_satisfaction"],
        "passive_mean_satisfaction": overall["passive"]["mean_satisfaction"],
        "wall_s": None if wall_s is None else round(wall_s, 1), "cpu_s": None if cpu_s is None else round(cpu_s, 1),
    }


async def sensitivity(repeats: int, main_records: list[RunRecord], log: Callable[[str], None]) -> list[dict[str, Any]]:
    base = dataclasses.replace(DEFAULT, repeats=repeats)
    # the default setting: the main grid's first `repeats` repetitions (same seeds, so the same runs)
    own = [r for r in main_records if r.repetition < repeats]
    rows = [setting_row("default", base, own, None, None)]
    for name, change in SENSITIVITY:
        grid = dataclasses.replace(base, **change)
        records, wall_s, cpu_s = await timed(grid)
        rows.append(setting_row(name, grid, records, wall_s, cpu_s))
        log(f"sensitivity {name}: {rows[-1]}")
    return rows


def against_optimum(records: list[RunRecord], tasks: tuple[int, ...] = (5, 10), repeats: int = 2,
                    time_limit_s: float = 30.0) -> dict[str, Any]:
    """The exact optimum of the main grid's runs with ``tasks`` tasks (first ``repeats`` repetitions)."""
    totals: dict[str, float] = {"optimum": 0.0, "active": 0.0, "passive": 0.0}
    ratios: dict[str, list[float]] = {"active": [], "passive": []}
    unsolved, solved, wall = 0, 0, time.perf_counter()
    by_key = {(r.config, r.behaviour, r.repetition): r for r in records}
    for (config, behaviour, repetition), record in sorted(by_key.items(), key=lambda item: str(item[0])):
        if behaviour != "active" or config.tasks not in tasks or repetition >= repeats:
            continue
        horizons = {f"r{j}": DEFAULT.horizon for j in range(DEFAULT.resources)}
        try:
            optimum = solve_scheduling(horizons, task_set(DEFAULT, config, repetition), time_limit_s).total
        except SolverError:
            unsolved += 1
            continue
        solved += 1
        totals["optimum"] += optimum
        for name, run in (("active", record), ("passive", by_key[(config, "passive", repetition)])):
            totals[name] += run.total_satisfaction
            ratios[name].append(run.total_satisfaction / optimum if optimum > 0 else 1.0)
    return {
        "tasks": list(tasks), "repeats": repeats, "solved": solved, "unsolved": unsolved,
        "wall_s": round(time.perf_counter() - wall, 1), "totals": totals,
        "active_of_optimum": totals["active"] / totals["optimum"],
        "passive_of_optimum": totals["passive"] / totals["optimum"],
        "optimum_over_passive": totals["optimum"] / totals["passive"],
        "active_over_passive": totals["active"] / totals["passive"],
        "worst": {name: min(values) for name, values in ratios.items()},
    }


def optimum_markdown(result: dict[str, Any]) -> list[str]:
    return [
        f"## Against the exact optimum ({' and '.join(map(str, result['tasks']))} tasks, "
        f"{result['repeats']} repetitions, every duration and width)",
        "",
        "The optimum is a HiGHS MIP over assignments, orders and completion times (`solve_scheduling`, the oracle "
        "of `tests/unit/test_scheduling_oracle.py`); the runs are the main grid's, on the same task sets.",
        "",
        "| | total satisfaction | of the optimum | worst run |",
        "|---|---:|---:|---:|",
        f"| optimum | {result['totals']['optimum']:.2f} | 1.000 | |",
        f"| active | {result['totals']['active']:.2f} | {result['active_of_optimum']:.3f} | "
        f"{result['worst']['active']:.3f} |",
        f"| passive | {result['totals']['passive']:.2f} | {result['passive_of_optimum']:.3f} | "
        f"{result['worst']['passive']:.3f} |",
        "",
        f"- active / passive on these runs: {result['active_over_passive']:.3f}; **optimum / passive: "
        f"{result['optimum_over_passive']:.3f}** -- no scheduler, however it negotiates, could beat the passive "
        "agents by more than this on these instances.",
        f"- {result['solved']} instances solved to optimality in {result['wall_s']:.0f} s, {result['unsolved']} not "
        "within the time limit (left out).",
        "",
    ]


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(
    summary: dict[str, Any], optimum: dict[str, Any], rows: list[dict[str, Any]], meta: dict[str, Any]
) -> str:
    grid = summary["grid"]
    body = markdown_report(summary).split("\n", 2)[2]  # without its title
    config = representative(DEFAULT)
    lines = [
        "# Scheduling experiment of seed 002 (in process)",
        "",
        f"{meta['date']}, {meta['machine']}, Python {meta['python']}. Reproduce: "
        "`.venv/bin/python bench/scheduling.py` (the main grid alone: `edge-agent experiment scheduling`).",
        f"Main grid: wall {meta['main_wall_s']:.0f} s, CPU {meta['main_cpu_s']:.0f} s for {summary['overall']['runs']} "
        f"runs; the whole benchmark: wall {meta['total_wall_s']:.0f} s. Load average {meta['load']} when the run "
        "ended (a shared 2-core machine; satisfaction figures do not depend on timing, the message order is seeded).",
        f"Open parameters (see `docs/scheduling-experiment.md`): {grid['resources']} resource(s), horizon "
        f"[0, {grid['horizon']:g}] h, favourable times uniform on [{grid['window'][0]:g}, {grid['window'][1]:g}] h, "
        f"all tasks arrive at once, random message order, {grid['repeats']} repetitions, seed {grid['seed']}.",
        "",
        body.rstrip(),
        "",
        "Figures: `scheduling.png` (distribution of the total satisfaction, ratio per configuration, means against",
        f"every parameter; the paper's figures 25-28); `scheduling-gantt-active.png` and `scheduling-gantt-passive.png`"
        f" (the largest configuration, {config.key()}, repetition 0).",
        "",
        "![experiment](scheduling.png)",
        "",
        "![active](scheduling-gantt-active.png)",
        "",
        "![passive](scheduling-gantt-passive.png)",
        "",
        *optimum_markdown(optimum),
        f"## Sensitivity to the open parameters ({rows[0]['repeats']} repetitions each)",
        "",
        "Each row changes the default setting as named. Ratio = active / passive total satisfaction over the grid;",
        "range over repetitions; 'fewer' = configurations where active schedules fewer tasks than passive on average.",
        "",
        "| setting | resources | horizon h | window h | ratio | per repetition | 95 % bootstrap | fewer "
        "| mean scheduled active / passive | wall s |",
        "|---|---:|---:|---|---:|---|---|---:|---|---:|",
    ]
    for r in rows:
        boot = r["bootstrap_95"]
        wall = "(main grid)" if r["wall_s"] is None else f"{r['wall_s']:.0f}"
        lines.append(
            f"| {r['setting']} | {r['resources']} | {r['horizon']:g} | [{r['window'][0]:g}, {r['window'][1]:g}] | "
            f"**{_f(r['ratio'])}** | {_f(r['ratio_rep_min'])}-{_f(r['ratio_rep_max'])} | "
            f"{'n/a' if not boot else f'{boot[0]:.3f}-{boot[1]:.3f}'} | {r['configs_fewer_tasks']} / "
            f"{r['configurations']} | {r['active_mean_scheduled']:.2f} / {r['passive_mean_scheduled']:.2f} | "
            f"{wall} |"
        )
    lines.append("")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the grid once, no sensitivity; writes nothing")
    parser.add_argument("--repeats", type=int, default=DEFAULT.repeats, help="repetitions of the main grid")
    parser.add_argument("--sensitivity-repeats", type=int, default=2, help="repetitions of each sensitivity setting")
    args = parser.parse_args()
    configure_logging()
    started = time.perf_counter()
    grid = dataclasses.replace(DEFAULT, repeats=1 if args.quick else args.repeats)
    records, main_wall, main_cpu = await timed(grid)
    summary = summarise(grid, records)
    rows = [] if args.quick else await sensitivity(min(args.sensitivity_repeats, grid.repeats), records, print)
    meta = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "load": " / ".join(f"{v:.1f}" for v in os.getloadavg()),
            "main_wall_s": round(main_wall, 1), "main_cpu_s": round(main_cpu, 1),
            "total_wall_s": round(time.perf_counter() - started, 1)}
    if args.quick:
        print(markdown_report(summary))
        return
    optimum = against_optimum(records)
    print(f"against the optimum: {optimum}")
    text = markdown(summary, optimum, rows, meta)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scheduling.md").write_text(text, encoding="utf-8")
    payload = {"meta": meta, **summary, "optimum": optimum, "sensitivity": rows,
               "records": [dataclasses.asdict(r) for r in records]}
    (RESULTS / "scheduling.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    write_figures(summary, await representative_reports(grid), RESULTS, stem="scheduling")


if __name__ == "__main__":
    asyncio.run(main())
