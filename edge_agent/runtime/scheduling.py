"""Scheduling over MQTT: one ``edge-agent agent`` process per compute node, the task agents in this process.

The compute nodes hold the schedules (:class:`~edge_agent.algorithms.scheduling.ResourceAgent` inside
their device agent) and publish each new state as a retained record on ``<prefix>/<node>/schedule``. The
task agents are hosted by the scheduler -- the process that runs :func:`launch_scheduling` (``edge-agent
solve <scheduling scenario> --carrier mqtt``) -- on one MQTT connection, each a participant with its own
topics, because tasks are submitted work, not devices: nothing of a task lives on a node before it is
booked there. Negotiation and patches use the carrier's request/reply, exactly as in one process.

Whenever the broker reports a node offline (its Last Will after the will delay, or a clean leave), the tasks
booked on it place themselves again on the others. A failure in the scenario kills the node's process (no clean
leave) and waits for exactly that. ``edge-agent schedule --serve`` keeps doing it after the timeline, until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog

from edge_agent.algorithms.scheduling import ScheduleQuery, ScheduleState, TaskAgent, drive, re_place
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.devices import ComputeNode
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.results import RunReport
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import device_processes, wait_for_agents
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.scenario.scheduling import SchedulingOutcome, SchedulingScenario, task_agents

__all__ = ["launch_scheduling", "run_scheduling_fleet", "scheduling_nodes"]

log = structlog.get_logger("edge_agent.scheduling")

OFFLINE_S = 30.0  # how long to wait for a killed node's Last Will (the will delay is 5 s by default)
WATCH_S = 1e9  # a node may go down at any time while the scheduler serves


def scheduling_nodes(scenario: SchedulingScenario, prefix: str = "edge") -> list[DeviceConfig]:
    """One compute-node agent configuration per resource of ``scenario``."""
    return [DeviceConfig(id=r.id, device=ComputeNode(id=r.id, kind="compute-node", horizon_h=r.horizon),
                         prefix=prefix) for r in scenario.resources]


def run_scheduling_fleet(scenario: SchedulingScenario, broker_url: str | None = None, *,
                         prefix: str = "edge") -> RunReport:
    """Run ``scenario`` with one agent process per compute node; tear everything down whatever happens."""
    with device_processes(scheduling_nodes(scenario, prefix), broker_url) as (url, processes):
        return asyncio.run(launch_scheduling(scenario, url, prefix, processes=processes))


async def launch_scheduling(
    scenario: SchedulingScenario,
    broker_url: str,
    prefix: str = "edge",
    *,
    processes: ProcessGroup | None = None,
    mqtt: MqttOptions | None = None,
    serve: Callable[[], Awaitable[None]] | None = None,
) -> RunReport:
    """Wait until every node is present, play the scenario's timeline with the task agents hosted here, then
    (with ``serve``) keep serving until it returns, and collect the final schedules from the nodes. Whenever the
    broker reports a node offline, its tasks place themselves again on the others."""
    events = scenario.events()
    nodes = [r.id for r in scenario.resources]
    agents = task_agents(events, scenario.behaviour, nodes, scenario.limits.limits())
    async with MqttConnection(broker_url, prefix=prefix, client_id=f"scheduler-{secrets.token_hex(4)}",
                              options=mqtt) as connection:
        carriers = {tid: connection.add(agent) for tid, agent in agents.items()}
        await wait_for_agents(connection, nodes, processes)
        started = time.perf_counter()
        watch = _NodeWatch(connection, nodes, agents, carriers)

        async def fail_node(node: str) -> None:
            if processes is None:
                raise ConfigError(f"the failure of {node!r} needs the node processes started by this scheduler")
            processes.kill(node)
            await watch.handled(node)

        try:
            await drive(events, agents, carriers, fail_node)
            if serve is not None:
                await serve()
        finally:
            await watch.close()
        asker = next(iter(carriers.values()))
        states: dict[str, ScheduleState] = {}
        for resource in scenario.resources:
            if resource.id in watch.lost:
                states[resource.id] = ScheduleState(resource=resource.id, horizon=resource.horizon, version=0, up=False)
                continue
            state = await asker.request(ScheduleQuery(), resource.id, scenario.limits.timeout_s)
            if not isinstance(state, ScheduleState):
                raise ProtocolError(f"expected sched.state, got {state.kind!r}", sender=resource.id)
            states[resource.id] = state
        stats = connection.stats
    outcome = SchedulingOutcome(scenario.behaviour, states, agents, messages=stats.sent,
                                messages_by_kind={}, wall_s=time.perf_counter() - started)
    report = outcome.report(scenario.name)
    report.extra["transport"] = {"carrier": "mqtt", "hosting": "one process per compute node", "broker": broker_url,
                                 "prefix": prefix, "received": stats.received, "duplicates": stats.duplicates}
    return report


class _NodeWatch:
    """Waits for each node's offline presence record (its Last Will, or a clean leave) and then lets the tasks
    booked on it place themselves again on the others."""

    def __init__(self, connection: MqttConnection, nodes: Sequence[str], agents: Mapping[str, TaskAgent],
                 carriers: Mapping[str, Carrier]) -> None:
        self.lost: set[str] = set()
        self._connection = connection
        self._agents = agents
        self._carriers = carriers
        self._watchers = {node: connection.spawn(self._watch(node), f"watch:{node}") for node in nodes}

    async def _watch(self, node: str) -> None:
        await self._connection.wait_absent([node], within_s=WATCH_S)
        self.lost.add(node)
        log.warning("sched.node_lost", node=node)
        await re_place(node, self._agents, self._carriers)

    async def handled(self, node: str) -> None:
        """Wait until ``node`` was seen offline and its tasks placed themselves again."""
        async with asyncio.timeout(OFFLINE_S):
            await asyncio.shield(self._watchers[node])

    async def close(self) -> None:
        """Let re-placements in progress finish; stop watching the nodes that are still up."""
        for node, watcher in self._watchers.items():
            if node not in self.lost:
                watcher.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
