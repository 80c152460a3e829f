"""The MQTT topic layout: everything a device publishes sits under ``<prefix>/<device-id>/``.

::

    <prefix>/<sender>/to/<receiver>   direct messages, requests and replies   QoS 1, not retained
    <prefix>/<sender>/gossip          what <sender> publishes to its subscribers  QoS 1, not retained
    <prefix>/<agent>/presence         retained JSON {"online": ..., "agent", "node", "session"}
    <prefix>/<agent>/results          retained results a device reports (reserved)
    <prefix>/<node>/schedule          retained JSON ``sched.state`` of a compute node, after every change
    <prefix>/<agent>/device           retained JSON ``{"id", "kind"}`` of a device agent (dashboards)
    <prefix>/<agent>/progress         JSON progress of the runs ``<agent>`` drives, at a bounded rate
    <prefix>/<agent>/runs/<run>       retained final report of one run (the last few runs are kept)

A participant's *inbox* is the filter ``<prefix>/+/to/<id>``: the sender is the topic level after the
prefix, so a broker ACL ``pattern readwrite <prefix>/%u/#`` both confines a device to its own subtree and
authenticates the ``sender`` of every envelope it receives (the receiving carrier rejects envelopes whose
sender differs from the topic). :func:`acl_rules` renders the matching Mosquitto ACL; ``docs/topics.md``
describes each topic.

Zenoh (:mod:`.zenoh`) uses the same names as key expressions, with ``*`` for one level where MQTT filters use
``+`` (``Topics(prefix, wildcard="*")``), and presence as liveliness tokens rather than retained records::

    <prefix>/<agent>/alive/<node>/<token>   a liveliness token per hosted agent and session of its node
    <prefix>/<node>/ping                    a queryable per session: answered once its declarations are known
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from edge_agent.errors import ConfigError
from edge_agent.ids import ID_PATTERN

__all__ = ["Route", "Topics", "acl_rules"]

_PREFIX_PATTERN = re.compile(f"{ID_PATTERN.pattern}(/{ID_PATTERN.pattern})*")

RouteKind = Literal["direct", "gossip", "presence", "results", "schedule", "device", "progress", "run"]


@dataclass(frozen=True)
class Route:
    """What a received topic means: its kind, the publishing agent and (for direct messages) the receiver; for a
    ``run`` record, ``receiver`` holds the run id."""

    kind: RouteKind
    sender: str
    receiver: str | None = None


@dataclass(frozen=True)
class Topics:
    """Topic names under one ``prefix`` (one or more levels, e.g. ``"edge"`` or ``"site1/edge"``)."""

    prefix: str = "edge"
    wildcard: Literal["+", "*"] = "+"  # one level in a subscription: MQTT's "+", Zenoh's "*"

    def __post_init__(self) -> None:
        if not _PREFIX_PATTERN.fullmatch(self.prefix):
            msg = (
                f"topic prefix {self.prefix!r} is not valid: use '/'-separated levels of 1-64 characters "
                "from A-Z a-z 0-9 _ . - (no wildcards, no leading or trailing '/')"
            )
            raise ConfigError(msg)

    def direct(self, sender: str, receiver: str) -> str:
        return f"{self.prefix}/{sender}/to/{receiver}"

    def inbox(self, receiver: str) -> str:
        """The subscription filter for everything sent to ``receiver``."""
        return f"{self.prefix}/{self.wildcard}/to/{receiver}"

    def gossip(self, sender: str) -> str:
        return f"{self.prefix}/{sender}/gossip"

    def presence(self, agent: str) -> str:
        return f"{self.prefix}/{agent}/presence"

    def presence_all(self) -> str:
        return f"{self.prefix}/{self.wildcard}/presence"

    def record(self, agent: str, name: str) -> str:
        """A record ``agent`` keeps about itself: ``results`` (a coordinator's job results), ``schedule`` (a
        compute node's schedule), ``device`` (a device's id and kind) or ``progress`` (runs it drives)."""
        if name not in RECORDS:
            raise ConfigError(f"record {name!r} is not part of the topic layout; records: {', '.join(RECORDS)}")
        return f"{self.prefix}/{agent}/{name}"

    def run(self, agent: str, run: str) -> str:
        """The retained final report of ``run``, driven by ``agent`` (a run id is one topic level)."""
        if not ID_PATTERN.fullmatch(run):
            raise ConfigError(f"run id {run!r} is not a valid topic level (1-64 of A-Z a-z 0-9 _ . -)")
        return f"{self.prefix}/{agent}/runs/{run}"

    def all_of(self, name: str) -> str:
        """The subscription filter for one record of every agent, or (``runs``) every run report."""
        one = self.wildcard
        return f"{self.prefix}/{one}/runs/{one}" if name == "runs" else f"{self.prefix}/{one}/{name}"

    def alive(self, agent: str, node: str, token: str) -> str:
        """The liveliness token of ``agent`` hosted by ``node`` in the session ``token`` (Zenoh only)."""
        return f"{self.prefix}/{agent}/alive/{node}/{token}"

    def ping(self, node: str) -> str:
        """Where a Zenoh session answers the queries that tell a peer its declarations arrived (Zenoh only)."""
        return f"{self.prefix}/{node}/ping"

    def ping_all(self) -> str:
        return f"{self.prefix}/{self.wildcard}/ping"

    def alive_all(self) -> str:
        return f"{self.prefix}/{self.wildcard}/alive/{self.wildcard}/{self.wildcard}"

    def parse_alive(self, key: str) -> tuple[str, str, str] | None:
        """``(agent, node, token)`` of a liveliness token of this layout, or ``None`` for anything else."""
        head = self.prefix + "/"
        levels = key[len(head):].split("/") if key.startswith(head) else []
        if len(levels) != 4 or levels[1] != "alive" or not all(ID_PATTERN.fullmatch(levels[i]) for i in (0, 2, 3)):
            return None
        return levels[0], levels[2], levels[3]

    def parse(self, topic: str) -> Route | None:
        """The route of a topic of this layout, or ``None`` for anything else."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        levels = topic[len(head):].split("/")
        if not levels or not ID_PATTERN.fullmatch(levels[0]):
            return None
        sender, rest = levels[0], levels[1:]
        if len(rest) == 2 and rest[0] == "to" and ID_PATTERN.fullmatch(rest[1]):
            return Route("direct", sender, rest[1])
        if len(rest) == 2 and rest[0] == "runs" and ID_PATTERN.fullmatch(rest[1]):
            return Route("run", sender, rest[1])
        kind = _LEAF_KINDS.get(rest[0]) if len(rest) == 1 else None
        return Route(kind, sender) if kind is not None else None


RECORDS = ("results", "schedule", "device", "progress")
_LEAF_KINDS: dict[str, RouteKind] = {
    "gossip": "gossip", "presence": "presence", "results": "results", "schedule": "schedule", "device": "device",
    "progress": "progress",
}


def acl_rules(prefix: str = "edge") -> list[str]:
    """Mosquitto ACL ``pattern`` lines confining every device (user name = device id) to its subtree.

    A device may publish and read anything under ``<prefix>/<its id>/``, read messages addressed to it,
    read every gossip, presence and schedule topic. It can neither publish under another device's id nor read
    direct messages between other devices.
    """
    Topics(prefix)  # validates the prefix
    return [
        f"pattern readwrite {prefix}/%u/#",
        f"pattern read {prefix}/+/to/%u",
        f"pattern read {prefix}/+/gossip",
        f"pattern read {prefix}/+/presence",
        f"pattern read {prefix}/+/schedule",
    ]
