"""rmw_zenoh's naming on the Zenoh wire (ROS 2 Jazzy, ``rmw_zenoh_cpp`` 0.2 on Zenoh 1.x; its ``docs/design.md``).

- A topic's data travels on ``<domain_id>/<fully qualified name without the leading slash>/<dds type
  name>/<type hash>``, e.g. ``0/chatter/std_msgs::msg::dds_::String_/RIHS01_df66...``.
- Each node and each publisher or subscription holds a liveliness token, which is how ``ros2 node list`` and
  ``ros2 topic list`` see it: ``@ros2_lv/<domain_id>/<session id>/<node id>/<entity id>/<kind>/<enclave>/
  <namespace>/<node name>[/<topic>/<type>/<hash>/<qos>]`` with ``/`` in names mangled to ``%`` (an empty
  enclave or namespace is ``%``), ``kind`` one of ``NN`` (node), ``MP`` (publisher), ``MS`` (subscription); a
  node's entity id is its node id.
- ``<qos>`` is ``<reliability>:<durability>:<history>,<depth>:<deadline s>,<ns>:<lifespan s>,<ns>:<liveliness>,
  <lease s>,<ns>``, each field empty when it is the default (reliable, volatile, keep last; depth 42 is not
  the default a ROS node writes, so the depth is always given).
- Every sample carries an attachment: the sequence number (int64 LE), the source timestamp (ns since the epoch,
  int64 LE), one byte 16 and the publisher's 16-byte GID. rmw_zenoh derives a GID from a 128-bit hash of the
  entity's token; this module uses BLAKE2b-128 of the token (the value only has to be unique and stable).
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Literal

from edge_agent.errors import ConfigError, ProtocolError

__all__ = [
    "ADMIN_SPACE",
    "Attachment",
    "Entity",
    "data_key",
    "gid",
    "mangle",
    "node_token",
    "qos",
    "validate_topic",
]

ADMIN_SPACE = "@ros2_lv"
_TOPIC = re.compile(r"^(/[A-Za-z][A-Za-z0-9_]*)+$")
_NODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ATTACHMENT = struct.Struct("<qqB16s")
RELIABLE, BEST_EFFORT = 1, 2
VOLATILE, TRANSIENT_LOCAL = 2, 1
KEEP_LAST = 1


def validate_topic(name: str, what: str = "topic") -> str:
    """A fully qualified ROS 2 topic name (``/a/b``: tokens of letters, digits and ``_``, not starting with a
    digit); :class:`ConfigError` otherwise."""
    if not _TOPIC.match(name) or "__" in name:
        raise ConfigError(f"{what} {name!r} is not a fully qualified ROS 2 name: '/' then tokens of letters, digits "
                          "and '_' (each starting with a letter, no '__'), e.g. /edge_agent/run_progress")
    return name


def mangle(name: str) -> str:
    """A name as one key-expression chunk: every ``/`` as ``%``; empty as ``%``."""
    return name.replace("/", "%") or "%"


def data_key(domain_id: int, topic: str, dds_type: str, type_hash: str) -> str:
    """Where the samples of ``topic`` travel."""
    return f"{domain_id}/{topic.lstrip('/')}/{dds_type}/{type_hash}"


def qos(*, depth: int, reliability: int = RELIABLE, durability: int = VOLATILE, history: int = KEEP_LAST) -> str:
    """The compact QoS chunk of a liveliness token (defaults left empty)."""
    fields = ["" if reliability == RELIABLE else str(reliability), "" if durability == VOLATILE else str(durability),
              f"{'' if history == KEEP_LAST else history},{depth}"]
    return ":".join([*fields, ",", ",", ",,"])


def node_token(domain_id: int, session: str, node_id: int, name: str, namespace: str = "/") -> str:
    """The token of a node (its entity id is its node id)."""
    return _head(domain_id, session, node_id, entity_id=node_id, kind="NN", namespace=namespace, node=name)


def _head(domain_id: int, session: str, node_id: int, *, entity_id: int, kind: str, namespace: str, node: str) -> str:
    if not _NODE.match(node):
        raise ConfigError(f"node name {node!r}: letters, digits and '_', starting with a letter")
    space = mangle(namespace.rstrip("/"))
    return f"{ADMIN_SPACE}/{domain_id}/{session}/{node_id}/{entity_id}/{kind}/%/{space}/{node}"


@dataclass(frozen=True)
class Entity:
    """A publisher (``MP``) or subscription (``MS``) of a node, as the ROS graph sees it."""

    kind: Literal["MP", "MS"]
    domain_id: int
    session: str
    node_id: int
    entity_id: int
    node: str
    topic: str
    dds_type: str
    type_hash: str
    depth: int = 10
    namespace: str = "/"

    @property
    def key(self) -> str:
        return data_key(self.domain_id, self.topic, self.dds_type, self.type_hash)

    @property
    def token(self) -> str:
        head = _head(self.domain_id, self.session, self.node_id, entity_id=self.entity_id, kind=self.kind,
                     namespace=self.namespace, node=self.node)
        return f"{head}/{mangle(self.topic)}/{self.dds_type}/{self.type_hash}/{qos(depth=self.depth)}"

    @property
    def gid(self) -> bytes:
        return gid(self.token)


def gid(token: str) -> bytes:
    """A 16-byte GID for the entity holding ``token``."""
    return hashlib.blake2b(token.encode(), digest_size=16).digest()


@dataclass(frozen=True)
class Attachment:
    """The attachment of every rmw_zenoh sample."""

    sequence: int
    timestamp_ns: int
    gid: bytes

    def encode(self) -> bytes:
        return _ATTACHMENT.pack(self.sequence, self.timestamp_ns, len(self.gid), self.gid)

    @classmethod
    def decode(cls, data: bytes) -> Attachment:
        if len(data) != _ATTACHMENT.size:
            raise ProtocolError(f"an rmw_zenoh attachment has {_ATTACHMENT.size} bytes, not {len(data)}")
        sequence, stamp, size, source = _ATTACHMENT.unpack(data)
        if size != len(source):
            raise ProtocolError(f"an rmw_zenoh attachment names a GID of {size} bytes; 16 expected")
        return cls(sequence, stamp, source)
