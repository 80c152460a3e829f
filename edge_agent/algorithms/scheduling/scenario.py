"""Scheduling scenarios (``algorithm: scheduling``): tasks book compute nodes, passively or with patches.

:func:`run_scheduling` hosts one resource agent per node and one task agent per task in one process and
plays the timeline (arrivals, cancellations, node failures); :class:`SchedulingOutcome` turns the final
schedules into a :class:`RunReport`. ``docs/scheduling.md`` describes the protocol and its assumptions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from edge_agent.algorithms.scheduling import (
    Arrival,
    Behaviour,
    Cancellation,
    Event,
    Limits,
    NodeFailure,
    ResourceAgent,
    ScheduleState,
    Task,
    TaskAgent,
    check_timeline,
    drive,
)
from edge_agent.carrier.base import Network
from edge_agent.config import StrictModel, require_unique
from edge_agent.family import RunOptions
from edge_agent.ids import AgentId
from edge_agent.results import RunReport

__all__ = ["SchedulingOutcome", "SchedulingScenario", "run_scheduling"]


class ResourceSpec(StrictModel):
    id: AgentId
    horizon: float = Field(24.0, gt=0, allow_inf_nan=False, description="the schedule covers [0, horizon] hours")


class TaskSpec(StrictModel):
    id: AgentId
    duration: float = Field(gt=0, allow_inf_nan=False, description="hours")
    favourable: float = Field(allow_inf_nan=False, description="completion time of full satisfaction (hours)")
    width: float = Field(gt=0, allow_inf_nan=False, description="base of the satisfaction triangle (hours)")
    arrive_at: float = Field(0.0, allow_inf_nan=False, description="order of arrival (equal: concurrent)")
    cancel_at: float | None = Field(None, allow_inf_nan=False, description="withdraw the task at this point")

    def task(self) -> Task:
        return Task(self.id, self.duration, self.favourable, self.width)


class FailureSpec(StrictModel):
    resource: AgentId
    at: float = Field(allow_inf_nan=False, description="when the node goes down (same scale as arrive_at)")


class LimitsSpec(StrictModel):
    attempts: int = Field(50, ge=1, description="placement computations per placement")
    moves: int = Field(2, ge=0, description="times a task may leave a resource for another")
    requests: int = Field(5000, ge=1, description="requests a task agent may send over its life")
    timeout_s: float = Field(5.0, gt=0, description="reply deadline of every request")

    def limits(self) -> Limits:
        return Limits(attempts=self.attempts, moves=self.moves, requests=self.requests, timeout_s=self.timeout_s)


class SchedulingScenario(StrictModel):
    """Book tasks on compute nodes so that the total satisfaction of their completion times is largest."""

    algorithm: Literal["scheduling"]
    name: str = "unnamed"
    description: str = ""
    behaviour: Literal["active", "passive"] = Field("active", description="active: patches; passive: gaps only")
    resources: list[ResourceSpec] = Field(min_length=1)
    tasks: list[TaskSpec] = Field(min_length=1)
    failures: list[FailureSpec] = Field(default_factory=list)
    limits: LimitsSpec = LimitsSpec()

    @model_validator(mode="after")
    def _check(self) -> SchedulingScenario:
        require_unique([*(r.id for r in self.resources), *(t.id for t in self.tasks)])
        longest = max(r.horizon for r in self.resources)
        for spec in self.tasks:
            if spec.duration > longest:
                msg = (f"task {spec.id!r} (duration {spec.duration}) is longer than the horizon of every "
                       f"resource (longest: {longest}); it could never be scheduled")
                raise ValueError(msg)
        check_timeline(self.events(), [r.id for r in self.resources])
        return self

    def events(self) -> list[Event]:
        events: list[Event] = [Arrival(t.arrive_at, t.task()) for t in self.tasks]
        events += [Cancellation(t.cancel_at, t.id) for t in self.tasks if t.cancel_at is not None]
        events += [NodeFailure(f.at, f.resource) for f in self.failures]
        return events

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        outcome = await run_scheduling({r.id: r.horizon for r in self.resources}, self.events(), self.behaviour,
                                       network, self.limits.limits())
        return outcome.report(self.name)


@dataclass
class SchedulingOutcome:
    """A finished run: the final schedule of every resource and the task agents' own view."""

    behaviour: Behaviour
    states: dict[str, ScheduleState]
    agents: dict[str, TaskAgent]
    messages: int
    messages_by_kind: dict[str, int]
    wall_s: float

    @property
    def placed(self) -> dict[str, tuple[str, float]]:
        """Task id -> (resource, start) for every booking of this run's tasks on a resource that is up."""
        return {b.task.id: (state.resource, b.start)
                for state in self.states.values() if state.up for b in state.bookings if b.task.id in self.agents}

    @property
    def foreign(self) -> list[str]:
        """Tasks booked on the nodes that are not this run's (booked by other runs on long-lived nodes)."""
        return sorted(b.task.id for state in self.states.values() if state.up for b in state.bookings
                      if b.task.id not in self.agents)

    @property
    def total_satisfaction(self) -> float:
        """The objective: the satisfaction of this run's tasks (other runs' bookings are not counted)."""
        return sum(b.task.task().satisfaction_at(b.start + b.task.duration)
                   for state in self.states.values() if state.up for b in state.bookings if b.task.id in self.agents)

    def consistency_problems(self) -> list[str]:
        """Where the schedules and the agents disagree: a task booked twice, or an agent wrong about its booking."""
        problems: list[str] = []
        seen: dict[str, str] = {}
        for state in self.states.values():
            for entry in state.bookings if state.up else ():
                if entry.task.id in seen:
                    problems.append(f"task {entry.task.id!r} is booked on {seen[entry.task.id]!r} "
                                    f"and {state.resource!r}")
                seen[entry.task.id] = state.resource
        placed = self.placed
        for task_id, agent in self.agents.items():
            booking = agent.booking
            believes = None if booking is None else (booking.resource, booking.start)
            actual = placed.get(task_id)
            if believes is None and actual is None:
                continue
            if believes is None or actual is None or believes[0] != actual[0] or abs(believes[1] - actual[1]) > 1e-9:
                problems.append(f"task {task_id!r} believes it is at {believes}, the schedules say {actual}")
        return problems

    def report(self, name: str) -> RunReport:
        placed = self.placed
        limited = sorted(pid for pid, agent in self.agents.items() if agent.limited)
        participants: dict[str, dict[str, Any]] = {}
        for task_id, agent in self.agents.items():
            where = placed.get(task_id)
            participants[task_id] = {
                "x": [] if where is None else [where[1], where[1] + agent.task.duration],
                "resource": None if where is None else where[0],
                "satisfaction": agent.satisfaction if where is not None else 0.0,
                "moves": agent.moves,
                "requests": agent.requests,
            }
        schedules = {
            rid: {"up": state.up, "horizon": state.horizon, "version": state.version,
                  "bookings": [{"task": b.task.id, "start": b.start, "end": b.start + b.task.duration,
                                "favourable": b.task.favourable, "width": b.task.width,
                                "satisfaction": b.task.task().satisfaction_at(b.start + b.task.duration)}
                               for b in state.bookings]}
            for rid, state in self.states.items()
        }
        return RunReport(
            scenario=name,
            algorithm="scheduling",
            status="max_iterations" if limited else "converged",
            objective=self.total_satisfaction,
            iterations=max((a.requests for a in self.agents.values()), default=0),
            messages=self.messages,
            wall_s=self.wall_s,
            aggregate=[sum(b.task.task().satisfaction_at(b.start + b.task.duration) for b in state.bookings)
                       if state.up else 0.0 for state in self.states.values()],  # satisfaction per resource
            participants=participants,
            extra={
                "behaviour": self.behaviour,
                "total_satisfaction": self.total_satisfaction,
                "scheduled": len(placed),
                "tasks": len(self.agents),
                "cancelled": sorted(pid for pid, a in self.agents.items() if a.cancelled),
                "limited": limited,
                "moves": sum(a.moves for a in self.agents.values()),
                "schedules": schedules,
                "messages_by_kind": self.messages_by_kind,
                "consistency_problems": self.consistency_problems(),
                "lost": sorted(rid for rid, state in self.states.items() if not state.up),
                "foreign_bookings": self.foreign,
            },
        )


def task_agents(events: Iterable[Event], behaviour: Behaviour, resources: Iterable[str],
                limits: Limits | None = None) -> dict[str, TaskAgent]:
    """One agent per arriving task."""
    ids = list(resources)
    return {e.task.id: TaskAgent(e.task, behaviour, ids, limits) for e in events if isinstance(e, Arrival)}


async def run_scheduling(
    horizons: Mapping[str, float],
    events: Iterable[Event],
    behaviour: Behaviour,
    network: Network,
    limits: Limits | None = None,
) -> SchedulingOutcome:
    """Play ``events`` in one process: one resource agent per entry of ``horizons``, one task agent per
    arrival, on ``network`` (not yet entered)."""
    events = list(events)
    check_timeline(events, horizons)
    resources = {rid: ResourceAgent(rid, horizon) for rid, horizon in horizons.items()}
    agents = task_agents(events, behaviour, resources, limits)
    started = time.perf_counter()
    async with network:
        for resource in resources.values():
            network.add(resource)
        carriers = {tid: network.add(agent) for tid, agent in agents.items()}

        async def fail_node(resource: str) -> None:
            resources[resource].fail()

        await drive(events, agents, carriers, fail_node, network.quiescent)
    return SchedulingOutcome(
        behaviour=behaviour,
        states={rid: r.state for rid, r in resources.items()},
        agents=agents,
        messages=network.stats.sent,
        messages_by_kind=dict(network.stats.by_kind),
        wall_s=time.perf_counter() - started,
    )
