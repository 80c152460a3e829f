"""The three carriers side by side, in one run: request/reply round trip and ADMM round time.

    .venv/bin/python bench/carriers.py              # bench/results/carriers.{md,json}; a few minutes on 2 cores
    .venv/bin/python bench/carriers.py --quick      # small counts, prints the table, writes nothing

Measured, every case on one asyncio loop in this process (the requester and the answering side on two
connections: two MQTT clients of one private Mosquitto on 127.0.0.1, two Zenoh peer sessions linked over TCP on
127.0.0.1; in process, one :class:`InProcNetwork`):

1. request/reply: sequential ``await carrier.request(...)`` against an echo participant (``admm.request`` ->
   ``admm.answer``), p50/p90 of ``--count`` round trips after a warm-up; ``--repeats`` runs, carriers interleaved,
   the table shows the median of the runs. MQTT and Zenoh also with the echo participant in a second process
   (the shape of a deployment: each side has its own loop and interpreter).
2. ADMM round time (sharing variant, Generator devices, ``min_iters = max_iters``): N = 10 and 100 devices hosted on
   one connection, the coordinator on another; mean round time of ``--rounds`` rounds, median of ``--repeats``.

The 1-minute load average is recorded as each case begins: on a shared machine it is the first thing to read.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mqtt as mqtt_bench  # bench/mqtt.py: its statistics, echo participant, devices and ADMM timing

from edge_agent import registry
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.zenoh import ZenohConnection
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.device_agent import DeviceAgent
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.connect import free_ports
from edge_agent.runtime.processes import ProcessGroup

RESULTS = Path(__file__).resolve().parent / "results"
CARRIERS = ("inproc", "mqtt", "zenoh")
VARIANTS = (*CARRIERS, "mqtt, 2 processes", "zenoh, 2 processes")

Pair = Callable[[str], AbstractAsyncContextManager[tuple[Any, Any]]]  # prefix -> (answering side, asking side)


def pairs(broker_url: str) -> dict[str, Pair]:
    """For each carrier: two hosts of participants on one loop (in process: the same network twice)."""

    @asynccontextmanager
    async def inproc(prefix: str) -> AsyncIterator[tuple[Any, Any]]:
        async with InProcNetwork() as network:
            yield network, network

    @asynccontextmanager
    async def mqtt(prefix: str) -> AsyncIterator[tuple[Any, Any]]:
        async with (
            MqttConnection(broker_url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-a") as a,
            MqttConnection(broker_url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-b") as b,
        ):
            yield a, b

    @asynccontextmanager
    async def zenoh(prefix: str) -> AsyncIterator[tuple[Any, Any]]:
        endpoint = f"tcp/127.0.0.1:{free_ports(1)[0]}"
        async with AsyncExitStack() as stack:
            a = await stack.enter_async_context(ZenohConnection(
                ZenohOptions(listen=(endpoint,)), codec=registry.codec(), prefix=prefix, node="a"))
            b = await stack.enter_async_context(ZenohConnection(
                ZenohOptions(connect=(endpoint,)), codec=registry.codec(), prefix=prefix, node="b"))
            yield a, b

    return {"inproc": inproc, "mqtt": mqtt, "zenoh": zenoh}


async def _present(side: Any, ids: list[str]) -> None:
    if hasattr(side, "wait_present"):
        await side.wait_present(ids, within_s=60)
        await side.settled()


async def round_trips(pair: Pair, count: int, warmup: int) -> mqtt_bench.Latency:
    prefix = mqtt_bench.fresh_prefix()
    async with pair(prefix) as (answering, asking):
        answering.add(mqtt_bench.Echo("echo"))
        carrier: Carrier = asking.add(mqtt_bench.Quiet("me"))
        await _present(asking, ["echo"])
        return await mqtt_bench._requests(carrier, "echo", count, warmup)


async def admm_rounds(pair: Pair, n: int, rounds: int, repeats: int) -> mqtt_bench.AdmmCase:
    prefix = mqtt_bench.fresh_prefix()
    devices = mqtt_bench.generators(n)
    ids = [d.id for d in devices]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    async with pair(prefix) as (fleet, hub):
        for device in devices:
            fleet.add(DeviceAgent(device))
        carrier = hub.add(mqtt_bench.Quiet("coordinator"))
        await _present(hub, ids)
        case = mqtt_bench.AdmmCase("one process", n, n, time.perf_counter() - started, load=load)
        await mqtt_bench._timed_runs(carrier, ids, rounds, repeats, case)
        return case


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


async def serve_zenoh_echo(endpoint: str, prefix: str) -> None:
    """``--serve-zenoh-echo``: the echo participant on a Zenoh peer connected to ``endpoint``, until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with ZenohConnection(ZenohOptions(connect=(endpoint,)), codec=registry.codec(), prefix=prefix,
                               node="echo-side") as side:
        side.add(mqtt_bench.Echo("echo"))
        await stop.wait()


def zenoh_two_processes(count: int, warmup: int, work_dir: Path) -> mqtt_bench.Latency:
    """The echo participant in a child process (``--serve-zenoh-echo``), the requester here."""
    prefix, endpoint = mqtt_bench.fresh_prefix(), f"tcp/127.0.0.1:{free_ports(1)[0]}"

    async def measure() -> mqtt_bench.Latency:
        async with ZenohConnection(ZenohOptions(listen=(endpoint,)), codec=registry.codec(), prefix=prefix,
                                   node="requester-side") as hub:
            carrier = hub.add(mqtt_bench.Quiet("me"))
            await hub.wait_present(["echo"], within_s=60)
            await hub.settled()
            return await mqtt_bench._requests(carrier, "echo", count, warmup)

    with ProcessGroup(work_dir) as group:
        group.start(f"echo-{prefix}", [sys.executable, __file__, "--serve-zenoh-echo", endpoint, prefix])
        return run(measure())


def round_trip(variant: str, carriers: dict[str, Pair], broker_url: str, count: int, work_dir: Path
               ) -> mqtt_bench.Latency:
    warmup = max(20, count // 10)
    if variant == "mqtt, 2 processes":
        return mqtt_bench.carrier_two_processes(broker_url, count, warmup, work_dir)
    if variant == "zenoh, 2 processes":
        return zenoh_two_processes(count, warmup, work_dir)
    return run(round_trips(carriers[variant], count, warmup))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts; print the table, write nothing")
    parser.add_argument("--count", type=int, default=1000, help="round trips per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of every case")
    parser.add_argument("--rounds", type=int, default=20, help="ADMM rounds per timed run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100], help="ADMM fleet sizes")
    parser.add_argument("--serve-zenoh-echo", nargs=2, metavar=("ENDPOINT", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_zenoh_echo:
        run(serve_zenoh_echo(*args.serve_zenoh_echo))
        return
    if args.quick:
        args.count, args.repeats, args.rounds, args.sizes = 200, 2, 5, [10]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    loads = {"start": os.getloadavg()[0]}
    latency: dict[str, list[mqtt_bench.Latency]] = {v: [] for v in VARIANTS}
    latency_loads: dict[str, list[float]] = {v: [] for v in VARIANTS}
    admm: dict[str, dict[int, mqtt_bench.AdmmCase]] = {c: {} for c in CARRIERS}
    with PrivateBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-carriers-") as work:
        carriers = pairs(broker.url)
        for repeat in range(args.repeats):
            for name in VARIANTS:
                latency_loads[name].append(os.getloadavg()[0])
                latency[name].append(round_trip(name, carriers, broker.url, args.count, Path(work)))
                mqtt_bench.progress(f"round trip {name} run {repeat + 1}: p50 {latency[name][-1].p50_ms:.3f} ms")
        for n in args.sizes:
            for name in CARRIERS:
                admm[name][n] = run(admm_rounds(carriers[name], n, args.rounds, args.repeats))
                mqtt_bench.progress(f"ADMM N={n} {name}: {admm[name][n].round_ms_median:.2f} ms/round")
    loads["end"] = os.getloadavg()[0]
    table = markdown(args, latency, latency_loads, admm, loads)
    print(table)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "carriers.md").write_text(table, encoding="utf-8")
        data = {"latency": {c: [vars(r) for r in runs] for c, runs in latency.items()},
                "admm": {c: {str(n): vars(case) for n, case in cases.items()} for c, cases in admm.items()},
                "loads": loads, "latency_loads": latency_loads}
        (RESULTS / "carriers.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _median(runs: list[mqtt_bench.Latency], key: str) -> float:
    return float(statistics.median(float(getattr(run, key)) for run in runs))


def markdown(args: argparse.Namespace, latency: dict[str, list[mqtt_bench.Latency]],
             latency_loads: dict[str, list[float]], admm: dict[str, dict[int, mqtt_bench.AdmmCase]],
             loads: dict[str, float]) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Carriers side by side: in process, MQTT, Zenoh",
        "",
        f"`bench/carriers.py` on {when}, {platform.python_version()}, {os.cpu_count()} cores; "
        f"load average (1 min) {loads['start']:.1f} at the start, {loads['end']:.1f} at the end. "
        "MQTT: Mosquitto on 127.0.0.1, QoS 1, MQTT 5; Zenoh 1.10: two peer sessions linked over TCP on 127.0.0.1. "
        "Both sides run on one asyncio loop in one process, except in the `2 processes` rows.",
        "",
        f"## Request/reply round trip ({args.count} sequential requests per run, median of {args.repeats} runs)",
        "",
        "| carrier | p50 ms | p90 ms | round trips/s | load at each run |",
        "|---|---:|---:|---:|---|",
    ]
    for name in VARIANTS:
        runs = latency[name]
        lines.append(f"| {name} | {_median(runs, 'p50_ms'):.3f} | {_median(runs, 'p90_ms'):.3f} | "
                     f"{_median(runs, 'per_s'):.0f} | {', '.join(f'{x:.1f}' for x in latency_loads[name])} |")
    lines += [
        "",
        f"## ADMM round (sharing, Generator devices; {args.rounds} rounds per run, median of {args.repeats} runs)",
        "",
        "| carrier | N | ms per round | until all present, s | load at start |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in args.sizes:
        for name in CARRIERS:
            case = admm[name][n]
            lines.append(f"| {name} | {n} | {case.round_ms_median:.2f} | {case.startup_s:.2f} | {case.load:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
