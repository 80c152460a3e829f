"""Fleet scale: N devices as one process each or hosted in one process (each on its own connection).

    .venv/bin/python bench/fleet.py                        # bench/results/fleet.{md,json}
    .venv/bin/python bench/fleet.py --quick                # N = 10, 100 once; prints the table, writes nothing
    .venv/bin/python bench/fleet.py --sizes 1000 --modes hosted --repeats 1

For every N (``--sizes``, default 10, 100, 500, 1000) and mode (``--modes``: ``processes``, one ``edge-agent
agent`` per device; ``hosted``, one ``edge-agent host`` serving all of them), on a private Mosquitto:

1. start-up: from starting the process(es) until a watcher sees every device's presence record;
2. memory: RSS and PSS (``/proc/<pid>/smaps_rollup``; PSS shares the pages processes have in common) of the
   agent process(es), per device, once all are present;
3. an ADMM sharing job over all N devices (the coordinator in this process, ``runtime/host.launch``): status,
   rounds, wall time per round, the objective's gap to the central optimum (``testing/central.py``, HiGHS);
   beside it the same participants in one process (``InProcNetwork``), its time per round and the ratio;
4. broker CPU: the broker process's user + system time (``/proc/<pid>/stat``) during start-up and per round.

The fleet: N generators with ``p_max ~ U(5, 20)``, cost ``a P + b P^2``, ``a ~ U(1, 5)``, ``b ~ U(0.01, 0.1)``
(seeded by N) sharing a demand of 0.6 of their capacity, priority 100 (so the balance is met exactly), rho 0.5.
Process mode is left out where the fleet would not fit in memory (the PSS per process measured at a smaller N,
so that shared pages count once, times N above 70 % of the available memory); the reason is in the table.
``--engines`` adds NATS's MQTT listener (a private ``nats-server``) and RabbitMQ's MQTT plugin (the machine's
service) at N = 100, hosted, both in MQTT 3.1.1 (``docs/brokers.md``). Every case runs ``--repeats`` times (the
process mode ``--process-repeats`` times, 2 by default); the table shows medians and the load average
(``os.getloadavg``) at the start of each case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from edge_agent import registry
from edge_agent.algorithms.admm.plan import admm_plan
from edge_agent.algorithms.admm.scenario import AdmmSharingScenario
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.errors import EdgeAgentError
from edge_agent.family import RunOptions
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.host import agent_configs, launch, start_device_agents, wait_for_agents
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.testing.central import solve_sharing
from edge_agent.testing.engines import NatsMqttServer, nats_missing, rabbitmq_missing, rabbitmq_mqtt_url

RESULTS = Path(__file__).parent / "results"
SIZES, QUICK_SIZES = (10, 100, 500, 1000), (10, 100)
MODES = ("processes", "hosted")
ENGINE_N = 100
MEMORY_SHARE = 0.7  # process mode runs only if its expected RSS fits in this share of the available memory
TICKS = os.sysconf("SC_CLK_TCK")


def fleet(n: int) -> AdmmSharingScenario:
    rng = np.random.default_rng([2026, n])
    p_max, a, b = rng.uniform(5, 20, n), rng.uniform(1, 5, n), rng.uniform(0.01, 0.1, n)
    devices = [{"id": f"gen-{i:04d}", "kind": "generator", "p_max": float(p_max[i]), "cost_linear": float(a[i]),
                "cost_quadratic": float(b[i])} for i in range(n)]
    return AdmmSharingScenario.model_validate({
        "name": f"fleet-{n}", "algorithm": "admm-sharing", "target": [float(0.6 * p_max.sum())],
        "priorities": [100.0], "settings": {"rho": 0.5}, "participants": devices})


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _memory_kb(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "Rss":
                    rss += int(value.split()[0])
                elif name == "Pss":
                    pss += int(value.split()[0])
    return rss, pss


def _available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def _rabbitmq_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "beam.smp":
                return int(entry.name)
    return None


@contextlib.contextmanager
def _engine(name: str) -> Iterator[tuple[str, Callable[[], int | None]]]:
    """The broker URL and a function giving its process id."""
    if name == "mosquitto":
        with PrivateBroker() as broker:
            yield broker.url, lambda: broker.pid
    elif name == "nats":
        with NatsMqttServer() as nats:
            yield nats.url, lambda: nats.pid
    else:
        yield rabbitmq_mqtt_url(), _rabbitmq_pid


async def _over_mqtt(scenario: AdmmSharingScenario, mode: str, url: str, broker_pid: int | None, *,
                     group: ProcessGroup, prefix: str) -> dict[str, Any]:
    plan = admm_plan(scenario, RunOptions(run_id=prefix))
    configs = agent_configs(plan, prefix, client_tag=prefix)
    ids = [c.id for c in configs]
    cpu0, started = _cpu_s(broker_pid), time.perf_counter()
    start_device_agents(group, configs, url, hosted=set(ids) if mode == "hosted" else ())
    async with MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-watch") as watcher:
        await wait_for_agents(watcher, ids, group)
    startup_s, cpu1 = time.perf_counter() - started, _cpu_s(broker_pid)
    rss, pss = _memory_kb([c.process.pid for c in group.children])
    report = await launch(plan, url, prefix, processes=group)
    cpu2 = _cpu_s(broker_pid)
    rounds = max(1, report.iterations)
    return {"startup_s": startup_s, "rss_mb_per_device": rss / 1024 / len(ids),
            "pss_mb_per_device": pss / 1024 / len(ids), "status": report.status, "rounds": report.iterations,
            "round_ms": 1000 * report.wall_s / rounds, "objective": report.objective,
            "broker_cpu_startup_s": cpu1 - cpu0, "broker_cpu_ms_per_round": 1000 * (cpu2 - cpu1) / rounds}


def _case(scenario: AdmmSharingScenario, mode: str, engine: str) -> dict[str, Any]:
    prefix = f"fb{os.urandom(3).hex()}"
    with (_engine(engine) as (url, pid), tempfile.TemporaryDirectory(prefix="fleet-bench-") as work,
          ProcessGroup(Path(work)) as group):
        return asyncio.run(_over_mqtt(scenario, mode, url, pid(), group=group, prefix=prefix))


def _median(rows: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in rows]
    if all(isinstance(v, int | float) for v in values):
        return statistics.median(values)
    return values[0] if len(set(values)) == 1 else "/".join(map(str, values))


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pss_per_process_mb: float | None = None
    cases = [(n, mode, "mosquitto") for n in args.sizes for mode in args.modes]
    if args.engines:
        for engine, missing in (("nats", nats_missing()), ("rabbitmq", rabbitmq_missing())):
            if missing is None:
                cases.append((ENGINE_N, "hosted", engine))
            else:
                rows.append({"n": ENGINE_N, "mode": "hosted", "engine": engine, "skipped": missing})
    for n, mode, engine in cases:
        scenario = fleet(n)
        if mode == "processes" and pss_per_process_mb is not None:
            needed_kb = pss_per_process_mb * 1024 * n
            if needed_kb > MEMORY_SHARE * _available_kb():
                rows.append({"n": n, "mode": mode, "engine": engine, "skipped": (
                    f"{n} processes of {pss_per_process_mb:.0f} MB PSS need {needed_kb / 2**20:.1f} GB, over "
                    f"{MEMORY_SHARE:.0%} of the {_available_kb() / 2**20:.1f} GB available")})
                continue
        central = solve_sharing([d.local_problem(1) for d in scenario.participants], np.array(scenario.target),
                                np.array(scenario.priorities)).objective
        load = os.getloadavg()[0]
        runs: list[dict[str, Any]] = []
        for repeat in range(args.process_repeats if mode == "processes" else args.repeats):
            inproc = asyncio.run(solve(scenario, RunOptions(run_id=f"inproc-{repeat}")))
            try:
                run = _case(scenario, mode, engine)
            except EdgeAgentError as error:  # reported in the table, the other cases still run
                runs = []
                rows.append({"n": n, "mode": mode, "engine": engine, "skipped": f"failed: {str(error)[:300]}"})
                print(f"  N={n} {mode} {engine} #{repeat + 1}: failed: {error}", flush=True)
                break
            run["inproc_round_ms"] = 1000 * inproc.wall_s / max(1, inproc.iterations)
            run["inproc_rounds"] = inproc.iterations
            run["ratio"] = run["round_ms"] / run["inproc_round_ms"]
            run["gap"] = abs(run["objective"] - central) / max(1.0, abs(central))
            runs.append(run)
            print(f"  N={n} {mode} {engine} #{repeat + 1}: " + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.items()), flush=True)
        if not runs:
            continue
        row = {"n": n, "mode": mode, "engine": engine, "load": load, "repeats": len(runs)}
        row |= {key: _median(runs, key) for key in runs[0]}
        rows.append(row)
        if mode == "processes":
            pss_per_process_mb = row["pss_mb_per_device"]
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| N | mode | broker | load | start-up s | RSS MB/device | PSS MB/device | status | rounds | "
            "round ms MQTT | round ms in-process | ratio | rel. gap | broker CPU s start-up | broker CPU ms/round |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['n']} | {r['mode']} | {r['engine']} | | skipped: {r['skipped']} |" + " |" * 10)
            continue
        lines.append(
            f"| {r['n']} | {r['mode']} | {r['engine']} | {r['load']:.1f} | {r['startup_s']:.1f} | "
            f"{r['rss_mb_per_device']:.2f} | {r['pss_mb_per_device']:.2f} | {r['status']} | {r['rounds']} | "
            f"{r['round_ms']:.1f} | {r['inproc_round_ms']:.1f} | {r['ratio']:.2f} | {r['gap']:.1e} | "
            f"{r['broker_cpu_startup_s']:.2f} | {r['broker_cpu_ms_per_round']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None, metavar="N")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--process-repeats", type=int, default=2, help="repeats of the process mode (slow)")
    parser.add_argument("--engines", action="store_true", help=f"also NATS and RabbitMQ at N = {ENGINE_N}, hosted")
    parser.add_argument("--quick", action="store_true", help="N = 10, 100 once; print only")
    parser.add_argument("--out", type=Path, default=RESULTS / "fleet", help="results path without suffix")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats, args.process_repeats = args.sizes or list(QUICK_SIZES), 1, 1
    args.sizes = args.sizes or list(SIZES)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    rows = measure(args)
    text = table(rows)
    print(text)
    if args.quick:
        return
    meta = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "cpus": os.cpu_count(), "argv": vars(args) | {"out": str(args.out)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(f"# bench/fleet.py ({meta['date']}, {meta['cpus']} CPUs)\n\n{text}\n")
    print(f"written: {args.out}.md, {args.out}.json")


if __name__ == "__main__":
    main()
