"""The bridge's logic on one isolated Zenoh session (no network, no broker): records in, messages out; setpoints
checked, submitted to a stand-in for the coordinator, and answered on the status topic; tokens withdrawn on stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zenoh", reason="the ros2 extra (eclipse-zenoh) is not installed: pip install 'edge-agent[ros2]'")
pytest.importorskip("rosbags", reason="the ros2 extra (rosbags) is not installed: pip install 'edge-agent[ros2]'")

import zenoh  # (imported after the skips above)

from edge_agent.algorithms.admm.job import AdmmJobSpec
from edge_agent.carrier.mqtt_options import Inbound
from edge_agent.carrier.presence import PresenceRecord
from edge_agent.carrier.topics import Topics
from edge_agent.clock import ManualClock
from edge_agent.dashboard.state import FleetState
from edge_agent.errors import ConfigError, RunTimeout
from edge_agent.results import RunReport
from edge_agent.ros2.bridge import Ros2Bridge
from edge_agent.ros2.interfaces import DIAGNOSTIC_ARRAY, SETPOINT, STRING, RosType, decode, encode
from edge_agent.ros2.keys import data_key
from edge_agent.ros2.options import BridgeOptions, RosTopics
from edge_agent.ros2.service import zenoh_config

TOPICS = Topics("edge")
Submit = Callable[[AdmmJobSpec], Awaitable[list[RunReport]]]


class _Peer:
    """What the session itself sees: data samples and liveliness tokens, handed to the loop."""

    def __init__(self, session: Any) -> None:
        loop = asyncio.get_running_loop()
        self.samples: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.tokens: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self._data = session.declare_subscriber(
            "0/**", lambda s: loop.call_soon_threadsafe(self.samples.put_nowait,
                                                        (str(s.key_expr), s.payload.to_bytes())))
        self._live = session.liveliness().declare_subscriber(
            "@ros2_lv/0/**", lambda s: loop.call_soon_threadsafe(
                self.tokens.put_nowait, (str(s.key_expr), s.kind == zenoh.SampleKind.PUT)), history=True)

    async def next(self, topic: str, kind: RosType) -> Any:
        key = data_key(0, topic, kind.dds_name, kind.type_hash)
        while True:
            got, payload = await asyncio.wait_for(self.samples.get(), timeout=10)
            if got == key:
                return decode(kind, payload)


@pytest.fixture
async def session() -> AsyncIterator[Any]:
    opened = zenoh.open(zenoh_config(BridgeOptions(connect=(), listen=())))
    try:
        yield opened
    finally:
        opened.close()


def _online(state: FleetState, agent: str, kind: str | None) -> None:
    record = PresenceRecord(online=True, agent=agent, node=agent, session=f"{agent}:s1")
    state.receive(TOPICS.presence(agent), record.encode())
    if kind is not None:
        state.receive(TOPICS.record(agent, "device"), json.dumps({"id": agent, "kind": kind}).encode())


def _fleet(*, coordinator: bool = True) -> FleetState:
    state = FleetState(TOPICS, now=lambda: 5.0)
    _online(state, "gen-1", "generator")
    _online(state, "gen-2", "generator")
    if coordinator:
        _online(state, "coordinator", None)
    return state


def _setpoint(devices: list[str], target: float = 100.0) -> bytes:
    return encode(SETPOINT, SETPOINT.new(job="evening", algorithm="", target=np.array([target]),
                                         priorities=np.array([], dtype=np.float64), devices=devices))


def _report(job: AdmmJobSpec) -> RunReport:
    return RunReport(scenario=job.name, algorithm=job.algorithm, status="converged", objective=12.5, iterations=40,
                     messages=0, wall_s=0.1, aggregate=job.target, participants={})


async def _answering(job: AdmmJobSpec) -> list[RunReport]:
    return [_report(job)]


@contextlib.asynccontextmanager
async def _with_bridge(session: Any, state: FleetState, submit: Submit, max_jobs: int = 4,
                       clock: ManualClock | None = None) -> AsyncIterator[tuple[Ros2Bridge, _Peer]]:
    peer = _Peer(session)
    bridge = Ros2Bridge(session, state, BridgeOptions(connect=(), listen=(), period_s=2.0, max_jobs=max_jobs),
                        submit, now=lambda: 7.5, clock=clock or ManualClock())
    async with asyncio.TaskGroup() as tasks:
        bridge.start(tasks)
        try:
            yield bridge, peer
        finally:
            bridge.stop()


async def test_a_valid_setpoint_is_submitted_with_every_online_device_and_answered(session: Any) -> None:
    submitted: list[AdmmJobSpec] = []

    async def submit(job: AdmmJobSpec) -> list[RunReport]:
        submitted.append(job)
        return [_report(job)]

    async with _with_bridge(session, _fleet(), submit) as (bridge, peer):
        bridge.handle_setpoint(bridge.setpoint_key, _setpoint([]))
        assert (await peer.next("/edge_agent/setpoint_status", STRING)).data.startswith("accepted evening: 1 slots")
        finished = await peer.next("/edge_agent/setpoint_status", STRING)
        assert finished.data == "finished evening: converged, objective 12.5, 40 iterations"
    [job] = submitted
    assert (job.algorithm, job.target, job.participants) == ("admm-sharing", [100.0], ["gen-1", "gen-2"])


@pytest.mark.parametrize(("state", "key", "payload", "reason"), [
    (_fleet(), "0/edge_agent/setpoint/edge_agent_msgs::msg::dds_::Setpoint_/RIHS01_00", _setpoint([]),
     "a different type or type hash"),
    (_fleet(coordinator=False), None, _setpoint([]), "the coordinator service ('coordinator') is not online"),
    (_fleet(), None, _setpoint(["coordinator"]), "devices: 'coordinator' not online in the fleet"),
    (FleetState(TOPICS, now=lambda: 0.0), None, _setpoint([]), "no device is online in the fleet"),
    (_fleet(), None, b"\x00\x01\x00\x00", "not a CDR edge_agent_msgs/msg/Setpoint"),
])
async def test_a_setpoint_that_fails_a_check_is_refused_on_the_status_topic(
    session: Any, state: FleetState, key: str | None, payload: bytes, reason: str
) -> None:
    async with _with_bridge(session, state, _answering) as (bridge, peer):
        bridge.handle_setpoint(key or bridge.setpoint_key, payload)
        status = await peer.next("/edge_agent/setpoint_status", STRING)
    assert status.data.startswith("refused: ")
    assert reason in status.data
    assert bridge.refused == 1


async def test_setpoints_beyond_the_bound_on_running_jobs_are_refused_and_failures_reported(session: Any) -> None:
    release = asyncio.Event()

    async def slow(job: AdmmJobSpec) -> list[RunReport]:
        await release.wait()
        raise RunTimeout("the coordinator did not answer")

    async with _with_bridge(session, _fleet(), slow, max_jobs=1) as (bridge, peer):
        bridge.handle_setpoint(bridge.setpoint_key, _setpoint(["gen-1"]))
        assert (await peer.next("/edge_agent/setpoint_status", STRING)).data.startswith("accepted")
        bridge.handle_setpoint(bridge.setpoint_key, _setpoint(["gen-1"]))
        refused = await peer.next("/edge_agent/setpoint_status", STRING)
        assert refused.data == "refused: 1 setpoints are being run; at most 1 at once"
        release.set()
        failed = await peer.next("/edge_agent/setpoint_status", STRING)
        assert failed.data == "failed evening: RunTimeout: the coordinator did not answer"


async def test_a_record_from_the_broker_is_published_at_once_and_tokens_leave_on_stop(session: Any) -> None:
    state = _fleet()
    async with _with_bridge(session, state, _answering) as (bridge, peer):
        record = PresenceRecord(online=True, agent="gen-3", node="gen-3", session="gen-3:s1")
        await peer.next("/diagnostics", DIAGNOSTIC_ARRAY)  # the first periodic publication: every agent
        bridge.on_mqtt(Inbound(TOPICS.presence("gen-3"), record.encode(), retain=True))
        array = await peer.next("/diagnostics", DIAGNOSTIC_ARRAY)
        assert [(s.hardware_id, s.level, s.message) for s in array.status] == [("gen-3", 0, "online")]
        assert (array.header.stamp.sec, array.header.stamp.nanosec) == (7, 500_000_000)
        bridge.on_mqtt(Inbound(TOPICS.presence("gen-3"), b"{broken", retain=True))  # counted, not published
        assert state.rejected == 1
    tokens: dict[str, bool] = {}

    async def withdrawn() -> None:
        while len(tokens) < 6 or any(tokens.values()):  # the node, four publishers, the setpoint subscription
            key, alive = await peer.tokens.get()
            tokens[key] = alive

    await asyncio.wait_for(withdrawn(), timeout=10)
    assert sum("/NN/" in key for key in tokens) == 1
    assert sum("/MP/" in key for key in tokens) == 4


async def test_every_agent_is_published_again_each_period(session: Any) -> None:
    clock = ManualClock()
    async with _with_bridge(session, _fleet(), _answering, clock=clock) as (_, peer):
        first = await peer.next("/diagnostics", DIAGNOSTIC_ARRAY)
        await clock.advance(2.0)
        second = await peer.next("/diagnostics", DIAGNOSTIC_ARRAY)
    assert [s.hardware_id for s in first.status] == ["gen-1", "gen-2", "coordinator"]
    assert [s.hardware_id for s in second.status] == ["gen-1", "gen-2", "coordinator"]
    assert [s.values[0].value for s in second.status] == ["generator", "generator", ""]


def test_options_out_of_range_are_refused_naming_the_option() -> None:
    with pytest.raises(ConfigError, match="--domain-id 233: ROS 2 domain ids are 0-232"):
        BridgeOptions(domain_id=233)
    with pytest.raises(ConfigError, match="--zenoh-connect 'localhost:7447': a Zenoh endpoint"):
        zenoh_config(BridgeOptions(connect=("localhost:7447",)))
    with pytest.raises(ConfigError, match="the setpoint topic 'setpoint' is not a fully qualified ROS 2 name"):
        RosTopics(setpoint="setpoint")
