"""Scheduling among agent processes: one per compute node, the task agents in the launching process.

The compute nodes hold the schedules (:class:`~edge_agent.algorithms.scheduling.ResourceAgent` inside their
device agent) and publish each new state as their retained ``schedule`` record. The task agents are hosted by
the scheduler -- the process that launches the plan (``edge-agent solve <scheduling scenario> --carrier mqtt``,
``edge-agent schedule``) -- each a participant with its own topics, because tasks are submitted work, not
devices: nothing of a task lives on a node before it is booked there. Negotiation and patches use the
carrier's request/reply, exactly as in one process.

Whenever the host reports a node gone (over MQTT its Last Will after the will delay, or a clean leave), the
tasks booked on it place themselves again on the others. A failure in the scenario kills the node's process
(no clean leave) and waits for exactly that. With ``serve``, the scheduler keeps doing it after the timeline
until ``serve`` returns (``edge-agent schedule --serve``: until SIGTERM/SIGINT).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from edge_agent.algorithms.scheduling.messages import ScheduleQuery, ScheduleState
from edge_agent.algorithms.scheduling.scenario import SchedulingOutcome, SchedulingScenario, task_agents
from edge_agent.algorithms.scheduling.task_agent import TaskAgent
from edge_agent.algorithms.scheduling.timeline import drive, re_place
from edge_agent.carrier.base import Carrier, Host
from edge_agent.devices import AgentDevice, ComputeNode
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport

__all__ = ["SchedulingPlan", "scheduling_plan"]

log = structlog.get_logger("edge_agent.scheduling")

OFFLINE_S = 30.0  # how long to wait for a killed node's Last Will (the will delay is 5 s by default)
WATCH_S = 1e9  # a node may go down at any time while the scheduler serves


@dataclass(frozen=True)
class SchedulingPlan:
    scenario: SchedulingScenario
    serve: Callable[[], Awaitable[None]] | None = None
    hosting: str = "one process per compute node"

    def agents(self) -> Sequence[AgentDevice]:
        return [ComputeNode(id=r.id, kind="compute-node", horizon_h=r.horizon) for r in self.scenario.resources]

    async def launch(self, host: Host) -> RunReport:
        """Play the scenario's timeline with the task agents hosted here, then (with ``serve``) keep serving
        until it returns, and collect the final schedules from the nodes."""
        scenario = self.scenario
        events = scenario.events()
        nodes = [r.id for r in scenario.resources]
        agents = task_agents(events, scenario.behaviour, nodes, scenario.limits.limits())
        carriers = {tid: host.add(agent) for tid, agent in agents.items()}
        started = time.perf_counter()
        watch = _NodeWatch(host, nodes, agents, carriers)

        async def fail_node(node: str) -> None:
            host.kill(node)
            await watch.handled(node)

        try:
            await drive(events, agents, carriers, fail_node)
            if self.serve is not None:
                await self.serve()
            await watch.re_placed()
            states = await self._final_states(next(iter(carriers.values())), watch)
        finally:
            await watch.close()
        outcome = SchedulingOutcome(scenario.behaviour, states, agents, messages=host.sent, messages_by_kind={},
                                    wall_s=time.perf_counter() - started)
        report = outcome.report(scenario.name)
        report.extra["lost"] = sorted(watch.lost)
        report.extra["unreachable"] = sorted(watch.unreachable)
        return report

    async def _final_states(self, asker: Carrier, watch: _NodeWatch) -> dict[str, ScheduleState]:
        """Every node's schedule. A node that does not answer may be going down: wait for its Last Will (its
        tasks then place themselves on the others, so ask those again); one still present after that is
        reported down and ``unreachable``. A lost node is down, whatever its retained record still says."""
        resources = self.scenario.resources
        while True:
            states: dict[str, ScheduleState] = {}
            silent: list[str] = []
            for resource in resources:
                if resource.id in watch.lost | watch.unreachable:
                    states[resource.id] = ScheduleState(resource=resource.id, horizon=resource.horizon, version=0,
                                                        up=False)
                    continue
                try:
                    state = await asker.request(ScheduleQuery(), resource.id, self.scenario.limits.timeout_s)
                except EdgeAgentError as error:
                    log.warning("sched.node_silent", node=resource.id, error=str(error))
                    silent.append(resource.id)
                    continue
                if not isinstance(state, ScheduleState):
                    raise ProtocolError(f"expected sched.state, got {state.kind!r}", sender=resource.id)
                states[resource.id] = state
            if not silent:
                return states
            for node in silent:
                await watch.settle(node)


def scheduling_plan(scenario: ScenarioModel, options: RunOptions) -> SchedulingPlan:
    if not isinstance(scenario, SchedulingScenario):
        raise ConfigError(f"a scheduling plan takes a scheduling scenario, not {scenario.algorithm!r}")
    return SchedulingPlan(scenario)


class _NodeWatch:
    """Waits for each node's offline presence record (its Last Will, or a clean leave) and then lets the tasks
    booked on it place themselves again on the others."""

    def __init__(self, host: Host, nodes: Sequence[str], agents: Mapping[str, TaskAgent],
                 carriers: Mapping[str, Carrier]) -> None:
        self.lost: set[str] = set()
        self.unreachable: set[str] = set()
        self._host = host
        self._agents = agents
        self._carriers = carriers
        owner = next(iter(carriers.values()))
        self._watchers = {node: owner.spawn(self._watch(node), f"watch:{node}") for node in nodes}

    async def _watch(self, node: str) -> None:
        await self._host.wait_absent([node], within_s=WATCH_S)
        self.lost.add(node)
        log.warning("sched.node_lost", node=node)
        await re_place(node, self._agents, self._carriers)

    async def handled(self, node: str) -> None:
        """Wait until ``node`` was seen offline and its tasks placed themselves again."""
        async with asyncio.timeout(OFFLINE_S):
            await asyncio.shield(self._watchers[node])

    async def re_placed(self) -> None:
        """Wait until the tasks of every node lost so far placed themselves again."""
        await asyncio.gather(*(asyncio.shield(self._watchers[node]) for node in sorted(self.lost)))

    async def settle(self, node: str) -> None:
        """``node`` did not answer: wait for it to be seen offline (and its tasks re-placed); if it stays
        present for :data:`OFFLINE_S`, count it as unreachable."""
        try:
            await self.handled(node)
        except TimeoutError:
            log.warning("sched.node_unreachable", node=node, waited_s=OFFLINE_S)
            self.unreachable.add(node)

    async def close(self) -> None:
        """Let re-placements in progress finish; stop watching the nodes that are still up."""
        for node, watcher in self._watchers.items():
            if node not in self.lost:
                watcher.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
