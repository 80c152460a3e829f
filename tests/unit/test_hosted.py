"""``edge-agent host --configs DIR``: every file checked before anything connects; fleets' ``hosted`` field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from edge_agent.cli import main
from edge_agent.errors import ConfigError
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import FleetSpec
from edge_agent.runtime.hosted import load_config_dir

GOOD = "id: gen-1\nbroker: mqtt://127.0.0.1:1\ndevice: {kind: generator, p_max: 80, cost_linear: 2.0}\n"


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_every_file_of_the_folder_is_loaded(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": GOOD, "b.yml": GOOD.replace("gen-1", "gen-2"), "notes.txt": "not a config"})
    assert [c.id for c in load_config_dir(folder)] == ["gen-1", "gen-2"]


def test_a_bad_file_is_named_with_its_field_and_nothing_connects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, {
        "gen-1.yaml": GOOD,
        "gen-2.yaml": "id: gen-2\ndevice: {kind: generator, cost_linear: 2.0}\n",  # p_max missing
        "twin.yaml": GOOD,  # the id of gen-1.yaml again
        "pw.yaml": GOOD.replace("gen-1", "gen-9") + "credentials: {password_file: /nonexistent/pw}\n",
    })
    # the broker URL names a port nothing listens on: were anything to connect, the error would say so instead
    assert main(["host", "--configs", str(folder)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"/gen-2\.yaml: invalid device configuration:\n +device\.p_max: Field required", err)
    assert re.search(r"/twin\.yaml: id 'gen-1' is also the id of \S+/gen-1\.yaml", err)
    assert re.search(r"/pw\.yaml: credentials: /nonexistent/pw: cannot read the password", err)
    assert "nothing was started" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: _folder(p, {}), "holds no device configuration file"),
    (lambda p: _folder(p, {"gen-1.yaml": GOOD}) / "gen-1.yaml", "is not a folder"),
])
def test_a_folder_that_is_not_one_of_configs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, expected: str
) -> None:
    assert callable(make)
    assert main(["host", "--configs", str(make(tmp_path))]) == 2
    assert expected in capsys.readouterr().err


def test_a_fleet_hosts_only_its_own_devices() -> None:
    device = DeviceConfig.model_validate({"id": "gen-1", "device": {"kind": "generator", "p_max": 5}})
    job = {"name": "j", "algorithm": "admm-sharing", "target": [1], "priorities": [10], "participants": ["gen-1"]}
    assert FleetSpec.model_validate({"devices": [device], "jobs": [job], "hosted": "all"}).hosted_ids([device]) == {
        "gen-1"}
    with pytest.raises(ConfigError, match=r"hosted: \['gen-7'\] are not fleet devices"):
        FleetSpec.model_validate({"devices": [device], "jobs": [job], "hosted": ["gen-7"]})


def test_the_cluster_compose_file_gives_every_node_what_the_node_file_reads() -> None:
    root = Path(__file__).resolve().parents[2] / "deploy/cluster"
    wanted = set(re.findall(r"\$([A-Z_]+)", (root / "nats-node.conf").read_text()))
    services = yaml.safe_load((root / "compose.yaml").read_text())["services"]
    nodes = {name: service for name, service in services.items() if name.startswith("nats-")}
    assert len(nodes) >= 2
    for name, service in nodes.items():
        assert set(service["environment"]) == wanted, name
        assert service["environment"]["NODE_NAME"] == name
        assert service["environment"]["ROUTE"].startswith("nats-route://nats-")
    assert "nats-1" in services["devices"]["command"][-1]
    assert "nats-2" in services["coordinator"]["command"][-1]
