"""The MQTT topic layout: building topics, parsing received ones, and the ids and prefixes it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.carrier.topics import Route, Topics, acl_rules
from edge_agent.errors import ConfigError
from edge_agent.ids import ID_PATTERN, validate_id

ROOT = Path(__file__).resolve().parents[2]

VALID_IDS = ["a", "0", "gen-1", "A.b-c_d", "node_7.eu-west", "a" * 64]
# wildcards, separators, empty, too long, leading punctuation, spaces, NUL, line breaks, non-ASCII letters and digits
HOSTILE_IDS = [
    "", "+", "#", "a+", "a#", "+a", "a/b", "/a", "a/", "/", "a" * 65, "_a", ".a", "-a", "..", "a b", " a", "a ",
    "a:b", "a\x00", "\x00", "a\n", "a\r", "a\t", "é", "gén", "a\u0661", "\uff41", "a\u200b", "$SYS", "a$", "a*",
]


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_ids_are_returned_unchanged(value: str) -> None:
    assert validate_id(value) == value
    assert ID_PATTERN.fullmatch(value)


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_ids_are_refused_naming_the_value_and_the_rule(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_id(value, "device id")
    message = str(info.value)
    assert message.startswith(f"device id {value!r} is not a valid id: use 1-64 characters from A-Z a-z 0-9 _ . -")
    assert "starting with a letter or digit" in message


@pytest.mark.parametrize("prefix", ["edge", "site1/edge", "a/b/c", "e.d-g_e", "x" * 64, "/".join(["p"] * 20)])
def test_valid_prefixes(prefix: str) -> None:
    topics = Topics(prefix)
    assert topics.prefix == prefix
    assert topics.gossip("a") == f"{prefix}/a/gossip"


@pytest.mark.parametrize(
    "prefix", ["", "/", "/edge", "edge/", "a//b", "+", "#", "edge/+", "edge/#", "ed+ge", "x" * 65, "a/" + "b" * 65,
               "edge one", "édge", "edge\x00", "edge\n", "_edge", "edge/_x"],
)
def test_hostile_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ConfigError, match="is not valid: use '/'-separated levels of 1-64 characters") as info:
        Topics(prefix)
    assert repr(prefix) in str(info.value)
    assert "no wildcards, no leading or trailing '/'" in str(info.value)


def test_the_default_prefix_is_edge() -> None:
    assert Topics() == Topics("edge")


def test_every_topic_of_the_layout() -> None:
    topics = Topics("site1/edge")
    assert topics.direct("gen-1", "coord") == "site1/edge/gen-1/to/coord"
    assert topics.inbox("coord") == "site1/edge/+/to/coord"
    assert topics.gossip("gen-1") == "site1/edge/gen-1/gossip"
    assert topics.presence("gen-1") == "site1/edge/gen-1/presence"
    assert topics.presence_all() == "site1/edge/+/presence"
    assert topics.record("gen-1", "results") == "site1/edge/gen-1/results"
    assert topics.record("node-a", "schedule") == "site1/edge/node-a/schedule"
    with pytest.raises(ConfigError, match="record 'gossip' is not part of the topic layout; records: results, sched"):
        topics.record("gen-1", "gossip")


def test_built_topics_parse_back_to_their_route() -> None:
    topics = Topics("site1/edge")
    assert topics.parse(topics.direct("gen-1", "coord")) == Route("direct", "gen-1", "coord")
    assert topics.parse(topics.gossip("gen-1")) == Route("gossip", "gen-1")
    assert topics.parse(topics.presence("gen-1")) == Route("presence", "gen-1")
    assert topics.parse(topics.record("gen-1", "results")) == Route("results", "gen-1")
    assert topics.parse(topics.record("node-a", "schedule")) == Route("schedule", "node-a")


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "edge",
        "edge/",
        "edgex/a/gossip",  # another prefix that merely starts the same
        "other/a/gossip",
        "site1/edge/a/gossip",  # a longer prefix
        "edge/a",  # no leaf
        "edge/a/",
        "edge//gossip",  # empty sender
        "edge/+/gossip",  # wildcards are no ids
        "edge/#",
        "edge/a/to",  # no receiver
        "edge/a/to/",
        "edge/a/to/+",
        "edge/a/to/#",
        "edge/a/to/b/c",  # too deep
        "edge/a/to/b/",
        "edge/a/gossip/",
        "edge/a/gossip/x",
        "edge/a/inbox",  # no such leaf
        "edge/a/to/gossip/x",
        "edge/_a/gossip",  # a sender that is no valid id
        "edge/a b/gossip",
        "edge/a\x00/gossip",
        "edge/é/presence",
        "edge/a/to/é",
        f"edge/{'a' * 65}/gossip",
        "edge/a/to/" + "b" * 65,
        "/edge/a/gossip",
        "$SYS/broker/uptime",
    ],
)
def test_topics_outside_the_layout_parse_to_none(topic: str) -> None:
    assert Topics("edge").parse(topic) is None


def test_parse_takes_the_sender_from_the_first_level_after_a_multi_level_prefix() -> None:
    topics = Topics("a/b")
    assert topics.parse("a/b/c/to/d") == Route("direct", "c", "d")
    assert topics.parse("a/b/to/to/to") == Route("direct", "to", "to")  # ids that look like layout words
    assert topics.parse("a/b/gossip/gossip") == Route("gossip", "gossip")
    assert topics.parse("a/c/to/d") is None


def test_acl_rules_confine_each_device_to_its_subtree() -> None:
    assert acl_rules("site1/edge") == [
        "pattern readwrite site1/edge/%u/#",
        "pattern read site1/edge/+/to/%u",
        "pattern read site1/edge/+/gossip",
        "pattern read site1/edge/+/presence",
        "pattern read site1/edge/+/schedule",
    ]
    assert acl_rules()[0] == "pattern readwrite edge/%u/#"


def test_the_acl_template_of_the_broker_renders_exactly_these_rules() -> None:
    acl = (ROOT / "broker/acl.template").read_text().replace("{prefix}", "fleet")
    rules = [line for line in acl.splitlines() if line and not line.startswith("#")]
    assert rules == acl_rules("fleet")


@pytest.mark.parametrize("prefix", ["edge/#", "+", "", "a//b", "edge/"])
def test_acl_rules_refuse_a_hostile_prefix(prefix: str) -> None:
    with pytest.raises(ConfigError, match="is not valid"):
        acl_rules(prefix)
