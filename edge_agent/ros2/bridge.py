"""The bridge: the fleet as a ROS 2 node on Zenoh, in rmw_zenoh's layout (ROS 2 Jazzy).

The process (:mod:`.service`) hands it every record its MQTT link reads (retained presence and device records, run
progress, retained run reports); the dashboard's :class:`FleetState` folds them, and every change becomes a ROS 2
message published on Zenoh
(:mod:`.view`, :mod:`.keys`), and the whole device table is published again every ``period_s`` (diagnostics are
periodic in ROS). Setpoints read on Zenoh are checked (:mod:`.setpoints`) and submitted to the coordinator
service as the jobs ``edge-agent submit`` sends; what became of each is said on the status topic.

Zenoh calls its callbacks on its own threads: they only hand the sample to the event loop
(``call_soon_threadsafe``) into a bounded queue (a full queue drops the sample and counts it). Every task (the
MQTT link, the periodic diagnostics, the setpoint reader, each submitted job) belongs to one ``TaskGroup`` and has
a name; SIGINT/SIGTERM cancel them, withdraw the liveliness tokens and close both sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
import zenoh

from edge_agent.algorithms.admm.job import AdmmJobSpec
from edge_agent.carrier.mqtt_options import Inbound
from edge_agent.clock import Clock, LoopClock
from edge_agent.dashboard.state import FleetState
from edge_agent.errors import EdgeAgentError
from edge_agent.results import RunReport
from edge_agent.ros2 import view
from edge_agent.ros2.interfaces import DIAGNOSTIC_ARRAY, RUN_PROGRESS, RUN_RESULT, SETPOINT, STRING, RosType, encode
from edge_agent.ros2.keys import Attachment, Entity, node_token
from edge_agent.ros2.options import BridgeOptions
from edge_agent.ros2.setpoints import MAX_PAYLOAD, SetpointRefused, job_of
from edge_agent.runtime.services import COORDINATOR_ID

__all__ = ["INBOX_LIMIT", "NODE_NAME", "Ros2Bridge"]

log = structlog.get_logger("edge_agent.ros2")
NODE_NAME = "edge_agent_bridge"
INBOX_LIMIT = 64


class _Publication:
    """One ROS 2 publisher: its Zenoh publisher, its liveliness token, its sequence numbers."""

    def __init__(self, session: zenoh.Session, entity: Entity, kind: RosType) -> None:
        self.entity, self.kind = entity, kind
        self._publisher = session.declare_publisher(entity.key)
        self._token = session.liveliness().declare_token(entity.token)
        self._sequence = 0
        self.sent = 0

    def put(self, message: Any, now_ns: int) -> None:
        self._sequence += 1
        attachment = Attachment(self._sequence, now_ns, self.entity.gid).encode()
        self._publisher.put(encode(self.kind, message), attachment=attachment)
        self.sent += 1

    def close(self) -> None:
        self._token.undeclare()
        self._publisher.undeclare()


class Ros2Bridge:
    """The fleet's state into ROS 2 messages on Zenoh; setpoints from ROS 2 into jobs.

    ``submit`` runs one job and returns its reports (``submit_jobs`` against the broker); ``now`` is the wall
    clock (seconds since the epoch) stamped on the messages, ``clock`` paces the periodic diagnostics.
    """

    def __init__(
        self,
        session: zenoh.Session,
        state: FleetState,
        options: BridgeOptions,
        submit: Callable[[AdmmJobSpec], Awaitable[list[RunReport]]],
        *,
        now: Callable[[], float] = time.time,
        clock: Clock | None = None,
    ) -> None:
        self.state, self.options, self._session, self._submit, self._now = state, options, session, submit, now
        self._clock: Clock = clock or LoopClock()
        self._stopped = False
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(INBOX_LIMIT)
        self._loop = asyncio.get_running_loop()
        self._tasks: asyncio.TaskGroup | None = None
        self._own: set[asyncio.Task[None]] = set()
        self._jobs = 0
        self.dropped = 0
        self.refused = 0
        session_id = str(session.zid())
        topics, domain = options.topics, options.domain_id
        self._node = session.liveliness().declare_token(node_token(domain, session_id, 0, NODE_NAME))
        entities: list[tuple[Literal["MP", "MS"], str, RosType]] = [
            ("MP", topics.diagnostics, DIAGNOSTIC_ARRAY), ("MP", topics.run_progress, RUN_PROGRESS),
            ("MP", topics.run_result, RUN_RESULT), ("MP", topics.setpoint_status, STRING)]
        self._publications = {
            topic: _Publication(session, Entity(kind, domain, session_id, 0, index, NODE_NAME, topic, ros.dds_name,
                                                ros.type_hash), ros)
            for index, (kind, topic, ros) in enumerate(entities, start=1)
        }
        reader = Entity("MS", domain, session_id, 0, len(entities) + 1, NODE_NAME, topics.setpoint, SETPOINT.dds_name,
                        SETPOINT.type_hash)
        self.setpoint_key = reader.key
        self._reader_token = session.liveliness().declare_token(reader.token)
        # every type and hash under the topic: a sample of another type is refused with a reason, not ignored
        self._subscriber = session.declare_subscriber(reader.key.rsplit("/", 2)[0] + "/**", self._on_sample)

    # -- the fleet side ------------------------------------------------------------------------------------
    def on_mqtt(self, message: Inbound) -> None:
        """A record from the broker: fold it, publish what changed (never raises: the link's callback)."""
        route = self.state.topics.parse(message.topic)
        events = self.state.receive(message.topic, message.payload)
        if route is None or not events or self._stopped:
            return
        now = self._now()
        try:
            for event in events:
                if event["type"] == "agent":
                    for array in view.diagnostics(self.state, [event["id"]], now):
                        self._put(self.options.topics.diagnostics, array, now)
                elif route.kind == "progress":
                    self._put(self.options.topics.run_progress,
                              view.run_progress(self.state, event["run"], event["points"], now), now)
                elif route.kind == "run" and event.get("result") is not None:
                    self._put(self.options.topics.run_result, view.run_result(self.state, event["run"], now), now)
        except zenoh.ZError as error:  # a closed session while stopping: the next change publishes again
            log.warning("ros2.publish_failed", error=str(error))
        except (ValueError, TypeError, OverflowError) as error:  # a record the ROS 2 types cannot carry
            log.warning("ros2.record_not_published", topic=message.topic, error=str(error))

    def _put(self, topic: str, message: Any, now: float) -> None:
        self._publications[topic].put(message, int(now * 1e9))

    def publish_devices(self) -> None:
        """Every agent's status (the periodic diagnostics)."""
        now = self._now()
        for array in view.diagnostics(self.state, list(self.state.agents), now):
            self._put(self.options.topics.diagnostics, array, now)

    async def _periodic(self) -> None:
        while True:
            self.publish_devices()
            await self._clock.sleep(self.options.period_s)

    # -- the setpoint side ---------------------------------------------------------------------------------
    def _on_sample(self, sample: zenoh.Sample) -> None:
        """Zenoh's thread: hand the sample to the loop (nothing else happens here)."""
        key = str(sample.key_expr)
        # an oversized sample is not copied: an empty payload stands for it and is refused as too short
        payload = sample.payload.to_bytes() if len(sample.payload) <= MAX_PAYLOAD else b""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the bridge is stopping
            self._loop.call_soon_threadsafe(self._enqueue, key, payload)

    def _enqueue(self, key: str, payload: bytes) -> None:
        try:
            self._inbox.put_nowait((key, payload))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8...: a flood is not echoed line by line
                log.warning("ros2.setpoints_dropped", reason="the bridge's queue is full", dropped=self.dropped)

    async def _read_setpoints(self) -> None:
        while True:
            key, payload = await self._inbox.get()
            self.handle_setpoint(key, payload)

    def online_devices(self) -> list[str]:
        """Agents online that announced a device kind (not the coordinator, not operators)."""
        return sorted(a.id for a in self.state.agents.values() if a.online and a.kind is not None)

    def handle_setpoint(self, key: str, payload: bytes) -> None:
        """Check one setpoint sample; submit its job in a task of its own, or say why not."""
        try:
            job = self._job(key, payload)
        except SetpointRefused as refusal:
            self.refused += 1
            log.warning("ros2.setpoint_refused", reason=str(refusal))
            self._status(f"refused: {refusal}")
            return
        self._jobs += 1
        log.info("ros2.setpoint_accepted", job=job.name, slots=len(job.target), devices=len(job.participants))
        self._status(f"accepted {job.name}: {len(job.target)} slots, {len(job.participants)} devices")
        self._spawn(self._run(job), f"ros2-job:{job.name}")

    def _job(self, key: str, payload: bytes) -> AdmmJobSpec:
        if key != self.setpoint_key:
            raise SetpointRefused(f"a sample on {key[:200]!r}; setpoints are {SETPOINT.name} on "
                                  f"{self.setpoint_key!r} (a different type or type hash)")
        devices = self.online_devices()
        job = job_of(payload, devices)
        if not job.participants:
            if not devices:
                raise SetpointRefused("no device is online in the fleet")
            job = job.model_copy(update={"participants": devices})
        coordinator = self.state.agents.get(COORDINATOR_ID)
        if coordinator is None or not coordinator.online:
            raise SetpointRefused(f"the coordinator service ({COORDINATOR_ID!r}) is not online")
        if self._jobs >= self.options.max_jobs:
            raise SetpointRefused(f"{self._jobs} setpoints are being run; at most {self.options.max_jobs} at once")
        return job

    async def _run(self, job: AdmmJobSpec) -> None:
        try:
            reports = await self._submit(job)
        except EdgeAgentError as error:
            log.warning("ros2.setpoint_failed", job=job.name, error=str(error))
            self._status(f"failed {job.name}: {type(error).__name__}: {error}")
            return
        finally:
            self._jobs -= 1
        report = reports[0]
        self._status(f"finished {job.name}: {report.status}, objective {report.objective:.6g}, "
                     f"{report.iterations} iterations")

    def _status(self, text: str) -> None:
        now = self._now()
        try:
            self._put(self.options.topics.setpoint_status, STRING.new(data=text[:2000]), now)
        except zenoh.ZError as error:
            log.warning("ros2.publish_failed", error=str(error))

    # -- lifecycle -----------------------------------------------------------------------------------------
    def _spawn(self, coroutine: Any, name: str) -> None:
        if self._tasks is None:
            coroutine.close()
            raise RuntimeError("the bridge is not started")
        task = self._tasks.create_task(coroutine, name=name)
        self._own.add(task)
        task.add_done_callback(self._own.discard)

    def start(self, tasks: asyncio.TaskGroup) -> None:
        """Run the periodic diagnostics and the setpoint reader in ``tasks``."""
        self._tasks = tasks
        self._spawn(self._periodic(), "ros2-diagnostics")
        self._spawn(self._read_setpoints(), "ros2-setpoints")

    def stop(self) -> None:
        """Cancel the bridge's tasks, withdraw its liveliness tokens and its Zenoh entities."""
        self._stopped = True
        for task in list(self._own):
            task.cancel()
        self._subscriber.undeclare()
        self._reader_token.undeclare()
        for publication in self._publications.values():
            publication.close()
        self._node.undeclare()
