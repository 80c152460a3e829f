"""DisLRP on the OR-Library GAP sets gap1-gap12 (maximise profit, known optima): per problem the final lower
bound (a checked feasible assignment), the upper bound (Lagrangian dual), both gaps to the optimum, cycles,
messages and wall time; then the medians. Also a large generated instance (type C, 10 agents x 60 goods).

    .venv/bin/python bench/dislrp.py [--cycles 300] [--files gap1 gap2 ...] [--reference DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from edge_agent.algorithms.gmap import GmapScenario
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve

REFERENCE = Path("/work/shared/reference/gap")


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
    parser.add_argument("--files", nargs="*", default=[f"gap{k}" for k in range(1, 13)])
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    args = parser.parse_args()
    known = optima(args.reference)
    print(f"{'problem':<9} {'optimum':>8} {'lower':>8} {'upper':>8} {'lb gap %':>8} {'ub gap %':>8} "
          f"{'status':<15} {'cycles':>6} {'msgs':>7} {'wall s':>7}")
    lb_gaps, ub_gaps, proven = [], [], 0
    for stem in args.files:
        for k, best in enumerate(known[stem], start=1):
            scenario = GmapScenario(algorithm="dislrp", name=f"{stem}-{k}", max_cycles=args.cycles,
                                    orlib={"file": str(args.reference / f"{stem}.txt"), "problem": k})
            report, wall = run(scenario)
            lower, upper = report["lower_bound"], report["upper_bound"]
            assert isinstance(upper, float | int), (stem, k, upper)
            assert upper >= best - 1e-6, (stem, k, upper, best)
            lb_gap = 100.0 if lower is None else 100 * (best - float(lower)) / best  # type: ignore[arg-type]
            ub_gap = 100 * (float(upper) - best) / best
            lb_gaps.append(lb_gap)
            ub_gaps.append(ub_gap)
            proven += report["status"] == "converged"
            print(f"{stem}-{k:<4} {best:>8.0f} {lower!s:>8} {upper!s:>8} {lb_gap:>8.3f} {ub_gap:>8.3f} "
                  f"{report['status']!s:<15} {report['iterations']!s:>6} {report['messages']!s:>7} {wall:>7.2f}")
    print(f"\n{len(lb_gaps)} problems: median lower-bound gap {statistics.median(lb_gaps):.3f} % "
          f"(max {max(lb_gaps):.3f} %), median upper-bound gap {statistics.median(ub_gaps):.3f} % "
          f"(max {max(ub_gaps):.3f} %), proven optimal {proven}")
    large = GmapScenario(algorithm="dislrp", name="type-C-10x60", max_cycles=args.cycles,
                         generate={"type": "C", "agents": 10, "goods": 60, "seed": 1})
    report, wall = run(large)
    print(f"generated type C 10 agents x 60 goods (seed 1): lower {report['lower_bound']} upper "
          f"{report['upper_bound']} status {report['status']} cycles {report['iterations']} wall {wall:.2f} s")


if __name__ == "__main__":
    main()
