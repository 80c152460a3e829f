"""COHDA benchmark, in process.

    .venv/bin/python bench/cohda.py          # everything (~3-5 min on 2 cores): bench/results/cohda.{md,json,png}
    .venv/bin/python bench/cohda.py --quick  # N <= 50 and the peer's instances; prints the tables, writes nothing
    .venv/bin/python bench/cohda.py --planted  # issue 12 only (~5 min of CPU): bench/results/cohda-planted.{md,json}

1. **Scaling** on a small-world graph (Watts-Strogatz, each participant talks to k = 6 neighbours, rewiring
   p = 0.1, seeded): N = 5, 20, 50, 200, 1000 participants with 10 random schedules of 24 slots each (entries
   U[0, 10] rounded to 2 decimals). The target is the sum of one randomly picked schedule per participant (the
   peer's generator), so the exact optimum is 0 and the gap to it is the final distance; for N = 5 HiGHS solves
   the MIP (:func:`edge_agent.testing.central.solve_selection`) to confirm it.
2. **The peer's recorded instances** (``/work/shared/reference/cohda_peer_instances.json``, complete topology):
   our default participant (wall time median of 3) and the classic COHDA decision alone (against the system
   configuration, no pair moves, no move composition) beside the peer library's figures.
3. **Message sizes** (N = 100 participants, 96 slots): every published update encoded with
   :func:`edge_agent.codec.encode` (one MQTT publish each, whatever the number of subscribers).
4. **Restarts** (``--planted``, issue 12, :mod:`bench.cohda_planted`): the default rules against the restart
   option on planted-zero instances (N = 20 and 50, complete topology, several seeds) and on N = 10 instances
   whose exact optimum HiGHS proves.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent import registry
from edge_agent.algorithms.cohda import CohdaParticipant, CohdaStart, EnumerationDecider, Target
from edge_agent.algorithms.cohda.figure import plot_cohda
from edge_agent.algorithms.cohda.scenario import CohdaOutcome, run_cohda
from edge_agent.carrier import InProcNetwork
from edge_agent.carrier.base import GOSSIP
from edge_agent.family import RunOptions
from edge_agent.logs import configure_logging
from edge_agent.messages import Envelope
from edge_agent.runtime.inproc import network
from edge_agent.testing.central import solve_selection
from edge_agent.topology import Graph

RESULTS = Path(__file__).parent / "results"
PEER = Path("/work/shared/reference/cohda_peer_instances.json")
CLASSIC: dict[str, Any] = {"respond_to": "config", "offers": 0, "compose": False}
SMALL_WORLD_K, SMALL_WORLD_P = 6, 0.1


def planted(n: int, seed: int, schedules: int = 10, horizon: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The peer's generator: U[0, 10] schedules rounded to 2 decimals, target = one picked schedule each."""
    rng = np.random.default_rng(seed)
    sets = rng.uniform(0, 10, (n, schedules, horizon)).round(2)
    pick = rng.integers(0, schedules, n)
    return sets, sets[np.arange(n), pick].sum(axis=0)


def team(sets: np.ndarray, relay: bool, **options: Any) -> list[CohdaParticipant]:
    width = len(str(len(sets) - 1))
    return [
        CohdaParticipant(f"p{i:0{width}d}", EnumerationDecider(f"p{i:0{width}d}", s), relay=relay, **options)
        for i, s in enumerate(sets)
    ]


def small_world(ids: list[str], seed: int) -> Graph:
    k = min(SMALL_WORLD_K, (len(ids) - 1) // 2 * 2)
    return Graph.small_world(ids, k, SMALL_WORLD_P, np.random.default_rng(seed))


CPU_S: dict[int, float] = {}  # id(outcome) -> CPU seconds of the run


async def run(sets: np.ndarray, target: np.ndarray, topology: str, seed: int = 0, **options: Any) -> CohdaOutcome:
    participants = team(sets, relay=topology != "complete", **options)
    ids = [p.id for p in participants]
    graph = Graph.complete(ids) if topology == "complete" else small_world(ids, seed)
    started = time.process_time()
    outcome = await run_cohda(participants, graph, Target.of(target), network(RunOptions(run_id=f"bench-{len(ids)}")))
    CPU_S[id(outcome)] = time.process_time() - started
    return outcome


def figures(outcome: CohdaOutcome) -> dict[str, Any]:
    return {
        "cpu_s": round(CPU_S.get(id(outcome), float("nan")), 3),
        "status": outcome.status(),
        "agreed": outcome.agreed,
        "distance": round(outcome.distance(), 4),
        "start_distance": round(outcome.start_distance(), 4),
        "messages": outcome.messages,
        "wall_s": round(outcome.wall_s, 3),
        "rounds": max(p.decisions for p in outcome.participants),
    }


async def scaling_rows(sizes: list[int], log: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        sets, target = planted(n, seed=1000 + n)
        outcome = await run(sets, target, "small-world", seed=n)
        row = {"N": n, "degree": min(SMALL_WORLD_K, (n - 1) // 2 * 2), **figures(outcome), "optimum": 0.0}
        if n <= 5:
            row["optimum"] = round(solve_selection(list(sets), target).distance, 6)
        row["gap_of_start"] = round((row["distance"] - row["optimum"]) / row["start_distance"], 4)
        rows.append(row)
        log(f"scaling N={n}: {row}")
    return rows


def peer_instances() -> list[dict[str, Any]]:
    instances: list[dict[str, Any]] = json.loads(PEER.read_text(encoding="utf-8"))["instances"]
    return instances


async def peer_rows(log: Callable[[str], None]) -> list[dict[str, Any]]:
    instances = peer_instances()
    rows = []
    for instance in instances:
        sets, target = np.array(instance["schedules"]), np.array(instance["target"])
        runs = [await run(sets, target, "complete") for _ in range(3)]
        ours = figures(runs[0])
        ours["wall_s"] = round(statistics.median(r.wall_s for r in runs), 3)
        classic = figures(await run(sets, target, "complete", **CLASSIC))
        rows.append({"N": instance["N"], "start_distance": instance["start_distance_first_schedules"],
                     "peer": instance["peer"], "ours": ours, "classic": classic})
        log(f"peer N={instance['N']}: ours {ours} classic {classic} peer {instance['peer']}")
    return rows


async def message_sizes(log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Encoded size of every published update, N = 100 and 96 slots, complete and small-world."""
    rows = []
    for topology in ("complete", "small-world"):
        sets, target = planted(100, seed=7, horizon=96)
        participants = team(sets, relay=topology != "complete")
        ids = [p.id for p in participants]
        graph = Graph.complete(ids) if topology == "complete" else small_world(ids, 7)
        sizes: list[int] = []
        async with InProcNetwork(run_id="sizes") as network:
            transmit = network.transmit

            def measured(
                envelope: Envelope, transmit: Callable[[Envelope], None] = transmit, sizes: list[int] = sizes
            ) -> None:
                if envelope.receiver == GOSSIP:  # one publish, however many subscribers
                    sizes.append(len(registry.codec().encode(envelope)))
                transmit(envelope)

            network.transmit = measured  # type: ignore[method-assign]
            carriers = {p.id: network.add(p) for p in participants}
            for p in participants:
                carriers[p.id].subscribe(graph.in_neighbours(p.id))
            carriers[ids[0]].send(CohdaStart(target=Target.of(target).to_wire()), ids[0])
            await network.quiescent()
        row = {"topology": topology, "N": 100, "slots": 96, "updates": len(sizes), "mean_bytes": int(np.mean(sizes)),
               "p99_bytes": int(np.percentile(sizes, 99)), "max_bytes": max(sizes)}
        rows.append(row)
        log(f"sizes: {row}")
    return rows


def markdown(scaling: list[dict[str, Any]], peer: list[dict[str, Any]], sizes: list[dict[str, Any]],
             meta: dict[str, Any]) -> str:
    lines = [
        "# COHDA benchmark (in process)",
        "",
        f"{meta['date']}, {meta['machine']}, Python {meta['python']}. Reproduce: `.venv/bin/python bench/cohda.py`.",
        "Defaults: batch decisions, best response to the best candidate, 3 offered alternatives for pair moves,",
        "composition of received moves (see `docs/cohda.md`). Times are single runs on a shared, noisy machine:",
        f"load average {meta['load']} when the run ended; CPU s (process time) is less sensitive to other jobs.",
        "",
        "## Scaling: small-world graph, 10 random schedules x 24 slots, planted target (optimum 0)",
        "",
        "| N | degree | status | agreed | start distance | final distance (= gap) | gap / start | rounds | messages "
        "| wall s | CPU s |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in scaling:
        lines.append(
            f"| {r['N']} | {r['degree']} | {r['status']} | {r['agreed']} | {r['start_distance']:.2f} | "
            f"{r['distance']:.2f} | {100 * r['gap_of_start']:.1f} % | {r['rounds']} | {r['messages']:,} | "
            f"{r['wall_s']:.2f} | {r['cpu_s']:.2f} |"
        )
    lines += [
        "",
        "N = 5: HiGHS MIP confirms the optimum 0. The distance never gets worse than the start (candidates only "
        "improve).",
        "",
        "## The peer library's recorded instances (complete topology)",
        "",
        "| N | start | peer distance | peer messages | peer wall s | ours: distance | messages | wall s (median of 3) "
        "| classic COHDA rules: distance | messages | wall s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in peer:
        p, o, c = r["peer"], r["ours"], r["classic"]
        lines.append(
            f"| {r['N']} | {r['start_distance']:.2f} | {p['final_distance']:.2f} | {p['messages']:,} | "
            f"{p['wall_s_median_of_3']:g} | **{o['distance']:.2f}** | {o['messages']:,} | {o['wall_s']:.2f} | "
            f"{c['distance']:.2f} | {c['messages']:,} | {c['wall_s']:.2f} |"
        )
    lines += [
        "",
        "Peer figures as recorded in the reference file (its machine, median of 3). 'Classic COHDA rules' is this",
        "implementation with only the seed's decision (best response to the system configuration): no pair moves,",
        "no move composition, still batched and sending only on change.",
        "",
        "## Message sizes: N = 100, 96 slots (limit 256 KiB)",
        "",
        "| topology | updates | mean bytes | p99 bytes | max bytes |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in sizes:
        lines.append(f"| {r['topology']} | {r['updates']:,} | {r['mean_bytes']:,} | {r['p99_bytes']:,} | "
                     f"{r['max_bytes']:,} |")
    lines += [
        "",
        "The largest updates are a participant's first ones on the small world (the target and many first-seen",
        "configuration entries). Entries are split into chunks of at most 128 KiB; the rest of an update (target,",
        "candidate at ~12 bytes per member plus at most 16 moves, offers) stays under 25 KB at N = 100, so no",
        "update can exceed ~155 KB there.",
        "",
        "The restart option against these default rules (issue 12): `bench/cohda.py --planted`, results in",
        "`bench/results/cohda-planted.md`.",
        "",
    ]
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N <= 50 and the peer's instances; writes nothing")
    parser.add_argument("--planted", action="store_true", help="issue 12's restart measurements only")
    parser.add_argument("--seeds", type=int, default=6, help="--planted: instances per size (default 6)")
    args = parser.parse_args()
    configure_logging()
    if args.planted:
        from cohda_planted import planted_main

        await planted_main(args.seeds, RESULTS)
        return
    sizes_n = [5, 20, 50] if args.quick else [5, 20, 50, 200, 1000]
    scaling = await scaling_rows(sizes_n, print)
    peer = await peer_rows(print)
    sizes = [] if args.quick else await message_sizes(print)
    meta = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "load": " / ".join(f"{v:.1f}" for v in os.getloadavg())}
    text = markdown(scaling, peer, sizes, meta)
    print(text)
    if args.quick:
        return
    write(RESULTS / "cohda.md", text)
    write(RESULTS / "cohda.json", json.dumps({"meta": meta, "scaling": scaling, "peer": peer,
                                             "message_sizes": sizes}, indent=2) + "\n")
    instance = peer_instances()[-1]
    outcome = await run(np.array(instance["schedules"]), np.array(instance["target"]), "complete")
    plot_cohda(outcome.report("peer N=50 instance").to_json(), RESULTS / "cohda.png")


if __name__ == "__main__":
    asyncio.run(main())
