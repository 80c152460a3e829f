"""Many devices in one process (``edge-agent host``), each on its own connection, on a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from edge_agent import registry
from edge_agent.algorithms.admm.plan import admm_plan
from edge_agent.algorithms.admm.scenario import AdmmSharingScenario
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.family import RunOptions
from edge_agent.registry import load_scenario
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import FleetSpec, run_fleet
from edge_agent.runtime.host import agent_configs, launch, run_over_mqtt
from edge_agent.runtime.hosted import host_devices
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup

from .helpers import FAST

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def _ieee14() -> AdmmSharingScenario:
    scenario = load_scenario(ROOT / "scenarios/ieee14_dispatch_admm.yaml")
    assert isinstance(scenario, AdmmSharingScenario)
    return scenario


def _write_configs(directory: Path, configs: list[DeviceConfig], url: str) -> None:
    directory.mkdir()
    for config in configs:
        data = config.model_dump(mode="json", exclude_none=True)
        data["broker"] = url
        data["device"].pop("id", None)
        (directory / f"{config.id}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def test_hosted_devices_answer_a_run_exactly_as_device_processes_do(
    broker: PrivateBroker, prefix: str, tmp_path: Path
) -> None:
    scenario = _ieee14()
    by_processes = run_over_mqtt(admm_plan(scenario, RunOptions(run_id="processes")), broker.url, prefix=f"{prefix}p")
    plan = admm_plan(scenario, RunOptions(run_id="hosted"))
    _write_configs(tmp_path / "configs", agent_configs(plan, prefix), broker.url)
    with ProcessGroup(tmp_path) as group:
        host = group.start("host", [sys.executable, "-m", "edge_agent", "host", "--configs", str(tmp_path / "configs")])
        hosted = asyncio.run(launch(plan, broker.url, prefix, processes=group))
        assert host.process.poll() is None  # one process served all five devices

    assert hosted.status == by_processes.status == "converged"
    assert hosted.iterations == by_processes.iterations
    assert hosted.objective == pytest.approx(by_processes.objective, rel=1e-12)
    for pid, result in by_processes.participants.items():
        assert hosted.participants[pid]["x"] == pytest.approx(result["x"], abs=1e-9)


def test_a_fleet_mixing_hosted_devices_and_device_processes_matches_the_in_process_run(
    broker: PrivateBroker, prefix: str
) -> None:
    scenario = _ieee14()
    expected = asyncio.run(solve(scenario, RunOptions(run_id="inproc")))
    devices = [DeviceConfig(id=d.id, device=d, prefix=prefix) for d in scenario.participants]
    spec = FleetSpec(name="mixed", prefix=prefix, devices=devices, jobs=[scenario.job()],
                     hosted=["gen-1", "gen-3", "gen-4"])
    [report] = run_fleet(spec, devices, broker.url)

    assert report.status == "converged"
    assert report.iterations == expected.iterations
    for pid, result in expected.participants.items():
        assert report.participants[pid]["x"] == pytest.approx(result["x"], abs=1e-9)


class _CuttableProxy:
    """A TCP relay to the broker for one device; :meth:`cut` drops its connections and refuses new ones, as a
    device whose network went away would look to the broker."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._port)
        self._writers += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(pipe(reader, upstream_writer), name="proxy:up")
            tasks.create_task(pipe(upstream_reader, writer), name="proxy:down")

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def _hosting(configs: list[DeviceConfig]) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    ready = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(host_devices(configs, stop, on_ready=lambda _: ready.set()), name="test:host")
        await ready.wait()
        try:
            yield stop
        finally:
            stop.set()


async def test_a_hosted_device_whose_connection_dies_is_seen_offline_through_its_own_will(
    broker: PrivateBroker, prefix: str
) -> None:
    proxy = _CuttableProxy(broker.port)
    proxy_port = await proxy.start()
    devices = _ieee14().participants[:3]
    configs = [DeviceConfig(id=d.id, device=d, prefix=prefix, broker=broker.url) for d in devices]
    configs[1] = configs[1].model_copy(update={"broker": f"mqtt://127.0.0.1:{proxy_port}"})
    ids = [c.id for c in configs]
    async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as watcher:
        async with _hosting(configs):
            await watcher.wait_present(ids, within_s=30)
            assert {watcher.presence.session(i).partition(":")[0] for i in ids} == set(ids)  # one node each
            await proxy.cut()
            await watcher.wait_absent([ids[1]], within_s=60)  # the broker sent its will after the will delay
            assert set(watcher.online()) >= {ids[0], ids[2]}  # the other hosted devices are unaffected
        await watcher.wait_absent([ids[0], ids[2]], within_s=30)  # a clean leave for the others
