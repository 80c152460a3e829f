"""Round trips and ADMM rounds on other MQTT engines, as ratios to Mosquitto measured in the same run.

    .venv/bin/python bench/brokers.py                  # bench/results/brokers.{md,json}
    .venv/bin/python bench/brokers.py --quick          # small counts, prints the table, writes nothing

Engines: Mosquitto (a private one, :class:`edge_agent.runtime.PrivateBroker`) in MQTT 5 and in 3.1.1 mode,
RabbitMQ's MQTT plugin (the machine's service, ``edge_agent.testing.engines.rabbitmq_mqtt_url``) and NATS's
MQTT listener (a private ``nats-server``); an engine that is not available is left out and named. Measured,
with two :class:`MqttConnection` objects on one loop (fast path on):

1. sequential request/reply (QoS 1, ``AdmmRequest`` -> ``AdmmAnswer``): p50 and p90 of ``--requests`` round
   trips after ``--warmup``;
2. wall time per ADMM round: three flex devices on one connection, the coordinator on another, 30 rounds.

Each engine runs ``--repeats`` times, interleaved (engine order rotates every repeat); a ratio is taken within
one repeat (engine / Mosquitto MQTT 5) and the table shows the median over repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import structlog

from edge_agent import registry
from edge_agent.algorithms.admm import (
    AdmmCoordinator,
    AdmmSettings,
    SharingVariant,
    create_admm_flex_actor_one_to_many,
)
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.messages import Envelope, Message
from edge_agent.runtime import PrivateBroker
from edge_agent.testing.engines import NatsMqttServer, nats_missing, rabbitmq_missing, rabbitmq_mqtt_url

RESULTS = Path(__file__).parent / "results"
BASELINE = "mosquitto-v5"
ADMM_ROUNDS = 30


class _Echo:
    def __init__(self, id: str) -> None:
        self.id = id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, AdmmRequest):
            carrier.reply(AdmmAnswer(round=message.round, x=message.reference), envelope)


async def _round_trips(url: str, options: MqttOptions, warmup: int, requests: int) -> list[float]:
    prefix = f"b{uuid.uuid4().hex[:10]}"
    async with (
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=options) as a,
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=options) as b,
    ):
        b.add(_Echo("echo"))
        me = a.add(_Echo("me"))
        await me.wait_present(["echo"], within_s=10)
        body = AdmmRequest(round=0, rho=1.0, reference=np.zeros(4))
        times = []
        for k in range(warmup + requests):
            start = time.perf_counter()
            await me.request(body, "echo", timeout=10)
            if k >= warmup:
                times.append(time.perf_counter() - start)
    return times


async def _admm_round(url: str, options: MqttOptions) -> float:
    prefix = f"b{uuid.uuid4().hex[:10]}"
    actors = [create_admm_flex_actor_one_to_many(10, [0.1, 0.5, -1], id="a1"),
              create_admm_flex_actor_one_to_many(15, [0.1, 0.5, -1], id="a2"),
              create_admm_flex_actor_one_to_many(10, [-1, 0, 1], id="a3")]
    variant = SharingVariant([-4.0, 0.0, 6.0], [5.0, 1.0, 1.0])
    settings = AdmmSettings(min_iters=ADMM_ROUNDS, max_iters=ADMM_ROUNDS)
    coordinator = AdmmCoordinator(variant, [a.id for a in actors], 3, settings)
    async with (
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=options) as devices,
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=options) as hub,
    ):
        for actor in actors:
            devices.add(actor)
        carrier = hub.add(coordinator)
        await carrier.wait_present([a.id for a in actors], within_s=10)
        start = time.perf_counter()
        result = await coordinator.run(carrier)
        elapsed = time.perf_counter() - start
    return elapsed / result.iterations


@contextlib.contextmanager
def _engines() -> Iterator[tuple[dict[str, Callable[[], str]], dict[str, str]]]:
    """URLs of the engines that run here, and the reasons of those left out."""
    missing: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        mosquitto = stack.enter_context(PrivateBroker())
        urls: dict[str, Callable[[], str]] = {
            "mosquitto-v5": lambda: mosquitto.url,
            "mosquitto-3.1.1": lambda: f"{mosquitto.url}?protocol=3.1.1",
        }
        if (reason := rabbitmq_missing()) is None:
            urls["rabbitmq-3.1.1"] = rabbitmq_mqtt_url
        else:
            missing["rabbitmq-3.1.1"] = reason
        if (reason := nats_missing()) is None:
            nats = stack.enter_context(NatsMqttServer())
            urls["nats-3.1.1"] = lambda: nats.url
        else:
            missing["nats-3.1.1"] = reason
        yield urls, missing


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(args: argparse.Namespace) -> dict[str, object]:
    options = MqttOptions(fast_path=True)
    runs: list[dict[str, dict[str, float]]] = []
    with _engines() as (urls, missing):
        names = list(urls)
        for repeat in range(args.repeats):
            order = names[repeat % len(names):] + names[:repeat % len(names)]
            run: dict[str, dict[str, float]] = {}
            for name in order:
                times = await _round_trips(urls[name](), options, args.warmup, args.requests)
                run[name] = {"p50_ms": 1e3 * statistics.median(times), "p90_ms": 1e3 * _quantile(times, 0.9),
                             "admm_round_ms": 1e3 * await _admm_round(urls[name](), options)}
            for name in names:
                run[name]["rtt_ratio"] = run[name]["p50_ms"] / run[BASELINE]["p50_ms"]
                run[name]["admm_ratio"] = run[name]["admm_round_ms"] / run[BASELINE]["admm_round_ms"]
            runs.append(run)
            print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(
                f"{n} {run[n]['p50_ms']:.3f} ms" for n in names), file=sys.stderr)
    medians = {name: {key: statistics.median(run[name][key] for run in runs) for key in runs[0][name]}
               for name in names}
    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
            "python": platform.python_version(), "repeats": args.repeats, "requests": args.requests,
            "warmup": args.warmup, "admm_rounds": ADMM_ROUNDS, "medians": medians, "runs": runs, "missing": missing}


def _table(report: dict[str, object]) -> str:
    medians: dict[str, dict[str, float]] = report["medians"]  # type: ignore[assignment]
    lines = [
        f"# MQTT engines: round trips and ADMM rounds ({report['date']})", "",
        f"`bench/brokers.py`, {report['machine']}, Python {report['python']}; {report['repeats']} repeats, "
        f"interleaved; {report['requests']} sequential requests after {report['warmup']} warm-up ones; ADMM: 3 "
        f"devices, {report['admm_rounds']} rounds. Medians over repeats; ratios taken within each repeat "
        f"against {BASELINE}.", "",
        "| engine | request/reply p50 (ms) | p90 (ms) | ratio p50 | ADMM round (ms) | ratio ADMM |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in medians.items():
        lines.append(f"| {name} | {m['p50_ms']:.3f} | {m['p90_ms']:.3f} | {m['rtt_ratio']:.2f}x | "
                     f"{m['admm_round_ms']:.2f} | {m['admm_ratio']:.2f}x |")
    missing: dict[str, str] = report["missing"]  # type: ignore[assignment]
    lines += [f"\nNot measured: {name}: {reason}" for name, reason in missing.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2 repeats of 100 requests; prints, writes nothing")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.requests, args.warmup = 2, 100, 20
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    report = asyncio.run(_measure(args))
    table = _table(report)
    print(table)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "brokers.md").write_text(table, encoding="utf-8")
        (RESULTS / "brokers.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
