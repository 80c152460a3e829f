"""Zenoh settings without a session: the key layout, endpoint validation, device files and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.carrier.topics import Topics
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.cli import main
from edge_agent.errors import ConfigError
from edge_agent.runtime.device_config import load_device_config

ROOT = Path(__file__).resolve().parents[2]


def test_zenoh_keys_are_the_mqtt_topics_with_a_zenoh_wildcard() -> None:
    mqtt, zenoh = Topics("site/edge"), Topics("site/edge", wildcard="*")
    assert zenoh.direct("a", "b") == mqtt.direct("a", "b") == "site/edge/a/to/b"
    assert (mqtt.inbox("b"), zenoh.inbox("b")) == ("site/edge/+/to/b", "site/edge/*/to/b")
    assert zenoh.all_of("runs") == "site/edge/*/runs/*"
    assert zenoh.alive_all() == "site/edge/*/alive/*/*"
    assert zenoh.parse_alive(zenoh.alive("gen-1", "node-7", "a1b2")) == ("gen-1", "node-7", "a1b2")
    for outside in ("site/edge/gen-1/alive/node", "other/gen-1/alive/n/t", "site/edge/gen-1/alive/n/t/x",
                    "site/edge/*/alive/n/t"):
        assert zenoh.parse_alive(outside) is None


def test_endpoints_are_checked_naming_the_accepted_form() -> None:
    assert ZenohOptions(listen=("tcp/127.0.0.1:7447",)).listen == ("tcp/127.0.0.1:7447",)
    with pytest.raises(ValueError, match=r"'127\.0\.0\.1:7447' is not a Zenoh endpoint: use <protocol>/<address>"):
        ZenohOptions(connect=("127.0.0.1:7447",))


def test_a_device_file_with_a_bad_zenoh_block_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "gen-1.yaml"
    path.write_text("id: gen-1\ncarrier: zenoh\nzenoh: {mode: router}\n"
                    "device: {kind: generator, p_max: 80, cost_linear: 2.0}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_device_config(path)
    assert str(path) in str(info.value)
    assert "zenoh.mode" in str(info.value)
    assert "'peer'" in str(info.value)


def test_solve_over_zenoh_takes_no_broker(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["solve", str(ROOT / "scenarios/three_actor_sharing.yaml"), "--carrier", "zenoh",
                 "--broker", "mqtt://127.0.0.1:1883"])
    assert code == 2
    assert "--broker is for --carrier mqtt" in capsys.readouterr().err


def test_an_agent_over_zenoh_that_could_reach_nobody_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gen-1.yaml"
    path.write_text("id: gen-1\ndevice: {kind: generator, p_max: 80, cost_linear: 2.0}\n", encoding="utf-8")
    assert main(["agent", "--config", str(path), "--carrier", "zenoh"]) == 2
    assert "gives no listen or connect endpoint and multicast_scouting is off" in capsys.readouterr().err
