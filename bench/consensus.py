"""Consensus benchmark: the primal-dual dispatch on unbalanced directed graphs, in process.

    .venv/bin/python bench/consensus.py           # N = 5, 50, 500 and IEEE-14 (~5 min on 2 cores),
                                                  # writes bench/results/consensus.{md,json}
    .venv/bin/python bench/consensus.py --quick   # N = 5, 50 and IEEE-14; prints the table, writes nothing
    .venv/bin/python bench/consensus.py --no-mqtt # without the MQTT rows (which add ~3 min)
    .venv/bin/python bench/consensus.py --digraphs  # issue 12: random unbalanced digraphs N = 20, 100, 300,
                                                    # 20 seeds each, seed method vs safeguards vs tracking;
                                                    # writes bench/results/consensus-digraphs.{md,json}

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

MQTT rows (``--no-mqtt`` skips them): the same message-passing run of exactly ``t`` rounds among device agents
over a private Mosquitto, started, watched and collected by the launcher (``edge_agent.algorithms.consensus.plan``):
for N = 5 one ``edge-agent agent`` process per generator; for N = 50 all 50 device agents in ONE process on one
``MqttConnection`` (the launcher on a second connection of the bench process), which measures the protocol
and the carrier rather than 50 Python interpreters on 2 CPUs. Wall time runs from the first join to the last
outcome collected; ``startup`` from spawning (or connecting) until every agent is present. Plus the IEEE-14
scenario file run to its own convergence test over MQTT (the acceptance run: every power within 0.01 MW).

Diffusion row (the peer's adapt-then-combine dispatch, ``edge_agent.algorithms.consensus.diffusion``): Metropolis
weights on the fleet's graph made undirected, run until its own test; N <= 50 only.

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
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from edge_agent import registry
from edge_agent.algorithms.consensus import (
    AveragingSettings,
    DiffusionSettings,
    EconomicDispatchActor,
    LocalCost,
    PrimalDualSettings,
    QuadraticCost,
    StepSize,
    simulate_averaging,
    simulate_diffusion,
    simulate_primal_dual,
)
from edge_agent.algorithms.consensus.plan import ConsensusPlan
from edge_agent.algorithms.consensus.scenario import BALANCE_TOL, PrimalDualDispatchScenario
from edge_agent.carrier import InProcNetwork
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import Generator
from edge_agent.errors import RunTimeout
from edge_agent.family import RoleContext
from edge_agent.registry import load_scenario
from edge_agent.results import RunReport
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.host import launch, start_device_agents
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.testing.central import solve_dispatch
from edge_agent.topology import EdgesTopology, Graph

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
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


DIGRAPH_SIZES = (20, 100, 300)
DIGRAPH_SEEDS = 20
DISPATCH_ATOL = 0.01  # MW
DIGRAPH_VARIANTS: dict[str, dict[str, Any]] = {
    "seed (a0 0.05)": {"update": "subgradient", "box": False, "rounds": 3000},
    "seed + price box": {"update": "subgradient", "box": True, "rounds": 3000},
    "tracking c 0.25": {"update": "tracking", "box": True, "rounds": 2000, "gain": 0.25},
}


def weights(graph: Graph) -> sp.csr_matrix:
    n = len(graph)
    index = {node: i for i, node in enumerate(graph.nodes)}
    rows = [index[v] for _, v in graph.edges] + list(range(n))
    cols = [index[u] for u, _ in graph.edges] + list(range(n))
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return sp.csr_matrix(sp.diags(1.0 / np.asarray(A.sum(axis=1)).ravel()) @ A)


def vectorised_variant(fleet: Fleet, *, update: str, box: bool, rounds: int, gain: float = 0.25,
                       a0: float = 0.05, lam_limit: float = 1e6) -> dict[str, Any]:
    """The participants' iteration (``PrimalDualParticipant``) vectorised, with its options (bench only): the
    rounds after which every output stays within 0.01 MW of x*, min z_ii(t), max |lam|, divergence."""
    n = len(fleet.graph)
    A = weights(fleet.graph)
    a, b, lower, upper, share = fleet.a, fleet.b, fleet.lower, fleet.upper, fleet.demand / n
    tracking = update == "tracking"
    floor = 1e-3 / n if tracking else 0.0
    lo, hi = -(a + 2 * b * upper), -(a + 2 * b * lower)  # each agent's own price range, flooded below
    gamma = gain / (n * float(np.max(0.5 / b)))  # used only from round `hops` on, when s_max is exact
    hops = fleet.graph.diameter()
    lam, Z = np.zeros(n), np.eye(n)
    x = np.clip(-a / (2 * b), lower, upper)
    w = x - share
    last_bad, z_min, lam_max, diverged_at = 0, 1.0, 0.0, None
    for t in range(rounds):
        v = A @ lam
        z = np.maximum(np.diag(Z), floor)
        z_min = min(z_min, float(np.diag(Z).min()))
        x_new = np.clip((-v - a) / (2 * b), lower, upper)
        lam = v + (gamma * n * z if t >= hops else 0.0) * w if tracking else v - a0 / (t + 1) * (share - x_new) / z
        if box or tracking:
            lo = np.minimum.reduceat(lo[A.indices], A.indptr[:-1])  # min over itself and its in-neighbours
            hi = np.maximum.reduceat(hi[A.indices], A.indptr[:-1])
            lam = np.clip(lam, lo, hi)
        Z = A @ Z
        w = A @ w + (x_new - share) / np.maximum(np.diag(Z), floor) - (x - share) / z
        x = x_new
        lam_max = max(lam_max, float(np.abs(lam).max()))
        if not lam_max <= lam_limit:
            diverged_at = t + 1
            break
        if np.abs(x - fleet.x_star).max() > DISPATCH_ATOL:
            last_bad = t + 1
    error = float(np.abs(x - fleet.x_star).max())
    within = diverged_at is None and error <= DISPATCH_ATOL
    return {"rounds_to_0.01MW": last_bad if within else None, "final_max_error_MW": error, "z_min": z_min,
            "lam_max": lam_max, "diverged_at": diverged_at, "balance_residual": float(x.sum() - fleet.demand),
            "x": x}


async def cross_check(fleet: Fleet, update: str, rounds: int) -> float:
    """Max |x| difference between the vectorised mirror and the message-passing participants after ``rounds``."""
    settings = PrimalDualSettings(max_iter=rounds, tol_lam=0, tol_balance=0, price_box=update != "tracking",
                                  update="tracking" if update == "tracking" else "subgradient")
    async with InProcNetwork() as network:
        result = await simulate_primal_dual(network, fleet.graph, fleet.costs(), fleet.demand, settings=settings)
    mirror = vectorised_variant(fleet, update=update, box=update != "tracking", rounds=rounds)["x"]
    real = np.array([result.x[node] for node in fleet.graph.nodes])
    return float(np.abs(real - mirror).max())


async def digraphs_main() -> None:
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for n in DIGRAPH_SIZES:
        for seed in range(DIGRAPH_SEEDS):
            fleet = random_fleet(n, seed=1000 * n + seed)
            for label, variant in DIGRAPH_VARIANTS.items():
                row = vectorised_variant(fleet, **variant)
                del row["x"]
                row.update(N=n, seed=seed, variant=label, balanced=fleet.graph.is_balanced())
                rows.append(row)
            print(n, seed, [(r["variant"], r["rounds_to_0.01MW"], f"{r['z_min']:.1e}") for r in rows[-3:]],
                  file=sys.stderr, flush=True)
        fleet = random_fleet(n, seed=1000 * n)
        for update in ("subgradient", "tracking"):
            checks.append({"N": n, "update": update, "rounds": 100,
                           "max_abs_diff": await cross_check(fleet, update, 100)})
    lines = ["# Primal-dual dispatch on random unbalanced digraphs (issue 12)", "",
             f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; `bench/consensus.py --digraphs`. Fleets as in the "
             f"main benchmark (`random_fleet(N, seed=1000 N + k)`, k < {DIGRAPH_SEEDS}), random strongly connected "
             "digraphs with about 3 in-neighbours each, never balanced. The iteration is the vectorised mirror of "
             "`PrimalDualParticipant` (checked against the message-passing participants below). "
             "`rounds` = the round after which every output stays within 0.01 MW of the HiGHS dispatch "
             "(within the horizon); `-` = not within 0.01 MW at the horizon.", "",
             "| N | variant | horizon | diverged | within 0.01 MW | rounds median | rounds max "
             "| final max error MW (median) | min z_ii(t) (min over seeds) | max abs(lam) (max) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n in DIGRAPH_SIZES:
        for label, variant in DIGRAPH_VARIANTS.items():
            group = [r for r in rows if r["N"] == n and r["variant"] == label]
            hits = [r["rounds_to_0.01MW"] for r in group if r["rounds_to_0.01MW"] is not None]
            lines.append(
                f"| {n} | {label} | {variant['rounds']} | {sum(r['diverged_at'] is not None for r in group)}"
                f"/{len(group)} | {len(hits)}/{len(group)} | {statistics.median(hits) if hits else '-'} "
                f"| {max(hits) if hits else '-'} | {statistics.median(r['final_max_error_MW'] for r in group):.2g} "
                f"| {min(r['z_min'] for r in group):.1e} | {max(r['lam_max'] for r in group):.3g} |")
    lines += ["", "Mirror against the participants (`simulate_primal_dual`, 100 rounds, max |x| difference):", ""]
    lines += [f"- N = {c['N']}, {c['update']}: {c['max_abs_diff']:.1e}" for c in checks]
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "consensus-digraphs.md").write_text(table, encoding="utf-8")
    (RESULTS / "consensus-digraphs.json").write_text(json.dumps({"rows": rows, "checks": checks}, indent=2),
                                                     encoding="utf-8")


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
    settings = PrimalDualSettings(step=StepSize(a0=fleet.a0), max_iter=max(target, 1), tol_lam=0, tol_balance=0)
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
    balance = float(x.sum() - fleet.demand)
    status = result.status  # settled; the scenarios' rule (issue 12): converged only if the demand is met
    if status == "converged" and not abs(balance) <= BALANCE_TOL:
        status = "infeasible_result"
    return {
        **row,
        "rounds": reached,
        "settled_after": result.iterations,
        "status": status,
        "wall_s": wall,
        "ms_per_round": 1e3 * wall / max(result.iterations, 1),
        "messages": network.stats.sent,
        "rel_error": float(errors[-1]),
        "objective_rel_error": (objective - fleet.objective_star) / fleet.objective_star,
        "balance_residual": balance,
        "note": "" if reached is not None else f"settles at {errors[-1]:.1e}, never within {ACCURACY:g}",
    }


async def diffusion_row(fleet: Fleet, limit: int) -> dict[str, Any]:
    """Diffusion (adapt-then-combine) with Metropolis weights on the fleet's graph made undirected (Metropolis
    weights need links both ways), step ``a0 / (t + 1)`` with ``a0 = 1.6 min_i 2 b_i`` (every agent's own
    loop stable), run until its own test (tol 2e-3) or ``limit`` rounds."""
    n = len(fleet.graph)
    graph = Graph.from_edges(list(fleet.graph.nodes), {tuple(sorted(e)) for e in fleet.graph.edges}, directed=False)
    a0 = min(1.0, 1.6 * float(2 * fleet.b.min()))
    settings = DiffusionSettings(weights="metropolis", step=StepSize(a0=a0), max_iter=limit, tol=2e-3)
    async with InProcNetwork() as network:
        started = time.perf_counter()
        result = await simulate_diffusion(network, graph, fleet.costs(), fleet.demand, settings=settings)
        wall = time.perf_counter() - started
    depth = min(len(h) for h in result.x_history.values())
    xs = np.array([[result.x_history[node][k][0] for node in fleet.graph.nodes] for k in range(depth)])
    errors = relative_errors(fleet, xs)
    row: dict[str, Any] = {"fleet": fleet.name, "algorithm": "diffusion (metropolis, undirected)", "N": n,
                           "edges": len(graph.edges), "balanced": True, "a0": a0,
                           "rounds": first_below(errors, ACCURACY), "settled_after": result.iterations,
                           "status": result.status, "wall_s": wall,
                           "ms_per_round": 1e3 * wall / max(result.iterations, 1), "messages": network.stats.sent,
                           "rel_error": float(errors[-1]),
                           "objective_rel_error": (result.objective - fleet.objective_star) / fleet.objective_star,
                           "balance_residual": result.residual}
    if fleet.name.startswith("IEEE"):
        deviation = np.abs(xs - fleet.x_star).max(axis=1)
        row["note"] = (f"0.01 MW after {first_below(deviation, 0.01)} rounds; max {deviation[-1]:.4f} MW from the "
                       f"exact optimum at the end; messages of the whole run")
    else:
        row["note"] = "messages of the whole run"
    return row


# -- over MQTT ------------------------------------------------------------------------------------
def fleet_scenario(fleet: Fleet, rounds: int) -> PrimalDualDispatchScenario:
    """The fleet as a scenario of exactly ``rounds`` rounds (no convergence test), for the device agents."""
    participants = [
        Generator(id=node, kind="generator", p_min=float(fleet.lower[i]), p_max=float(fleet.upper[i]),
                  cost_linear=float(fleet.a[i]), cost_quadratic=float(fleet.b[i]))
        for i, node in enumerate(fleet.graph.nodes)
    ]
    return PrimalDualDispatchScenario(
        algorithm="primal-dual-dispatch", name=fleet.name.split(" (")[0].replace(" ", "-").replace("=", ""),
        demand=fleet.demand, participants=participants, history_points=2,
        topology=EdgesTopology(kind="edges", edges=[tuple(e) for e in fleet.graph.edges], directed=True),
        settings=PrimalDualSettings(step=StepSize(a0=fleet.a0), max_iter=rounds, tol_lam=0, tol_balance=0),
    )


async def run_over_mqtt(scenario: PrimalDualDispatchScenario, *, processes: bool) -> tuple[RunReport, float]:
    """One run among device agents on a private broker: one process per generator, or all in this process.
    Returns the report and the startup time (until every agent is present)."""
    ids = scenario.ids()
    with PrivateBroker() as broker, tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        if processes:
            with ProcessGroup(Path(work)) as group:
                start_device_agents(group, [DeviceConfig(id=g.id, device=g) for g in scenario.participants],
                                    broker.url)
                async with MqttConnection(broker.url, codec=registry.codec(), client_id="bench-watch") as watch:
                    await watch.wait_present(ids, within_s=120)
                startup = time.perf_counter() - started
                report = await launch(ConsensusPlan(scenario), broker.url, processes=group)
                group.check()
            return report, startup
        async with MqttConnection(broker.url, codec=registry.codec(), client_id="bench-devices") as devices:
            for generator in scenario.participants:
                devices.add(DeviceAgent(generator, RoleContext(settle=devices.settled)))
            startup = time.perf_counter() - started
            report = await launch(ConsensusPlan(scenario, hosting=f"all {len(ids)} agents in one process"), broker.url)
        return report, startup


async def mqtt_row(fleet: Fleet, rounds: int) -> dict[str, Any]:
    n = len(fleet.graph)
    processes = n <= 5
    report, startup = await run_over_mqtt(fleet_scenario(fleet, rounds), processes=processes)
    x = np.array([report.extra["power"][node] for node in fleet.graph.nodes])
    vector_x = vectorised(fleet, rounds)[rounds]
    return {
        "fleet": fleet.name, "algorithm": "primal-dual", "carrier": "mqtt", "N": n, "edges": len(fleet.graph.edges),
        "hosting": report.extra["transport"]["hosting"], "rounds": rounds, "startup_s": startup,
        "wall_s": report.wall_s, "ms_per_round": 1e3 * report.wall_s / rounds, "messages": report.messages,
        "control_messages": report.extra["transport"]["control_messages"],
        "rel_error": float(np.linalg.norm(x - fleet.x_star) / np.linalg.norm(fleet.x_star)),
        "max_diff_vs_vectorised": float(np.abs(x - vector_x).max()),
        "status": report.status,
    }


async def mqtt_ieee14_acceptance_row() -> dict[str, Any]:
    """The IEEE-14 scenario file as it is (its own convergence test), one process per generator."""
    scenario = load_scenario(ROOT / "scenarios/ieee14_dispatch_primal_dual.yaml")
    assert isinstance(scenario, PrimalDualDispatchScenario)
    report, startup = await run_over_mqtt(scenario, processes=True)
    exact = np.array([66.240, 71.653, 47.131, 54.986, 59.990])
    x = np.array([report.extra["power"][node] for node in scenario.ids()])
    lam = np.array([report.extra["multipliers"][node] for node in scenario.ids()])
    return {
        "fleet": "IEEE-14 scenario file", "algorithm": "primal-dual", "carrier": "mqtt", "N": 5,
        "edges": len(scenario.graph().edges), "hosting": report.extra["transport"]["hosting"],
        "rounds": report.iterations, "startup_s": startup, "wall_s": report.wall_s,
        "ms_per_round": 1e3 * report.wall_s / report.iterations, "messages": report.messages,
        "control_messages": report.extra["transport"]["control_messages"], "status": report.status,
        "power": x.tolist(), "multipliers": lam.tolist(),
        "max_dev_MW_vs_exact": float(np.abs(x - exact).max()), "max_dev_lam": float(np.abs(lam + 7.2992).max()),
    }


def mqtt_markdown(rows: list[dict[str, Any]]) -> list[str]:
    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        "## Over MQTT",
        "",
        "Private Mosquitto on 127.0.0.1, QoS 1, the launcher of `edge_agent.algorithms.consensus.plan`. Rows of random",
        "fleets run exactly the in-process row's rounds (no convergence test, status `max_iterations`); the IEEE-14",
        "scenario file runs to its own test. `messages`: round messages delivered to the participants (as in",
        "process); `control`: the launcher's joins, starts, polls, notices, collects, leaves and their answers.",
        "",
        "| fleet | N | hosting | rounds | startup s | wall s | ms/round | messages | control | rel. error "
        "| max diff vs vectorised | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = r["status"]
        if "max_dev_MW_vs_exact" in r:
            note += (f"; powers {', '.join(f'{p:.3f}' for p in r['power'])} MW: max {r['max_dev_MW_vs_exact']:.4f} MW"
                     f" from the exact optimum; multipliers within {r['max_dev_lam']:.4f} of -7.2992")
        lines.append(
            f"| {r['fleet']} | {r['N']} | {r['hosting']} | {r['rounds']} | {fmt(r.get('startup_s'), '.1f')} "
            f"| {fmt(r.get('wall_s'), '.2f')} | {fmt(r.get('ms_per_round'), '.2f')} | {fmt(r.get('messages'), 'd')} "
            f"| {fmt(r.get('control_messages'), 'd')} | {fmt(r.get('rel_error'), '.1e')} "
            f"| {fmt(r.get('max_diff_vs_vectorised'), '.1e')} | {note} |"
        )
    return [*lines, ""]


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        "# Consensus benchmark (in process and over MQTT)",
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
    mqtt = [r for r in rows if r.get("carrier") == "mqtt"]
    for r in rows:
        if r.get("carrier") == "mqtt":
            continue
        note = r.get("note", "")
        if "rounds_to_0.05MW" in r:
            note = f"0.05 MW after {r['rounds_to_0.05MW']} rounds, 0.01 MW after {r['rounds_to_0.01MW']}"
        if r.get("status") == "converged":
            note = f"settled after {r['settled_after']} rounds; {note}".rstrip("; ")
        elif r.get("status") == "infeasible_result":
            note = (f"infeasible_result: settled after {r['settled_after']} rounds with the demand missed by "
                    f"{abs(r['balance_residual']):.3g} MW; {note}").rstrip("; ")
        elif r.get("status") == "max_iterations":
            note = f"did not settle in {r['settled_after']} rounds; {note}".rstrip("; ")
        lines.append(
            f"| {r['fleet']} | {r['algorithm']} | {r['N']} | {r['edges']} | {fmt(r.get('rounds'), 'd')} "
            f"| {fmt(r.get('wall_s'), '.2f')} | {fmt(r.get('ms_per_round'), '.2f')} | {fmt(r.get('messages'), 'd')} "
            f"| {fmt(r.get('rel_error'), '.1e')} | {fmt(r.get('objective_rel_error'), '.1e')} "
            f"| {fmt(r.get('balance_residual'), '.3g')} | {note} |"
        )
    lines.append("")
    lines += mqtt_markdown(mqtt) if mqtt else ["MQTT rows: not measured in this run (`--no-mqtt`).", ""]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 5 and 50 only; print, write nothing")
    parser.add_argument("--no-mqtt", action="store_true", help="skip the MQTT rows")
    parser.add_argument("--digraphs", action="store_true", help="issue 12's random digraphs only")
    args = parser.parse_args()
    if args.digraphs:
        await digraphs_main()
        return
    sizes = [5, 50] if args.quick else [5, 50, 500]
    load_at_start = os.getloadavg()[0]
    fleets = [ieee14(), *(random_fleet(n, seed=n) for n in sizes)]
    rows: list[dict[str, Any]] = []
    for fleet in fleets:
        limit = 20_000 if len(fleet.graph) <= 5 else 5_000
        rows.append(await primal_dual_row(fleet, limit))
        rows.append(await averaging_row(fleet, 2_000))
        if len(fleet.graph) <= 50:  # N = 500 would need ~10^7 messages at this step: not run
            rows.append(await diffusion_row(fleet, 20_000 if len(fleet.graph) <= 5 else 5_000))
        print(json.dumps(rows[-3:], default=str))
    if not args.no_mqtt:
        in_process = {r["fleet"]: r for r in rows if r["algorithm"] == "primal-dual"}
        for fleet in fleets:
            rounds = in_process[fleet.name].get("rounds")
            if len(fleet.graph) <= 50 and rounds:
                rows.append(await mqtt_row(fleet, rounds))
                print(json.dumps(rows[-1], default=str))
        rows.append(await mqtt_ieee14_acceptance_row())
        print(json.dumps(rows[-1], default=str))
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
