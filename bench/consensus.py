"""Consensus benchmark: the primal-dual dispatch on unbalanced directed graphs, in process.

    .venv/bin/python bench/consensus.py           # N = 5, 50, 500 and IEEE-14 (~5 min on 2 cores),
                                                  # writes bench/results/consensus.{md,json}
    .venv/bin/python bench/consensus.py --quick   # N = 5, 50 and IEEE-14; prints the table, writes nothing

For each fleet (random generators ``a x + b x^2`` on ``[l, u]``, half of them with a minimum output, demand at
30-60 % of the range, on a random strongly connected digraph with about 3 in-neighbours per node):

1. a vectorised simulation of the same iteration (numpy/scipy, bench only) finds the first round ``t`` at
   which the dispatch is within 1e-3 relative accuracy, ``||x(t) - x*|| <= 1e-3 ||x*||`` (``x*`` from HiGHS);
2. the message-passing participants then run exactly ``t`` rounds on :class:`InProcNetwork`: their wall time
   and message count are the figures reported, and their final dispatch is checked against both the vectorised
   one (agreement) and ``x*`` (the accuracy).

Step size ``a0 / (t + 1)`` with ``a0 = 2 / sum(1 / 2 b_i)`` over the generators not at a bound at the optimum
(the fleet's price sensitivity; the error of a ``1/t`` step then decays like ``1/t``). IEEE-14 uses the
paper's ``a0 = 0.05`` on the scenario file's 5-node digraph, and also reports the rounds to 0.05 MW and 0.01 MW.

Comparison row: the seed's averaging consensus with its economic-dispatch actor (alpha 0.3, rho 0.05,
eps = b, the true N) on the same fleet and graph, run until it settles: it is fast but biased, so it reports the
accuracy it settles at (and whether it ever reaches 1e-3). It only applies where every actor's own loop is
stable, ``rho / 2b < 2 - alpha``; the random fleets (b down to 0.01) are beyond that, so they get a note instead.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from edge_agent.algorithms.consensus import (
    AveragingSettings,
    EconomicDispatchActor,
    LocalCost,
    PrimalDualSettings,
    QuadraticCost,
    StepSize,
    simulate_averaging,
    simulate_primal_dual,
)
from edge_agent.carrier import InProcNetwork
from edge_agent.errors import RunTimeout
from edge_agent.testing.central import solve_dispatch
from edge_agent.topology import Graph

RESULTS = Path(__file__).parent / "results"
ACCURACY = 1e-3
AVERAGING_ALPHA, AVERAGING_RHO = 0.3, 0.05  # the seed's defaults
IEEE = {"a": [2.0, 3.0, 4.0, 4.0, 2.5], "b": [0.040, 0.030, 0.035, 0.030, 0.040], "u": [80, 90, 70, 70, 80.0]}
IEEE_EDGES = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 1), (1, 3), (1, 4), (3, 1), (2, 5)]


@dataclass(frozen=True)
class Fleet:
    name: str
    graph: Graph
    a: np.ndarray
    b: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    demand: float
    a0: float
    x_star: np.ndarray
    objective_star: float

    def costs(self) -> dict[str, LocalCost]:
        return {node: QuadraticCost(self.a[i], self.b[i], self.lower[i], self.upper[i], node)
                for i, node in enumerate(self.graph.nodes)}


def _fleet(name: str, graph: Graph, *, a: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
           demand: float, a0: float | None = None) -> Fleet:
    solution, _ = solve_dispatch(a, b, lower, upper, demand)
    x_star = solution.x.ravel()
    free = (x_star > lower + 1e-6) & (x_star < upper - 1e-6)
    step = a0 if a0 is not None else min(1.0, 2.0 / float(np.sum(0.5 / b[free])))
    return Fleet(name, graph, a, b, lower, upper, demand, step, x_star, solution.objective)


def random_fleet(n: int, seed: int) -> Fleet:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(1, 8, n), rng.uniform(0.01, 0.08, n)
    lower = rng.uniform(5, 20, n) * (rng.random(n) < 0.5)
    upper = lower + rng.uniform(20, 100, n)
    demand = float(lower.sum() + rng.uniform(0.3, 0.6) * (upper - lower).sum())
    graph = Graph.random_strongly_connected([f"g{i}" for i in range(n)], min(1.0, 3 / n), rng)
    return _fleet(f"random N={n}", graph, a=a, b=b, lower=lower, upper=upper, demand=demand)


def ieee14() -> Fleet:
    nodes = [f"gen-{i}" for i in range(1, 6)]
    graph = Graph.from_edges(nodes, [(f"gen-{u}", f"gen-{v}") for u, v in IEEE_EDGES])
    return _fleet("IEEE-14 (paper)", graph, a=np.array(IEEE["a"]), b=np.array(IEEE["b"]), lower=np.zeros(5),
                  upper=np.array(IEEE["u"]), demand=300.0, a0=0.05)


def vectorised(fleet: Fleet, rounds: int) -> np.ndarray:
    """x(t) for t = 0..rounds of the same iteration, as an array (rounds + 1, N). Bench only."""
    n = len(fleet.graph)
    index = {node: i for i, node in enumerate(fleet.graph.nodes)}
    rows = [index[v] for _, v in fleet.graph.edges] + list(range(n))
    cols = [index[u] for u, _ in fleet.graph.edges] + list(range(n))
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    A = sp.diags(1.0 / np.asarray(A.sum(axis=1)).ravel()) @ A
    a, b, lower, upper, share = fleet.a, fleet.b, fleet.lower, fleet.upper, fleet.demand / n
    lam, Z = np.zeros(n), np.eye(n)
    xs = np.empty((rounds + 1, n))
    xs[0] = np.clip(-a / (2 * b), lower, upper)
    for t in range(rounds):
        v = A @ lam
        x = np.clip((-v - a) / (2 * b), lower, upper)
        lam = v - fleet.a0 / (t + 1) * (share - x) / np.diag(Z)
        Z = A @ Z
        xs[t + 1] = x
    return xs


def relative_errors(fleet: Fleet, xs: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.norm(xs - fleet.x_star, axis=1) / np.linalg.norm(fleet.x_star))


def first_below(errors: np.ndarray, tol: float) -> int | None:
    hits = np.flatnonzero(errors <= tol)
    return int(hits[0]) if hits.size else None


async def primal_dual_row(fleet: Fleet, limit: int) -> dict[str, Any]:
    xs = vectorised(fleet, limit)
    errors = relative_errors(fleet, xs)
    target = first_below(errors, ACCURACY)
    row: dict[str, Any] = {"fleet": fleet.name, "algorithm": "primal-dual", "N": len(fleet.graph),
                           "edges": len(fleet.graph.edges), "balanced": fleet.graph.is_balanced(), "a0": fleet.a0}
    if fleet.name.startswith("IEEE"):
        deviation = np.abs(xs - fleet.x_star).max(axis=1)
        row["rounds_to_0.05MW"] = first_below(deviation, 0.05)
        row["rounds_to_0.01MW"] = first_below(deviation, 0.01)
    if target is None:
        return {**row, "rounds": None, "note": f"not within {ACCURACY:g} after {limit} rounds"}
    settings = PrimalDualSettings(step=StepSize(fleet.a0), max_iter=max(target, 1), tol_lam=0, tol_balance=0)
    async with InProcNetwork() as network:
        started = time.perf_counter()
        result = await simulate_primal_dual(network, fleet.graph, fleet.costs(), fleet.demand, settings=settings)
        wall = time.perf_counter() - started
    x = np.array([result.x[node] for node in fleet.graph.nodes])
    vector_x = xs[max(target, 1)]
    return {
        **row,
        "rounds": target,
        "wall_s": wall,
        "ms_per_round": 1e3 * wall / max(target, 1),
        "messages": network.stats.sent,
        "rel_error": float(np.linalg.norm(x - fleet.x_star) / np.linalg.norm(fleet.x_star)),
        "objective_rel_error": (result.objective - fleet.objective_star) / fleet.objective_star,
        "balance_residual": result.residual,
        "max_diff_vs_vectorised": float(np.abs(x - vector_x).max()),
    }


async def averaging_row(fleet: Fleet, limit: int) -> dict[str, Any]:
    """The seed's averaging economic dispatch on the same fleet and graph, run until it settles."""
    n = len(fleet.graph)
    actors = {node: EconomicDispatchActor(cost=fleet.a[i], p_min=fleet.lower[i], p_max=fleet.upper[i],
                                          epsilon=fleet.b[i], p_target=[fleet.demand], n=n, rho=AVERAGING_RHO)
              for i, node in enumerate(fleet.graph.nodes)}
    row: dict[str, Any] = {"fleet": fleet.name, "algorithm": "averaging (seed 000)", "N": n,
                           "edges": len(fleet.graph.edges), "balanced": fleet.graph.is_balanced()}
    gain = AVERAGING_RHO / (2 * float(fleet.b.min()))
    if gain >= 2 - AVERAGING_ALPHA:
        # Each actor's own loop lam <- (1 - alpha) lam - rho P(lam) + ... has slope 1 - alpha - rho/2b:
        # beyond -1 it oscillates instead of settling.
        return {**row, "rounds": None,
                "note": f"not applicable: rho/2b reaches {gain:.2f} >= {2 - AVERAGING_ALPHA:g}, the actors oscillate"}
    settings = AveragingSettings(alpha=AVERAGING_ALPHA, max_iter=limit, tol=1e-9)
    try:
        async with InProcNetwork() as network:
            started = time.perf_counter()
            result = await simulate_averaging(network, fleet.graph, {node: [10.0] for node in fleet.graph.nodes},
                                              settings=settings, actors=actors)
            wall = time.perf_counter() - started
    except (RunTimeout, ValueError, ExceptionGroup) as error:  # a diverged (non-finite) value cannot be sent
        return {**row, "rounds": None, "note": f"diverged: {str(error)[:80]}"}
    depth = min(len(h) for h in result.history.values())
    xs = np.array([[actors[node].power(result.history[node][k])[0] for node in fleet.graph.nodes]
                   for k in range(depth)])
    errors = relative_errors(fleet, xs)
    reached = first_below(errors, ACCURACY)
    x = xs[-1]
    objective = float(np.sum(fleet.a * x + fleet.b * x * x))
    return {
        **row,
        "rounds": reached,
        "settled_after": result.iterations,
        "status": result.status,
        "wall_s": wall,
        "ms_per_round": 1e3 * wall / max(result.iterations, 1),
        "messages": network.stats.sent,
        "rel_error": float(errors[-1]),
        "objective_rel_error": (objective - fleet.objective_star) / fleet.objective_star,
        "balance_residual": float(x.sum() - fleet.demand),
        "note": "" if reached is not None else f"settles at {errors[-1]:.1e}, never within {ACCURACY:g}",
    }


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        "# Consensus benchmark (in process)",
        "",
        f"{meta['when']}, {meta['machine']}, {meta['cpus']} CPUs, Python {meta['python']}; 1-min load average "
        f"{meta['load_average_1min']['start']:.1f} at the start, {meta['load_average_1min']['end']:.1f} at the end "
        "(a shared machine: wall times are indicative). Produced by `bench/consensus.py`;",
        "method and instances in its docstring. `rounds`: first round with `||x - x*|| <= 1e-3 ||x*||`",
        "(x* from HiGHS); wall time and messages are those of the message-passing run of exactly that many",
        "rounds on `InProcNetwork`. Averaging rows run until they settle (tol 1e-9) and report where.",
        "",
        "| fleet | algorithm | N | edges | rounds to 1e-3 | wall s | ms/round | messages | rel. error "
        "| objective rel. error | balance residual | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = r.get("note", "")
        if "rounds_to_0.05MW" in r:
            note = f"0.05 MW after {r['rounds_to_0.05MW']} rounds, 0.01 MW after {r['rounds_to_0.01MW']}"
        if r.get("status") == "converged":
            note = f"settled after {r['settled_after']} rounds; {note}".rstrip("; ")
        elif r.get("status") == "max_iterations":
            note = f"did not settle in {r['settled_after']} rounds; {note}".rstrip("; ")
        lines.append(
            f"| {r['fleet']} | {r['algorithm']} | {r['N']} | {r['edges']} | {fmt(r.get('rounds'), 'd')} "
            f"| {fmt(r.get('wall_s'), '.2f')} | {fmt(r.get('ms_per_round'), '.2f')} | {fmt(r.get('messages'), 'd')} "
            f"| {fmt(r.get('rel_error'), '.1e')} | {fmt(r.get('objective_rel_error'), '.1e')} "
            f"| {fmt(r.get('balance_residual'), '.3g')} | {note} |"
        )
    lines += ["", "MQTT rows: not measured yet (the consensus participants do not run over MQTT yet).", ""]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 5 and 50 only; print, write nothing")
    args = parser.parse_args()
    sizes = [5, 50] if args.quick else [5, 50, 500]
    load_at_start = os.getloadavg()[0]
    fleets = [ieee14(), *(random_fleet(n, seed=n) for n in sizes)]
    rows: list[dict[str, Any]] = []
    for fleet in fleets:
        limit = 20_000 if len(fleet.graph) <= 5 else 5_000
        rows.append(await primal_dual_row(fleet, limit))
        rows.append(await averaging_row(fleet, 2_000))
        print(json.dumps(rows[-2:], default=str))
    meta = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_1min": {"start": load_at_start, "end": os.getloadavg()[0]},
        "cpus": os.cpu_count(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "python": platform.python_version(),
        "accuracy": ACCURACY,
    }
    table = markdown(rows, meta)
    print(table)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "consensus.md").write_text(table, encoding="utf-8")
        (RESULTS / "consensus.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str),
                                                encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
