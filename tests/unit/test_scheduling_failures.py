"""Issue 11, finding 12: the scheduler survives a node lost mid-negotiation (its tasks are re-placed and the
report names it), a lost node is reported down, and a second run against long-lived nodes books nothing twice.

The scheduler's plan (:class:`SchedulingPlan`) runs here on an in-process host: the nodes are resource agents
on the same network; a node "killed" stops answering, and its Last Will (the host's ``wait_absent``) comes a
little later, as over MQTT."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from edge_agent.algorithms.scheduling import (
    PatchSubmit,
    ResourceAgent,
    Task,
)
from edge_agent.algorithms.scheduling.consent import new_key
from edge_agent.algorithms.scheduling.messages import WireAdd, WireTask
from edge_agent.algorithms.scheduling.plan import SchedulingPlan
from edge_agent.algorithms.scheduling.scenario import SchedulingScenario
from edge_agent.carrier.base import Carrier, Participant
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.messages import Envelope, Message
from edge_agent.registry import parse_scenario
from edge_agent.results import RunReport

pytestmark = pytest.mark.timeout(60)

WILL_DELAY_S = 0.5  # the Last Will comes this long after a node dies
TIMEOUT_S = 0.2  # reply deadline of every request


def scenario(**changes: object) -> SchedulingScenario:
    data = {
        "algorithm": "scheduling", "name": "failures", "behaviour": "active",
        "resources": [{"id": "node-a", "horizon": 24}, {"id": "node-b", "horizon": 24}],
        "tasks": [{"id": f"job-{i}", "duration": 3, "favourable": 6 + 1.5 * i, "width": 10, "arrive_at": i}
                  for i in range(7)],
        "limits": {"timeout_s": TIMEOUT_S},
        **changes,
    }
    parsed = parse_scenario(data)
    assert isinstance(parsed, SchedulingScenario)
    return parsed


class Node(ResourceAgent):
    """A compute node that dies (answers nothing from then on) when it receives patch number ``dies_on``."""

    def __init__(self, resource_id: str, dies_on: int | None = None) -> None:
        super().__init__(resource_id, 24.0)
        self.dies_on = dies_on
        self.patches = 0
        self.gone = asyncio.Event()

    def die(self) -> None:
        self.fail()
        asyncio.get_running_loop().call_later(WILL_DELAY_S, self.gone.set)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if self.up and isinstance(message, PatchSubmit):
            self.patches += 1
            if self.patches == self.dies_on:
                self.die()  # killed with the patch in hand: it never answers
                return
        await super().handle(carrier, message, envelope)


class Host:
    """The plan's host on one in-process network (the :class:`~edge_agent.carrier.base.Host` protocol)."""

    def __init__(self, network: InProcNetwork, nodes: dict[str, Node]) -> None:
        self._network = network
        self._nodes = nodes

    @property
    def sent(self) -> int:
        return self._network.stats.sent

    def add(self, participant: Participant) -> Carrier:
        return self._network.add(participant)

    async def settled(self) -> None:
        return None

    async def wait_absent(self, agents: Iterable[str], within_s: float) -> None:
        async with asyncio.timeout(within_s):
            for agent in agents:
                await self._nodes[agent].gone.wait()

    def kill(self, agent: str) -> None:
        self._nodes[agent].die()


async def run(plan: SchedulingPlan, nodes: dict[str, Node], before: Callable[[], Awaitable[Any]] | None = None,
              network: InProcNetwork | None = None) -> RunReport:
    async with network or InProcNetwork() as net:
        for node in nodes.values():
            net.add(node)
        if before is not None:
            await before()
        return await plan.launch(Host(net, nodes))


def booked(report: RunReport) -> list[str]:
    return [b["task"] for s in report.extra["schedules"].values() if s["up"] for b in s["bookings"]]


def test_a_node_killed_mid_negotiation_loses_its_tasks_to_the_others() -> None:
    """The finding: node-b dies holding a patch it never answers; the run failed (exit 1, no schedule). Now the
    initiator tries again elsewhere, node-b's tasks book node-a once its Last Will came, and the report says
    node-b was lost."""
    nodes = {"node-a": Node("node-a"), "node-b": Node("node-b", dies_on=3)}
    report = asyncio.run(run(SchedulingPlan(scenario()), nodes))
    assert not nodes["node-b"].up
    assert report.extra["lost"] == ["node-b"]
    assert report.extra["schedules"]["node-b"]["up"] is False
    assert report.extra["consistency_problems"] == []
    assert sorted(booked(report)) == sorted(t for t, p in report.participants.items() if p["resource"] == "node-a")
    assert report.extra["scheduled"] >= 5  # node-a takes most of the seven
    assert report.objective <= 7


def test_a_node_that_dies_after_the_timeline_is_reported_lost_and_its_tasks_re_placed() -> None:
    """node-b dies after the last arrival, before the scheduler collects the schedules: the scheduler waits for
    its Last Will, lets its tasks move, and asks node-a again."""
    nodes = {"node-a": Node("node-a"), "node-b": Node("node-b")}
    on_b: list[str] = []

    async def kill_b() -> None:
        on_b.extend(nodes["node-b"].schedule.task_ids)
        nodes["node-b"].die()

    report = asyncio.run(run(SchedulingPlan(scenario(), serve=kill_b), nodes))
    assert on_b
    assert report.extra["lost"] == ["node-b"]
    assert report.extra["consistency_problems"] == []
    moved = [t for t in on_b if report.participants[t]["resource"] == "node-a"]
    assert moved
    assert set(booked(report)) == {b["task"] for b in report.extra["schedules"]["node-a"]["bookings"]}


def test_a_second_run_against_long_lived_nodes_books_nothing_twice() -> None:
    """The finding: the same scenario run twice against running nodes booked its tasks twice (7 tasks,
    objective 7.88 > 7). Now the second run's tasks find their bookings and adopt them."""
    nodes = {"node-a": Node("node-a"), "node-b": Node("node-b")}
    plan = SchedulingPlan(scenario())

    async def twice() -> tuple[RunReport, RunReport]:
        async with InProcNetwork() as net:
            for node in nodes.values():
                net.add(node)
            first = await plan.launch(Host(net, nodes))
        async with InProcNetwork() as net:  # a new scheduler process, the same nodes
            for node in nodes.values():
                net.add(node)
            second = await plan.launch(Host(net, nodes))
        return first, second

    first, second = asyncio.run(twice())
    assert len(booked(second)) == len(set(booked(second))) == len(booked(first)) == 7
    assert second.objective == pytest.approx(first.objective, abs=1e-9)
    assert second.objective <= 7
    assert second.extra["consistency_problems"] == []
    for task, entry in first.participants.items():
        assert second.participants[task]["resource"] == entry["resource"]
        assert second.participants[task]["x"] == pytest.approx(entry["x"])


def test_left_overs_of_earlier_runs_are_cleaned_up() -> None:
    """A node holds a task of this id with other parameters, and another holds it twice (as the old code
    left it): the run keeps one booking of its own task and removes the others; other runs' tasks are
    reported, not counted."""
    nodes = {"node-a": Node("node-a"), "node-b": Node("node-b")}
    plan = SchedulingPlan(scenario(tasks=[{"id": "job-0", "duration": 3, "favourable": 8, "width": 10}]))
    mine = WireTask.of(Task("job-0", 3.0, 8.0, 10.0))

    async def book_left_overs() -> None:
        async with InProcNetwork() as net:
            for node in nodes.values():
                net.add(node)
            old = net.add(_Quiet("job-0"))
            other = net.add(_Quiet("other"))
            for node, task in (("node-a", WireTask(id="job-0", duration=2.0, favourable=3.0, width=4.0)),
                               ("node-b", mine)):
                reply = await old.request(PatchSubmit(resource=node, base_version=0, modifications=(
                    WireAdd(task=task, start=1.0, key=new_key()),)), node, 1.0)
                assert reply.kind == "sched.outcome"
            await other.request(PatchSubmit(resource="node-a", base_version=1, modifications=(
                WireAdd(task=WireTask(id="other", duration=1.0, favourable=20.0, width=4.0), start=19.0,
                        key=new_key()),)), "node-a", 1.0)

    async def both() -> RunReport:
        await book_left_overs()
        return await run(plan, nodes)

    report = asyncio.run(both())
    assert booked(report).count("job-0") == 1
    assert report.participants["job-0"]["resource"] == "node-b"
    assert report.participants["job-0"]["x"] == pytest.approx([1.0, 4.0])
    assert report.extra["foreign_bookings"] == ["other"]
    assert report.objective == pytest.approx(Task("job-0", 3.0, 8.0, 10.0).satisfaction_at(4.0))
    assert nodes["node-a"].schedule.task_ids == ("other",)  # job-0 of other parameters removed


class _Quiet:
    def __init__(self, id: str) -> None:
        self.id = id

    async def handle(self, *_: object) -> None:
        return None
