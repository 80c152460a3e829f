"""Footprint of device agent processes (issue 17, part A): an idle agent's memory and start-up, and fleet start.

    .venv/bin/python bench/agent_footprint.py                  # idle agents (5 starts each) and fleets of 100
                                                               # and 500 (fork) / 100 (exec); writes
                                                               # bench/results/agent-footprint.{md,json}
    .venv/bin/python bench/agent_footprint.py --quick          # 3 starts, a fleet of 20 each way; prints only
    .venv/bin/python bench/agent_footprint.py --fleets 100:exec 100:fork 500:fork --repeats 7

**Idle agent**: ``python -m edge_agent agent --config <file>`` started on a private Mosquitto, once per
repeat, one at a time. *Ready* is the time from starting the process until this benchmark (subscribed to
``<prefix>/+/presence`` with a plain paho client) receives the agent's online presence record; *CPU to
ready* the user + system time the process used by then (``/proc/<pid>/stat``: what a loaded machine does not
change). *RSS* and
*PSS* (``/proc/<pid>/smaps_rollup``; PSS divides shared pages among the processes sharing them) are read
once it is present, then again after it answered one ADMM request (``admm.request`` for a 24-slot reference,
checked against the same proximal step solved here). Two device models: a generator (closed-form step) and a
general QP (a dense ``Q`` and two rows: OSQP).

**Fleet start**: N generator agents started by a :class:`ProcessGroup` with ``spawn="exec"`` (one
interpreter each) or ``spawn="fork"`` (forked from one pre-imported fork server); *spawned* is when the last
process was started, *present* when the last presence record arrived (both from the first start). CPU time,
RSS and PSS are summed over the agents once all are present. Medians over repeats for the idle agents; one run
per fleet. The load average (``os.getloadavg``) is recorded beside every figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import yaml

from edge_agent import registry
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.messages import Envelope, Message
from edge_agent.runtime.broker import PrivateBroker
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.processes import ProcessGroup, Spawn
from edge_agent.solvers.qp import ProximalSolver

RESULTS = Path(__file__).parent / "results"
PREFIX = "footprint"
SLOTS = 24
GENERATOR: dict[str, Any] = {"kind": "generator", "p_max": 80, "cost_linear": 2.0, "cost_quadratic": 0.04}


def general_qp() -> dict[str, Any]:
    """A general QP over 24 slots: dense positive definite Q, a total-energy row and a ramp row (OSQP)."""
    rng = np.random.default_rng(7)
    m = rng.normal(size=(SLOTS, SLOTS))
    q = m @ m.T / SLOTS + np.eye(SLOTS)
    return {"kind": "qp", "lb": [-10.0] * SLOTS, "ub": [10.0] * SLOTS, "c": rng.normal(size=SLOTS).round(3).tolist(),
            "Q": q.round(6).tolist(), "A": [[1.0] * SLOTS, [1.0, -1.0] + [0.0] * (SLOTS - 2)],
            "lo": [-50.0, -2.0], "hi": [50.0, 2.0]}


class PresenceWatch:
    """The time each agent's online presence record first arrives (a plain paho client in its own thread)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("mqtt://").rsplit(":", 1)
        self.seen: dict[str, float] = {}
        self._changed = threading.Condition()
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self._client.on_message = self._on_message
        self._client.connect(host, int(port))
        self._client.subscribe(f"{PREFIX}/+/presence")
        self._client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        try:
            record = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(record, dict) and record.get("online") is True:
            with self._changed:
                self.seen.setdefault(str(record.get("agent")), time.monotonic())
                self._changed.notify_all()

    def wait(self, agents: list[str], within_s: float) -> float:
        """Block until every agent was seen; the time the last one was (monotonic)."""
        with self._changed:
            if not self._changed.wait_for(lambda: all(a in self.seen for a in agents), within_s):
                missing = [a for a in agents if a not in self.seen]
                raise RuntimeError(f"{len(missing)} agents not present after {within_s} s: {missing[:5]}")
            return max(self.seen[a] for a in agents)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of ``pid`` in MB."""
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                fields[parts[0]] = int(parts[1]) / 1024
    return fields["Rss:"], fields["Pss:"]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used (a start-up cost that does not depend on the load)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_config(folder: Path, agent: str, device: dict[str, Any], url: str) -> Path:
    config = DeviceConfig.model_validate({"id": agent, "broker": url, "prefix": PREFIX, "device": device})
    data = config.model_dump(mode="json", exclude_none=True)
    data["device"].pop("id", None)
    path = folder / f"{agent}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class _Asker:
    id = "bench-coordinator"

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        return None


async def one_admm_step(url: str, agent: str, device: dict[str, Any]) -> float:
    """Ask ``agent`` for one ADMM step; the largest difference from the same step solved here."""
    reference = np.linspace(-5.0, 5.0, SLOTS)
    async with MqttConnection(url, codec=registry.codec(), prefix=PREFIX, client_id="bench-coordinator") as hub:
        carrier = hub.add(_Asker())
        answer = await carrier.request(AdmmRequest(round=0, rho=1.0, reference=reference), agent, timeout=60.0)
    if not isinstance(answer, AdmmAnswer):
        raise TypeError(f"{agent} answered {answer!r}")
    model = DeviceConfig.model_validate({"id": agent, "prefix": PREFIX, "device": device}).device
    expected = ProximalSolver(model.local_problem(SLOTS), 1.0).solve(reference, 1.0)
    return float(np.abs(answer.x - expected).max())


@dataclass
class IdleRow:
    model: str
    starts: int
    ready_s: float
    cpu_at_ready_s: float
    rss_mb: float
    pss_mb: float
    rss_after_step_mb: float
    step_error: float
    load: float


def idle(name: str, device: dict[str, Any], repeats: int, folder: Path) -> IdleRow:
    ready, cpu, rss, pss, after, errors, loads = [], [], [], [], [], [], []
    with PrivateBroker() as broker:
        watch = PresenceWatch(broker.url)
        try:
            for index in range(repeats):
                agent = f"{name}-{index}"
                path = write_config(folder, agent, device, broker.url)
                with ProcessGroup(folder) as group:
                    started = time.monotonic()
                    child = group.start(agent, [sys.executable, "-m", "edge_agent", "agent", "--config", str(path)])
                    ready.append(watch.wait([agent], 60.0) - started)
                    cpu.append(cpu_s(child.process.pid))
                    memory = memory_mb(child.process.pid)
                    rss.append(memory[0])
                    pss.append(memory[1])
                    loads.append(os.getloadavg()[0])
                    errors.append(asyncio.run(one_admm_step(broker.url, agent, device)))
                    after.append(memory_mb(child.process.pid)[0])
        finally:
            watch.close()
    median = statistics.median
    return IdleRow(name, repeats, median(ready), median(cpu), median(rss), median(pss), median(after), max(errors),
                   median(loads))


@dataclass
class FleetRow:
    agents: int
    spawn: str
    spawned_s: float
    present_s: float
    cpu_total_s: float
    rss_total_mb: float
    pss_total_mb: float
    load_before: float
    load_after: float


def fleet(n: int, spawn: Spawn, folder: Path) -> FleetRow:
    agents = [f"gen-{i:04d}" for i in range(n)]
    with PrivateBroker() as broker:
        watch = PresenceWatch(broker.url)
        paths = [write_config(folder, agent, {**GENERATOR, "cost_linear": 1.0 + i / n}, broker.url)
                 for i, agent in enumerate(agents)]
        load_before = os.getloadavg()[0]
        try:
            with ProcessGroup(folder, spawn=spawn) as group:
                started = time.monotonic()
                for agent, path in zip(agents, paths, strict=True):
                    group.start(agent, [sys.executable, "-m", "edge_agent", "agent", "--config", str(path)])
                spawned = time.monotonic() - started
                present = watch.wait(agents, 600.0) - started
                memory = [memory_mb(child.process.pid) for child in group.children]
                cpu = sum(cpu_s(child.process.pid) for child in group.children)
                load_after = os.getloadavg()[0]
        finally:
            watch.close()
    return FleetRow(n, spawn, spawned, present, cpu, sum(m[0] for m in memory), sum(m[1] for m in memory),
                    load_before, load_after)


def markdown(idle_rows: list[IdleRow], fleet_rows: list[FleetRow], when: str) -> str:
    lines = [f"# Agent footprint ({when})", "", "`bench/agent_footprint.py` (method in its docstring); 2 cores "
             "shared with other work: the 1-minute load average is shown beside each figure.", "",
             "## Idle agent (medians)", "",
             "| model | starts | ready s | CPU s to ready | RSS MB | PSS MB | RSS after 1 ADMM step MB | step error "
             "| load |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.model} | {r.starts} | {r.ready_s:.3f} | {r.cpu_at_ready_s:.2f} | {r.rss_mb:.1f} | "
              f"{r.pss_mb:.1f} | {r.rss_after_step_mb:.1f} | {r.step_error:.1e} | {r.load:.1f} |" for r in idle_rows]
    lines += ["", "## Fleet start (generators, one run each)", "",
              "| agents | spawn | all spawned s | all present s | agents' CPU s | RSS total MB | PSS total MB "
              "| load before/after |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.agents} | {r.spawn} | {r.spawned_s:.1f} | {r.present_s:.1f} | {r.cpu_total_s:.0f} | "
              f"{r.rss_total_mb:.0f} | "
              f"{r.pss_total_mb:.0f} | {r.load_before:.1f} / {r.load_after:.1f} |" for r in fleet_rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 starts, fleets of 20; print, write nothing")
    parser.add_argument("--repeats", type=int, default=5, help="starts of each idle agent (median; default 5)")
    parser.add_argument("--fleets", nargs="*", default=["100:exec", "100:fork", "500:fork"], metavar="N:SPAWN",
                        help="fleet sizes and spawn methods (default 100:exec 100:fork 500:fork)")
    parser.add_argument("--no-idle", action="store_true",
                        help="fleets only (the results file keeps the idle rows of the last full run)")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    fleets = ["20:exec", "20:fork"] if args.quick else args.fleets
    idle_rows: list[IdleRow] = []
    fleet_rows: list[FleetRow] = []
    with tempfile.TemporaryDirectory(prefix="agent-footprint-") as work:
        folder = Path(work)
        if not args.no_idle:
            for name, device in (("generator", GENERATOR), ("general-qp", general_qp())):
                idle_rows.append(idle(name, device, repeats, folder))
                print(idle_rows[-1], flush=True)
        for case in fleets:
            size, _, spawn = case.partition(":")
            if spawn not in ("exec", "fork"):
                parser.error(f"--fleets {case}: the spawn method is exec or fork")
            fleet_rows.append(fleet(int(size), "fork" if spawn == "fork" else "exec", folder))
            print(fleet_rows[-1], flush=True)
    kept = RESULTS / "agent-footprint.json"
    if args.no_idle and not args.quick and kept.exists():  # the idle rows of the last full run stay in the file
        idle_rows = [IdleRow(**row) for row in json.loads(kept.read_text(encoding="utf-8"))["idle"]]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = markdown(idle_rows, fleet_rows, when)
    print(text)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "agent-footprint.md").write_text(text, encoding="utf-8")
        (RESULTS / "agent-footprint.json").write_text(json.dumps(
            {"when": when, "idle": [asdict(r) for r in idle_rows], "fleets": [asdict(r) for r in fleet_rows]},
            indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
