"""The one host for runs among agent processes: start them, wait for their presence, launch, collect, tear down.

:func:`run_over_mqtt` is what ``edge-agent solve <scenario> --carrier mqtt`` runs for every family with a
plan: a private broker (unless one is given), one ``edge-agent agent`` process per agent of the plan, then
:func:`launch`. That one needs only a broker on which the agents are (or will be) present, so it also serves
agents started otherwise (a real fleet, or many devices hosted in one process by a benchmark).

:func:`run_over_zenoh` (``--carrier zenoh``) is the same without a broker: every agent process is a Zenoh peer
listening on a port of its own on 127.0.0.1 and connected to the launcher's and every earlier agent's (a full
mesh; :func:`zenoh_device_processes`), and :func:`launch` runs on a Zenoh session instead of an MQTT connection.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import structlog
import yaml

from edge_agent.carrier.base import Carrier, Participant
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.carrier.recall import Connection
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.errors import ConfigError, EdgeAgentError, RunTimeout
from edge_agent.family import Plan
from edge_agent.results import RunReport
from edge_agent.runtime import interrupts
from edge_agent.runtime.broker import PrivateBroker
from edge_agent.runtime.connect import Where, describe, free_ports, open_connection
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.processes import ProcessGroup, Spawn
from edge_agent.runtime.progress import RunProgress, RunResult, history_points, run_id

__all__ = [
    "HOSTED_PROCESS",
    "ConnectionHost",
    "agent_configs",
    "device_processes",
    "launch",
    "run_over_mqtt",
    "run_over_zenoh",
    "start_device_agents",
    "wait_for_agents",
    "zenoh_device_processes",
]

log = structlog.get_logger("edge_agent.host")
STARTUP_S_PER_PROCESS_AND_CORE = 3.0  # measured: 100 agents came up in 65-324 s on two loaded cores


class ConnectionHost:
    """A plan's :class:`~edge_agent.carrier.base.Host` on one connection (MQTT or Zenoh); ``processes``: the
    agents' processes when this process started them (then :meth:`kill` can end one)."""

    def __init__(self, connection: Connection, processes: ProcessGroup | None = None) -> None:
        self._connection = connection
        self._processes = processes

    @property
    def sent(self) -> int:
        return self._connection.stats.sent

    def add(self, participant: Participant) -> Carrier:
        return self._connection.add(participant)

    async def settled(self) -> None:
        await self._connection.settled()

    async def wait_absent(self, agents: Iterable[str], within_s: float) -> None:
        await self._connection.wait_absent(agents, within_s)

    def kill(self, agent: str) -> None:
        if self._processes is None:
            raise ConfigError(f"the failure of {agent!r} needs the agent processes started by this launcher")
        self._processes.kill(agent)


def agent_configs(plan: Plan, prefix: str = "edge", client_tag: str | None = None) -> list[DeviceConfig]:
    """The configuration of every agent process ``plan`` needs; ``client_tag`` makes their MQTT client ids
    ``<tag>-<id>`` (on a shared broker, where the devices' own ids may be connected already)."""
    return [DeviceConfig(id=device.id, device=device, prefix=prefix,
                         client_id=None if client_tag is None else f"{client_tag}-{device.id}"[:64])
            for device in plan.agents()]


def run_over_mqtt(
    plan: Plan, broker_url: str | None = None, *, prefix: str | None = None, spawn: Spawn = "exec"
) -> RunReport:
    """Run ``plan`` with one agent process per agent; tear everything down whatever happens.

    On a private broker the prefix is ``edge``; on a broker of the caller's (``broker_url``) it is a fresh
    ``edge-solve-<token>`` unless given, and the agents' MQTT client ids carry the token, so that the agents
    started here never take the topics or the sessions of devices that are already there. ``spawn``: how the
    agent processes start (:class:`ProcessGroup`; ``fork``: from one pre-imported fork server).
    """
    tag = None if broker_url is None else secrets.token_hex(4)
    prefix = prefix or ("edge" if tag is None else f"edge-solve-{tag}")
    with device_processes(agent_configs(plan, prefix, tag), broker_url, spawn=spawn) as (url, processes):
        return interrupts.run(launch(plan, url, prefix, processes=processes))


def run_over_zenoh(plan: Plan, *, prefix: str = "edge", spawn: Spawn = "exec") -> RunReport:
    """Run ``plan`` with one agent process per agent, all Zenoh peers on 127.0.0.1 (no broker); tear everything
    down whatever happens. ``spawn``: how the agent processes start (as for :func:`run_over_mqtt`)."""
    with zenoh_device_processes(agent_configs(plan, prefix), spawn=spawn) as (options, processes):
        return interrupts.run(launch(plan, options, prefix, processes=processes))


async def launch(
    plan: Plan,
    broker_url: Where,
    prefix: str = "edge",
    *,
    processes: ProcessGroup | None = None,
    mqtt: MqttOptions | None = None,
    job: str = "solve",
) -> RunReport:
    """Wait until every agent of ``plan`` is present, launch it from this process, return its report with
    ``transport`` (how it ran) added. ``broker_url``: the MQTT broker, or the launcher's Zenoh session options.
    ``processes``: the agents' processes, if ours (a child that exits while we wait fails at once, with its
    output). The launcher announces the run on its progress topic when it starts
    and ends, and publishes the report under its run id (``docs/dashboard.md``)."""
    client_id = f"launcher-{secrets.token_hex(4)}"
    async with open_connection(broker_url, prefix, client_id, mqtt) as connection:
        await wait_for_agents(connection, [device.id for device in plan.agents()], processes)
        await connection.settled()  # over Zenoh, also until the peers are all linked to each other
        participants = len(plan.agents())
        run, started = run_id(job), time.time()
        await _announce(connection, RunProgress(run=run, job=job, algorithm="", status="running", iteration=0,
                                                participants=participants, present=participants, started_at=started,
                                                elapsed_s=0.0))
        report = await plan.launch(ConnectionHost(connection, processes))
        data = report.to_json()
        await _announce(connection, RunProgress(
            run=run, job=report.scenario[:128], algorithm=report.algorithm[:128], status=report.status[:32],
            iteration=report.iterations, participants=participants, present=participants, started_at=started,
            elapsed_s=max(0.0, time.time() - started), points=history_points(data)),
            RunResult(job=report.scenario[:128], report=data))
        stats = connection.stats
    report.extra["transport"] = {
        **describe(broker_url), "hosting": plan.hosting, "prefix": prefix,
        "launcher_received": stats.received, "launcher_duplicates": stats.duplicates,
        **report.extra.get("transport", {}),
    }
    return report


async def _announce(connection: Connection, progress: RunProgress, result: RunResult | None = None) -> None:
    """Publish a launcher's progress record (and the run's retained result); a failure only costs the dashboard."""
    node = connection.node
    try:
        await connection.publish_raw(connection.topics.record(node, "progress"), progress.model_dump_json().encode())
        if result is not None:
            # not retained: a launcher's id is new every time, so nobody would ever clear it from the broker
            await connection.publish_raw(connection.topics.run(node, progress.run), result.model_dump_json().encode())
    except EdgeAgentError as error:
        log.warning("launcher.progress_not_published", run=progress.run, error=str(error))


@contextmanager
def device_processes(
    devices: Sequence[DeviceConfig], broker_url: str | None = None, hosted: Collection[str] = (), *,
    spawn: Spawn = "exec"
) -> Iterator[tuple[str, ProcessGroup]]:
    """A private broker (unless ``broker_url`` is given) and one ``edge-agent agent`` process per device, except
    the devices named in ``hosted``: one ``edge-agent host`` process serves them all, each on its own connection.

    Yields the broker URL and the process group; on leaving, every process and the broker are stopped and
    the temporary directory (agent configurations and logs) is removed, whatever happened.
    """
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-agent-fleet-")))
        url = broker_url or stack.enter_context(PrivateBroker()).url
        processes = stack.enter_context(ProcessGroup(work_dir, spawn=spawn))
        start_device_agents(processes, devices, url, hosted)
        yield url, processes


@contextmanager
def zenoh_device_processes(devices: Sequence[DeviceConfig], *, spawn: Spawn = "exec"
                           ) -> Iterator[tuple[ZenohOptions, ProcessGroup]]:
    """One ``edge-agent agent`` process per device, each a Zenoh peer on a free port of 127.0.0.1 connected to
    the launcher's port and to every earlier device's (so no link waits on gossip); yields the launcher's session
    options and the process group, and stops every process on leaving."""
    ports = free_ports(len(devices) + 1)
    launcher = f"tcp/127.0.0.1:{ports[0]}"
    peers = [device.model_copy(update={"carrier": "zenoh", "zenoh": ZenohOptions(
        listen=(f"tcp/127.0.0.1:{ports[i + 1]}",),
        connect=(launcher, *(f"tcp/127.0.0.1:{port}" for port in ports[1:i + 1])))})
        for i, device in enumerate(devices)]
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-agent-fleet-")))
        processes = stack.enter_context(ProcessGroup(work_dir, spawn=spawn))
        start_device_agents(processes, peers, None)
        yield ZenohOptions(listen=(launcher,)), processes


HOSTED_PROCESS = "hosted"  # the name of the process serving a fleet's hosted devices (its log: hosted.log)


def start_device_agents(
    processes: ProcessGroup, devices: Sequence[DeviceConfig], broker_url: str | None, hosted: Collection[str] = ()
) -> None:
    """One ``edge-agent agent`` process per device, on ``broker_url`` (None: each device's own carrier settings),
    and one ``edge-agent host`` process for the devices named in ``hosted``; configs and logs in the group's
    directory."""
    hosted_dir = processes.log_dir / "hosted-configs"
    for device in devices:
        if device.id in hosted:
            hosted_dir.mkdir(exist_ok=True)
            _write_config(hosted_dir / f"{device.id}.yaml", device, broker_url)
            continue
        config_path = _write_config(processes.log_dir / f"{device.id}.yaml", device, broker_url)
        processes.start(device.id, [sys.executable, "-m", "edge_agent", "agent", "--config", str(config_path)])
    if hosted_dir.exists():
        processes.start(HOSTED_PROCESS, [sys.executable, "-m", "edge_agent", "host", "--configs", str(hosted_dir)],
                        devices=sum(1 for device in devices if device.id in hosted))


def _write_config(path: Path, device: DeviceConfig, broker_url: str | None) -> Path:
    data = device.model_dump(mode="json", exclude_none=True)
    if broker_url is not None:
        data["broker"] = broker_url
    data["device"].pop("id", None)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def wait_for_agents(
    connection: Connection, names: Sequence[str], processes: ProcessGroup | None = None
) -> None:
    """Wait until every named agent is present, failing early (with its output) if a child of ours exits."""
    # generous: a child that exits is reported at once (``processes.check``), so only a hung one waits this long
    startup_s = max(120.0, STARTUP_S_PER_PROCESS_AND_CORE * len(names) / (os.cpu_count() or 1))
    deadline = time.monotonic() + startup_s
    while True:
        if processes is not None:
            processes.check()
        try:
            await connection.wait_present(names, within_s=0.5)
        except RunTimeout:
            if time.monotonic() > deadline:
                missing = sorted(set(names) - set(connection.online()))
                raise RunTimeout(f"not present on the broker after {startup_s:g} s: {', '.join(missing)}",
                                 participants=tuple(missing)) from None
        else:
            return
