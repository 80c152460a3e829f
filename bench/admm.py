"""Sharing-ADMM benchmark: in process against the central optimum, and on the peer library's recorded instances.

    .venv/bin/python bench/admm.py                 # N = 10, 100, 1000 and the four peer instances (~2 min on
                                                   # 2 cores); writes bench/results/admm.{md,json}
    .venv/bin/python bench/admm.py --quick         # N = 10, 100 and the peer's N = 3, 10; prints, writes nothing
    .venv/bin/python bench/admm.py --repeats 5     # median of 5 runs per case (default 3)
    .venv/bin/python bench/admm.py --quick --json-out run.json   # the rows as JSON, no results file (bench/against.py)
    .venv/bin/python bench/admm.py --priced        # issue 12's priced fleets only (N = 10, 100, 1000, reachable
                                                   # and unreachable targets, each ADMM option, 500 rounds
                                                   # at most); writes bench/results/admm-priced.{md,json}
    .venv/bin/python bench/admm.py --priced --sizes 100 --seeds 1 2 --rounds 300 \
        --options "settle + Anderson m=5, rho 0.01" --out priced-try    # a subset: sizes, seeds, options, budget

Random fleets (fixed seed per N): N one-to-many flex devices ``create_admm_flex_actor_one_to_many(c_i, eta_i)``
with ``c_i ~ U(5, 20)``, ``eta_i ~ U(-1, 1)^3`` and no local cost; the target ``sum_i s_i c_i eta_i`` with
``s_i ~ U(0, 1)`` is reachable, so the optimum of ``min sum_j |sum_i x_ij - t_j|`` (priorities 1) is 0.
Peer instances: ``/work/shared/reference/admm_sharing_peer_instances.json`` (same devices with P = 0), run
with our defaults and shown beside the peer library's recorded objective, iterations and wall time.

Every case runs ``--repeats`` times, each time on fresh devices (OSQP warm starts would otherwise carry over)
in a fresh ``InProcNetwork`` with ``AdmmSettings()`` defaults; wall and CPU time cover ``coordinator.run``
only (building the devices, i.e. the OSQP setups, is reported apart as ``setup s``). Medians are reported;
iterations, messages and objective are deterministic and checked equal across repeats. The central optimum
is ``edge_agent.testing.central.solve_sharing`` (HiGHS) on the same problems, timed the same way.
``rel. gap = |f - f*| / max(1, |f*|)``.

Priced fleets (``--priced``, issue 12): the same devices with prices ``S_i ~ U(-0.1, 0.1)^3`` and priorities
``U(0.5, 5)^3``; the reachable target as above, the unreachable one 1.5 times the fleet's largest output in a
random direction per slot; ``--seeds`` draws other instances of the same class. Each runs once per ADMM option
(``PRICED_OPTIONS``; rho "1/N" means 1 / fleet size) with ``max_iters = 500``, the acceptance budget (``--rounds``);
the rel. gap is of the last round's answers, whatever the status.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import structlog

from edge_agent.algorithms.admm import (
    AdmmCoordinator,
    AdmmFlexActor,
    AdmmSettings,
    SharingVariant,
    create_admm_flex_actor_one_to_many,
)
from edge_agent.carrier import InProcNetwork
from edge_agent.errors import SolverError
from edge_agent.testing.central import solve_sharing

RESULTS = Path(__file__).parent / "results"
PEER_FILE = Path("/work/shared/reference/admm_sharing_peer_instances.json")
SEED = 20261121
SIZES, QUICK_SIZES = (10, 100, 1000), (10, 100)
QUICK_PEER_SIZES = (3, 10)
GAP_TARGET = 1e-3  # every case: |f - f*| / max(1, |f*|) below this
TIME_TARGET_N, TIME_TARGET_S = 1000, 10.0  # in-process sharing ADMM at this N: median wall time below this
PACKAGES = ("edge-agent", "numpy", "scipy", "osqp", "pydantic", "pydantic-core", "structlog", "highspy")

T = TypeVar("T")


@dataclass(frozen=True)
class Instance:
    name: str
    capacity: np.ndarray  # (N,)
    eta: np.ndarray  # (N, m)
    target: np.ndarray  # (m,)
    priorities: np.ndarray  # (m,)
    peer: dict[str, Any] | None = None  # the peer library's recorded figures, for the peer instances

    @property
    def n(self) -> int:
        return int(self.capacity.size)

    def actors(self) -> list[AdmmFlexActor]:
        zero = [0.0] * self.eta.shape[1]
        return [create_admm_flex_actor_one_to_many(float(c), e, zero, id=f"dev{i:04d}")
                for i, (c, e) in enumerate(zip(self.capacity, self.eta, strict=True))]


def random_instance(n: int) -> Instance:
    rng = np.random.default_rng([SEED, n])
    capacity = rng.uniform(5, 20, n)
    eta = rng.uniform(-1, 1, (n, 3))
    share = rng.uniform(0, 1, n)
    target = (share[:, None] * capacity[:, None] * eta).sum(axis=0)
    return Instance(f"random N={n}", capacity, eta, target, np.ones(3))


def peer_instances(sizes: tuple[int, ...] | None) -> tuple[list[Instance], str]:
    data = json.loads(PEER_FILE.read_text())
    instances = [
        Instance(f"peer N={case['N']}", np.array(case["capacity"], dtype=float), np.array(case["eta"], dtype=float),
                 np.array(case["target"], dtype=float), np.array(case["priorities"], dtype=float),
                 {"objective_central": case["objective_central"], **case["peer"]})
        for case in data["instances"] if sizes is None or case["N"] in sizes
    ]
    return instances, str(data["description"])


PRICED_SIZES = (10, 100, 1000)
PRICED_ROUNDS = 500
PRICED_OPTIONS: dict[str, dict[str, Any]] = {
    "fixed rho 1 (default)": {},
    "residual balancing": {"rho_update": "balance"},
    "over-relaxation 1.6": {"relaxation": 1.6},
    "Anderson m=5, rho 0.1": {"acceleration": "anderson", "rho": 0.1},
    "settle, rho 0.01": {"rho_update": "settle", "rho": 0.01},
    "settle + Anderson m=5, rho 0.01": {"rho_update": "settle", "acceleration": "anderson", "rho": 0.01},
    "settle + Anderson m=5, rho 1/N": {"rho_update": "settle", "acceleration": "anderson", "rho": "1/N"},
}


@dataclass(frozen=True)
class PricedInstance:
    name: str
    capacity: np.ndarray
    eta: np.ndarray
    prices: np.ndarray  # (N, m)
    target: np.ndarray
    priorities: np.ndarray

    def actors(self) -> list[AdmmFlexActor]:
        return [create_admm_flex_actor_one_to_many(float(c), e, p, id=f"dev{i:04d}")
                for i, (c, e, p) in enumerate(zip(self.capacity, self.eta, self.prices, strict=True))]


def priced_instance(n: int, reachable: bool, seed: int = SEED) -> PricedInstance:
    rng = np.random.default_rng([seed, n, 12, int(reachable)])
    capacity, eta = rng.uniform(5, 20, n), rng.uniform(-1, 1, (n, 3))
    prices, priorities = rng.uniform(-0.1, 0.1, (n, 3)), rng.uniform(0.5, 5, 3)
    tech = capacity[:, None] * eta
    if reachable:
        target = (rng.uniform(0, 1, (n, 1)) * tech).sum(axis=0)
    else:
        target = 1.5 * np.maximum(tech, 0).sum(axis=0) * rng.choice([-1, 1], 3)
    kind = "reachable" if reachable else "unreachable"
    name = f"priced N={n} {kind}" + ("" if seed == SEED else f" seed {seed}")
    return PricedInstance(name, capacity, eta, prices, target, priorities)


async def run_priced(instance: PricedInstance, options: dict[str, Any], rounds: int = PRICED_ROUNDS) -> dict[str, Any]:
    actors = instance.actors()
    if options.get("rho") == "1/N":
        options = {**options, "rho": 1.0 / len(actors)}
    settings = AdmmSettings(max_iters=rounds, **options)
    async with InProcNetwork() as network:
        for actor in actors:
            network.add(actor)
        coordinator = AdmmCoordinator(SharingVariant(instance.target, instance.priorities),
                                      [a.id for a in actors], 3, settings)
        carrier = network.add(coordinator)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            result = await coordinator.run(carrier)
        except SolverError as error:
            return {"status": f"failed: {error}"[:60], "iterations": 0, "objective": float("nan"), "wall_s": 0.0,
                    "cpu_s": 0.0,
                    "rho_end": float("nan"), "coupling": float("nan"), "r_dual_over_eps": float("nan"),
                    "r_primal_over_eps": float("nan")}
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    last = result.history[-1]
    return {"status": result.status, "iterations": result.iterations, "objective": result.objective,
            "wall_s": wall, "cpu_s": cpu, "rho_end": last.rho, "coupling": last.coupling,
            "r_dual_over_eps": last.r_dual / last.eps_dual, "r_primal_over_eps": last.r_primal / last.eps_primal}


def priced_main(
    sizes: tuple[int, ...], seeds: tuple[int, ...], labels: list[str], out_name: str, rounds: int = PRICED_ROUNDS
) -> None:
    rows = []
    for seed, n, reachable in itertools.product(seeds, sizes, (True, False)):
        instance = priced_instance(n, reachable, seed)
        problems = [a.problem for a in instance.actors()]
        central = solve_sharing(problems, instance.target, instance.priorities).objective
        for label in labels:
            options = PRICED_OPTIONS[label]
            row = asyncio.run(run_priced(instance, options, rounds))
            row.update(case=instance.name, option=label, central=central,
                       rel_gap=abs(row["objective"] - central) / max(1.0, abs(central)))
            rows.append(row)
            print(f"{instance.name:28s} {label:24s} {row['status']:16s} {row['iterations']:4d} rounds "
                  f"gap {row['rel_gap']:.1e} {row['wall_s']:.1f} s (CPU {row['cpu_s']:.1f} s)", file=sys.stderr,
                  flush=True)
    out = ["# Sharing ADMM on priced fleets (issue 12)", "",
           f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, git {machine_info(1)['git']}, one run per row "
           f"(rounds and gaps are deterministic; wall times are single runs on a shared 2-CPU machine). "
           f"Budget {rounds} rounds; `bench/admm.py --priced` with seeds {', '.join(map(str, seeds))}. "
           f"`ms/round` is wall time over rounds; CPU is this process's CPU time (the machine is shared).", "",
           "| case | option | status | rounds | rel. gap | wall s | CPU s | ms/round | final rho | r_pri/eps "
           "| r_dual/eps |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['case']} | {r['option']} | {r['status']} | {r['iterations']} | {r['rel_gap']:.1e} "
            f"| {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {1e3 * r['wall_s'] / max(1, r['iterations']):.0f} "
            f"| {r['rho_end']:.3g} | {r['r_primal_over_eps']:.2g} | {r['r_dual_over_eps']:.2g} |"
            for r in rows]
    table = "\n".join(out) + "\n"
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{out_name}.md").write_text(table)
    (RESULTS / f"{out_name}.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")


def timed(function: Callable[[], T]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, time.perf_counter() - wall, time.process_time() - cpu


async def run_admm(instance: Instance) -> dict[str, Any]:
    """One in-process run on fresh devices."""
    (actors, setup_s, _) = timed(instance.actors)
    async with InProcNetwork() as network:
        for actor in actors:
            network.add(actor)
        coordinator = AdmmCoordinator(SharingVariant(instance.target, instance.priorities),
                                      [a.id for a in actors], instance.eta.shape[1], AdmmSettings())
        carrier = network.add(coordinator)
        wall, cpu = time.perf_counter(), time.process_time()
        result = await coordinator.run(carrier)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    aggregate = result.aggregate
    return {"status": result.status, "iterations": result.iterations, "messages": network.stats.sent,
            "objective": result.objective, "aggregate": aggregate.tolist(),
            "max_abs_aggregate_error": float(np.abs(aggregate - instance.target).max()),
            "wall_s": wall, "cpu_s": cpu, "setup_s": setup_s}


def run_case(instance: Instance, repeats: int) -> dict[str, Any]:
    runs = [asyncio.run(run_admm(instance)) for _ in range(repeats)]
    first = runs[0]
    for key in ("iterations", "messages", "objective"):
        if any(run[key] != first[key] for run in runs):
            print(f"  warning: {instance.name}: {key} differs between repeats: {[r[key] for r in runs]}",
                  file=sys.stderr)
    problems = [actor.problem for actor in instance.actors()]
    central_runs = [timed(lambda: solve_sharing(problems, instance.target, instance.priorities))
                    for _ in range(repeats)]
    central = central_runs[0][0]
    f, f_star = first["objective"], central.objective
    wall = statistics.median(r["wall_s"] for r in runs)
    central_s = statistics.median(c[1] for c in central_runs)
    row: dict[str, Any] = {
        "case": instance.name, "N": instance.n, **{k: v for k, v in first.items() if not k.endswith("_s")},
        "wall_s": wall, "wall_s_runs": [r["wall_s"] for r in runs],
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "setup_s": statistics.median(r["setup_s"] for r in runs),
        "ms_per_round": 1e3 * wall / first["iterations"],
        "central_objective": f_star, "central_aggregate": central.aggregate.tolist(),
        "rel_gap": abs(f - f_star) / max(1.0, abs(f_star)),
        "central_s": central_s, "admm_over_central": wall / central_s,
    }
    row["within_gap_target"] = row["rel_gap"] <= GAP_TARGET
    if instance.peer is not None:
        recorded = instance.peer["objective_central"]
        row["peer"] = instance.peer
        row["rel_gap_vs_recorded_central"] = abs(f - recorded) / max(1.0, abs(recorded))
        row["peer_rel_gap"] = abs(instance.peer["objective"] - recorded) / max(1.0, abs(recorded))
    return row


def fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return format(value, spec)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    timed_rows = [r for r in rows if r["N"] == TIME_TARGET_N and r["case"].startswith("random")]
    if timed_rows:
        r = timed_rows[0]
        verdict = "PASS" if r["wall_s"] < TIME_TARGET_S else "FAIL"
        lines.append(f"- **{verdict}**: N = {TIME_TARGET_N} in-process sharing ADMM in under {TIME_TARGET_S:g} s: "
                     f"median {r['wall_s']:.2f} s over runs of {', '.join(f'{w:.2f}' for w in r['wall_s_runs'])} s "
                     f"({r['iterations']} iterations, {r['ms_per_round']:.1f} ms per round, CPU {r['cpu_s']:.2f} s).")
    else:
        lines.append(f"- not measured: N = {TIME_TARGET_N} under {TIME_TARGET_S:g} s (not part of this run).")
    misses = [r for r in rows if not r["within_gap_target"]]
    verdict = "PASS" if not misses else "FAIL"
    detail = "every case" if not misses else "missed by " + ", ".join(
        f"{r['case']} ({r['rel_gap']:.1e}; max |aggregate - target| {r['max_abs_aggregate_error']:.1e})"
        for r in misses)
    lines.append(f"- **{verdict}**: objective within {GAP_TARGET:g} relative of the central optimum: {detail}.")
    if misses:
        lines.append(
            "  The default stopping rule is relative to the aggregate (`eps_pri = sqrt(m) abs_tol + rel_tol "
            "max(||sum X||, ||sum Z||)`, rel_tol 1e-5), so the residual mismatch it accepts grows with |target|; "
            "with f* = 0 the gap is that mismatch in absolute terms (`sum_j |y_j - t_j|`).")
    return lines


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        "# Sharing-ADMM benchmark (in process)", "",
        f"{meta['date']}, {meta['machine']}, {meta['nproc']} CPUs (load average {meta['loadavg_start']} at start, "
        f"{meta['loadavg_end']} at end), Python {meta['python']}; "
        + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()) + f"; git {meta['git']}.",
        f"Produced by `bench/admm.py` (median of {meta['repeats']} run(s) per case; method and instances in its "
        "docstring). "
        "`wall s` / `cpu s` cover `coordinator.run` only; `central s` is the HiGHS solve of the stacked problem.",
        "", "## Targets", "", *targets(rows), "", "## Random fleets", "",
        "| case | N | status | iterations | messages | wall s | cpu s | ms/round | objective | central objective "
        "| rel. gap | max abs(agg - target) | central s | ADMM / central | within 1e-3 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "peer" in r:
            continue
        out.append(
            f"| {r['case']} | {r['N']} | {r['status']} | {r['iterations']} | {r['messages']} | {r['wall_s']:.3f} "
            f"| {r['cpu_s']:.3f} | {r['ms_per_round']:.2f} | {r['objective']:.3e} | {r['central_objective']:.3e} "
            f"| {r['rel_gap']:.1e} | {r['max_abs_aggregate_error']:.1e} | {r['central_s']:.4f} "
            f"| {r['admm_over_central']:.3g} | {fmt(r['within_gap_target'])} |")
    peer_rows = [r for r in rows if "peer" in r]
    if peer_rows:
        out += [
            "", "## Peer library's recorded instances", "",
            "Peer figures as recorded (distributed-resource-optimization 0.1.0, its defaults rho 1, abs_tol 1e-4, "
            "rel_tol 1e-3, wall time median of 3 on a machine of this kind); ours from this run with our defaults. "
            "Gaps are against the recorded central optimum.", "",
            "| instance | N | our wall s | our iterations | our objective | our rel. gap | peer wall s "
            "| peer iterations | peer objective | peer rel. gap | recorded central | our central objective "
            "| our central s | within 1e-3 |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in peer_rows:
            p = r["peer"]
            out.append(
                f"| {r['case']} | {r['N']} | {r['wall_s']:.3f} | {r['iterations']} | {r['objective']:.3e} "
                f"| {r['rel_gap_vs_recorded_central']:.1e} | {p['wall_s_median_of_3']:.2f} | {p['iterations']} "
                f"| {p['objective']:.3e} | {r['peer_rel_gap']:.1e} | {p['objective_central']:.3e} "
                f"| {r['central_objective']:.3e} | {r['central_s']:.4f} | {fmt(r['within_gap_target'])} |")
    return "\n".join(out) + "\n"


def machine_info(repeats: int) -> dict[str, Any]:
    try:
        git = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        git = "unknown"
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "git": git,
        "repeats": repeats,
        "loadavg_start": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10, 100 and the peer's N = 3, 10; write nothing")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; medians are reported (default 3)")
    parser.add_argument("--priced", action="store_true", help="issue 12's priced fleets only")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(PRICED_SIZES), help="--priced: fleet sizes")
    parser.add_argument("--json-out", type=Path, default=None,
                        help="write the rows as JSON here instead of bench/results (bench/against.py reads them)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[SEED], help="--priced: instance seeds")
    parser.add_argument("--options", nargs="+", default=list(PRICED_OPTIONS), choices=list(PRICED_OPTIONS),
                        metavar="LABEL", help="--priced: which options (labels of PRICED_OPTIONS; default all)")
    parser.add_argument("--rounds", type=int, default=PRICED_ROUNDS, help="--priced: round budget (max_iters)")
    parser.add_argument("--out", default="admm-priced", help="--priced: results file name (without .md/.json)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    if args.priced:
        priced_main(tuple(args.sizes), tuple(args.seeds), args.options, args.out, args.rounds)
        return
    meta = machine_info(args.repeats)
    peers, description = peer_instances(QUICK_PEER_SIZES if args.quick else None)
    instances = [random_instance(n) for n in (QUICK_SIZES if args.quick else SIZES)] + peers
    meta["peer_description"] = description
    run_case(random_instance(3), 1)  # warm-up, not reported: lazy imports (highspy) and first-call caches
    rows = []
    for k, instance in enumerate(instances, 1):
        print(f"[{k}/{len(instances)}] {instance.name} x{args.repeats} ...", end="", file=sys.stderr, flush=True)
        row = run_case(instance, args.repeats)
        rows.append(row)
        print(f" {row['wall_s']:.2f} s, {row['iterations']} iterations, objective {row['objective']:.3e} "
              f"(central {row['central_objective']:.3e}, gap {row['rel_gap']:.1e})", file=sys.stderr, flush=True)
    meta["loadavg_end"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    table = markdown(rows, meta)
    print(table)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"meta": meta, "rows": rows}, default=str) + "\n")
    if not args.quick and args.json_out is None:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "admm.md").write_text(table)
        (RESULTS / "admm.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n")
        print(f"wrote {RESULTS / 'admm.md'} and {RESULTS / 'admm.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
