"""The ROS 2 types the bridge speaks: their names, their RIHS01 hashes and their CDR encoding.

Standard types come from rosbags' ROS 2 Jazzy type store; the bridge's own types are the ``.msg`` files shipped in
``edge_agent/ros2/edge_agent_msgs/msg`` (a ROS 2 package a ROS user builds with colcon), parsed and registered into
that store when :func:`typestore` is first called. Type hashes are rosbags' ``hash_rihs01``: the REP-2011 type
description hash that ``rosidl`` generates (a test pins it against the one rmw_zenoh's design doc shows for
``std_msgs/msg/String``). Payloads are CDR with the 4-byte encapsulation header, little endian, as rmw_zenoh sends.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from edge_agent.errors import ProtocolError

__all__ = [
    "CUSTOM_PACKAGE",
    "DIAGNOSTIC_ARRAY",
    "RUN_PROGRESS",
    "RUN_RESULT",
    "SETPOINT",
    "STRING",
    "RosType",
    "decode",
    "encode",
    "message_files",
    "typestore",
]

CUSTOM_PACKAGE = "edge_agent_msgs"


@dataclass(frozen=True)
class RosType:
    """A ROS 2 message type by its name, ``pkg/msg/Name``."""

    name: str

    @property
    def dds_name(self) -> str:
        """The name as rmw_zenoh writes it in key expressions: ``pkg::msg::dds_::Name_``."""
        package, kind, short = self.name.split("/")
        return f"{package}::{kind}::dds_::{short}_"

    @property
    def type_hash(self) -> str:
        """``RIHS01_<sha256 hex>`` of the type description."""
        return typestore().hash_rihs01(self.name)

    def new(self, **fields: Any) -> Any:
        """An instance of the type (rosbags' dataclass; primitive arrays are numpy arrays)."""
        return typestore().types[self.name](**fields)


STRING = RosType("std_msgs/msg/String")
DIAGNOSTIC_ARRAY = RosType("diagnostic_msgs/msg/DiagnosticArray")
RUN_PROGRESS = RosType(f"{CUSTOM_PACKAGE}/msg/RunProgress")
RUN_RESULT = RosType(f"{CUSTOM_PACKAGE}/msg/RunResult")
SETPOINT = RosType(f"{CUSTOM_PACKAGE}/msg/Setpoint")


def message_files() -> dict[str, str]:
    """The shipped ``.msg`` files: type name -> text."""
    folder = resources.files("edge_agent.ros2").joinpath(CUSTOM_PACKAGE, "msg")
    return {f"{CUSTOM_PACKAGE}/msg/{entry.name.removesuffix('.msg')}": entry.read_text(encoding="utf-8")
            for entry in sorted(folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(".msg")}


@functools.cache
def typestore() -> Typestore:
    """ROS 2 Jazzy's standard types and the bridge's own, registered from the shipped ``.msg`` files."""
    store = get_typestore(Stores.ROS2_JAZZY)
    for name, text in message_files().items():
        store.register(get_types_from_msg(text, name))
    return store


def encode(kind: RosType, message: Any) -> bytes:
    """The CDR bytes of ``message`` (an instance of ``kind``)."""
    return bytes(typestore().serialize_cdr(message, kind.name))


def decode(kind: RosType, payload: bytes) -> Any:
    """The message of type ``kind`` in ``payload``; :class:`ProtocolError` if the bytes are not one."""
    try:
        return typestore().deserialize_cdr(payload, kind.name)
    except Exception as error:  # rosbags raises assorted errors on malformed CDR; each means "not one"
        raise ProtocolError(f"not a CDR {kind.name}: {type(error).__name__}: {error}") from None
