"""DisLRP on the OR-Library GAP sets (gap1-gap12 maximise profit, gapa-gapd minimise cost; known optima): per
problem the best feasible assignment's value (checked feasible by the run), the Lagrangian dual bound (checked
here to bound the known optimum), both gaps to the optimum (positive: worse), cycles, messages, wall time; then
the medians. Also a generated instance (type C, 10 agents x 60 goods). Progress logs are silenced.

    .venv/bin/python bench/dislrp.py [--cycles 300] [--files gap1 gap2 ... gapc] [--reference DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from pathlib import Path

import structlog

from edge_agent.algorithms.gmap import GmapScenario
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve

REFERENCE = Path("/work/shared/reference/gap")
MINIMISE = ("gapa", "gapb", "gapc", "gapd")


def optima(reference: Path) -> dict[str, list[float]]:
    found = {}
    for line in (reference / "optima.txt").read_text().splitlines():
        if line.startswith("#") or ":" not in line:
            continue
        name, values = line.split(":", 1)
        found[name.strip()] = [float(v) for v in values.split()]
    return found


def run(scenario: GmapScenario) -> tuple[dict[str, object], float]:
    started = time.perf_counter()
    report = asyncio.run(solve(scenario, RunOptions(run_id="bench")))
    return report.to_json(), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--files", nargs="*", default=[f"gap{k}" for k in range(1, 13)],
                        help="gap1..gap12 (maximise) and/or gapa..gapd (minimise)")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    known = optima(args.reference)
    print(f"{'problem':<9} {'optimum':>8} {'feasible':>8} {'dual':>8} {'feas gap %':>10} {'dual gap %':>10} "
          f"{'status':<15} {'cycles':>6} {'msgs':>7} {'wall s':>7}")
    feasible_gaps: dict[str, list[float]] = {"max": [], "min": []}
    dual_gaps: dict[str, list[float]] = {"max": [], "min": []}
    proven = {"max": 0, "min": 0}
    for stem in args.files:
        sense = "min" if stem in MINIMISE else "max"
        for k, best in enumerate(known[stem], start=1):
            scenario = GmapScenario(algorithm="dislrp", name=f"{stem}-{k}", max_cycles=args.cycles,
                                    orlib={"file": str(args.reference / f"{stem}.txt"), "problem": k,
                                           "sense": sense})
            report, wall = run(scenario)
            feasible, dual = report["feasible_objective"], report["dual_bound"]
            assert isinstance(dual, float | int), (stem, k, dual)
            sign = 1 if sense == "max" else -1
            assert sign * dual >= sign * best - 1e-6, (stem, k, dual, best)  # a bound on the optimum
            shortfall = 1.0 if feasible is None else sign * (best - float(feasible)) / best  # type: ignore[arg-type]
            feasible_gap = 100 * shortfall
            dual_gap = 100 * sign * (float(dual) - best) / best
            feasible_gaps[sense].append(feasible_gap)
            dual_gaps[sense].append(dual_gap)
            proven[sense] += report["status"] == "converged"
            print(f"{stem}-{k:<4} {best:>8.0f} {feasible!s:>8} {dual!s:>8} {feasible_gap:>10.3f} {dual_gap:>10.3f} "
                  f"{report['status']!s:<15} {report['iterations']!s:>6} {report['messages']!s:>7} {wall:>7.2f}",
                  flush=True)
    for sense, sets in (("max", "gap1-gap12"), ("min", "gapa-gapd")):
        feasible, dual = feasible_gaps[sense], dual_gaps[sense]
        if feasible:
            print(f"\n{sets}: {len(feasible)} problems: median gap of the feasible assignment "
                  f"{statistics.median(feasible):.3f} % (max {max(feasible):.3f} %), of the dual bound "
                  f"{statistics.median(dual):.3f} % (max {max(dual):.3f} %), proven optimal {proven[sense]}")
    large = GmapScenario(algorithm="dislrp", name="type-C-10x60", max_cycles=args.cycles,
                         generate={"type": "C", "agents": 10, "goods": 60, "seed": 1})
    report, wall = run(large)
    print(f"generated type C 10 agents x 60 goods (seed 1, costs): dual bound {report['lower_bound']} feasible "
          f"{report['upper_bound']} status {report['status']} cycles {report['iterations']} wall {wall:.2f} s")


if __name__ == "__main__":
    main()
