"""MQTT benchmark: raw paho floor vs our carrier, ADMM rounds over MQTT, and the cost of one agent process.

Everything runs against ONE private Mosquitto (:class:`edge_agent.runtime.PrivateBroker`) on 127.0.0.1::

    .venv/bin/python bench/mqtt.py            # full run, 3-10 min on 2 cores: bench/results/mqtt.{md,json}
    .venv/bin/python bench/mqtt.py --quick    # smoke run: small counts, prints the table, writes nothing
    .venv/bin/python bench/mqtt.py --latency-only --repeats 5
        # section 1 only; sections 2 and 3 are copied from the previous results file (and marked so)
    .venv/bin/python bench/mqtt.py --admm-only --admm-sizes 100 --repeats 5
        # section 2 only (printed; sections 1 and 3 copied from the results file; written only with --output)
    .venv/bin/python bench/mqtt.py --admm-only --admm-sizes 100 --spawn fork --floor --repeats 5
        # section 2 with the floor processes beside the agent processes (issue 17's round-time ratio)
    .venv/bin/python bench/mqtt.py --latency-only --variants raw_2proc,carrier_2proc --json-out run.json
        # chosen variants only, figures as JSON (for A/B runs of two trees); writes no results file

Measured:

1. request/reply latency (p50/p90/p99, round trips/s), sequential, QoS 1, MQTT 5, TCP_NODELAY on both sides:
   * raw paho, handled inside paho callbacks (two ``loop_start`` clients; the requester publishes the next
     request from its own ``on_message``): the floor;
   * raw paho + a hop into asyncio (the requester awaits a future resolved with ``call_soon_threadsafe``);
   * our carrier: two :class:`MqttConnection` objects on one loop, ``await carrier.request(...)`` against an
     echo participant answering :class:`AdmmRequest` with :class:`AdmmAnswer`;
   * raw paho and our carrier again, with the responder in a second process (the shape of a deployment).
   The payloads of the raw runs are the very bytes our carrier puts on the wire for the same messages.
   Each variant runs ``--repeats`` times, interleaved; the table shows the median of the runs.
2. wall time per ADMM round (sharing variant, Generator devices, ``min_iters = max_iters``, so every run
   goes to ``max_iters``) for N devices (a) on an ``InProcNetwork`` (no MQTT), (b) hosted in one process on one
   connection, the coordinator on another, and (c) one ``python -m edge_agent agent`` process each; plus the
   time until all N are present, CPU per round (this process, the agents, the broker) and the ratios of (c)
   to (b) and (a).
   The process case is capped: agents not present ``process_budget_s`` after the first spawn are killed.
   With ``--floor``, (d) N forked floor processes against the same coordinator (:func:`_floor_agent`): how much
   of (c)'s cost any agent process pays, on MQTT by hand or on our MQTT client, with the request only parsed or
   also validated, before our carrier and device model add theirs.
3. one idle device agent process: time from spawn until its presence is seen on the broker, and VmRSS once
   ready (median of several starts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import logging
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import paho.mqtt.client as paho
import structlog
import yaml
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_agent import registry
from edge_agent.algorithms.admm import AdmmCoordinator, AdmmSettings, SharingVariant
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier import InProcNetwork
from edge_agent.carrier._fast_path import (
    FastPathClient,
    decode_publish,
    publish_properties,
    variable_byte_integer,
    whole_packet,
)
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import Inbound
from edge_agent.carrier.presence import PresenceRecord, session_of
from edge_agent.carrier.topics import Topics
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import Generator
from edge_agent.errors import EdgeAgentError, RunTimeout
from edge_agent.messages import Envelope, Message
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.processes import SPAWN_METHODS, ChildProcess, ProcessGroup, Spawn, die_with_parent
from edge_agent.testing.recorder import RecordingCarrier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HORIZON = 24  # slots per ADMM request (a day of hours)
ADMM_RATIO_TARGET = 1.3  # N agent processes against the same N devices in one process
TARGETS = {"ratio": 1.5, "qos1_p50_ms": 2.0, "rss_mb": 80.0, "ready_s": 2.0}
_STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


def fresh_prefix() -> str:
    return f"bench{uuid.uuid4().hex[:10]}"


# -- statistics ----------------------------------------------------------------------------------
@dataclass
class Latency:
    """One run of sequential round trips."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    per_s: float
    count: int

    @classmethod
    def of(cls, samples_ns: Sequence[int], wall_s: float) -> Latency:
        ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
        p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
        return cls(p50, p90, p99, len(ms) / wall_s, len(ms))


@dataclass
class LatencySeries:
    name: str
    runs: list[Latency] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average as each run began

    def median(self, key: str) -> float:
        return float(statistics.median(float(getattr(run, key)) for run in self.runs))

    def summary(self) -> dict[str, float]:
        return {key: self.median(key) for key in ("p50_ms", "p90_ms", "p99_ms", "per_s")}


# -- 1a. raw paho ------------------------------------------------------------------------------
class RawClient:
    """A paho 2.x client, MQTT 5, TCP_NODELAY, its network loop in a ``loop_start`` thread."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.error: BaseException | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client.on_socket_open = self._on_socket_open
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(host, port, keepalive=30, clean_start=True)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError(f"raw paho client {client_id} got no CONNACK")

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.set()

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        self._subscribed.set()

    def subscribe(self, topic: str, on_message: Callable[[paho.MQTTMessage], None]) -> None:
        def guarded(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
            try:  # an exception would silently kill paho's loop thread
                on_message(message)
            except BaseException as error:
                self.error = error

        self.client.on_message = guarded
        self._subscribed.clear()
        self.client.subscribe(topic, options=SubscribeOptions(qos=1))
        if not self._subscribed.wait(10):
            raise TimeoutError(f"no SUBACK for {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass(frozen=True)
class WirePayloads:
    """The bytes our carrier sends for one request and its reply (reused by the raw runs)."""

    request: bytes
    reply: bytes

    @classmethod
    def build(cls) -> WirePayloads:
        request = AdmmRequest(round=1234, rho=1.0, reference=np.full(2, 1234.0))
        sent = Envelope(id="0123abcd-1234", sender="requester", receiver="echo", seq=1234, body=request)
        answer = AdmmAnswer(round=1234, x=request.reference)
        replied = Envelope(id="4567cdef-1234", sender="echo", receiver="requester", seq=1234,
                           in_reply_to=sent.id, body=answer)
        return cls(registry.codec().encode(sent), registry.codec().encode(replied))


def raw_topics(prefix: str) -> tuple[str, str]:
    """The request and reply topics of the raw runs."""
    return f"{prefix}/echo/req", f"{prefix}/requester/rep"


class RawResponder:
    """Republishes every request from its ``on_message`` (in paho's thread)."""

    def __init__(self, host: str, port: int, prefix: str, reply: bytes) -> None:
        request_topic, self.reply_topic = raw_topics(prefix)
        self.reply = reply
        self.side = RawClient(host, port, f"{prefix}-responder")
        self.side.subscribe(request_topic, self._answer)

    def _answer(self, message: paho.MQTTMessage) -> None:
        self.side.client.publish(self.reply_topic, self.reply, qos=1)


def serve_raw_echo(host: str, port: int, prefix: str) -> None:
    """``--serve-raw-echo``: a :class:`RawResponder` in this process; prints ``ready``, serves until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    responder = RawResponder(host, port, prefix, WirePayloads.build().reply)
    print("ready", flush=True)
    stop.wait()
    responder.side.close()


class RawEchoPair:
    """A requester, and a :class:`RawResponder` in this process or (``remote``) in a child process."""

    def __init__(self, host: str, port: int, payloads: WirePayloads, *, remote: bool = False) -> None:
        prefix = fresh_prefix()
        self.request_topic, self.reply_topic = raw_topics(prefix)
        self.payloads = payloads
        self.responder: RawResponder | None = None
        self.child: subprocess.Popen[str] | None = None
        self.requester = RawClient(host, port, f"{prefix}-requester")
        if remote:
            self.child = subprocess.Popen(
                [sys.executable, __file__, "--serve-raw-echo", host, str(port), prefix],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
            )
            assert self.child.stdout is not None
            if self.child.stdout.readline().strip() != "ready":
                self.close()
                raise RuntimeError("the raw responder process did not start")
        else:
            self.responder = RawResponder(host, port, prefix, payloads.reply)

    def ask(self) -> None:
        self.requester.client.publish(self.request_topic, self.payloads.request, qos=1)

    def check(self) -> None:
        for side in (self.requester, self.responder.side if self.responder else None):
            if side is not None and side.error is not None:
                raise RuntimeError(f"a paho callback failed: {side.error!r}")

    def close(self) -> None:
        self.requester.close()
        if self.responder is not None:
            self.responder.side.close()
        if self.child is not None:
            self.child.terminate()
            self.child.communicate(timeout=10)


def raw_in_callbacks(
    host: str, port: int, payloads: WirePayloads, count: int, warmup: int, *, remote: bool = False
) -> Latency:
    """The requester sends the next request from its own ``on_message``: no thread hand-over at all."""
    pair = RawEchoPair(host, port, payloads, remote=remote)
    samples: list[int] = []
    done = threading.Event()
    sent_at = [0]
    timed_from = [0.0]

    def on_reply(message: paho.MQTTMessage) -> None:
        samples.append(time.perf_counter_ns() - sent_at[0])
        if len(samples) == warmup:
            timed_from[0] = time.perf_counter()
        if len(samples) == warmup + count:
            timed_from[0] = time.perf_counter() - timed_from[0]
            done.set()
            return
        sent_at[0] = time.perf_counter_ns()
        pair.ask()

    try:
        pair.requester.subscribe(pair.reply_topic, on_reply)
        sent_at[0] = time.perf_counter_ns()
        pair.ask()
        if not done.wait(60 + count * 0.05):
            pair.check()
            raise TimeoutError(f"raw paho: {len(samples)} of {warmup + count} replies arrived")
        pair.check()
    finally:
        pair.close()
    return Latency.of(samples[warmup:], timed_from[0])


def raw_via_asyncio(host: str, port: int, payloads: WirePayloads, count: int, warmup: int) -> Latency:
    """The requester awaits a future that paho's thread resolves with ``call_soon_threadsafe``."""

    async def measure() -> Latency:
        loop = asyncio.get_running_loop()
        pair = RawEchoPair(host, port, payloads)
        waiting: list[asyncio.Future[None]] = []

        def settle(future: asyncio.Future[None]) -> None:
            if not future.done():
                future.set_result(None)

        def on_reply(message: paho.MQTTMessage) -> None:
            loop.call_soon_threadsafe(settle, waiting[0])

        samples: list[int] = []
        try:
            pair.requester.subscribe(pair.reply_topic, on_reply)
            started = 0.0
            for i in range(warmup + count):
                if i == warmup:
                    started = time.perf_counter()
                future = loop.create_future()
                waiting[:] = [future]
                sent_at = time.perf_counter_ns()
                pair.ask()
                await asyncio.wait_for(future, 5)
                samples.append(time.perf_counter_ns() - sent_at)
            wall = time.perf_counter() - started
            pair.check()
        finally:
            pair.close()
        return Latency.of(samples[warmup:], wall)

    return asyncio.run(measure())


# -- 1b. our carrier ---------------------------------------------------------------------------
@dataclass
class Echo:
    """Answers every ``admm.request`` with its reference (as tests/integration/helpers.py Echo does)."""

    id: str

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, AdmmRequest):
            carrier.reply(AdmmAnswer(round=message.round, x=message.reference), envelope)


@dataclass
class Quiet:
    """A participant that only sends requests."""

    id: str

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        return None


async def _requests(carrier: Carrier, receiver: str, count: int, warmup: int) -> Latency:
    body = AdmmRequest(round=1234, rho=1.0, reference=np.full(2, 1234.0))  # built once, like the raw payload
    samples: list[int] = []
    started = 0.0
    for i in range(warmup + count):
        if i == warmup:
            started = time.perf_counter()
        sent_at = time.perf_counter_ns()
        await carrier.request(body, receiver, timeout=5.0)
        samples.append(time.perf_counter_ns() - sent_at)
    return Latency.of(samples[warmup:], time.perf_counter() - started)


def carrier_one_loop(url: str, count: int, warmup: int) -> Latency:
    """Requester and echo participant on two connections in one loop (one thread does all the work)."""

    async def measure() -> Latency:
        prefix = fresh_prefix()
        async with (
            MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-echo") as side,
            MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-req") as hub,
        ):
            side.add(Echo("echo"))
            carrier = hub.add(Quiet("requester"))
            await hub.wait_present(["echo"], within_s=10)
            await side.settled()
            await hub.settled()
            return await _requests(carrier, "echo", count, warmup)

    return asyncio.run(measure())


async def serve_echo(url: str, prefix: str) -> None:
    """``--serve-echo``: host the echo participant in this process until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-echo") as side:
        side.add(Echo("echo"))
        await stop.wait()


def carrier_two_processes(url: str, count: int, warmup: int, work_dir: Path) -> Latency:
    """The echo participant in a child process (`--serve-echo`), the requester here."""

    async def measure(prefix: str) -> Latency:
        async with MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-req") as hub:
            carrier = hub.add(Quiet("requester"))
            await hub.wait_present(["echo"], within_s=30)
            await hub.settled()
            return await _requests(carrier, "echo", count, warmup)

    prefix = fresh_prefix()
    with ProcessGroup(work_dir) as group:
        group.start(f"echo-{prefix}", [sys.executable, __file__, "--serve-echo", url, prefix])
        return asyncio.run(measure(prefix))


# -- 2. ADMM rounds ----------------------------------------------------------------------------
def generators(n: int) -> list[Generator]:
    return [
        Generator(id=f"g{i:03d}", kind="generator", p_max=40.0 + i % 7, cost_linear=1.0 + 0.05 * i,
                  cost_quadratic=0.05)
        for i in range(n)
    ]


def coordinator_for(ids: list[str], rounds: int, coordinator_id: str) -> AdmmCoordinator:
    n = len(ids)
    settings = AdmmSettings(max_iters=rounds, min_iters=rounds, round_timeout_s=60.0)
    variant = SharingVariant(np.full(HORIZON, 20.0 * n), np.full(HORIZON, 100.0))
    return AdmmCoordinator(variant, ids, HORIZON, settings, id=coordinator_id)


@dataclass
class AdmmCase:
    hosting: str  # "one process" or "N processes"
    n: int
    present: int
    startup_s: float | None  # from the first connect / spawn until all N are present (None: the case failed)
    round_ms: list[float] = field(default_factory=list)  # one entry per timed run (its mean round time)
    rounds: int = 0
    spawn_s: float | None = None  # agent processes: until the last Popen returned
    rss_mb_median: float | None = None  # agent processes: VmRSS once all are present
    teardown_s: float | None = None  # agent processes: SIGTERM to all until every one has exited
    killed_at_teardown: int = 0
    load: float = 0.0  # 1-minute load average when the case began
    note: str = ""
    # CPU ms per round over the timed runs: "this process" (the coordinator, and the devices in one process),
    # "agents" (all agent processes together), "broker"; results from before 2026-12-07 20:20 UTC split the agents'
    # CPU into "agents user" / "agents sys", from sampled ticks
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def round_ms_median(self) -> float | None:
        return statistics.median(self.round_ms) if self.round_ms else None


def _cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds ``pids`` have used so far, as the scheduler counts them (/proc/<pid>/schedstat, in ns). The
    user and system ticks of /proc/<pid>/stat are sampled: they miss most of the short wake-ups of an agent that
    answers in a tenth of a millisecond. A process gone counts nothing."""
    used = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            used += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    return used / 1e9


def _broker_pids() -> list[int]:
    """This process's Mosquitto children (the private broker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
            if name == "mosquitto" and int(rest.split()[1]) == os.getpid():
                found.append(int(stat.parent.name))
    return found


async def _timed_runs(carrier: Carrier, ids: list[str], rounds: int, repeats: int, case: AdmmCase, *,
                      agents: Sequence[int] = ()) -> None:
    warm = await coordinator_for(ids, 2, carrier.id).run(carrier)  # solvers set up, caches warm
    assert warm.iterations == 2
    brokers = _broker_pids()
    mine, agents_before, broker_before = time.process_time(), _cpu_s(agents), _cpu_s(brokers)
    for _ in range(repeats):
        started = time.perf_counter()
        result = await coordinator_for(ids, rounds, carrier.id).run(carrier)
        elapsed = time.perf_counter() - started
        if result.iterations != rounds or result.dropped:
            raise RuntimeError(f"ADMM run ended after {result.iterations} rounds, dropped {result.dropped}")
        case.round_ms.append(1000 * elapsed / rounds)
    case.rounds = rounds
    per_round = 1000 / (repeats * rounds)
    case.cpu_ms = {"this process": per_round * (time.process_time() - mine),
                   "broker": per_round * (_cpu_s(brokers) - broker_before)}
    if agents:
        case.cpu_ms["agents"] = per_round * (_cpu_s(agents) - agents_before)


def admm_one_process(url: str, n: int, rounds: int, repeats: int) -> AdmmCase:
    async def measure() -> AdmmCase:
        prefix = fresh_prefix()
        devices = generators(n)
        ids = [d.id for d in devices]
        load = os.getloadavg()[0]
        started = time.perf_counter()
        async with (
            MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-fleet") as fleet,
            MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-coord") as hub,
        ):
            for device in devices:
                fleet.add(DeviceAgent(device))
            carrier = hub.add(Quiet("coordinator"))
            await hub.wait_present(ids, within_s=60)
            case = AdmmCase("one process", n, n, time.perf_counter() - started, load=load)
            await _timed_runs(carrier, ids, rounds, repeats, case)
            return case

    return asyncio.run(measure())


def admm_in_process(n: int, rounds: int, repeats: int) -> AdmmCase:
    """The same coordinator and devices on an :class:`InProcNetwork` (no codec, as the algorithms' simulations
    run): the round time with no MQTT, no bytes and no processes at all."""

    async def measure() -> AdmmCase:
        devices = generators(n)
        ids = [d.id for d in devices]
        load = os.getloadavg()[0]
        async with InProcNetwork() as network:
            for device in devices:
                network.add(DeviceAgent(device))
            carrier = network.add(Quiet("coordinator"))
            case = AdmmCase("in process (InProcNetwork)", n, n, None, load=load)
            await _timed_runs(carrier, ids, rounds, repeats, case)
            return case

    return asyncio.run(measure())


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _start_agent(group: ProcessGroup, work_dir: Path, device: Generator, url: str, prefix: str) -> ChildProcess:
    config = work_dir / f"{prefix}-{device.id}.yaml"
    config.write_text(yaml.safe_dump({"id": device.id, "broker": url, "prefix": prefix,
                                      "device": device.model_dump(exclude={"id"})}))
    return group.start(f"{prefix}-{device.id}", [sys.executable, "-m", "edge_agent", "agent", "--config", str(config)])


async def _wait_present(connection: MqttConnection, ids: list[str], group: ProcessGroup, deadline: float) -> bool:
    """Wait until ``ids`` are present; False once ``time.perf_counter()`` passes ``deadline``.

    Fails early, with its output, if a child exits.
    """
    last_report = time.perf_counter()
    while True:
        group.check()
        try:
            await connection.wait_present(ids, within_s=1.0)
        except RunTimeout:
            now = time.perf_counter()
            if now > deadline:
                return False
            if now - last_report > 15:
                last_report = now
                present = len(set(ids) & set(connection.online()))
                progress(f"    {present}/{len(ids)} agents present, load {os.getloadavg()[0]:.1f}")
        else:
            return True


def admm_processes(url: str, n: int, *, rounds: int, repeats: int, work_dir: Path, budget_s: float,
                   spawn: Spawn = "exec") -> AdmmCase:
    """N agent processes; those not present within ``budget_s`` of the first spawn are killed (the cap)."""

    async def measure(group: ProcessGroup) -> AdmmCase:
        prefix = fresh_prefix()
        devices = generators(n)
        ids = [d.id for d in devices]
        async with MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-coord") as hub:
            carrier = hub.add(Quiet("coordinator"))
            await hub.settled()
            load = os.getloadavg()[0]
            started = time.perf_counter()
            for device in devices:
                _start_agent(group, work_dir, device, url, prefix)
                await asyncio.sleep(0)  # Popen blocks until the child has exec'd: keep the connection serviced
            spawn_s = time.perf_counter() - started
            complete = await _wait_present(hub, ids, group, started + budget_s)
            online = set(hub.online())
            present = [i for i in ids if i in online]
            case = AdmmCase(f"{n} processes" + ("" if spawn == "exec" else f" ({spawn})"), n, len(present),
                            time.perf_counter() - started, spawn_s=spawn_s, load=load)
            rss = [r for c in group.children if (r := _rss_mb(c.process.pid)) is not None]
            case.rss_mb_median = statistics.median(rss) if rss else None
            if not complete:
                for child in group.children:  # the cap: late starters would only steal CPU from the rounds
                    if child.name.removeprefix(f"{prefix}-") not in online:
                        child.process.kill()
                case.note = (f"capped: {len(present)}/{n} present {budget_s:g} s after the first spawn; "
                             "the others were killed and the rounds ran over those present")
            if present:
                await _timed_runs(carrier, present, rounds, repeats, case,
                                  agents=[c.process.pid for c in group.children if c.process.poll() is None])
            return case

    with ProcessGroup(work_dir, spawn=spawn) as group:
        case = asyncio.run(measure(group))
        running = [c for c in group.children if c.process.poll() is None]
        stopping = time.perf_counter()
        group.stop(grace_s=120.0)
        case.teardown_s = time.perf_counter() - stopping
        case.killed_at_teardown = sum(c.process.returncode == -signal.SIGKILL for c in running)
    return case


# -- 2b. the floor: the least an agent process on our MQTT client can do per request ------------------------------
FLOOR_KINDS = ("raw socket, JSON", "raw socket, codec", "raw socket, device model", "JSON", "codec",
               "codec, asyncio")


def _floor_answer(agent: str, seq: int, payload: bytes, checked: bool) -> tuple[str, bytes]:
    """(requester, answer) of a floor agent: ``x`` is the request's ``reference``. ``checked``: the request is
    decoded and validated, and the answer encoded, by the codec every agent uses; else ``json`` and a dict,
    nothing checked."""
    if checked:
        codec = registry.codec()
        request = codec.decode(payload)
        body = cast(AdmmRequest, request.body)
        return request.sender, codec.encode(Envelope(
            id=f"{agent}-{seq}", sender=agent, receiver=request.sender, seq=seq, run=request.run,
            in_reply_to=request.id, body=AdmmAnswer(round=body.round, x=body.reference)))
    data = json.loads(payload)
    return data["sender"], json.dumps({
        "v": 1, "id": f"{agent}-{seq}", "sender": agent, "receiver": data["sender"], "seq": seq,
        "run": data.get("run"), "in_reply_to": data["id"],
        "body": {"kind": "admm.answer", "round": data["body"]["round"], "x": data["body"]["reference"]}}).encode()


class _FloorCarrier(RecordingCarrier):
    """What a ``raw socket, device model`` floor agent hands its :class:`DeviceAgent`: the request's envelope
    goes straight to the device (no topic, receiver or repeat checks, no task) and the reply it sends is encoded
    by the codec."""

    def answer(self, payload: bytes) -> tuple[str, bytes]:
        request = registry.codec().decode(payload)
        self.run_id = request.run
        handling = self._receive(request)
        if handling is not None:
            try:
                handling.send(None)
            except StopIteration:
                pass
            else:
                raise RuntimeError("the device model waited for something: a floor agent cannot wait")
        reply = self.sent.pop()
        return reply.receiver, registry.codec().encode(reply)


def _mqtt_packet(first: int, body: bytes) -> bytes:
    """One MQTT packet: the fixed header byte, the remaining length, the body."""
    return bytes([first]) + variable_byte_integer(len(body)) + body


def _mqtt_string(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _raw_floor_agent(url: str, prefix: str, agent: str, answer: Callable[[int, bytes], tuple[str, bytes]]) -> None:
    """The least an agent process can do: MQTT 5 by hand on a blocking socket (no paho, no event loop); per
    request one ``recv`` and one ``send`` (its PUBACK and the QoS 1 answer), and one more ``recv`` for the
    answer's PUBACK. ``answer(seq, payload)`` gives the requester and the answer's payload."""
    topics, client_id = Topics(prefix), f"{prefix}-{agent}".encode()
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    online = PresenceRecord(online=True, agent=agent, node=client_id.decode(),
                            session=session_of(client_id.decode(), "floor")).encode()
    sock.sendall(_mqtt_packet(0x10, _mqtt_string(b"MQTT") + b"\x05\x02\x00\x3c\x00" + _mqtt_string(client_id))
                 + _mqtt_packet(0x82, b"\x00\x01\x00" + _mqtt_string(topics.inbox(agent).encode()) + b"\x01")
                 + _mqtt_packet(0x33, _mqtt_string(topics.presence(agent).encode()) + b"\x00\x02\x00" + online))
    received, sent = b"", itertools.count(1)
    while data := sock.recv(65536):
        received += data
        at, out = 0, []
        while (whole := whole_packet(received, at)) is not None:
            command, body, length = whole
            at = body + length
            qos = (command & 0x06) >> 1
            decoded = decode_publish(received[body:at], qos) if command & 0xF0 == 0x30 else None
            if decoded is None:  # CONNACK, SUBACK, PUBACK
                continue
            _, mid, payload_at, _, correlation = decoded
            if qos:
                out.append(_mqtt_packet(0x40, mid.to_bytes(2, "big")))
            seq = next(sent)
            requester, reply = answer(seq, received[body + payload_at:at])
            properties = b"" if correlation is None else b"\x09" + _mqtt_string(correlation)
            head = _mqtt_string(topics.direct(agent, requester).encode()) + (seq % 65535 + 1).to_bytes(2, "big")
            out.append(_mqtt_packet(0x32, head + variable_byte_integer(len(properties)) + properties + reply))
        received = received[at:]
        if out:
            sock.sendall(b"".join(out))


def _floor_agent(url: str, prefix: str, device: Generator, kind: str, parent: int) -> None:
    """A forked child answering ADMM requests for ``device`` with no carrier and (but for ``raw socket, device
    model``) no device model (:func:`_floor_answer`; ``JSON``: nothing checked, ``codec``: validated by the
    codec; ``device model``: validated by the codec and answered by the agent's :class:`DeviceAgent` through a
    :class:`_FloorCarrier`): ``raw socket, ...`` speaks MQTT by hand (:func:`_raw_floor_agent`); the others use
    the carrier's paho client (the fast path) in a plain ``select`` loop or (``codec, asyncio``) from an
    asyncio loop's reader."""
    agent = device.id
    die_with_parent(parent)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    checked = not kind.endswith("JSON")
    if kind == "raw socket, device model":
        floor = _FloorCarrier(DeviceAgent(device))
        _raw_floor_agent(url, prefix, agent, lambda seq, payload: floor.answer(payload))
        return
    if kind.startswith("raw socket"):
        _raw_floor_agent(url, prefix, agent, lambda seq, payload: _floor_answer(agent, seq, payload, checked))
        return
    topics, client_id = Topics(prefix), f"{prefix}-{agent}"
    client = FastPathClient(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(100)
    sent = itertools.count()

    def answer(message: Inbound) -> None:
        _, reply = _floor_answer(agent, next(sent), message.payload, checked)
        topic, properties = cast(str, message.response_topic), publish_properties(None, message.correlation)
        if client.publish_qos1(topic, reply, properties=properties) is None:  # as the carrier's link publishes
            client.publish(topic, reply, qos=1, properties=properties)

    def step() -> None:
        client.read_step()  # as the carrier's link reads
        if client.want_write():
            client.loop_write()

    client.inbound = answer
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    client.connect(host, int(port))
    client.subscribe(topics.inbox(agent), qos=1)
    online = PresenceRecord(online=True, agent=agent, node=client_id, session=session_of(client_id, "floor"))
    client.publish(topics.presence(agent), online.encode(), qos=1, retain=True)
    sock = cast(socket.socket, client.socket())
    if kind.endswith("asyncio"):

        async def serve() -> None:
            loop = asyncio.get_running_loop()

            def misc() -> None:
                client.loop_misc()
                loop.call_later(1.0, misc)

            loop.add_reader(sock, step)
            misc()
            await asyncio.Event().wait()

        asyncio.run(serve())
    while True:
        select.select([sock], [sock] if client.want_write() else [], [], 1.0)
        step()
        client.loop_misc()


def admm_floor(url: str, n: int, kind: str, *, rounds: int, repeats: int) -> AdmmCase:
    """N forked :func:`_floor_agent` processes against the same coordinator as :func:`admm_processes`."""
    prefix, devices = fresh_prefix(), generators(n)
    ids = [d.id for d in devices]
    pids = []
    try:
        for device in devices:
            pid = os.fork()
            if pid == 0:
                try:
                    _floor_agent(url, prefix, device, kind, os.getppid())
                finally:
                    os._exit(1)
            pids.append(pid)

        async def measure() -> AdmmCase:
            async with MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-coord") as hub:
                carrier = hub.add(Quiet("coordinator"))
                load, started = os.getloadavg()[0], time.perf_counter()
                await hub.wait_present(ids, within_s=60)
                case = AdmmCase(f"{n} processes (floor, {kind})", n, n, time.perf_counter() - started, load=load)
                await _timed_runs(carrier, ids, rounds, repeats, case, agents=pids)
                return case

        return asyncio.run(measure())
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in pids:
            os.waitpid(pid, 0)


# -- 3. one idle agent process -------------------------------------------------------------------
@dataclass
class AgentStart:
    ready_s: float
    rss_mb: float
    hwm_mb: float


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def agent_starts(url: str, starts: int, work_dir: Path) -> list[AgentStart]:
    async def one(index: int) -> AgentStart:
        prefix = fresh_prefix()
        device = Generator(id=f"solo{index}", kind="generator", p_max=50.0, cost_linear=1.0)
        async with MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-watch") as watch:
            await watch.settled()
            with ProcessGroup(work_dir) as group:
                started = time.perf_counter()
                child = _start_agent(group, work_dir, device, url, prefix)
                if not await _wait_present(watch, [device.id], group, started + 60):
                    raise RunTimeout(f"agent {device.id} not present within 60 s")
                ready_s = time.perf_counter() - started
                await asyncio.sleep(1.0)  # idle: let it settle before reading its memory
                pid = child.process.pid
                sample = AgentStart(ready_s, _status_mb(pid, "VmRSS"), _status_mb(pid, "VmHWM"))
                child.process.send_signal(signal.SIGTERM)
                await watch.wait_absent([device.id], within_s=10)
            return sample

    return [asyncio.run(one(i)) for i in range(starts)]


def python_start_s(code: str, repeats: int) -> float:
    """Median wall time of ``python -c code`` (interpreter start plus imports)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# -- reporting -----------------------------------------------------------------------------------
def machine_info(broker_binary: str | None) -> dict[str, Any]:
    mosquitto = "unknown"
    if broker_binary:
        out = subprocess.run([broker_binary, "-h"], capture_output=True, text=True, check=False).stdout
        mosquitto = out.splitlines()[0].removeprefix("mosquitto version ").strip() if out else "unknown"
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "paho_mqtt": paho_version,
        "mosquitto": mosquitto,
        "load_start": list(os.getloadavg()),
    }


def _series(rows: list[dict[str, Any]], key: str, digits: int) -> str:
    return ", ".join(f"{row[key]:.{digits}f}" for row in rows)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# MQTT benchmark",
        "",
        f"{m['date']} · {m['nproc']} CPUs ({m['cpu']}) · Python {m['python']} · paho-mqtt {m['paho_mqtt']} · "
        f"Mosquitto {m['mosquitto']} · load average {' / '.join(f'{v:.2f}' for v in m['load_start'])} at start, "
        f"{' / '.join(f'{v:.2f}' for v in m['load_end'])} at end{' · QUICK smoke run' if report['quick'] else ''}",
        "",
        "Broker: one private Mosquitto on 127.0.0.1 (`set_tcp_nodelay true`). QoS 1, MQTT 5, TCP_NODELAY on every "
        f"client. Sequential request/reply: {report['settings']['round_trips']} timed round trips after "
        f"{report['settings']['warmup']} warm-up ones, {report['settings']['repeats']} runs per variant "
        "(interleaved); every figure is the median over the runs. Payloads: the carrier's own envelopes "
        f"({report['settings']['request_bytes']} B request, {report['settings']['reply_bytes']} B reply).",
        "",
        "## Request/reply latency",
        "",
        *([f"**Not re-measured in this run**: this section, the targets and the idle agent section are copied from "
           f"the run of {report['latency_carried_over']['from']} (`--admm-only`).", ""]
          if report.get("latency_carried_over") else []),
        "| path | p50 ms | p90 ms | p99 ms | round trips/s | p50 per run (ms) | load at each run |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for entry in report["latency"].values():
        s = entry["median"]
        per_run = ", ".join(f"{r['p50_ms']:.3f}" for r in entry["runs"])
        loads = ", ".join(f"{v:.1f}" for v in entry["loads"])
        lines.append(f"| {entry['label']} | {s['p50_ms']:.3f} | {s['p90_ms']:.3f} | {s['p99_ms']:.3f} | "
                     f"{s['per_s']:,.0f} | {per_run} | {loads} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target in report["targets"]:
        lines.append(f"| {target['target']} | {target['measured']} | {'yes' if target['met'] else '**no**'} |")
    carried = report.get("carried_over")
    lines += [
        "",
        f"## ADMM round over MQTT (sharing, Generator devices, horizon {HORIZON})",
        "",
        *([f"**Not re-measured in this run**: this section and the next are copied from the full run of "
           f"{carried['from']} (`--latency-only`).", ""] if carried else []),
        "Each timed run is one `AdmmCoordinator.run` to `max_iters` (tolerances no run meets), after a 2-round "
        "warm-up run; round time = run wall time / rounds; the median over the runs is shown. Startup: from "
        "opening the connections (one process) or spawning the first process until every device is present "
        "(spawn: until the last `Popen` returned). Teardown: SIGTERM to every agent until all have exited "
        "(clean leave: offline record, DISCONNECT). Load: 1-minute load average when the case began.",
        "",
        "CPU per round: CPU time over all timed runs divided by their rounds: this process (the coordinator; in "
        "one process also the devices), all agent processes together and the broker, as the scheduler counts "
        "them (/proc/<pid>/schedstat).",
        "",
        "| hosting | N | present | startup s | spawn s | ms per round (median) | runs (ms per round) | "
        "CPU ms per round | agent RSS MB (median) | teardown s | load | note |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|",
    ]
    for case in report["admm"]:
        runs = ", ".join(f"{v:.1f}" for v in case["round_ms"]) or "-"
        killed = f" ({case['killed_at_teardown']} killed)" if case["killed_at_teardown"] else ""
        lines.append(
            f"| {case['hosting']} | {case['n']} | {case['present']} | {_fmt(case['startup_s'])} | "
            f"{_fmt(case['spawn_s'], 1)} | {_fmt(case['round_ms_median'], 1)} | "
            f"{runs} ({case['rounds']} rounds each) | {_cpu_text(case.get('cpu_ms') or {})} | "
            f"{_fmt(case['rss_mb_median'], 1)} | {_fmt(case['teardown_s'], 1)}{killed} | {case['load']:.1f} | "
            f"{case['note']} |"
        )
    lines += admm_ratios(report["admm"])
    agent = report["agent"]
    lines += [
        "",
        "## One idle device agent process (`python -m edge_agent agent --config ...`)",
        "",
        f"Median of {len(agent['starts'])} starts; ready = spawn until its retained presence is seen by another "
        "connection; RSS read 1 s after ready.",
        "",
        "| metric | median | all starts |",
        "|---|---:|---|",
        f"| ready (s) | {agent['ready_s']:.2f} | {_series(agent['starts'], 'ready_s', 2)} |",
        f"| VmRSS (MB) | {agent['rss_mb']:.1f} | {_series(agent['starts'], 'rss_mb', 1)} |",
        f"| VmHWM (MB) | {agent['hwm_mb']:.1f} | {_series(agent['starts'], 'hwm_mb', 1)} |",
        f"| `python -c pass` (s) | {agent['python_bare_s']:.2f} | |",
        f"| `python -c 'import edge_agent.cli'` (s) | {agent['python_import_cli_s']:.2f} | |",
        "",
    ]
    return "\n".join(lines)


def _cpu_text(cpu: dict[str, float]) -> str:
    names = {"this process": "this process", "agents": "agents", "agents user": "agents user", "agents sys": "sys",
             "broker": "broker"}
    return ", ".join(f"{names[key]} {cpu[key]:.1f}" for key in names if key in cpu) or "-"


def admm_ratios(cases: list[dict[str, Any]]) -> list[str]:
    """Round time of N agent processes against the same N devices in one process (over MQTT) and in process."""
    by = {(c["hosting"].split(" (")[0] if c["hosting"].startswith("in process") else c["hosting"], c["n"]):
          c["round_ms_median"] for c in cases}
    lines: list[str] = []
    for (hosting, n), ms in by.items():
        if not hosting.startswith(f"{n} processes") or ms is None:
            continue
        one, inproc = by.get(("one process", n)), by.get(("in process", n))
        if one is None and inproc is None:
            continue
        if not lines:
            lines = ["", f"Ratios (target {ADMM_RATIO_TARGET:g}x against one process, issue 17):", "",
                     "| agent processes | processes / one process (MQTT) | processes / in process |",
                     "|---|---:|---:|"]
        lines.append(f"| {hosting} | {_fmt(ms / one if one else None)}x | {_fmt(ms / inproc if inproc else None)}x |")
    return lines


def targets(latency: dict[str, Any], agent: dict[str, Any]) -> list[dict[str, Any]]:
    raw = latency["raw_callbacks"]["median"]["p50_ms"]
    ours = latency["carrier"]["median"]["p50_ms"]
    two = latency["carrier_2proc"]["median"]["p50_ms"]
    raw_two = latency["raw_2proc"]["median"]["p50_ms"]
    ratio, ratio_two = ours / raw, two / raw_two
    return [
        {"target": f"carrier p50 / raw paho p50 <= {TARGETS['ratio']}", "measured": f"{ratio:.2f}x "
         f"({ours:.3f} / {raw:.3f} ms)", "met": ratio <= TARGETS["ratio"], "value": ratio},
        {"target": f"the same, responder in a second process <= {TARGETS['ratio']}", "measured": f"{ratio_two:.2f}x "
         f"({two:.3f} / {raw_two:.3f} ms)", "met": ratio_two <= TARGETS["ratio"], "value": ratio_two},
        {"target": f"QoS 1 round trip p50 (carrier) < {TARGETS['qos1_p50_ms']:g} ms", "measured": f"{ours:.3f} ms",
         "met": ours < TARGETS["qos1_p50_ms"], "value": ours},
        {"target": f"QoS 1 round trip p50 (carrier, echo in a second process) < {TARGETS['qos1_p50_ms']:g} ms",
         "measured": f"{two:.3f} ms", "met": two < TARGETS["qos1_p50_ms"], "value": two},
        {"target": f"idle agent VmRSS < {TARGETS['rss_mb']:g} MB", "measured": f"{agent['rss_mb']:.1f} MB",
         "met": agent["rss_mb"] < TARGETS["rss_mb"], "value": agent["rss_mb"]},
        {"target": f"agent ready < {TARGETS['ready_s']:g} s", "measured": f"{agent['ready_s']:.2f} s",
         "met": agent["ready_s"] < TARGETS["ready_s"], "value": agent["ready_s"]},
    ]


# -- main ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    round_trips: int
    warmup: int
    repeats: int
    admm_inproc: tuple[int, ...]
    admm_processes: tuple[int, ...]
    admm_rounds: int
    admm_repeats: int
    process_budget_s: float
    agent_starts: int


FULL = Plan(round_trips=2000, warmup=200, repeats=3, admm_inproc=(10, 100), admm_processes=(10, 100),
            admm_rounds=20, admm_repeats=3, process_budget_s=300.0, agent_starts=5)
QUICK = Plan(round_trips=300, warmup=50, repeats=1, admm_inproc=(10,), admm_processes=(3,),
             admm_rounds=5, admm_repeats=1, process_budget_s=60.0, agent_starts=2)


def preflight() -> None:
    """Fail fast if an agent process cannot even start (the tree is shared and edited concurrently)."""
    done = subprocess.run([sys.executable, "-m", "edge_agent", "agent", "--help"], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"`python -m edge_agent agent --help` failed:\n{done.stderr}")


VARIANT_KEYS = ("raw_callbacks", "raw_asyncio", "carrier", "raw_2proc", "carrier_2proc")


def admm_section(plan: Plan, url: str, work_dir: Path, spawns: Sequence[Spawn] = ("exec",), *,
                 floor: bool = False) -> list[dict[str, Any]]:
    """Section 2: every ADMM case of ``plan`` (in process, one process over MQTT, N agent processes; with
    ``floor`` also N paho floor processes, :func:`admm_floor`)."""
    cases: list[AdmmCase] = []
    for n in plan.admm_inproc:
        progress(f"ADMM, {n} devices on an InProcNetwork")
        cases.append(admm_in_process(n, plan.admm_rounds, plan.admm_repeats))
        progress(f"  {_fmt(cases[-1].round_ms_median, 1)} ms per round")
        progress(f"ADMM, {n} devices in one process")
        cases.append(admm_one_process(url, n, plan.admm_rounds, plan.admm_repeats))
        progress(f"  {_fmt(cases[-1].round_ms_median, 1)} ms per round, startup {_fmt(cases[-1].startup_s)} s")
    for n, spawn in itertools.product(plan.admm_processes, spawns):
        progress(f"ADMM, {n} agent processes, {spawn} (startup budget {plan.process_budget_s:g} s)")
        try:
            case = admm_processes(url, n, rounds=plan.admm_rounds, repeats=plan.admm_repeats,
                                  work_dir=work_dir, budget_s=plan.process_budget_s, spawn=spawn)
        except EdgeAgentError as error:  # e.g. an agent that exits: report it, keep the other results
            first_line = str(error).splitlines()[0]
            case = AdmmCase(f"{n} processes", n, 0, None, load=os.getloadavg()[0], note=f"failed: {first_line}")
        cases.append(case)
        progress(f"  {_fmt(case.round_ms_median, 1)} ms per round, {case.present}/{n} present after "
                 f"{_fmt(case.startup_s, 1)} s {case.note}")
    for n, kind in itertools.product(plan.admm_processes if floor else (), FLOOR_KINDS):
        progress(f"ADMM, {n} floor processes ({kind})")
        cases.append(admm_floor(url, n, kind, rounds=plan.admm_rounds, repeats=plan.admm_repeats))
        progress(f"  {_fmt(cases[-1].round_ms_median, 1)} ms per round")
    return [{**asdict(c), "round_ms_median": c.round_ms_median} for c in cases]


def run(plan: Plan, quick: bool, *, latency_only: bool = False, admm_only: bool = False,
        variant_keys: Sequence[str] = VARIANT_KEYS, spawns: Sequence[Spawn] = ("exec",), floor: bool = False,
        ) -> dict[str, Any]:
    preflight()
    broker_binary = shutil.which("mosquitto", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    report: dict[str, Any] = {"quick": quick, "machine": machine_info(broker_binary)}
    payloads = WirePayloads.build()
    report["settings"] = {**asdict(plan), "request_bytes": len(payloads.request), "reply_bytes": len(payloads.reply),
                          "horizon": HORIZON}
    progress(f"load average {os.getloadavg()}; starting a private Mosquitto")
    with PrivateBroker() as broker, tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        work_dir = Path(tmp)
        host, port = "127.0.0.1", broker.port
        if admm_only:
            report["admm"] = admm_section(plan, broker.url, work_dir, spawns, floor=floor)
            report["machine"]["load_end"] = list(os.getloadavg())
            return report
        variants: dict[str, tuple[str, Callable[[], Latency]]] = {
            "raw_callbacks": ("raw paho, inside paho callbacks (floor)",
                              lambda: raw_in_callbacks(host, port, payloads, plan.round_trips, plan.warmup)),
            "raw_asyncio": ("raw paho + hop into asyncio",
                            lambda: raw_via_asyncio(host, port, payloads, plan.round_trips, plan.warmup)),
            "carrier": ("our carrier (MqttConnection x2, one loop)",
                        lambda: carrier_one_loop(broker.url, plan.round_trips, plan.warmup)),
            "raw_2proc": ("raw paho, responder in a second process",
                          lambda: raw_in_callbacks(host, port, payloads, plan.round_trips, plan.warmup, remote=True)),
            "carrier_2proc": ("our carrier, echo in a second process",
                              lambda: carrier_two_processes(broker.url, plan.round_trips, plan.warmup, work_dir)),
        }
        variants = {key: variants[key] for key in variant_keys}
        series = {key: LatencySeries(label) for key, (label, _) in variants.items()}
        for repeat in range(plan.repeats):
            for key, (label, measure) in variants.items():
                series[key].loads.append(os.getloadavg()[0])
                result = measure()
                series[key].runs.append(result)
                progress(f"run {repeat + 1}/{plan.repeats} {label}: p50 {result.p50_ms:.3f} ms, "
                         f"p99 {result.p99_ms:.3f} ms, {result.per_s:,.0f}/s")
        report["latency"] = {key: {"label": s.name, "median": s.summary(), "runs": [asdict(r) for r in s.runs],
                                   "loads": s.loads} for key, s in series.items()}
        if latency_only:
            report["machine"]["load_end"] = list(os.getloadavg())
            return report

        report["admm"] = admm_section(plan, broker.url, work_dir, spawns, floor=floor)

        progress(f"idle agent process: {plan.agent_starts} starts")
        starts = agent_starts(broker.url, plan.agent_starts, work_dir)
        report["agent"] = {
            "starts": [asdict(s) for s in starts],
            "ready_s": statistics.median(s.ready_s for s in starts),
            "rss_mb": statistics.median(s.rss_mb for s in starts),
            "hwm_mb": statistics.median(s.hwm_mb for s in starts),
            "python_bare_s": python_start_s("pass", 5),
            "python_import_cli_s": python_start_s("import edge_agent.cli", 5),
        }
    report["targets"] = targets(report["latency"], report["agent"])
    report["machine"]["load_end"] = list(os.getloadavg())
    return report


def print_latency(report: dict[str, Any]) -> None:
    for key, entry in report["latency"].items():
        s = entry["median"]
        print(f"{key}: p50 {s['p50_ms']:.3f} ms, p90 {s['p90_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms, "
              f"{s['per_s']:,.0f}/s; runs " + ", ".join(f"{r['p50_ms']:.3f}" for r in entry["runs"]))


def carry_over(report: dict[str, Any], previous: Path) -> None:
    """``--latency-only``: the ADMM and agent sections of the previous results file, marked as copied."""
    try:
        earlier = json.loads(previous.with_suffix(".json").read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"--latency-only copies sections 2 and 3 from {previous.with_suffix('.json')}: "
                         f"{error}") from None
    carried = earlier.get("carried_over", {}).get("from") or earlier["machine"]["date"]
    report["admm"], report["agent"] = earlier["admm"], earlier["agent"]
    report["carried_over"] = {"from": carried, "note": "ADMM and agent sections copied from the previous full run"}
    report["targets"] = targets(report["latency"], report["agent"])


def carry_over_latency(report: dict[str, Any], previous: Path) -> None:
    """``--admm-only``: sections 1 and 3 (and their settings) of the previous results file, marked as copied."""
    try:
        earlier = json.loads(previous.with_suffix(".json").read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"--admm-only copies sections 1 and 3 from {previous.with_suffix('.json')}: "
                         f"{error}") from None
    report["latency"], report["agent"] = earlier["latency"], earlier["agent"]
    admm_settings = {k: v for k, v in report["settings"].items() if k.startswith("admm")}
    report["settings"] = {**earlier["settings"], **admm_settings}
    report["latency_carried_over"] = {"from": earlier.get("latency_carried_over", {}).get("from")
                                      or earlier["machine"]["date"]}
    report["targets"] = targets(report["latency"], report["agent"])


def plan_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Plan:
    """The plan the options ask for (QUICK or FULL, with the counts given)."""
    plan = QUICK if args.quick else FULL
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be >= 1")
        plan = dataclasses.replace(plan, repeats=args.repeats, admm_repeats=args.repeats)
    if args.round_trips is not None:
        plan = dataclasses.replace(plan, round_trips=args.round_trips)
    if args.admm_sizes is not None:
        try:
            sizes = tuple(int(n) for n in args.admm_sizes.split(",") if n.strip())
        except ValueError:
            parser.error(f"--admm-sizes takes comma-separated whole numbers, got {args.admm_sizes!r}")
        if not sizes or min(sizes) < 1:
            parser.error(f"--admm-sizes takes numbers >= 1, got {args.admm_sizes!r}")
        plan = dataclasses.replace(plan, admm_inproc=sizes, admm_processes=sizes)
    if args.admm_only and args.latency_only:
        parser.error("--admm-only and --latency-only exclude each other")
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short smoke run; prints the table, writes no files")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"write <output>.md and <output>.json (default {RESULTS / 'mqtt'}, not with --quick)")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"runs per latency variant and ADMM case (default {FULL.repeats})")
    parser.add_argument("--latency-only", action="store_true",
                        help="run section 1 only; sections 2 and 3 are copied from the previous results file")
    parser.add_argument("--admm-only", action="store_true",
                        help="run section 2 only and print it; sections 1 and 3 are copied from the results file "
                             "(written only with --output)")
    parser.add_argument("--admm-sizes", default=None,
                        help="comma-separated N for section 2, both hostings (default 10,100; --quick: 10 and 3)")
    parser.add_argument("--spawn", default="exec",
                        help="comma-separated ways to start the agent processes of section 2: exec, fork or both "
                             "(default exec)")
    parser.add_argument("--floor", action="store_true",
                        help="section 2 also runs N floor processes with no carrier and no device model: MQTT by "
                             "hand on a raw socket or the carrier's paho client, the request only parsed (JSON) or "
                             "checked by the codec, in a select loop or (codec, asyncio) an asyncio loop")
    parser.add_argument("--variants", default=",".join(VARIANT_KEYS),
                        help=f"comma-separated latency variants (default all: {','.join(VARIANT_KEYS)}); "
                             "a subset writes no results file")
    parser.add_argument("--round-trips", type=int, default=None,
                        help=f"timed round trips per latency run (default {FULL.round_trips})")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the raw report as JSON here")
    parser.add_argument("--serve-echo", nargs=2, metavar=("URL", "PREFIX"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-raw-echo", nargs=3, metavar=("HOST", "PORT", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    if args.serve_raw_echo:
        host, port, prefix = args.serve_raw_echo
        serve_raw_echo(host, int(port), prefix)
        return 0
    if args.serve_echo:
        asyncio.run(serve_echo(*args.serve_echo))
        return 0
    plan = plan_of(args, parser)
    keys = [key.strip() for key in args.variants.split(",") if key.strip()]
    if unknown := sorted(set(keys) - set(VARIANT_KEYS)):
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANT_KEYS)}")
    subset = set(keys) != set(VARIANT_KEYS)
    if subset and not args.latency_only:
        parser.error("--variants needs --latency-only")
    spawns = [cast(Spawn, way.strip()) for way in args.spawn.split(",") if way.strip()]
    if not spawns or set(spawns) - set(SPAWN_METHODS):
        parser.error(f"--spawn takes {' or '.join(SPAWN_METHODS)} (comma-separated), got {args.spawn!r}")
    report = run(plan, args.quick, latency_only=args.latency_only, admm_only=args.admm_only, variant_keys=keys,
                 spawns=spawns, floor=args.floor)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    if subset:
        print_latency(report)
        return 0
    # --admm-only writes only where --output says: the results file holds hand-written sections it would drop
    output = args.output or (None if args.quick or args.admm_only else RESULTS / "mqtt")
    if args.latency_only:
        carry_over(report, output or RESULTS / "mqtt")
    if args.admm_only:
        previous = output if output is not None and output.with_suffix(".json").exists() else RESULTS / "mqtt"
        carry_over_latency(report, previous)
    text = render(report)
    print(text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.with_suffix(".md").write_text(text)
        output.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        progress(f"wrote {output.with_suffix('.md')} and {output.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
