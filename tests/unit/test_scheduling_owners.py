"""Issue 11, finding 9 (scheduling): a node applies patches only from the task's owner.

An ``add`` and a ``remove`` only of the sender's own task, a ``shift`` of another task only with that task's
consent to exactly this patch; every patch checked against the node's own model (size, horizon) first."""

from __future__ import annotations

import asyncio
import json

import pytest

from edge_agent import registry
from edge_agent.algorithms.scheduling import (
    Booking,
    BookingNotice,
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
)
from edge_agent.algorithms.scheduling.consent import consent, new_key
from edge_agent.algorithms.scheduling.messages import WireAdd, WireRemove, WireShift, WireTask
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import Envelope, Message

pytestmark = pytest.mark.timeout(30)

HORIZON = 24.0
A = Task("a", 2.0, 5.0, 4.0)
A_KEY = new_key()


class Asker:
    """A participant that only asks (a task agent, or a hostile device: the node sees only the sender id)."""

    def __init__(self, id: str) -> None:
        self.id = id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        """Notices of shifts may arrive; nothing else is asked of it."""


def node_with_a() -> ResourceAgent:
    """A node on which task ``a`` booked itself at 3.0 (with its key)."""
    node = ResourceAgent("r", HORIZON)
    outcome = submit(node, "a", PatchSubmit(resource="r", base_version=0, modifications=(
        WireAdd(task=WireTask.of(A), start=3.0, key=A_KEY),)))
    assert outcome.applied
    return node


def submit(node: ResourceAgent, sender: str, patch: PatchSubmit) -> PatchOutcome:
    async def main() -> PatchOutcome:
        async with InProcNetwork() as net:
            net.add(node)
            for owner in {*node.schedule.task_ids} - {sender}:
                net.add(Asker(owner))  # the owners of shifted tasks are told
            reply = await net.add(Asker(sender)).request(patch, node.id, 5.0)
            assert isinstance(reply, PatchOutcome)
            return reply

    return asyncio.run(main())


def shift_a(start: float, token: str | None, base_version: int = 1) -> PatchSubmit:
    return PatchSubmit(resource="r", base_version=base_version, modifications=(
        WireShift(task_id="a", old_start=3.0, start=start, consent=token),))


def a_consents(initiator: str, start: float, base_version: int = 1, key: str = A_KEY) -> str:
    return consent(key, task="a", initiator=initiator, resource="r", base_version=base_version, start=start)


def test_a_non_participant_cannot_shift_a_task_without_its_owners_consent() -> None:
    """The finding: mallory, who takes part in nothing, moved task a. Now refused, the schedule unchanged."""
    node = node_with_a()
    outcome = submit(node, "mallory", shift_a(15.0, None))
    assert not outcome.applied
    assert "'mallory' may not shift task 'a': its owner did not consent" in outcome.reason
    assert node.schedule.booking_of("a") == Booking(A, 3.0)
    assert node.schedule.version == 1


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (a_consents("b", 15.0), "a consent given to another initiator"),
        (a_consents("mallory", 14.0), "a consent to another start"),
        (a_consents("mallory", 15.0, base_version=0), "a consent to another version (replayed)"),
        (a_consents("mallory", 15.0, key=new_key()), "a consent under another key (forged)"),
        ("0" * 64, "a made-up token"),
    ],
    ids=["another initiator", "another start", "replayed", "forged", "made up"],  # tokens are random: not ids
)
def test_a_shift_needs_the_consent_to_exactly_this_patch(token: str, why: str) -> None:
    node = node_with_a()
    outcome = submit(node, "mallory", shift_a(15.0, token))
    assert not outcome.applied, why
    assert "did not consent" in outcome.reason
    assert node.schedule.booking_of("a") == Booking(A, 3.0)


def test_the_owners_consent_lets_the_initiator_shift_it_once() -> None:
    node = node_with_a()
    token = a_consents("b", 15.0)
    b_add = WireAdd(task=WireTask(id="b", duration=2.0, favourable=5.0, width=4.0), start=3.0, key=new_key())
    patch = PatchSubmit(resource="r", base_version=1, modifications=(
        b_add, WireShift(task_id="a", old_start=3.0, start=15.0, consent=token)))
    assert submit(node, "b", patch).applied
    assert node.schedule.booking_of("a") == Booking(A, 15.0)
    again = submit(node, "b", PatchSubmit(resource="r", base_version=2, modifications=(
        WireShift(task_id="a", old_start=15.0, start=15.0, consent=token),)))
    assert not again.applied  # the consent was for version 1
    assert "did not consent" in again.reason


def test_a_task_agent_consents_only_to_what_it_accepted() -> None:
    """Asked by a review, the task agent answers with a consent bound to the initiator that asked it; the node
    takes it from that initiator only."""
    node = ResourceAgent("r", HORIZON)
    agent = TaskAgent(A, "passive", ["r"])  # a passive agent accepts every review

    async def main() -> tuple[ReviewAnswer, PatchOutcome, PatchOutcome]:
        async with InProcNetwork() as net:
            net.add(node)
            carrier = net.add(agent)
            assert await agent.place(carrier)
            assert agent.booking is not None
            start = agent.booking.start
            mallory = net.add(Asker("mallory"))
            answer = await mallory.request(PatchReview(initiator="mallory", resource="r", base_version=1,
                                                       start=start + 5), "a", 5.0)
            assert isinstance(answer, ReviewAnswer)
            patch = PatchSubmit(resource="r", base_version=1, modifications=(
                WireShift(task_id="a", old_start=start, start=start + 5, consent=answer.consent),))
            stolen = await net.add(Asker("eve")).request(patch, "r", 5.0)
            used = await mallory.request(patch, "r", 5.0)
            await net.quiescent()
            assert isinstance(stolen, PatchOutcome)
            assert isinstance(used, PatchOutcome)
            return answer, stolen, used

    answer, stolen, used = asyncio.run(main())
    assert answer.accept
    assert answer.consent is not None
    assert not stolen.applied  # eve holds mallory's consent: it is not hers
    assert used.applied  # the owner accepted mallory's review: its shift is allowed
    assert agent.booking == Placement("r", node.schedule.bookings[0].start, 2)  # told by the notice


@pytest.mark.parametrize(
    ("sender", "modifications", "reason"),
    [
        ("mallory", (WireAdd(task=WireTask(id="b", duration=1.0, favourable=5.0, width=4.0), start=9.0,
                             key=new_key()),), "'mallory' may not add task 'b'"),
        ("mallory", (WireRemove(task_id="a"),), "'mallory' may not remove task 'a'"),
        ("b", (WireAdd(task=WireTask(id="b", duration=1.0, favourable=5.0, width=4.0), start=23.5,
                       key=new_key()),), "lies outside the horizon [0, 24.0]"),
        ("a", (WireShift(task_id="a", old_start=3.0, start=-1.0),), "lies outside the horizon"),
        ("a", (WireShift(task_id="a", old_start=4.0, start=6.0),), "from 4.0, but it starts at 3.0"),
        ("b", (WireAdd(task=WireTask(id="b", duration=1.0, favourable=5.0, width=4.0), start=9.0, key=new_key()),
               WireAdd(task=WireTask(id="b", duration=1.0, favourable=5.0, width=4.0), start=12.0, key=new_key())),
         "adds at most one task"),
        ("b", (WireShift(task_id="a", old_start=3.0, start=6.0, consent=a_consents("b", 6.0)),
               WireShift(task_id="a", old_start=3.0, start=6.0, consent=a_consents("b", 6.0))),
         "names every other task once"),
    ],
)
def test_patches_are_checked_against_the_nodes_model(
    sender: str, modifications: tuple[WireAdd | WireShift | WireRemove, ...], reason: str
) -> None:
    node = node_with_a()
    outcome = submit(node, sender, PatchSubmit(resource="r", base_version=1, modifications=modifications))
    assert not outcome.applied
    assert reason in outcome.reason
    assert node.schedule.bookings == (Booking(A, 3.0),)
    assert node.schedule.version == 1


def test_a_node_holds_at_most_its_configured_bookings() -> None:
    node = ResourceAgent("r", HORIZON, max_bookings=2)
    for i in range(3):
        outcome = submit(node, f"t{i}", PatchSubmit(resource="r", base_version=node.schedule.version, modifications=(
            WireAdd(task=WireTask(id=f"t{i}", duration=1.0, favourable=5.0, width=4.0), start=2.0 * i,
                    key=new_key()),)))
        assert outcome.applied == (i < 2)
    assert "holds at most 2 bookings" in outcome.reason
    too_long = PatchSubmit(resource="r", base_version=2, modifications=tuple(
        WireShift(task_id=f"x{i}", old_start=0.0, start=1.0) for i in range(4)))
    refused = submit(node, "t0", too_long)
    assert "a patch of 4 modifications" in refused.reason
    with pytest.raises(ConfigError, match="max_bookings"):
        ResourceAgent("r", HORIZON, max_bookings=0)


def test_an_oversized_patch_fails_decoding() -> None:
    body = {"kind": "sched.patch", "resource": "r", "base_version": 0,
            "modifications": [{"op": "remove", "task_id": "a"}] * 2000}
    payload = json.dumps({"v": 1, "id": "x-1", "sender": "a", "receiver": "r", "seq": 1, "body": body})
    with pytest.raises(ProtocolError, match="modifications"):
        registry.codec().decode(payload)


def test_booking_keys_are_never_published() -> None:
    node = node_with_a()
    assert A_KEY not in node.state.model_dump_json()
    schedule = ResourceSchedule("r", HORIZON, (Booking(A, 3.0),), 1)
    assert node.schedule == schedule


class LyingNode:
    """A node that answers every query with an impossible schedule, or with another node's."""

    def __init__(self, id: str, answer: Message) -> None:
        self.id = id
        self._answer = answer

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        carrier.reply(self._answer, envelope)


@pytest.mark.parametrize(
    "answer",
    [
        {"resource": "liar", "horizon": 24.0, "version": 1, "bookings": [
            {"task": {"id": "x", "duration": 5.0, "favourable": 5.0, "width": 4.0}, "start": 1.0},
            {"task": {"id": "y", "duration": 5.0, "favourable": 5.0, "width": 4.0}, "start": 2.0}]},
        {"resource": "r", "horizon": 24.0, "version": 0},
    ],
)
def test_a_task_agent_ignores_a_node_that_answers_nonsense(answer: dict[str, object]) -> None:
    """An overlapping schedule, or a state of another node: the task books the honest node instead."""
    node = ResourceAgent("r", HORIZON)
    agent = TaskAgent(A, "active", ["liar", "r"])

    async def main() -> bool:
        async with InProcNetwork() as net:
            net.add(node)
            net.add(LyingNode("liar", ScheduleState.model_validate(answer)))
            return await agent.place(net.add(agent))

    assert asyncio.run(main())
    assert agent.booking is not None
    assert agent.booking.resource == "r"


def test_a_notice_counts_only_from_the_node_it_names() -> None:
    """Anyone may send a task a ``sched.notice``; only the node's own moves its booking."""
    agent = TaskAgent(A, "active", ["r"])
    agent.booking = Placement("r", 3.0, 1)

    async def main() -> None:
        async with InProcNetwork() as net:
            net.add(agent)
            net.add(Asker("mallory")).send(BookingNotice(resource="r", version=9, start=20.0), "a")
            await net.quiescent()
            assert agent.booking == Placement("r", 3.0, 1)
            net.add(Asker("r")).send(BookingNotice(resource="r", version=2, start=4.0), "a")
            await net.quiescent()

    asyncio.run(main())
    assert agent.booking == Placement("r", 4.0, 2)
