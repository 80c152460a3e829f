"""DeQED on seed 004's DCOP classes beside MGM and DSA, against the HiGHS optimum.

    .venv/bin/python bench/deqed.py [--cycles 300] [--large] [--seeds 3]

Instances (``edge_agent.algorithms.dcop.generators``, domain 3, integer costs uniform in 0..10000): random
graphs of 100 variables with 247 binary constraints and 1000 with 2497 (``--large``), scale-free graphs
(Barabasi-Albert, m = 2: 197 and 1997 constraints; the seed's 180/1997). DeQED runs ``--cycles`` cycles
(step 0.1); MGM and DSA (variant B, p = 0.7) at most 100 cycles, stopping after 10 quiet ones, run seed 0.
The optimum is HiGHS on the DCOP MIP (60 s limit; where not proven, its dual bound is shown and marked *).
Columns: DeQED's lower bound as a fraction of the optimum, its upper bound's gap to the optimum, MGM's and
DSA's gaps, DeQED's wall time (in process, the whole run).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import numpy as np

from edge_agent.algorithms.dcop import generators
from edge_agent.algorithms.dcop.deqed import deqed
from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.algorithms.dcop.oracle import mip_optimum
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve

COSTS = (0, 10_000)


def instance(kind: str, n: int, seed: int) -> tuple[Dcop, dict[str, Any]]:
    if kind == "random":
        spec = {"kind": "random", "n": n, "edges": int(2.5 * n) - 3, "seed": seed, "costs": list(COSTS)}
        return generators.random_graph(n, np.random.default_rng(seed), edges=int(2.5 * n) - 3, costs=COSTS), spec
    spec = {"kind": "scale-free", "n": n, "m": 2, "seed": seed, "costs": list(COSTS)}
    return generators.scale_free(n, np.random.default_rng(seed), m=2, costs=COSTS), spec


def local_search(algorithm: str, spec: dict[str, Any]) -> float:
    scenario = DcopScenario.model_validate({"algorithm": algorithm, "generate": spec, "max_cycles": 100})
    return asyncio.run(solve(scenario, RunOptions(run_id="bench", seed=0))).objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also the 1000-variable instances (seed 0)")
    args = parser.parse_args()
    cases = [(kind, 100, seed) for kind in ("random", "scale-free") for seed in range(args.seeds)]
    if args.large:
        cases += [("random", 1000, 0), ("scale-free", 1000, 0)]
    print(f"{'instance':<18} {'edges':>5} {'optimum':>10} {'lb/opt':>7} {'ub gap %':>8} {'mgm gap %':>9} "
          f"{'dsa gap %':>9} {'deqed s':>7} {'ub<=mgm':>7}")
    for kind, n, seed in cases:
        dcop, spec = instance(kind, n, seed)
        started = time.perf_counter()
        result = deqed(dcop, args.cycles, 0.1)
        wall = time.perf_counter() - started
        optimum = mip_optimum(dcop, 60)
        reference = optimum.cost if optimum.proven else float(optimum.bound or optimum.cost)
        mark = "" if optimum.proven else "*"
        mgm, dsa = local_search("mgm", spec), local_search("dsa", spec)
        gap = 100 * (result.best_upper - reference) / reference
        print(f"{kind} {n} s{seed:<6} {len(dcop.constraints):>5} {reference:>9.0f}{mark:1} "
              f"{result.best_lower / reference:>7.3f} {gap:>8.2f} {100 * (mgm - reference) / reference:>9.2f} "
              f"{100 * (dsa - reference) / reference:>9.2f} {wall:>7.2f} {result.best_upper <= mgm!s:>7}",
              flush=True)


if __name__ == "__main__":
    main()
