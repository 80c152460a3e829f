"""Long-running processes: a device agent and the coordinator service, each on one MQTT connection.

Both run until SIGTERM/SIGINT, then leave cleanly (retained offline presence, clean DISCONNECT); both
ride through broker restarts (the connection reconnects and restores its subscriptions).
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

import structlog

from edge_agent import registry
from edge_agent.algorithms.admm.job import AdmmJob, AdmmJobResult
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import redact_url
from edge_agent.device_agent import DeviceAgent
from edge_agent.errors import EdgeAgentError
from edge_agent.family import RoleContext
from edge_agent.messages import Envelope, Message
from edge_agent.runtime.device_config import DeviceConfig

__all__ = [
    "COORDINATOR_ID",
    "OPERATOR_ID",
    "CoordinatorService",
    "run_agent",
    "run_coordinator",
    "serve_until_signalled",
]

log = structlog.get_logger("edge_agent.service")

COORDINATOR_ID = "coordinator"
OPERATOR_ID = "operator"  # who submits jobs by default (``edge-agent submit``; the provisioned operator user)


class CoordinatorService:
    """Runs ADMM jobs it is sent (:class:`AdmmJob`) and answers each with an :class:`AdmmJobResult`.

    Only ``operators`` may submit jobs, and only jobs issued within ``window_s`` of the service's wall clock
    (``now``, injected) and not seen before: a device, or a captured job replayed later, is refused. Every job
    runs as its own owned task under a fresh run id, so its participants keep one solver per job. A failing
    job, or a report that cannot be sent, is answered with its error and the service keeps serving.
    ``online`` lists the agents present (used when a job names no participants); ``publish_result`` also
    publishes each result (over MQTT: retained on ``<prefix>/<coordinator>/results``).
    """

    def __init__(
        self,
        online: Callable[[], list[str]],
        id: str = COORDINATOR_ID,
        publish_result: Callable[[bytes], Awaitable[object]] | None = None,
        *,
        operators: Iterable[str] = (OPERATOR_ID,),
        window_s: float = 300.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._id = id
        self._online = online
        self._publish_result = publish_result
        self._operators = frozenset(operators)
        self._window_s = window_s
        self._now = now
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # (requester, envelope id) -> issued

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, AdmmJob):
            log.warning("coordinator.unexpected_message", kind=message.kind, sender=envelope.sender)
            return
        refusal = self._refusal(message, envelope)
        if refusal is not None:
            log.warning("coordinator.job_refused", requester=envelope.sender, job=message.job.name, reason=refusal)
            carrier.reply(AdmmJobResult(job=message.job.name, error=refusal), envelope)
            return
        carrier.spawn(self._run(carrier, message, envelope), name=f"job:{message.job.name}:{envelope.id}")

    def _refusal(self, message: AdmmJob, envelope: Envelope) -> str | None:
        if envelope.sender not in self._operators:
            return (f"{envelope.sender!r} may not submit jobs; operators: {sorted(self._operators)} "
                    "(edge-agent coordinator --operators)")
        now = self._now()
        while self._seen and next(iter(self._seen.values())) < now - self._window_s:
            self._seen.popitem(last=False)
        age = now - message.issued_at
        if abs(age) > self._window_s:
            when = f"{age:.0f} s ago" if age > 0 else f"{-age:.0f} s in the future"
            return (f"the job was issued {when}; jobs are accepted within {self._window_s:g} s of their issue "
                    "(a replayed job, or the requester's clock is off)")
        key = (envelope.sender, envelope.id)
        if key in self._seen:
            return "this job was run already (a replayed request)"
        self._seen[key] = message.issued_at
        return None

    async def _run(self, carrier: Carrier, message: AdmmJob, envelope: Envelope) -> None:
        job = message.job
        participants = job.participants or [p for p in self._online() if p not in {self.id, envelope.sender}]
        run = f"{job.name[:40]}-{secrets.token_hex(6)}"
        bound = log.bind(job=job.name, run=run, requester=envelope.sender, participants=len(participants))
        bound.info("coordinator.job_started")
        started = time.perf_counter()
        try:
            result = await job.coordinator(participants, id=self.id).run(RunCarrier(carrier, run))
        except EdgeAgentError as error:
            bound.warning("coordinator.job_failed", error=str(error))
            carrier.reply(AdmmJobResult(job=job.name, error=f"{type(error).__name__}: {error}"), envelope)
            return
        report = job.report(result, messages=result.messages, wall_s=time.perf_counter() - started)
        bound.info("coordinator.job_finished", status=report.status, iterations=report.iterations)
        answer = AdmmJobResult(job=job.name, report=report.to_json())
        try:
            carrier.reply(answer, envelope)
        except EdgeAgentError as error:  # e.g. larger than the broker takes: the requester learns why at once
            bound.warning("coordinator.result_not_sent", error=str(error))
            carrier.reply(AdmmJobResult(job=job.name, error=f"the report could not be sent: {error}"), envelope)
            return
        if self._publish_result is not None:
            try:
                await self._publish_result(answer.model_dump_json().encode())
            except EdgeAgentError as error:  # the requester has its answer; the retained copy is a courtesy
                bound.warning("coordinator.result_not_published", error=str(error))


async def serve_until_signalled(what: str, **fields: object) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(f"{what}.ready", **fields)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info(f"{what}.stopping", **fields)


async def run_agent(config: DeviceConfig, broker: str | None = None) -> None:
    """Serve one device until signalled."""
    credentials = config.credentials
    url = config.broker_url(broker)  # mqtt:// with a CA or client certificate is refused, naming the field
    password = credentials.password()
    async with MqttConnection(
        url,
        codec=registry.codec(),
        prefix=config.prefix,
        client_id=config.client_id or config.id,
        username=credentials.username or (config.id if password is not None else None),
        password=password,
        tls=credentials.tls_context(),
    ) as connection:

        async def publish(name: str, record: Message) -> None:
            try:
                await connection.publish_raw(connection.topics.record(config.id, name),
                                             record.model_dump_json().encode(), retain=True)
            except EdgeAgentError as error:  # the next change publishes the whole record again
                log.warning("agent.record_not_published", agent=config.id, record=name, error=str(error))

        def on_record(name: str, record: Message) -> None:
            connection.spawn(publish(name, record), f"publish-{name}")

        connection.add(DeviceAgent(config.device, RoleContext(settle=connection.settled, publish=on_record)))
        await serve_until_signalled("agent", agent=config.id, kind=config.device.kind, broker=redact_url(url))


async def run_coordinator(
    broker: str, prefix: str = "edge", id: str = COORDINATOR_ID, operators: Iterable[str] = (OPERATOR_ID,)
) -> None:
    """Serve ADMM jobs from ``operators`` until signalled."""
    async with MqttConnection(broker, codec=registry.codec(), prefix=prefix, client_id=id) as connection:
        topic = connection.topics.record(id, "results")

        async def publish(payload: bytes) -> int:
            return await connection.publish_raw(topic, payload, retain=True)

        connection.add(CoordinatorService(connection.online, id=id, publish_result=publish, operators=operators))
        await serve_until_signalled("coordinator", broker=redact_url(broker))
