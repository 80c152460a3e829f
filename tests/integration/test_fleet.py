"""Device agent processes, the coordinator service and fleets, on a real Mosquitto."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent import registry
from edge_agent.algorithms.admm import AdmmJobSpec, AdmmSettings
from edge_agent.algorithms.admm.messages import AdmmRequest
from edge_agent.algorithms.admm.scenario import AdmmSharingScenario
from edge_agent.carrier.base import Carrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.devices import Generator
from edge_agent.errors import RunTimeout, TransportError
from edge_agent.family import RunOptions
from edge_agent.messages import Message
from edge_agent.registry import load_scenario
from edge_agent.runtime import PrivateBroker
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import FleetSpec, run_fleet
from edge_agent.runtime.inproc import solve
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.runtime.services import CoordinatorService

from .helpers import FAST, wait_until

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
                      # min_iters = max_iters: it goes on for 400 rounds, so the kill lands mid-run
                      settings=AdmmSettings(round_timeout_s=1.0, max_iters=400, min_iters=400,
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
            # mid-run: five rounds of 400 answered
            await wait_until(lambda: connection.stats.received >= 5 * len(generators), what="five ADMM rounds")
            assert not run.done()
            victim = group.children[1]
            victim.process.kill()
            if on_silent == "fail":
                with pytest.raises(RunTimeout, match="no answer within 1 s from g1") as info:
                    await asyncio.wait_for(run, timeout=60)
                assert info.value.participants == ("g1",)
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
            async with MqttConnection(broker.url, codec=registry.codec(), prefix=prefix, client_id="watch",
                                      options=FAST) as connection:
                await connection.wait_present(["solo"], within_s=60)
                group.children[0].process.send_signal(signal.SIGTERM)
                await connection.wait_absent(["solo"], within_s=30)
                return group.children[0].process.wait(timeout=30)

    assert asyncio.run(scenario()) == 0


class _PausingCarrier:
    """The coordinator's carrier, holding back the requests of one round until the test releases them: the
    broker can then crash at a defined point of the run, with no ADMM message in flight."""

    def __init__(self, carrier: Carrier, pause_round: int) -> None:
        self._carrier = carrier
        self._pause_round = pause_round
        self.paused = asyncio.Event()
        self.released = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._carrier, name)

    def request(self, body: Message, receiver: str, timeout: float) -> asyncio.Future[Message]:
        if isinstance(body, AdmmRequest) and body.round == self._pause_round:
            self.paused.set()
            return asyncio.ensure_future(self._after_release(body, receiver, timeout))
        return self._carrier.request(body, receiver, timeout)

    async def _after_release(self, body: Message, receiver: str, within_s: float) -> Message:
        await self.released.wait()
        return await self._carrier.request(body, receiver, within_s)


async def test_agents_ride_through_a_broker_crash_between_rounds(prefix: str, tmp_path: Path) -> None:
    """The broker is SIGKILLed between two rounds (all answers in, the next requests held back) and restarted.
    Once every agent is back (announced again on the restarted, empty broker) the run goes on and completes."""
    generators = [Generator(id=f"r{i}", kind="generator", p_max=50, cost_linear=1 + i, cost_quadratic=0.05)
                  for i in range(2)]
    job = AdmmJobSpec(algorithm="admm-sharing", target=[60.0], priorities=[100.0],
                      participants=[g.id for g in generators],
                      settings=AdmmSettings(round_timeout_s=2.0, max_iters=300, min_iters=300))
    with PrivateBroker() as own_broker, ProcessGroup(tmp_path) as group:  # in memory: the crash loses everything
        for generator in generators:
            _start_agent(group, tmp_path, generator, own_broker.url, prefix)
        async with MqttConnection(own_broker.url, codec=registry.codec(), prefix=prefix, client_id="coord",
                                  options=FAST) as connection:
            pausing = _PausingCarrier(connection.add(CoordinatorService(connection.online, id="coord")), 5)
            await connection.wait_present(job.participants, within_s=30)
            run = asyncio.create_task(job.coordinator(job.participants, id="coord").run(pausing))  # type: ignore[arg-type]
            await pausing.paused.wait()
            own_broker.kill()
            await asyncio.to_thread(own_broker.restart)
            # Every agent announced itself again after subscribing its inbox (in that order on its connection),
            # and the coordinator's connection re-subscribed its own: the held requests can go.
            async with MqttConnection(own_broker.url, codec=registry.codec(), prefix=prefix, options=FAST) as probe:
                await probe.wait_present(job.participants, within_s=60)
            await wait_until(lambda: connection._link.connected and connection._link.reconnects == 1,
                             what="the coordinator's connection is back")
            await connection.settled()
            assert not run.done()
            pausing.released.set()
            outcome = await asyncio.wait_for(run, timeout=60)
            assert outcome.status == "converged"  # its test holds after the 300 rounds min_iters asks for
            assert outcome.iterations == 300
            assert outcome.dropped == {}
            assert outcome.aggregate == pytest.approx([60.0], abs=1e-3)
            # the agent processes survived and serve a new run
            after = await job.coordinator(job.participants, id="coord").run(connection.carriers["coord"])
            assert after.iterations == 300
            assert after.aggregate == pytest.approx([60.0], abs=1e-3)
        group.check()


async def test_a_broker_restart_with_requests_in_flight_resumes_the_run_and_blames_nobody(
    prefix: str, tmp_path: Path
) -> None:
    """Issue 11, finding 11: the in-memory broker is SIGKILLed mid-run, at whatever point of a round the run is
    (requests and answers in flight, lost with it), and restarted. The run resumes once the clients are back
    (waiting requests sent again, answered once) and ends with the same result as an undisturbed run, dropping
    nobody. A broker that stays away past the round deadline fails the run naming the broker, not a device."""
    generators = [Generator(id=f"b{i}", kind="generator", p_max=50, cost_linear=1 + i, cost_quadratic=0.05)
                  for i in range(3)]
    settings = AdmmSettings(round_timeout_s=10.0, max_iters=400, min_iters=400,
                            on_silent="continue")  # a device blamed would be dropped and show in the result
    job = AdmmJobSpec(algorithm="admm-sharing", target=[60.0], priorities=[100.0],
                      participants=[g.id for g in generators], settings=settings)
    # The coordinator comes back 0.75-2.25 s after the agents: the answers they send again meet a broker where its
    # inbox is not subscribed yet, and are dropped there (what blamed all five generators in the finding).
    late = dataclasses.replace(FAST, reconnect_min_s=1.5, reconnect_max_s=1.5)
    with PrivateBroker() as own_broker, ProcessGroup(tmp_path) as group:
        for generator in generators:
            _start_agent(group, tmp_path, generator, own_broker.url, prefix)
        async with MqttConnection(own_broker.url, codec=registry.codec(), prefix=prefix, client_id="coord",
                                  options=late) as connection:
            carrier = connection.add(CoordinatorService(connection.online, id="coord"))
            await connection.wait_present(job.participants, within_s=30)
            undisturbed = await job.coordinator(job.participants, id="coord").run(carrier)
            received = connection.stats.received
            run = asyncio.create_task(job.coordinator(job.participants, id="coord").run(carrier))
            await wait_until(lambda: connection.stats.received >= received + 40 * len(generators), what="40 rounds")
            own_broker.kill()  # no pause: whatever is in flight now is lost with the broker
            assert not run.done()
            await asyncio.to_thread(own_broker.restart)
            outcome = await asyncio.wait_for(run, timeout=60)
            assert outcome.dropped == {}
            assert outcome.iterations == undisturbed.iterations == 400
            for pid in job.participants:
                assert outcome.x[pid] == pytest.approx(undisturbed.x[pid], abs=1e-9)
            assert outcome.objective == pytest.approx(undisturbed.objective, rel=1e-9)
            assert connection.outages.losses == 1
            assert connection.stats.resent >= 1

            # The broker goes away for longer than a round's deadline: the error names it, not the devices.
            short = AdmmJobSpec(algorithm="admm-sharing", target=[60.0], priorities=[100.0],
                                participants=job.participants,
                                settings=AdmmSettings(round_timeout_s=1.0, max_iters=400, min_iters=400,
                                                      on_silent="continue"))
            own_broker.kill()
            await wait_until(lambda: not connection._link.connected, what="the coordinator noticed the crash")
            with pytest.raises(TransportError, match=r"no answer from 'b0' to 'admm.request': the connection to "
                                                     r"the MQTT broker at mqtt://.* has been down for"):
                await short.coordinator(short.participants, id="coord").run(carrier)
            await asyncio.to_thread(own_broker.restart)
            await wait_until(lambda: connection._link.connected, what="the coordinator's connection is back")
        group.check()
