"""Emulated fleets: a private broker, one OS process per device, the coordinator service, then jobs.

A fleet file lists devices (paths to device configuration files, relative to the fleet file, or inline
``{id, device}`` blocks) and the jobs to run::

    name: demo
    devices:
      - ../firmware_configs/gen-1.yaml
      - {id: battery-1, device: {kind: battery, power_max: 3, energy_max: 10, energy_initial: 5}}
    jobs:
      - {name: dispatch, algorithm: admm-sharing, target: [300], priorities: [100], participants: [gen-1]}
    hosted: [battery-1]     # or `all`: served by one `edge-agent host` process, each on its own connection

:func:`run_fleet` starts everything, waits until every device and the coordinator are present, submits the
jobs one after the other, and tears everything down whatever happens (Ctrl-C, a child that dies).
"""

from __future__ import annotations

import secrets
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from pydantic import Field, TypeAdapter, ValidationError, model_validator

from edge_agent import registry
from edge_agent.algorithms.admm.job import AdmmJob, AdmmJobResult, AdmmJobSpec
from edge_agent.algorithms.admm.scenario import run_admm_job
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import BrokerAddress
from edge_agent.carrier.recall import Connection
from edge_agent.carrier.topics import Route
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.config import StrictModel, load_yaml, parse
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.ids import AgentId
from edge_agent.messages import Envelope, Message
from edge_agent.results import RunReport
from edge_agent.runtime import interrupts
from edge_agent.runtime.connect import zenoh_connection
from edge_agent.runtime.device_config import DeviceConfig, load_device_config
from edge_agent.runtime.host import device_processes, wait_for_agents, zenoh_device_processes
from edge_agent.runtime.processes import ProcessGroup, Spawn
from edge_agent.runtime.progress import RunProgress
from edge_agent.runtime.services import COORDINATOR_ID, OPERATOR_ID, CoordinatorService

__all__ = ["FleetSpec", "load_fleet", "load_jobs", "run_fleet", "run_fleet_inproc", "run_fleet_zenoh", "submit_jobs"]

log = structlog.get_logger("edge_agent.fleet")


class FleetSpec(StrictModel):
    name: str = "fleet"
    prefix: str = "edge"
    devices: list[Annotated[str, Field(description="path of a device config, relative to the fleet file")]
                  | DeviceConfig] = Field(min_length=1)
    jobs: list[AdmmJobSpec] = Field(min_length=1)
    job_timeout_s: float = Field(600.0, gt=0, description="how long to wait for each job's result")
    hosted: list[AgentId] | Literal["all"] = Field(
        default_factory=list, description="devices served together by one `edge-agent host` process, each on its own "
        "connection (scale); `all`, or a list of ids; the others get one process each (realism)")

    @model_validator(mode="after")
    def _participants_exist(self) -> FleetSpec:
        inline = {d.id for d in self.devices if isinstance(d, DeviceConfig)}
        if len(inline) == len(self.devices):  # file references are checked once loaded
            _check_jobs(self.jobs, inline)
            _check_hosted(self.hosted, inline)
        return self

    def hosted_ids(self, devices: Sequence[DeviceConfig]) -> set[str]:
        """The ids of ``devices`` that the host process serves."""
        return {d.id for d in devices} if self.hosted == "all" else set(self.hosted)


def _check_hosted(hosted: list[AgentId] | Literal["all"], devices: set[str]) -> None:
    unknown = [] if hosted == "all" else sorted(set(hosted) - devices)
    if unknown:
        msg = f"hosted: {unknown} are not fleet devices; give `all` or ids among {sorted(devices)}"
        raise ConfigError(msg)


def _check_jobs(jobs: Sequence[AdmmJobSpec], devices: set[str]) -> None:
    for job in jobs:
        unknown = sorted(set(job.participants) - devices)
        if unknown:
            msg = (f"job {job.name!r} names participants that are not fleet devices: {unknown}; "
                   f"devices: {sorted(devices)}")
            raise ConfigError(msg)


def load_fleet(path: Path) -> tuple[FleetSpec, list[DeviceConfig]]:
    spec = parse(TypeAdapter(FleetSpec), load_yaml(path), str(path), what="fleet")
    devices = [
        d if isinstance(d, DeviceConfig) else load_device_config((path.parent / d).resolve())
        for d in spec.devices
    ]
    ids = [d.id for d in devices]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigError(f"device ids must be unique within a fleet; repeated: {repeated}", source=str(path))
    try:
        _check_jobs(spec.jobs, set(ids))
        _check_hosted(spec.hosted, set(ids))
    except ConfigError as error:
        raise ConfigError(str(error), source=str(path)) from None
    return spec, devices


class _JobFile(StrictModel):
    jobs: list[AdmmJobSpec] = Field(min_length=1)


def load_jobs(path: Path) -> list[AdmmJobSpec]:
    """A job file: one job (the keys of :class:`AdmmJobSpec`) or ``jobs: [...]``."""
    data = load_yaml(path)
    if "jobs" not in data:
        data = {"jobs": [data]}
    return parse(TypeAdapter(_JobFile), data, str(path), what="job file").jobs


class _Requester:
    """The fleet launcher's own participant: it only sends jobs and awaits their results."""

    def __init__(self, id: str) -> None:
        self._id = id

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        log.warning("fleet.unexpected_message", kind=message.kind, sender=envelope.sender)


async def run_fleet_inproc(spec: FleetSpec, devices: Sequence[DeviceConfig]) -> list[RunReport]:
    """The same jobs on the same device models, all in this process (no broker needed)."""
    models = [device.device for device in devices]
    return [await run_admm_job(job, models, InProcNetwork(run_id=job.name)) for job in spec.jobs]


def run_fleet(
    spec: FleetSpec,
    devices: Sequence[DeviceConfig],
    broker_url: str | None = None,
    *,
    dashboard_port: int | None = None,
    hold: Callable[[list[RunReport]], None] | None = None,
    spawn: Spawn = "exec",
) -> list[RunReport]:
    """Run the fleet's jobs over MQTT with one process per device; return one report per job.

    With ``dashboard_port`` a dashboard process serves the fleet's page on ``127.0.0.1:<port>`` (its address is
    logged and printed before the jobs start); ``hold`` is called with the reports while everything still runs
    (``fleet up --dashboard`` waits there for Ctrl-C). ``spawn``: how the processes start (``fork``: from one
    pre-imported fork server, ``docs/lean-agents.md``).
    """
    hosted = spec.hosted_ids(devices)
    with device_processes(devices, broker_url, hosted, spawn=spawn) as (url, processes):
        host = f", one hosting {len(hosted)} devices" if hosted else ""
        log.info("fleet.started", broker=url, private_broker=broker_url is None, devices=len(devices),
                 processes=f"one per device ({len(devices) - len(hosted)}){host} and the coordinator service")
        processes.start(COORDINATOR_ID, [sys.executable, "-m", "edge_agent", "coordinator",
                                         "--broker", url, "--prefix", spec.prefix])
        if dashboard_port is not None:
            processes.start("dashboard", [sys.executable, "-m", "edge_agent", "dashboard", "--broker", url,
                                          "--prefix", spec.prefix, "--port", str(dashboard_port)])
            address = wait_for_port("127.0.0.1", dashboard_port, processes)
            log.info("fleet.dashboard", url=address)
            print(f"dashboard: {address}", file=sys.stderr, flush=True)
        reports = interrupts.run(submit_jobs(spec.jobs, url, spec.prefix, spec.job_timeout_s,
                                             wait_for=[d.id for d in devices], processes=processes))
        if hold is not None:
            hold(reports)
        return reports


def wait_for_port(host: str, port: int, processes: ProcessGroup, within_s: float = 30.0) -> str:
    """Wait until a child of ``processes`` listens on ``host:port``; its address, or the child's failure."""
    deadline = time.monotonic() + within_s
    while True:
        processes.check()
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return f"http://{host}:{port}/"
        except OSError:
            if time.monotonic() > deadline:
                raise RunTimeout(f"nothing listens on {host}:{port} after {within_s:g} s") from None
            time.sleep(0.1)  # a child process starting: nothing to wait on but its socket


async def submit_jobs(
    jobs: Sequence[AdmmJobSpec],
    broker_url: str,
    prefix: str = "edge",
    job_timeout_s: float = 600.0,
    *,
    wait_for: Sequence[str] = (),
    processes: ProcessGroup | None = None,
) -> list[RunReport]:
    """Send each job to the coordinator service (once it and ``wait_for`` are present); one report per job.

    The requester is the operator the coordinator takes jobs from: the user in the URL (``mqtt://operator@host``,
    password from ``EDGE_AGENT_MQTT_PASSWORD_FILE``; the broker's ACL lets a user write only under its own id),
    else ``operator`` on a connection of its own (so several submissions can run at once on a development broker).
    """
    user = BrokerAddress.parse(broker_url, environ={}).username
    requester = _Requester(user or OPERATOR_ID)
    async with MqttConnection(broker_url, codec=registry.codec(), prefix=prefix,
                              client_id=user or f"{OPERATOR_ID}-{secrets.token_hex(4)}") as connection:
        carrier = connection.add(requester)
        connection.follow("progress", connection.topics.all_of("progress"), _progress_logger())
        return await _submit_on(connection, carrier, jobs, job_timeout_s=job_timeout_s, wait_for=wait_for,
                                processes=processes)


def run_fleet_zenoh(spec: FleetSpec, devices: Sequence[DeviceConfig], *, spawn: Spawn = "exec") -> list[RunReport]:
    """The fleet's jobs over Zenoh: one agent process per device (peers in a full mesh on 127.0.0.1, no broker)
    and the coordinator service hosted in this process, beside the operator that submits the jobs to it."""
    with zenoh_device_processes(devices, spawn=spawn) as (launcher, processes):
        log.info("fleet.started", carrier="zenoh", devices=len(devices),
                 processes=f"one per device ({len(devices)}); the coordinator runs in this process")
        return interrupts.run(_zenoh_jobs(spec, launcher, devices, processes))


async def _zenoh_jobs(spec: FleetSpec, launcher: ZenohOptions, devices: Sequence[DeviceConfig],
                      processes: ProcessGroup) -> list[RunReport]:
    progress = _progress_logger()
    async with zenoh_connection(launcher, spec.prefix, "fleet") as connection:
        connection.add(CoordinatorService(
            connection.online, progress=lambda record: progress(Route("progress", COORDINATOR_ID),
                                                                record.model_dump_json().encode())))
        carrier = connection.add(_Requester(OPERATOR_ID))
        return await _submit_on(connection, carrier, spec.jobs, job_timeout_s=spec.job_timeout_s,
                                wait_for=[d.id for d in devices], processes=processes)


async def _submit_on(connection: Connection, carrier: Carrier, jobs: Sequence[AdmmJobSpec], *, job_timeout_s: float,
                     wait_for: Sequence[str], processes: ProcessGroup | None) -> list[RunReport]:
    """Wait for the coordinator and ``wait_for``, then send it each job in turn; one report per job."""
    await wait_for_agents(connection, [*wait_for, COORDINATOR_ID], processes)
    await connection.settled()
    reports = []
    for job in jobs:
        started = time.perf_counter()
        log.info("fleet.job_submitted", job=job.name, participants=len(job.participants) or "all")
        answer = await carrier.request(AdmmJob(job=job, issued_at=time.time()), COORDINATOR_ID,
                                       timeout=job_timeout_s)
        if not isinstance(answer, AdmmJobResult):
            raise ProtocolError(f"expected admm.job_result, got {answer.kind!r}", sender=COORDINATOR_ID)
        if answer.error is not None or answer.report is None:
            raise EdgeAgentError(f"job {job.name!r} failed on the coordinator: {answer.error}")
        reports.append(_report_from_json(answer.report, wall_s=time.perf_counter() - started))
    return reports


def _progress_logger(every_s: float = 1.0) -> Callable[[Route, bytes], None]:
    """Logs the coordinator's progress records as ``run.progress`` (at most one per ``every_s`` and run, and the
    last): a status line on a terminal, structured log lines otherwise."""
    last: dict[str, float] = {}

    def handle(route: Route, payload: bytes) -> None:
        if route.sender != COORDINATOR_ID:
            return
        try:
            record = RunProgress.model_validate_json(payload)
        except ValidationError:
            return
        now = time.monotonic()
        if record.status == "running" and now - last.get(record.run, -every_s) < every_s:
            return
        if record.status == "running":
            last[record.run] = now
        else:
            last.pop(record.run, None)
        point = record.points[-1] if record.points else None
        log.info("run.progress", job=record.job, status=record.status,
                 iteration=f"{record.iteration}/{record.max_iterations}", r_primal=point.primal if point else None,
                 r_dual=point.dual if point else None, devices=f"{record.present}/{record.participants}",
                 elapsed_s=round(record.elapsed_s, 1))

    return handle


def _report_from_json(data: dict[str, Any], wall_s: float) -> RunReport:
    core = {"scenario", "algorithm", "status", "objective", "iterations", "messages", "wall_s", "aggregate",
            "participants"}
    try:
        return RunReport(**{k: data[k] for k in core if k != "wall_s"}, wall_s=wall_s,
                         extra={k: v for k, v in data.items() if k not in core})
    except (KeyError, TypeError) as error:
        raise ProtocolError(f"job result is missing {error}", sender=COORDINATOR_ID) from None

