"""What the dashboard knows: the fleet's agents and runs, folded from the records it receives.

Every record comes from the broker and is untrusted: a payload that does not parse, or that breaks a bound, is
counted in ``rejected`` and ignored. The view is bounded (:data:`MAX_AGENTS`, :data:`MAX_RUNS`,
:data:`MAX_POINTS` per run). :meth:`FleetState.receive` returns the events that the page applies (JSON-ready
dicts); :meth:`FleetState.snapshot` is the whole view, sent to a page when it connects.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.carrier.presence import PresenceTracker
from edge_agent.carrier.topics import Topics
from edge_agent.errors import ProtocolError
from edge_agent.runtime.progress import RunProgress, RunResult

__all__ = ["MAX_AGENTS", "MAX_POINTS", "MAX_RUNS", "FleetState"]

MAX_AGENTS = 10_000
MAX_RUNS = 50
MAX_POINTS = 2000
MAX_PARTICIPANTS_SHOWN = 500

Event = dict[str, Any]


class _DeviceRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(max_length=64)
    kind: str = Field(max_length=64)


@dataclass
class _Agent:
    id: str
    kind: str | None = None
    online: bool = False
    since: float | None = None  # when it last changed state, as seen by the dashboard
    last_seen: float | None = None

    def event(self) -> Event:
        return {"type": "agent", "id": self.id, "kind": self.kind, "online": self.online, "since": self.since,
                "last_seen": self.last_seen}


@dataclass
class _Run:
    run: str
    driver: str
    header: dict[str, Any] = field(default_factory=dict)
    points: list[list[float | None]] = field(default_factory=list)  # [round, primal, dual]
    result: dict[str, Any] | None = None

    def event(self, new_points: list[list[float | None]] | None = None) -> Event:
        return {"type": "run", "run": self.run, "driver": self.driver, **self.header,
                "points": self.points if new_points is None else new_points, "result": self.result}


class FleetState:
    """The agents (presence, device records) and runs (progress, final reports) under one topic prefix."""

    def __init__(self, topics: Topics, now: Callable[[], float]) -> None:
        self.topics = topics
        self._now = now
        self._presence = PresenceTracker()
        self.agents: dict[str, _Agent] = {}
        self.runs: OrderedDict[str, _Run] = OrderedDict()
        self.received = 0
        self.rejected = 0

    def filters(self) -> list[str]:
        """The subscriptions that feed this view."""
        return [self.topics.presence_all(), self.topics.all_of("device"), self.topics.all_of("progress"),
                self.topics.all_of("runs")]

    def snapshot(self) -> Event:
        return {"type": "snapshot", "now": self._now(), "agents": [a.event() for a in self.agents.values()],
                "runs": [r.event() for r in self.runs.values()]}

    def receive(self, topic: str, payload: bytes) -> list[Event]:
        route = self.topics.parse(topic)
        if route is None:
            self.rejected += 1
            return []
        try:
            if route.kind == "presence":
                events = self._presence_record(route.sender, payload)
            elif route.kind == "device":
                events = self._device_record(route.sender, payload)
            elif route.kind == "progress":
                events = self._progress(route.sender, payload)
            elif route.kind == "run" and route.receiver is not None:
                events = self._result(route.sender, route.receiver, payload)
            else:
                events = []
        except (ProtocolError, ValidationError, ValueError):
            self.rejected += 1
            return []
        self.received += 1
        return events

    def _agent(self, agent: str) -> _Agent | None:
        known = self.agents.get(agent)
        if known is None and len(self.agents) < MAX_AGENTS:
            known = self.agents[agent] = _Agent(agent)
        return known

    def _presence_record(self, sender: str, payload: bytes) -> list[Event]:
        before = self._presence.online
        self._presence.update(sender, payload)
        after = self._presence.online
        now = self._now()
        events = []
        for agent_id in sorted((before ^ after) | ({sender} if sender not in self.agents else set())):
            agent = self._agent(agent_id)
            if agent is None:
                continue
            agent.online = agent_id in after
            agent.since = now
            agent.last_seen = now
            events.append(agent.event())
        return events

    def _device_record(self, sender: str, payload: bytes) -> list[Event]:
        if not payload:
            return []
        record = _DeviceRecord.model_validate_json(payload)
        if record.id != sender:
            raise ProtocolError(f"device record of {record.id!r} on the topic of {sender!r}", sender=sender)
        agent = self._agent(sender)
        if agent is None:
            return []
        agent.kind = record.kind
        agent.last_seen = self._now()
        return [agent.event()]

    def _run(self, driver: str, run: str) -> _Run:
        known = self.runs.get(run)
        if known is None:
            known = self.runs[run] = _Run(run, driver)
            while len(self.runs) > MAX_RUNS:
                self.runs.popitem(last=False)
        return known

    def _progress(self, sender: str, payload: bytes) -> list[Event]:
        record = RunProgress.model_validate_json(payload)
        view = self._run(sender, record.run)
        if view.driver != sender:
            raise ProtocolError(f"progress of run {record.run!r} from {sender!r}, driven by {view.driver!r}")
        view.header = record.model_dump(exclude={"points", "kind"})
        new = [[p.round, p.primal, p.dual] for p in record.points]
        view.points.extend(new)
        if len(view.points) > MAX_POINTS:  # keep every other point of the older half: the chart's shape stays
            half = len(view.points) // 2
            view.points = view.points[:half:2] + view.points[half:]
        driver = self._agent(sender)
        if driver is not None:
            driver.last_seen = self._now()
        return [view.event(new)]

    def _result(self, sender: str, run: str, payload: bytes) -> list[Event]:
        if not payload:  # a cleared retained report: the run left the broker's history
            return []
        answer = RunResult.model_validate_json(payload)
        view = self._run(sender, run)
        if view.driver != sender:
            raise ProtocolError(f"report of run {run!r} from {sender!r}, driven by {view.driver!r}")
        view.result = _summary(answer)
        if not view.header:  # a retained report of a run that ended before the dashboard started
            view.header = {"run": run, "job": answer.job, "status": view.result.get("status", "failed")}
        return [view.event([])]


def _summary(answer: RunResult) -> dict[str, Any]:
    """What the page shows of a final report: status, objective, iterations, wall time, per-device values."""
    if answer.error is not None or answer.report is None:
        return {"status": "failed", "error": (answer.error or "no report")[:500]}
    report = answer.report
    participants = report.get("participants")
    devices: dict[str, Any] = {}
    if isinstance(participants, dict):
        for pid, values in list(participants.items())[:MAX_PARTICIPANTS_SHOWN]:
            if isinstance(values, dict):
                devices[str(pid)[:64]] = {"x": values.get("x"), "cost": values.get("cost")}
    summary = {key: report.get(key) for key in ("status", "objective", "iterations", "wall_s", "aggregate")}
    summary["participants"] = devices
    json.dumps(summary)  # JSON-ready, or ValueError
    return summary
