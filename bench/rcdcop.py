"""RCDCOP benchmark: the exact tree DP in process on seeded feeder trees of 12, 24, 200 and 1000 nodes.

    .venv/bin/python bench/rcdcop.py            # 3 seeds per size; writes bench/results/rcdcop.{md,json}
    .venv/bin/python bench/rcdcop.py --quick    # one seed, 12/24/200 nodes; prints, writes nothing

Instances: ``generators.feeder`` with ``n // 6`` providers and the rest consumers (demand 2, supply 40 % of the
demand, link capacities 2..4) on a binary tree and on a random recursive tree (node k's parent uniform among
0..k-1, so some nodes have many children), and on a binary tree with wide links (capacities 50..100, demand 20:
tables of up to 201 entries). Every run: aggregation ``sum`` and ``max``, tie-break ``center``,
through ``scenario.run`` on the in-process network with the message order shuffled. Wall time covers the run
(building the agents, UTIL up, VALUE down); messages are the carrier's count (``2 (n - 1)``); the largest
message is the JSON of its body. Up to 200 nodes each result is checked against the HiGHS MIP
(``oracle.mip_optimum``). Medians over the seeds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import platform
import statistics
from pathlib import Path
from typing import Any

import structlog

from edge_agent import registry
from edge_agent.algorithms.rcdcop.oracle import mip_optimum
from edge_agent.algorithms.rcdcop.scenario import RcdcopScenario
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve

RESULTS = Path(__file__).parent / "results"
ORACLE_UP_TO = 200


CLASSES = {"binary": ("binary", (2, 4), 2), "random": ("random", (2, 4), 2), "binary-wide": ("binary", (50, 100), 20)}


def scenario(kind: str, n: int, seed: int, how: str) -> RcdcopScenario:
    shape, capacity, demand = CLASSES[kind]
    spec = {"algorithm": "rcdcop", "name": f"{kind}-{n}-s{seed}", "aggregation": how, "tie_break": "center",
            "generate": {"shape": shape, "providers": max(1, n // 6), "consumers": n - max(1, n // 6),
                         "seed": seed, "capacity": list(capacity), "demand": demand}}
    parsed = registry.parse_scenario(spec)
    assert isinstance(parsed, RcdcopScenario)
    return parsed


async def one(shape: str, n: int, seed: int, how: str) -> dict[str, Any]:
    case = scenario(shape, n, seed, how)
    report = (await solve(case, RunOptions(run_id="bench", seed=seed, shuffle=True))).to_json()
    row = {"shape": shape, "n": n, "seed": seed, "aggregation": how, "status": report["status"],
           "objective": report["objective"], "wall_s": report["wall_s"], "messages": report["messages"],
           "largest_message_bytes": report["effort"]["largest_message_bytes"],
           "message_bytes": report["effort"]["message_bytes"], "entries": report["effort"]["entries"],
           "steps": report["effort"]["steps"]}
    if n <= ORACLE_UP_TO:
        optimum = mip_optimum(case.problem(), how)  # type: ignore[arg-type]
        row["mip"] = optimum.cost
        row["matches_mip"] = optimum.cost is not None and abs(optimum.cost - report["objective"]) < 1e-9
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| shape | n | aggregation | runs | status | wall s (median) | messages | largest message B | "
             "all bytes (median) | entries (median) | steps (median) | = MIP |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["shape"], r["n"], r["aggregation"]) for r in rows}, key=lambda k: (k[0], k[1], k[2]))
    for shape, n, how in keys:
        group = [r for r in rows if (r["shape"], r["n"], r["aggregation"]) == (shape, n, how)]
        statuses = ",".join(sorted({r["status"] for r in group}))
        mip = ("yes" if all(r["matches_mip"] for r in group) else "NO") if "mip" in group[0] else "-"
        lines.append(
            f"| {shape} | {n} | {how} | {len(group)} | {statuses} | "
            f"{statistics.median(r['wall_s'] for r in group):.3f} | {group[0]['messages']} | "
            f"{max(r['largest_message_bytes'] for r in group)} | "
            f"{statistics.median(r['message_bytes'] for r in group):.0f} | "
            f"{statistics.median(r['entries'] for r in group):.0f} | "
            f"{statistics.median(r['steps'] for r in group):.0f} | {mip} |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sizes = (12, 24, 200) if args.quick else (12, 24, 200, 1000)
    seeds = range(1) if args.quick else range(3)
    rows = [await one(shape, n, seed, how) for shape in CLASSES for n in sizes for seed in seeds
            for how in ("sum", "max")]
    text = table(rows)
    print(text)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        header = (f"# RCDCOP benchmark\n\n`.venv/bin/python bench/rcdcop.py` on {platform.node()} "
                  f"({platform.machine()}, Python {platform.python_version()}), "
                  f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; seeds {list(seeds)}; see the script's "
                  f"docstring for the instances.\n\n")
        (RESULTS / "rcdcop.md").write_text(header + text + "\n", encoding="utf-8")
        (RESULTS / "rcdcop.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
