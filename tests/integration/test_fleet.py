"""Device agent processes, the coordinator service and fleets, on a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edge_agent import registry
from edge_agent.algorithms.admm.job import AdmmJobSpec, AdmmSettingsSpec
from edge_agent.algorithms.admm.scenario import AdmmSharingScenario
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.devices import Generator
from edge_agent.errors import RunTimeout
from edge_agent.family import RunOptions
from edge_agent.registry import load_scenario
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import FleetSpec, load_fleet, run_fleet
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.runtime.services import CoordinatorService

from .helpers import FAST

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it has exited all the same
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_fleet_of_five_generator_processes_matches_the_in_process_run(
    broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario(ROOT / "scenarios/ieee14_dispatch_admm.yaml")
    assert isinstance(scenario, AdmmSharingScenario)
    expected = asyncio.run(solve(scenario, RunOptions(run_id="inproc")))
    started: list[ProcessGroup] = []
    original_enter = ProcessGroup.__enter__

    def remember(group: ProcessGroup) -> ProcessGroup:
        started.append(group)
        return original_enter(group)

    monkeypatch.setattr(ProcessGroup, "__enter__", remember)
    devices = [DeviceConfig(id=d.id, device=d, prefix="fleet5") for d in scenario.participants]
    spec = FleetSpec(name="five", prefix="fleet5", devices=devices, jobs=[scenario.job()])
    [report] = run_fleet(spec, devices, broker.url)

    assert report.status == "converged"
    assert report.iterations == expected.iterations
    for pid, result in expected.participants.items():
        assert report.participants[pid]["x"] == pytest.approx(result["x"], abs=1e-9)
    assert report.objective == pytest.approx(expected.objective, rel=1e-12)
    children = [c.process.pid for c in started[0].children]
    assert len(children) == 6  # five devices and the coordinator
    assert not any(_alive(pid) for pid in children)


def test_example_fleet_file_loads_with_its_device_files() -> None:
    spec, devices = load_fleet(ROOT / "deploy/fleets/demo.yaml")
    assert [d.id for d in devices][:5] == [f"gen-{i}" for i in range(1, 6)]
    assert {job.name for job in spec.jobs} == {"ieee14-dispatch", "household-4h"}


def _start_agent(group: ProcessGroup, tmp_path: Path, device: Generator, url: str, prefix: str) -> None:
    config = tmp_path / f"{device.id}.yaml"
    config.write_text(yaml.safe_dump({"id": device.id, "broker": url, "prefix": prefix,
                                      "device": device.model_dump(exclude={"id"})}))
    group.start(device.id, [sys.executable, "-m", "edge_agent", "agent", "--config", str(config)])


@pytest.mark.parametrize("on_silent", ["fail", "continue"])
async def test_a_device_killed_mid_run_is_reported_by_the_coordinator(
    broker: PrivateBroker, prefix: str, tmp_path: Path, on_silent: str
) -> None:
    generators = [Generator(id=f"g{i}", kind="generator", p_max=50, cost_linear=1 + i, cost_quadratic=0.05)
                  for i in range(3)]
    job = AdmmJobSpec(algorithm="admm-sharing", target=[60.0], priorities=[100.0],
                      participants=[g.id for g in generators],
                      # tolerances no run can meet: it goes on until max_iters, so the kill lands mid-run
                      settings=AdmmSettingsSpec(round_timeout_s=1.0, max_iters=400, abs_tol=1e-300, rel_tol=1e-300,
                                                on_silent=on_silent))
    with ProcessGroup(tmp_path) as group:
        for generator in generators:
            _start_agent(group, tmp_path, generator, broker.url, prefix)
        async with MqttConnection(broker.url, codec=registry.codec(),
                                  prefix=prefix, client_id="coord", options=FAST) as connection:
            service = CoordinatorService(connection.online, id="coord")
            carrier = connection.add(service)
            await connection.wait_present([g.id for g in generators], within_s=30)
            run = asyncio.create_task(job.coordinator(job.participants, id="coord").run(carrier))
            await asyncio.sleep(0.5)
            assert not run.done()
            victim = group.children[1]
            victim.process.kill()
            killed_at = time.monotonic()
            if on_silent == "fail":
                with pytest.raises(RunTimeout, match="no answer within 1 s from g1") as info:
                    await asyncio.wait_for(run, timeout=20)
                assert info.value.participants == ("g1",)
                assert time.monotonic() - killed_at < 5
            else:
                await connection.wait_absent(["g1"], within_s=10)  # the will reported it offline
                result = await asyncio.wait_for(run, timeout=60)  # the others carry on to the end
                assert list(result.dropped) == ["g1"]
                assert set(result.x) == {"g0", "g2"}
                assert result.iterations == 400
                assert result.aggregate == pytest.approx([60.0], abs=1e-3)


def test_agent_process_leaves_cleanly_on_sigterm(broker: PrivateBroker, prefix: str, tmp_path: Path) -> None:
    async def scenario() -> int:
        with ProcessGroup(tmp_path) as group:
            _start_agent(group, tmp_path, Generator(id="solo", kind="generator", p_max=1), broker.url, prefix)
            async with MqttConnection(broker.url, codec=registry.codec(),
                                      prefix=prefix, client_id="watch", options=FAST) as connection:
                started = time.monotonic()
                await connection.wait_present(["solo"], within_s=30)
                ready_s = time.monotonic() - started
                group.children[0].process.send_signal(signal.SIGTERM)
                await connection.wait_absent(["solo"], within_s=10)
                code = group.children[0].process.wait(timeout=10)
                assert ready_s < 30
                return code

    assert asyncio.run(scenario()) == 0


def test_agent_with_a_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("id: g1\ndevice: {kind: generator, p_max: -1, cost_quadratic: -2}\n")
    done = subprocess.run([sys.executable, "-m", "edge_agent", "agent", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "invalid device configuration" in done.stderr
    assert "device.cost_quadratic: Input should be greater than or equal to 0" in done.stderr
    assert "Traceback" not in done.stderr


async def test_agents_ride_through_a_broker_crash_mid_run(prefix: str, tmp_path: Path) -> None:
    generators = [Generator(id=f"r{i}", kind="generator", p_max=50, cost_linear=1 + i, cost_quadratic=0.05)
                  for i in range(2)]
    job = AdmmJobSpec(algorithm="admm-sharing", target=[60.0], priorities=[100.0],
                      participants=[g.id for g in generators],
                      settings=AdmmSettingsSpec(round_timeout_s=2.0, max_iters=300, abs_tol=1e-300, rel_tol=1e-300))
    with PrivateBroker() as own_broker, ProcessGroup(tmp_path) as group:
        for generator in generators:
            _start_agent(group, tmp_path, generator, own_broker.url, prefix)
        async with MqttConnection(own_broker.url, codec=registry.codec(),
                                  prefix=prefix, client_id="coord", options=FAST) as connection:
            carrier = connection.add(CoordinatorService(connection.online, id="coord"))
            await connection.wait_present(job.participants, within_s=30)
            run = asyncio.create_task(job.coordinator(job.participants, id="coord").run(carrier))
            await asyncio.sleep(0.3)
            own_broker.kill()
            await asyncio.sleep(0.5)
            own_broker.restart()
            # completes (QoS 1 messages are resent after reconnect) or fails clearly: never hangs
            outcome = (await asyncio.wait_for(asyncio.gather(run, return_exceptions=True), timeout=60))[0]
            if isinstance(outcome, RunTimeout):
                assert set(outcome.participants) <= {"r0", "r1"}
            else:
                assert not isinstance(outcome, BaseException), outcome
                assert outcome.iterations == 300
            # the agent processes survived and serve a new run
            await connection.wait_present(job.participants, within_s=30)
            after = await job.coordinator(job.participants, id="coord").run(carrier)
            assert after.iterations == 300
            assert after.aggregate == pytest.approx([60.0], abs=1e-3)
        group.check()
