"""Long-running processes: the coordinator service here, a device agent in :mod:`.agent`, each on one MQTT
connection.

Both run until SIGTERM/SIGINT, then leave cleanly (retained offline presence, clean DISCONNECT); both
ride through broker restarts (the connection reconnects and restores its subscriptions).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

import structlog

from edge_agent import registry
from edge_agent.algorithms.admm.job import AdmmJob, AdmmJobResult
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import redact_url
from edge_agent.errors import EdgeAgentError
from edge_agent.messages import Envelope, Message
from edge_agent.runtime.agent import serve_metrics_if_asked, serve_until_signalled
from edge_agent.runtime.progress import ProgressPublisher, RetainedRuns, RunProgress, run_id

__all__ = [
    "COORDINATOR_ID",
    "OPERATOR_ID",
    "CoordinatorService",
    "run_coordinator",
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
    publishes each result (over MQTT: retained on ``<prefix>/<coordinator>/results``). ``progress`` receives
    each run's :class:`RunProgress` records (at most one per ``progress_interval_s``) and ``publish_run`` its
    final result under its run id (over MQTT: ``<prefix>/<coordinator>/progress`` and, retained,
    ``.../runs/<run>``; ``docs/dashboard.md``).
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
        progress: Callable[[RunProgress], None] | None = None,
        publish_run: Callable[[str, bytes], Awaitable[object]] | None = None,
        progress_interval_s: float = 0.25,
    ) -> None:
        self._id = id
        self._progress = progress
        self._publish_run = publish_run
        self._progress_interval_s = progress_interval_s
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
        run = run_id(job.name)
        bound = log.bind(job=job.name, run=run, requester=envelope.sender, participants=len(participants))
        bound.info("coordinator.job_started")
        started = time.perf_counter()
        coordinator = job.coordinator(participants, id=self.id)
        progress = None
        if self._progress is not None:
            progress = ProgressPublisher(self._progress, run=run, job=job.name, algorithm=job.algorithm,
                                         participants=len(participants), max_iterations=job.settings.max_iters,
                                         now=self._now, min_interval_s=self._progress_interval_s)
            observer = progress
            coordinator.on_round = lambda r, present: observer.round(r.round, r.r_primal, r.r_dual, present)
            progress.start()
        try:
            result = await coordinator.run(RunCarrier(carrier, run))
        except EdgeAgentError as error:
            bound.warning("coordinator.job_failed", error=str(error))
            if progress is not None:
                progress.finish("failed")
            failure = AdmmJobResult(job=job.name, error=f"{type(error).__name__}: {error}")
            carrier.reply(failure, envelope)
            await self._keep(run, failure, bound)
            return
        report = job.report(result, messages=result.messages, wall_s=time.perf_counter() - started)
        if progress is not None:
            progress.finish(report.status, report.iterations)
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
        await self._keep(run, answer, bound)

    async def _keep(self, run: str, answer: AdmmJobResult, bound: structlog.typing.FilteringBoundLogger) -> None:
        """Publish ``answer`` as the retained record of ``run`` (for dashboards)."""
        if self._publish_run is None:
            return
        try:
            await self._publish_run(run, answer.model_dump_json().encode())
        except EdgeAgentError as error:
            bound.warning("coordinator.run_not_published", error=str(error))


async def run_coordinator(
    broker: str,
    prefix: str = "edge",
    id: str = COORDINATOR_ID,
    operators: Iterable[str] = (OPERATOR_ID,),
    *,
    metrics_port: int | None = None,
    runs_kept: int = 20,
) -> None:
    """Serve ADMM jobs from ``operators`` until signalled; progress and the last ``runs_kept`` run reports on
    the broker."""
    async with MqttConnection(broker, codec=registry.codec(), prefix=prefix, client_id=id) as connection:
        topic = connection.topics.record(id, "results")
        progress_topic = connection.topics.record(id, "progress")
        kept = RetainedRuns(runs_kept)
        metrics = serve_metrics_if_asked(metrics_port, connection)

        async def publish(payload: bytes) -> int:
            return await connection.publish_raw(topic, payload, retain=True)

        async def publish_progress(payload: bytes) -> None:
            try:
                await connection.publish_raw(progress_topic, payload)
            except EdgeAgentError as error:  # the next record carries the state again
                log.debug("coordinator.progress_not_published", error=str(error))

        def progress(record: RunProgress) -> None:
            if metrics is not None:
                metrics.observe_progress(record)
            connection.spawn(publish_progress(record.model_dump_json().encode()), f"progress-{record.run}")

        async def publish_run(run: str, payload: bytes) -> None:
            await connection.publish_raw(connection.topics.run(id, run), payload, retain=True)
            for old in kept.add(run):  # an empty retained payload clears the broker's copy
                await connection.publish_raw(connection.topics.run(id, old), b"", retain=True)

        connection.add(CoordinatorService(connection.online, id=id, publish_result=publish, operators=operators,
                                          progress=progress, publish_run=publish_run))
        await serve_until_signalled("coordinator", broker=redact_url(broker))
        if metrics is not None:
            metrics.close()
