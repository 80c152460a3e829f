"""The import rules of ``docs/architecture.md``, checked on the source: every ``import`` and ``from ... import``
anywhere in a module (inside functions and ``TYPE_CHECKING`` blocks too) counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from edge_agent import registry

PACKAGE = Path(__file__).resolve().parents[2] / "edge_agent"
FAMILIES = sorted(p.name for p in (PACKAGE / "algorithms").iterdir() if (p / "__init__.py").exists())


def _module(path: Path) -> str:
    return ".".join(("edge_agent", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every edge_agent module (or package) ``path`` imports, and every third-party top-level package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "edge_agent")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


MODULES = {_module(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _importers(prefix: str) -> dict[str, set[str]]:
    return {name: imports for name, imports in MODULES.items() if name == prefix or name.startswith(prefix + ".")}


def _violations(importers: dict[str, set[str]], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{name} imports {target}" for name, imports in importers.items() for target in imports
                  if any(target == f or target.startswith(f + ".") for f in forbidden))


def test_the_rules_see_the_whole_package() -> None:
    assert "edge_agent.carrier.mqtt_carrier" in MODULES
    assert "edge_agent.algorithms.admm.coordinator" in MODULES
    assert set(FAMILIES) >= {"admm", "consensus", "cohda", "scheduling"}


def test_carriers_import_no_algorithm_and_nothing_above_them() -> None:
    forbidden = ("edge_agent.algorithms", "edge_agent.registry", "edge_agent.family", "edge_agent.device_agent",
                 "edge_agent.devices", "edge_agent.runtime", "edge_agent.cli", "edge_agent.scheduling_experiment",
                 "edge_agent.rcdcop_experiment")
    assert _violations(_importers("edge_agent.carrier"), forbidden) == []


def test_algorithms_import_no_transport_and_no_host() -> None:
    forbidden = ("edge_agent.carrier.inproc", "edge_agent.carrier.mqtt", "edge_agent.carrier.mqtt_carrier",
                 "edge_agent.carrier.mqtt_options", "edge_agent.carrier.loop_socket", "edge_agent.carrier.topics",
                 "edge_agent.carrier.presence", "edge_agent.codec", "edge_agent.registry", "edge_agent.device_agent",
                 "edge_agent.runtime", "edge_agent.cli", "edge_agent.scheduling_experiment",
                 "edge_agent.rcdcop_experiment", "paho", "zenoh", "edge_agent.carrier.zenoh",
                 "edge_agent.carrier.zenoh_options")
    assert _violations(_importers("edge_agent.algorithms"), forbidden) == []


def test_only_the_zenoh_carrier_imports_zenoh_outside_the_ros2_bridge() -> None:
    importers = sorted(name for name, imports in MODULES.items() if not name.startswith("edge_agent.ros2.")
                       and any(target == "zenoh" or target.startswith("zenoh.") for target in imports))
    assert importers == ["edge_agent.carrier.zenoh"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_imports_no_other_family(family: str) -> None:
    others = tuple(f"edge_agent.algorithms.{other}" for other in FAMILIES if other != family)
    assert _violations(_importers(f"edge_agent.algorithms.{family}"), others) == []


def test_only_the_application_layer_imports_runtime_or_cli() -> None:
    application = ("edge_agent.runtime", "edge_agent.cli", "edge_agent.__main__", "edge_agent.scheduling_experiment",
                   "edge_agent.rcdcop_experiment", "edge_agent.fork_main",
                   "edge_agent.provision", "edge_agent.broker_watch", "edge_agent.dashboard", "edge_agent.ros2")
    lower = {name: imports for name, imports in MODULES.items()
             if not any(name == a or name.startswith(a + ".") for a in application)}
    assert _violations(lower, ("edge_agent.runtime", "edge_agent.cli")) == []
    assert _violations(_importers("edge_agent.runtime"), ("edge_agent.cli",)) == []


def test_only_the_mqtt_modules_import_paho() -> None:
    importers = sorted(name for name, imports in MODULES.items() if any(i.split(".")[0] == "paho" for i in imports))
    assert importers
    assert all((name.startswith("edge_agent.carrier.") and "mqtt" in name) or name.startswith("edge_agent.carrier._")
               for name in importers), importers


def test_every_family_package_is_registered_once() -> None:
    registered = [module.split(".")[2] for module in registry.FAMILIES]
    assert sorted(registered) == FAMILIES
    assert len({family.name for family in registry.families()}) == len(registry.FAMILIES)


def test_the_seed_api_layer_uses_the_engines_not_the_transports_and_nothing_below_uses_it() -> None:
    """``edge_agent.dro`` (the peer library's API) sits above the families and the registry: its adapters import
    the families, the carrier interface and the core; only its networked carriers (``dro/mqtt.py``,
    ``dro/mango.py`` and their payload, ``dro/_payload.py``) import the MQTT connection, the codec and the
    registry; none imports a host or paho; and no lower layer imports it."""
    transports = ("edge_agent.carrier.inproc", "edge_agent.carrier.mqtt", "edge_agent.carrier.mqtt_carrier",
                  "edge_agent.carrier.loop_socket", "edge_agent.codec", "edge_agent.registry")
    hosts = ("edge_agent.runtime", "edge_agent.cli", "edge_agent.device_agent", "paho")
    networked = ("edge_agent.dro.mqtt", "edge_agent.dro.mango", "edge_agent.dro._payload")
    adapters = {name: imports for name, imports in _importers("edge_agent.dro").items() if name not in networked}
    assert _violations(adapters, transports + hosts) == []
    assert _violations({n: i for n, i in _importers("edge_agent.dro").items() if n in networked}, hosts) == []
    others = {name: imports for name, imports in MODULES.items() if not name.startswith("edge_agent.dro")}
    assert _violations(others, ("edge_agent.dro",)) == []


def test_the_ros2_bridge_is_an_application_module_and_the_only_user_of_rosbags() -> None:
    """``edge_agent.ros2`` (the ROS 2 bridge) may import zenoh and rosbags; nothing else imports rosbags, among the
    ROS 2 modules only the bridge and its process import zenoh (formats, views and checks are testable without a
    session), and nothing but the command line imports the ROS 2 package."""
    rosbags = sorted(name for name, imports in MODULES.items() if any(i.split(".")[0] == "rosbags" for i in imports))
    assert rosbags
    assert all(name.startswith("edge_agent.ros2.") for name in rosbags), rosbags
    ros2_zenoh = sorted(name for name, imports in _importers("edge_agent.ros2").items()
                        if any(i.split(".")[0] == "zenoh" for i in imports))
    assert ros2_zenoh == ["edge_agent.ros2.bridge", "edge_agent.ros2.service"]
    others = {name: imports for name, imports in MODULES.items()
              if not name.startswith("edge_agent.ros2") and name != "edge_agent.cli"}
    assert _violations(others, ("edge_agent.ros2",)) == []
