"""Presence records and the tracker that folds them (retained records, wills, clean leaves) into who is online."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from edge_agent.carrier.presence import PresenceRecord, PresenceTracker, session_of
from edge_agent.clock import ManualClock
from edge_agent.errors import ProtocolError, RunTimeout


def record(agent: str, session: str, *, online: bool = True, node: str = "node-1", reason: str = "connected") -> bytes:
    """A record of ``agent`` hosted by ``node`` in that node's connection ``session``."""
    return json.dumps({"online": online, "agent": agent, "node": node, "session": session_of(node, session),
                       "reason": reason}).encode()


def will(node: str, session: str) -> bytes:
    return PresenceRecord(online=False, agent=node, node=node, session=session_of(node, session),
                          reason="will").encode()


# -- the record ------------------------------------------------------------------------------------
def test_a_record_encodes_to_json_and_decodes_to_the_same_record() -> None:
    sent = PresenceRecord(online=True, agent="gen-1", node="host-a", session="s1")
    assert json.loads(sent.encode()) == {"online": True, "agent": "gen-1", "node": "host-a", "session": "s1",
                                         "reason": "connected"}
    assert PresenceRecord.model_validate_json(sent.encode()) == sent


def test_a_will_says_the_node_is_offline_for_the_reason_will() -> None:
    decoded = PresenceRecord.model_validate_json(will("host-a", "s9"))
    assert (decoded.online, decoded.agent, decoded.node, decoded.session, decoded.reason) == (
        False, "host-a", "host-a", "host-a:s9", "will")


def test_unknown_fields_are_ignored_and_records_are_frozen() -> None:
    payload = json.dumps({"online": True, "agent": "a", "node": "n", "session": "s", "since": 12}).encode()
    decoded = PresenceRecord.model_validate_json(payload)
    assert decoded == PresenceRecord(online=True, agent="a", node="n", session="s")
    with pytest.raises(ValidationError, match="frozen"):
        decoded.online = False  # type: ignore[misc]


# -- the tracker -----------------------------------------------------------------------------------
def test_online_records_add_agents_and_offline_records_remove_them() -> None:
    tracker = PresenceTracker()
    tracker.update("a", record("a", "s1"))
    tracker.update("b", record("b", "s2"))
    assert tracker.online == {"a", "b"}
    tracker.update("a", record("a", "s1", online=False, reason="shutdown"))
    assert tracker.online == {"b"}


def test_a_will_ends_every_agent_of_its_session() -> None:
    tracker = PresenceTracker()
    for agent in ("d1", "d2"):
        tracker.update(agent, record(agent, "s1", node="host"))
    tracker.update("other", record("other", "s2", node="elsewhere"))
    tracker.update("host", will("host", "s1"))  # on the node's topic, naming only the node
    assert tracker.online == {"other"}


def test_an_online_record_of_an_ended_session_is_ignored_whatever_the_order() -> None:
    tracker = PresenceTracker()
    tracker.update("host", will("host", "s1"))  # the retained will arrives first
    tracker.update("d1", record("d1", "s1", node="host"))  # then d1's retained (stale) online record
    assert tracker.online == frozenset()
    tracker.update("d1", record("d1", "s2", node="host"))  # the next session counts
    assert tracker.online == {"d1"}


def test_a_stale_offline_record_does_not_end_the_agents_newer_session() -> None:
    """Reconnected in session s2, then a late offline record of s1 arrives: s1 ends, s2 (and the agent) stay."""
    tracker = PresenceTracker()
    tracker.update("a", record("a", "s1"))
    tracker.update("a", record("a", "s2"))
    tracker.update("a", record("a", "s1", online=False, reason="will"))
    assert tracker.online == {"a"}
    tracker.update("a", record("a", "s2", online=False, reason="shutdown"))
    assert tracker.online == frozenset()


def test_a_cleared_retained_record_forgets_the_agent() -> None:
    tracker = PresenceTracker()
    tracker.update("a", record("a", "s1"))
    tracker.update("a", b"")
    assert tracker.online == frozenset()
    tracker.update("never-seen", b"")  # nothing to forget: no error
    assert tracker.online == frozenset()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "Invalid JSON"),
        (b"\x00", "Invalid JSON"),
        (b" ", "Invalid JSON: EOF while parsing"),
        (b"{", "Invalid JSON"),
        (b"[" * 100_000, "Invalid JSON: recursion limit exceeded"),
        (b"null", "Input should be an object"),
        (b"[]", "Input should be an object"),
        (b'"online"', "Input should be an object"),
        (b"{}", "Field required"),
        (b'{"online": true, "agent": "a", "node": "n"}', "Field required"),
        (b'{"online": "maybe", "agent": "a", "node": "n", "session": "s"}', "Input should be a valid boolean"),
        (b'{"online": true, "agent": 7, "node": "n", "session": "s"}', "Input should be a valid string"),
        (b'{"online": true, "agent": "a", "node": "n", "session": "s", "reason": "gone"}',
         "Input should be 'connected', 'shutdown' or 'will'"),
    ],
)
def test_a_malformed_record_is_a_protocol_error_naming_the_topics_agent_and_changes_nothing(
    payload: bytes, reason: str
) -> None:
    tracker = PresenceTracker()
    tracker.update("a", record("a", "s1"))
    with pytest.raises(ProtocolError, match="malformed presence record") as info:
        tracker.update("a", payload)
    assert reason in str(info.value)
    assert info.value.sender == "a"
    assert tracker.online == {"a"}


@pytest.mark.parametrize("online", [True, False])
def test_a_record_for_another_agent_on_this_topic_is_refused(online: bool) -> None:
    tracker = PresenceTracker()
    tracker.update("victim", record("victim", "s1"))
    refused = r"presence record for 'victim' published on the presence topic of 'mallory'$"
    with pytest.raises(ProtocolError, match=refused) as info:
        tracker.update("mallory", record("victim", "s1", online=online))
    assert info.value.sender == "mallory"
    assert tracker.online == {"victim"}


# -- waiting ---------------------------------------------------------------------------------------
async def test_wait_for_returns_once_everyone_is_online() -> None:
    tracker, clock = PresenceTracker(), ManualClock()
    waiting = asyncio.ensure_future(tracker.wait_for(["a", "b"], 10.0, clock))
    await clock.advance(1.0)
    tracker.update("a", record("a", "s1"))
    await clock.advance(1.0)
    assert not waiting.done()
    tracker.update("b", record("b", "s2"))
    await clock.advance(0.0)
    assert waiting.done()
    await waiting


async def test_wait_for_offline_returns_once_everyone_left() -> None:
    tracker, clock = PresenceTracker(), ManualClock()
    tracker.update("a", record("a", "s1"))
    await tracker.wait_for(["b"], 0.0, clock, online=False)  # never seen counts as offline
    waiting = asyncio.ensure_future(tracker.wait_for(["a", "b"], 10.0, clock, online=False))
    await clock.advance(1.0)
    assert not waiting.done()
    tracker.update("node-1", will("node-1", "s1"))  # the will of the node that hosted a
    await clock.advance(0.0)
    assert waiting.done()
    await waiting


@pytest.mark.parametrize(("online", "state"), [(True, "online"), (False, "offline")])
async def test_wait_for_times_out_on_the_injected_clock_naming_who_is_missing(online: bool, state: str) -> None:
    tracker, clock = PresenceTracker(), ManualClock()
    tracker.update("b", record("b", "s1"))
    if not online:
        tracker.update("c", record("c", "s1"))
    expected = ("a", "c") if online else ("b", "c")
    waiting = asyncio.ensure_future(tracker.wait_for(["c", "b", "a"], 2.5, clock, online=online))
    await clock.advance(2.4)
    assert not waiting.done()
    await clock.advance(0.1)
    assert waiting.done()
    with pytest.raises(RunTimeout, match=f"not {state} within 2.5 s: {', '.join(expected)}$") as info:
        await waiting
    assert info.value.participants == expected
