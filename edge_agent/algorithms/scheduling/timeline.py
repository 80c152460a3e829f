"""Dynamic operation: tasks arrive (and may be cancelled) over time, compute nodes go down.

:func:`drive` plays a timeline of events against task agents hosted by the caller. ``at`` orders the
events; events with the same ``at`` happen concurrently (their agents negotiate at the same time, in
whatever order the network delivers their messages) and a group ends when every placement it started has
ended and ``settle`` (if given; a simulation waits for quiescence) returned. ``at`` is an ordering, not a
clock: the schedules plan the horizon ``[0, horizon]`` ahead, and an arrival may book any time in it (no task
has started yet).

When a node fails, ``fail_node`` takes it down (a simulation stops its resource agent; over MQTT the node's
process is killed) and every task booked on it places itself again on the others (:func:`re_place`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby

from edge_agent.algorithms.scheduling.model import Task
from edge_agent.algorithms.scheduling.task_agent import TaskAgent
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError

__all__ = ["Arrival", "Cancellation", "Event", "NodeFailure", "check_timeline", "drive", "re_place"]


@dataclass(frozen=True)
class Arrival:
    at: float
    task: Task


@dataclass(frozen=True)
class Cancellation:
    at: float
    task_id: str


@dataclass(frozen=True)
class NodeFailure:
    at: float
    resource: str


Event = Arrival | Cancellation | NodeFailure


def check_timeline(events: Iterable[Event], resources: Iterable[str]) -> None:
    """ConfigError naming the event if a task arrives twice, is cancelled before it arrives or never arrives,
    or a failure names an unknown resource."""
    arrived: dict[str, float] = {}
    known = set(resources)
    for event in events:
        if isinstance(event, Arrival):
            if event.task.id in arrived:
                msg = f"task {event.task.id!r} arrives twice; task ids must be unique"
                raise ConfigError(msg)
            if event.task.id in known:
                msg = f"task id {event.task.id!r} is also a resource id; ids must be unique"
                raise ConfigError(msg)
            arrived[event.task.id] = event.at
    for event in events:
        if isinstance(event, Cancellation) and not event.at > arrived.get(event.task_id, float("inf")):
            msg = (f"cancellation of task {event.task_id!r} at {event.at}: the task must arrive earlier "
                   f"(known tasks: {sorted(arrived)[:10]})")
            raise ConfigError(msg)
        if isinstance(event, NodeFailure) and event.resource not in known:
            msg = f"failure of unknown resource {event.resource!r}; resources: {sorted(known)}"
            raise ConfigError(msg)


async def drive(
    events: Iterable[Event],
    agents: Mapping[str, TaskAgent],
    carriers: Mapping[str, Carrier],
    fail_node: Callable[[str], Awaitable[None]],
    settle: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Play ``events`` in order of ``at`` (see the module docstring). ``agents`` and ``carriers`` map every
    task id of an arrival to its (not yet placed) agent and that agent's carrier."""
    ordered = sorted(events, key=lambda e: e.at)
    for _, group in groupby(ordered, key=lambda e: e.at):
        placements: list[Awaitable[bool]] = []
        for event in group:
            if isinstance(event, Arrival):
                placements.append(agents[event.task.id].place(carriers[event.task.id]))
            elif isinstance(event, Cancellation):
                placements.append(_cancel(agents[event.task_id], carriers[event.task_id]))
            else:
                await fail_node(event.resource)
                placements.append(re_place(event.resource, agents, carriers))
        await asyncio.gather(*placements)
        if settle is not None:
            await settle()


async def re_place(resource: str, agents: Mapping[str, TaskAgent], carriers: Mapping[str, Carrier]) -> bool:
    """``resource`` is down: every agent forgets it, and those booked on it place themselves again (concurrently).
    True if all of them found a place. An agent told twice does nothing the second time."""
    placed = await asyncio.gather(*(agent.place(carriers[task_id]) for task_id, agent in agents.items()
                                    if agent.resource_lost(resource)))
    return all(placed)


async def _cancel(agent: TaskAgent, carrier: Carrier) -> bool:
    await agent.cancel(carrier)
    return False
