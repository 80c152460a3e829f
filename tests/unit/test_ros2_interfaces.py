"""The ROS 2 bridge's formats: the shipped .msg files, CDR round trips, type names and hashes, rmw_zenoh's key
expressions and liveliness tokens, the fleet's records as messages, and the checks on setpoints."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the ros2 extra (rosbags) is not installed: pip install 'edge-agent[ros2]'")

from edge_agent.carrier.presence import PresenceRecord  # (imported after the skip above)
from edge_agent.carrier.topics import Topics
from edge_agent.dashboard.state import FleetState
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.ros2 import view
from edge_agent.ros2.interfaces import (
    DIAGNOSTIC_ARRAY,
    RUN_PROGRESS,
    RUN_RESULT,
    SETPOINT,
    STRING,
    RosType,
    decode,
    encode,
    message_files,
    typestore,
)
from edge_agent.ros2.keys import Attachment, Entity, data_key, node_token, qos, validate_topic
from edge_agent.ros2.setpoints import MAX_PAYLOAD, MAX_SLOTS, SetpointRefused, job_of
from edge_agent.runtime.progress import ProgressPoint, RunProgress, RunResult

# rmw_zenoh's design doc (docs/design.md) shows these for demo_nodes_cpp's talker/listener
STRING_HASH = "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
LISTENER_SESSION = "aac3178e146ba6f1fc6e6a4085e77f21"
TOPICS = Topics("edge")


def test_the_shipped_msg_files_parse_and_are_registered() -> None:
    assert sorted(message_files()) == [RUN_PROGRESS.name, RUN_RESULT.name, SETPOINT.name]
    store = typestore()
    for kind in (RUN_PROGRESS, RUN_RESULT, SETPOINT):
        assert kind.name in store.types
    fields = [name for name, _ in store.fielddefs[SETPOINT.name][1]]
    assert fields == ["job", "algorithm", "target", "priorities", "devices"]


def test_type_names_and_hashes_are_the_ones_rmw_zenoh_uses() -> None:
    assert STRING.dds_name == "std_msgs::msg::dds_::String_"
    assert STRING.type_hash == STRING_HASH
    # a type with nested types: the hash ROS 2 Jazzy nodes on rmw_zenoh put in their /cmd_vel keys
    assert RosType("geometry_msgs/msg/Twist").type_hash == (
        "RIHS01_9c45bf16fe0983d80e3cfe750d6835843d265a9a6c46bd2e609fcddde6fb8d2a")
    assert RUN_PROGRESS.dds_name == "edge_agent_msgs::msg::dds_::RunProgress_"
    for kind in (DIAGNOSTIC_ARRAY, RUN_PROGRESS, RUN_RESULT, SETPOINT):
        assert kind.type_hash.startswith("RIHS01_")
        assert len(kind.type_hash) == len("RIHS01_") + 64
    assert len({k.type_hash for k in (RUN_PROGRESS, RUN_RESULT, SETPOINT)}) == 3


def test_a_setpoint_survives_a_cdr_round_trip() -> None:
    message = SETPOINT.new(job="evening", algorithm="", target=np.array([300.0, -12.5]),
                           priorities=np.array([100.0, 1.0]), devices=["gen-1", "gen-2"])
    payload = encode(SETPOINT, message)
    assert payload[:4] == b"\x00\x01\x00\x00"  # CDR, little endian
    back = decode(SETPOINT, payload)
    assert back.job == "evening"
    assert back.target.tolist() == [300.0, -12.5]
    assert back.devices == ["gen-1", "gen-2"]


def test_bytes_that_are_not_the_type_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not a CDR edge_agent_msgs/msg/Setpoint"):
        decode(SETPOINT, b"\x00\x01\x00\x00\xff\xff\xff\x7f")


def test_data_keys_follow_the_design_doc() -> None:
    assert data_key(0, "/chatter", STRING.dds_name, STRING.type_hash) == (
        f"0/chatter/std_msgs::msg::dds_::String_/{STRING_HASH}")
    assert data_key(0, "/robot1/chatter", STRING.dds_name, STRING.type_hash).startswith("0/robot1/chatter/std_msgs")


def test_qos_and_liveliness_tokens_follow_the_design_doc() -> None:
    assert qos(depth=10) == "::,10:,:,:,,"
    assert qos(depth=7) == "::,7:,:,:,,"
    assert node_token(2, LISTENER_SESSION, 0, "listener") == f"@ros2_lv/2/{LISTENER_SESSION}/0/0/NN/%/%/listener"
    subscription = Entity("MS", 2, LISTENER_SESSION, 0, 10, "listener", "/chatter", STRING.dds_name, STRING.type_hash)
    assert subscription.token == (f"@ros2_lv/2/{LISTENER_SESSION}/0/10/MS/%/%/listener/%chatter/"
                                  f"std_msgs::msg::dds_::String_/{STRING_HASH}/::,10:,:,:,,")
    assert subscription.key == f"2/chatter/std_msgs::msg::dds_::String_/{STRING_HASH}"
    namespaced = Entity("MP", 0, "ab", 1, 3, "n", "/r1/x", STRING.dds_name, STRING.type_hash, namespace="/r1")
    assert namespaced.token.startswith("@ros2_lv/0/ab/1/3/MP/%/%r1/n/%r1%x/")


def test_the_attachment_is_sequence_timestamp_and_gid() -> None:
    entity = Entity("MP", 0, "ab", 0, 1, "n", "/x", STRING.dds_name, STRING.type_hash)
    data = Attachment(7, 1_700_000_000_123_456_789, entity.gid).encode()
    assert len(data) == 33
    assert data[:8] == (7).to_bytes(8, "little")
    assert data[16] == 16
    assert Attachment.decode(data) == Attachment(7, 1_700_000_000_123_456_789, entity.gid)
    with pytest.raises(ProtocolError):
        Attachment.decode(data[:-1])


@pytest.mark.parametrize("name", ["chatter", "/a//b", "/1a", "/a-b", "/a/", "/a__b"])
def test_topic_names_that_ros_refuses_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="fully qualified ROS 2 name"):
        validate_topic(name)


def _presence(agent: str, online: bool) -> tuple[str, bytes]:
    record = PresenceRecord(online=online, agent=agent, node=agent, session=f"{agent}:s1",
                            reason="connected" if online else "will")
    return TOPICS.presence(agent), record.encode()


def test_devices_become_diagnostic_statuses() -> None:
    state = FleetState(TOPICS, now=lambda: 50.0)
    state.receive(*_presence("gen-1", True))
    state.receive(TOPICS.record("gen-1", "device"), json.dumps({"id": "gen-1", "kind": "generator"}).encode())
    state.receive(*_presence("gen-2", True))
    state.receive(*_presence("gen-2", False))
    [array] = view.diagnostics(state, ["gen-1", "gen-2", "unknown"], now=100.25)
    back = decode(DIAGNOSTIC_ARRAY, encode(DIAGNOSTIC_ARRAY, array))
    assert (back.header.stamp.sec, back.header.stamp.nanosec) == (100, 250_000_000)
    first, second = back.status
    assert (first.level, first.hardware_id, first.message) == (0, "gen-1", "online")
    assert first.name == "edge_agent/edge/gen-1"
    assert {kv.key: kv.value for kv in first.values}["kind"] == "generator"
    assert (second.level, second.message) == (3, "offline")


def test_progress_and_results_become_run_messages() -> None:
    state = FleetState(TOPICS, now=lambda: 50.0)
    record = RunProgress(run="r1", job="evening", algorithm="admm-sharing", status="running", iteration=2,
                         max_iterations=100, participants=2, present=2, started_at=10.0, elapsed_s=1.5,
                         points=[ProgressPoint(round=0, primal=1.0, dual=0.5), ProgressPoint(round=1, primal=0.25)])
    [event] = state.receive(TOPICS.record("coordinator", "progress"), record.model_dump_json().encode())
    message = decode(RUN_PROGRESS, encode(RUN_PROGRESS, view.run_progress(state, "r1", event["points"], now=60.0)))
    assert (message.run, message.job, message.driver, message.status) == ("r1", "evening", "coordinator", "running")
    assert (message.iteration, message.max_iterations, message.participants) == (2, 100, 2)
    assert message.rounds.tolist() == [0, 1]
    assert message.primal_residual.tolist() == [1.0, 0.25]
    assert message.dual_residual[0] == 0.5
    assert math.isnan(message.dual_residual[1])

    report = {"status": "converged", "objective": 12.5, "iterations": 40, "wall_s": 0.5, "aggregate": [300.0],
              "participants": {"gen-1": {"x": [100.0], "cost": 5.0}, "gen-2": {"x": [200.0], "cost": 7.5}}}
    answer = RunResult(kind="admm.job_result", job="evening", report=report)
    state.receive(TOPICS.run("coordinator", "r1"), answer.model_dump_json().encode())
    result = decode(RUN_RESULT, encode(RUN_RESULT, view.run_result(state, "r1", now=61.0)))
    assert (result.status, result.job, result.error, result.iterations) == ("converged", "evening", "", 40)
    assert result.objective == pytest.approx(12.5)
    assert result.aggregate.tolist() == [300.0]
    assert result.devices == ["gen-1", "gen-2"]
    assert result.device_costs.tolist() == [5.0, 7.5]


def _setpoint(**fields: object) -> bytes:
    values: dict[str, object] = {"job": "evening", "algorithm": "", "target": [300.0], "priorities": [],
                                 "devices": ["gen-1"]}
    values.update(fields)
    message = SETPOINT.new(job=values["job"], algorithm=values["algorithm"],
                           target=np.array(values["target"], dtype=np.float64),
                           priorities=np.array(values["priorities"], dtype=np.float64), devices=values["devices"])
    return encode(SETPOINT, message)


def test_a_valid_setpoint_becomes_a_sharing_job() -> None:
    job = job_of(_setpoint(priorities=[100.0]), online={"gen-1", "gen-2"})
    assert (job.algorithm, job.name, job.target, job.priorities, job.participants) == (
        "admm-sharing", "evening", [300.0], [100.0], ["gen-1"])
    assert job_of(_setpoint(job="", devices=[]), online=set()).name == "ros2-setpoint"


@pytest.mark.parametrize(("fields", "message"), [
    ({"target": []}, r"target: 0 values; 1 to 96 accepted"),
    ({"target": [1.0] * (MAX_SLOTS + 1)}, r"target: 97 values"),
    ({"target": [math.nan]}, r"target\[0\] = nan; finite values in \[-1e\+06, 1e\+06\]"),
    ({"target": [1.0, 2e6]}, r"target\[1\] = 2000000.0"),
    ({"priorities": [1.0, 2.0]}, r"priorities: 2 values; 1 accepted"),
    ({"priorities": [0.0]}, r"priorities\[0\] = 0.0; finite values in \(0, 1e\+06\]"),
    ({"algorithm": "admm-consensus", "priorities": [1.0]}, r"only admm-sharing takes them"),
    ({"algorithm": "cohda"}, r"algorithm 'cohda': one of admm-sharing, admm-consensus"),
    ({"job": "no spaces allowed"}, r"job 'no spaces allowed': 1-40 characters"),
    ({"devices": ["gen-9"]}, r"devices: 'gen-9' not online in the fleet; devices online: gen-1"),
    ({"devices": ["gen-1", "gen-1"]}, r"named twice"),
])
def test_a_setpoint_is_refused_naming_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(SetpointRefused, match=message):
        job_of(_setpoint(**fields), online={"gen-1"})


def test_bytes_that_are_not_a_setpoint_are_refused() -> None:
    with pytest.raises(SetpointRefused, match="not a CDR"):
        job_of(b"\x00\x01\x00\x00garbage", online=set())
    with pytest.raises(SetpointRefused, match=f"at most {MAX_PAYLOAD}"):
        job_of(b"\x00" * (MAX_PAYLOAD + 1), online=set())
