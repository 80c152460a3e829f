"""The scheduling negotiation in one process: task agents, resource agents, the timeline, bad inputs."""

from __future__ import annotations

import asyncio
import itertools
import json

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.scheduling import (
    Arrival,
    Booking,
    Cancellation,
    Limits,
    NodeFailure,
    PatchOutcome,
    PatchReview,
    PatchSubmit,
    Placement,
    ResourceAgent,
    ResourceSchedule,
    ReviewAnswer,
    ScheduleState,
    Task,
    TaskAgent,
    apply,
    best_patch,
    passive_placement,
)
from edge_agent.algorithms.scheduling.messages import WireAdd, WireRemove, WireShift, WireTask
from edge_agent.algorithms.scheduling.scenario import run_scheduling
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.family import RunOptions
from edge_agent.messages import Envelope, Message
from edge_agent.registry import parse_scenario
from edge_agent.runtime.inproc import network

pytestmark = pytest.mark.timeout(60)

HORIZON = 24.0
KEY = "0123456789abcdef" * 2  # a booking key (consent.py)


def random_tasks(rng: np.random.Generator, n: int, duration: float | None = None) -> list[Task]:
    return [Task(f"t{i}", duration or float(rng.uniform(1, 5)), float(rng.uniform(0, HORIZON)),
                 float(rng.uniform(3, 12))) for i in range(n)]


def seeded(seed: int, shuffle: bool = True) -> InProcNetwork:
    """A network for one run, its message order shuffled by ``seed``."""
    return network(RunOptions(run_id=f"test-{seed}", seed=seed, shuffle=shuffle))


class Probe:
    """A participant that only asks questions (the test's hands on the network)."""

    id = "probe"

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        raise AssertionError(f"the probe got {message.kind}")


# ---------------------------------------------------------------- against sequential placement


@pytest.mark.parametrize("behaviour", ["active", "passive"])
@pytest.mark.parametrize("seed", range(6))
def test_one_at_a_time_equals_sequential_search(behaviour: str, seed: int) -> None:
    """Tasks arriving one after another on one resource end exactly where the pure search puts them."""
    rng = np.random.default_rng(seed)
    tasks = random_tasks(rng, 8)
    outcome = asyncio.run(run_scheduling({"r": HORIZON}, [Arrival(float(i), t) for i, t in enumerate(tasks)],
                                         behaviour, seeded(seed)))  # type: ignore[arg-type]
    schedule = ResourceSchedule("r", HORIZON)
    search = best_patch if behaviour == "active" else passive_placement
    for task in tasks:
        patch = search(schedule, task)
        if patch is not None:
            schedule = apply(schedule, patch)
    assert outcome.states["r"].version == schedule.version
    expected = {b.task.id: b.start for b in schedule.bookings}
    assert {tid: start for tid, (_, start) in outcome.placed.items()} == pytest.approx(expected, abs=1e-9)
    assert outcome.total_satisfaction == pytest.approx(schedule.total_satisfaction, abs=1e-9)
    assert outcome.consistency_problems() == []


# ---------------------------------------------------------------- concurrency


@pytest.mark.parametrize("behaviour", ["active", "passive"])
@pytest.mark.parametrize("seed", range(5))
def test_concurrent_initiators_are_serialised_by_the_version(behaviour: str, seed: int) -> None:
    """Twelve tasks arrive at once on two resources: patches collide, stale ones are refused and recomputed;
    every applied patch bumped the version by one, nothing overlaps and every agent knows where it is."""
    rng = np.random.default_rng(100 + seed)
    horizons = {"r1": HORIZON, "r2": HORIZON}
    resources = {rid: ResourceAgent(rid, h) for rid, h in horizons.items()}
    tasks = random_tasks(rng, 12)
    agents = {t.id: TaskAgent(t, behaviour, list(horizons)) for t in tasks}  # type: ignore[arg-type]

    async def main() -> None:
        async with InProcNetwork(rng=np.random.default_rng(seed), shuffle=True) as net:
            for resource in resources.values():
                net.add(resource)
            carriers = {tid: net.add(agent) for tid, agent in agents.items()}
            await asyncio.gather(*(agents[tid].place(c) for tid, c in carriers.items()))
            await net.quiescent()

    asyncio.run(main())
    refused = sum(r.refused for r in resources.values())
    assert refused > 0  # they did collide
    for resource in resources.values():
        assert resource.schedule.version == resource.applied  # one version per applied patch, no other change
        bookings = resource.schedule.bookings
        assert all(b.start >= a.end - 1e-9 for a, b in itertools.pairwise(bookings))
        for booking in bookings:
            agent = agents[booking.task.id]
            assert agent.booking is not None
            assert (agent.booking.resource, agent.booking.start) == (resource.id, pytest.approx(booking.start))
    booked = [b.task.id for r in resources.values() for b in r.schedule.bookings]
    assert len(booked) == len(set(booked))
    assert not any(a.limited for a in agents.values())


def test_the_limiter_ends_endless_retries() -> None:
    """With one attempt per placement, losers of a collision give up (and say so) instead of retrying."""
    rng = np.random.default_rng(7)
    events = [Arrival(0.0, t) for t in random_tasks(rng, 10)]
    outcome = asyncio.run(run_scheduling({"r": HORIZON}, events, "active", seeded(1), Limits(attempts=1)))
    report = outcome.report("limited")
    assert report.status == "max_iterations"
    assert report.extra["limited"]
    assert outcome.consistency_problems() == []


def test_request_budget_caps_an_agent() -> None:
    events = [Arrival(0.0, t) for t in random_tasks(np.random.default_rng(3), 6)]
    outcome = asyncio.run(run_scheduling({"r": HORIZON}, events, "active", seeded(2), Limits(requests=1)))
    assert all(agent.requests <= 1 for agent in outcome.agents.values())
    assert outcome.consistency_problems() == []


# ---------------------------------------------------------------- reviews, moves, dynamics


X = Task("x", 2.0, 10.0, 4.0)  # booked on r1 at its peak in the review tests


Reviewed = tuple[ReviewAnswer, dict[str, ResourceAgent], TaskAgent]


def review_x(r2_bookings: tuple[Booking, ...], start: float) -> Reviewed:
    """Ask x (on r1 from 8.0) whether a patch may move it to ``start``; r2 holds ``r2_bookings``."""
    resources = {"r1": ResourceAgent("r1", HORIZON), "r2": ResourceAgent("r2", HORIZON)}
    resources["r1"].schedule = ResourceSchedule("r1", HORIZON, (Booking(X, 8.0),), 1)
    resources["r2"].schedule = ResourceSchedule("r2", HORIZON, r2_bookings, 1)
    agent = TaskAgent(X, "active", ["r1", "r2"])
    agent.booking = Placement("r1", 8.0, 1)

    async def main() -> ReviewAnswer:
        async with InProcNetwork() as net:
            for resource in resources.values():
                net.add(resource)
            net.add(agent)
            answer = await net.add(Probe()).request(
                PatchReview(initiator="probe", resource="r1", base_version=1, start=start), "x", 5.0)
            assert isinstance(answer, ReviewAnswer)
            return answer

    return asyncio.run(main()), resources, agent


def test_a_shifted_task_leaves_for_a_better_resource() -> None:
    """A review would push x to satisfaction 0 while r2 is empty: x books r2 first, then leaves r1, and
    rejects the patch."""
    answer, resources, agent = review_x((), 14.0)
    assert not answer.accept
    assert "left 'r1' for 'r2'" in answer.reason
    assert resources["r1"].schedule.bookings == ()
    assert resources["r2"].schedule.task_ids == ("x",)
    assert agent.booking is not None
    assert agent.booking.resource == "r2"
    assert agent.satisfaction == pytest.approx(1.0)
    assert agent.moves == 1


@pytest.mark.parametrize("proposed_start", [8.5, 14.0])
def test_a_shifted_task_stays_when_nothing_is_better(proposed_start: float) -> None:
    answer, resources, agent = review_x((Booking(Task("o", 20.0, 12.0, 4.0), 0.0),), proposed_start)  # r2 full
    assert answer.accept
    assert resources["r1"].schedule.task_ids == ("x",)
    assert agent.moves == 0


def test_moves_keep_every_task_scheduled_once() -> None:
    """Active agents on three resources with crowded favourable times: some leave for other resources; no
    task is ever booked twice or lost, and the agents agree with the schedules."""
    moves = 0
    for seed in range(4):
        rng = np.random.default_rng(50 + seed)
        tasks = [Task(f"t{i}", 3.0, float(rng.uniform(8, 12)), 10.0) for i in range(12)]
        outcome = asyncio.run(run_scheduling({"a": HORIZON, "b": HORIZON, "c": HORIZON},
                                             [Arrival(0.0, t) for t in tasks], "active", seeded(seed)))
        assert outcome.consistency_problems() == []
        assert len(outcome.placed) == sum(a.booking is not None for a in outcome.agents.values()) >= 11
        moves += sum(a.moves for a in outcome.agents.values())
    assert moves > 0


@pytest.mark.parametrize("behaviour", ["active", "passive"])
def test_node_failure_re_places_its_tasks(behaviour: str) -> None:
    """r2 goes down: its tasks book r1 again (passive: only its gaps; active: with patches)."""
    rng = np.random.default_rng(11)
    tasks = [Task(f"t{i}", 2.0, float(rng.uniform(2, 22)), 8.0) for i in range(8)]
    events = [*(Arrival(0.0, t) for t in tasks), NodeFailure(1.0, "r2")]
    before = asyncio.run(run_scheduling({"r1": HORIZON, "r2": HORIZON}, events[:-1], behaviour,  # type: ignore[arg-type]
                                        seeded(4)))
    on_r2 = {tid for tid, (rid, _) in before.placed.items() if rid == "r2"}
    assert on_r2
    after = asyncio.run(run_scheduling({"r1": HORIZON, "r2": HORIZON}, events, behaviour,  # type: ignore[arg-type]
                                       seeded(4)))
    assert not after.states["r2"].up
    assert set(after.placed.values()) <= {p for p in after.placed.values() if p[0] == "r1"}
    assert after.consistency_problems() == []
    replaced = on_r2 & set(after.placed)
    assert replaced  # at least one of r2's tasks found room on r1
    for tid in on_r2 - replaced:
        assert after.agents[tid].booking is None
    # r1 cannot hold more than the horizon; what it holds is a valid schedule of the same tasks
    r1 = after.states["r1"].schedule()
    assert sum(b.task.duration for b in r1.bookings) <= HORIZON


def test_cancellation_frees_the_slot() -> None:
    a = Task("a", 4.0, 10.0, 6.0)
    b = Task("b", 4.0, 10.0, 6.0)
    events = [Arrival(0.0, a), Cancellation(1.0, "a"), Arrival(2.0, b)]
    outcome = asyncio.run(run_scheduling({"r": HORIZON}, events, "passive", seeded(0)))
    assert outcome.placed == {"b": ("r", pytest.approx(6.0))}
    assert outcome.agents["a"].booking is None
    assert outcome.agents["a"].cancelled
    assert outcome.total_satisfaction == pytest.approx(1.0)


# ---------------------------------------------------------------- the resource agent refuses bad patches


def _submit(resource: ResourceAgent, patch: PatchSubmit, sender: str = "probe") -> PatchOutcome:
    class Sender(Probe):
        id = sender

    async def main() -> PatchOutcome:
        async with InProcNetwork() as net:
            net.add(resource)
            reply = await net.add(Sender()).request(patch, resource.id, 5.0)
            assert isinstance(reply, PatchOutcome)
            return reply

    return asyncio.run(main())


def test_resource_refuses_bad_patches_and_keeps_its_schedule() -> None:
    resource = ResourceAgent("r", HORIZON)
    wire_a = WireTask(id="a", duration=2.0, favourable=5.0, width=4.0)
    added = _submit(resource, PatchSubmit(resource="r", base_version=0,
                                          modifications=(WireAdd(task=wire_a, start=3.0, key=KEY),)), sender="a")
    assert added.applied
    assert added.state.version == 1
    cases = [
        (PatchSubmit(resource="zz", base_version=1, modifications=(WireRemove(task_id="a"),)), "a",
         "patch for resource 'zz' sent to resource 'r'"),
        (PatchSubmit(resource="r", base_version=0, modifications=(WireRemove(task_id="a"),)), "a",
         "stale patch for resource 'r': computed against version 0, current version is 1"),
        (PatchSubmit(resource="r", base_version=1, modifications=(WireShift(task_id="q", old_start=0, start=1),)),
         "b", "patch shifts task 'q', not booked on resource 'r'"),
        (PatchSubmit(resource="r", base_version=1, modifications=(WireRemove(task_id="a"),)), "b",
         "'b' may not remove task 'a'"),
        (PatchSubmit(resource="r", base_version=1, modifications=(
            WireAdd(task=WireTask(id="b", duration=3.0, favourable=5.0, width=4.0), start=4.0, key=KEY),)), "b",
         "overlaps task 'a'"),
        (PatchSubmit(resource="r", base_version=1, modifications=(
            WireAdd(task=WireTask(id="c", duration=30.0, favourable=5.0, width=4.0), start=0.0, key=KEY),)), "c",
         "longer than the horizon"),
    ]
    for patch, sender, reason in cases:
        outcome = _submit(resource, patch, sender)
        assert not outcome.applied
        assert reason in outcome.reason
        assert outcome.state.version == 1
        assert outcome.state.bookings[0].task.id == "a"
    assert resource.refused == len(cases)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "sched.patch", "resource": "r", "base_version": 0, "modifications": []}, "modifications"),
        ({"kind": "sched.patch", "resource": "r", "base_version": -1,
          "modifications": [{"op": "remove", "task_id": "a"}]}, "base_version"),
        ({"kind": "sched.patch", "resource": "r", "base_version": 0,
          "modifications": [{"op": "evict", "task_id": "a"}]}, "op"),
        ({"kind": "sched.patch", "resource": "r", "base_version": 0,
          "modifications": [{"op": "add", "task": {"id": "a", "duration": -2, "favourable": 1, "width": 3},
                             "start": 0}]}, "duration"),
        ({"kind": "sched.review", "initiator": "i", "resource": "r", "base_version": 0, "start": "NaN"}, "start"),
        ({"kind": "sched.state", "resource": "r", "horizon": 0, "version": 0}, "horizon"),
    ],
)
def test_malformed_scheduling_messages_are_rejected(body: dict[str, object], field: str) -> None:
    payload = json.dumps({"v": 1, "id": "x-1", "sender": "a", "receiver": "r", "seq": 1, "body": body})
    with pytest.raises(ProtocolError, match=field):
        registry.codec().decode(payload)


def test_messages_survive_the_codec() -> None:
    schedule = ResourceSchedule("r", HORIZON, (Booking(Task("a", 2.0, 5.0, 4.0), 3.0),), 4)
    state = ScheduleState.of(schedule)
    assert state.schedule() == schedule
    patch = best_patch(schedule, Task("b", 2.0, 6.0, 6.0))
    assert patch is not None
    wire = PatchSubmit.of(patch, KEY)
    envelope = Envelope(id="p-1", sender="b", receiver="r", seq=1, body=wire)
    decoded = registry.codec().decode(registry.codec().encode(envelope)).body
    assert isinstance(decoded, PatchSubmit)
    assert decoded.patch().modifications == patch.modifications


# ---------------------------------------------------------------- scenario files


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tasks": [{"id": "a", "duration": -1, "favourable": 3, "width": 4}]}, "duration"),
        ({"tasks": [{"id": "a", "duration": 1, "favourable": 3, "width": 0}]}, "width"),
        ({"tasks": [{"id": "a", "duration": 30, "favourable": 3, "width": 4}]}, "longer than the horizon"),
        ({"failures": [{"resource": "nope", "at": 1}]}, "unknown resource 'nope'"),
        ({"tasks": [{"id": "a", "duration": 1, "favourable": 3, "width": 4, "cancel_at": 0}]}, "must arrive earlier"),
        ({"tasks": [{"id": "n1", "duration": 1, "favourable": 3, "width": 4}]}, "n1"),
        ({"behaviour": "greedy"}, "behaviour"),
    ],
)
def test_bad_scenarios_name_the_problem(change: dict[str, object], message: str) -> None:
    data = {"algorithm": "scheduling", "resources": [{"id": "n1", "horizon": 24}],
            "tasks": [{"id": "a", "duration": 1, "favourable": 3, "width": 4}], **change}
    with pytest.raises(ConfigError, match=message):
        parse_scenario(data, "bad.yaml")


def test_task_agent_refuses_bad_setup() -> None:
    with pytest.raises(ConfigError, match="behaviour"):
        TaskAgent(Task("a", 1.0, 2.0, 3.0), "lazy", ["r"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="knows no resource"):
        TaskAgent(Task("a", 1.0, 2.0, 3.0), "active", [])
    with pytest.raises(ConfigError, match="attempts"):
        Limits(attempts=0)
