"""What a hostile or broken peer can no longer do (issue 11's findings, in process; over a real broker in
``tests/integration/test_hostile.py``). Each test names the finding it reproduces."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.admm import (
    AdmmAnswer,
    AdmmFailure,
    AdmmJob,
    AdmmJobResult,
    AdmmJobSpec,
    AdmmRequest,
    AdmmSettings,
)
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.carrier.presence import PresenceRecord, PresenceTracker, session_of
from edge_agent.cli import main
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import Battery, Generator
from edge_agent.errors import ProtocolError
from edge_agent.messages import Envelope, Message, Refusal
from edge_agent.runtime.services import CoordinatorService
from edge_agent.testing.central import solve_sharing
from edge_agent.testing.recorder import RecordingCarrier

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class Asker:
    """A participant that only asks (its replies resolve its requests)."""

    def __init__(self, id: str) -> None:
        self.id = id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        return None


def battery(id: str = "bat", **changes: float) -> Battery:
    return Battery.model_validate({"id": id, "kind": "battery", "power_max": 3, "energy_max": 10,
                                   "energy_initial": 5, **changes})


def request(reference: list[float], rho: float = 1.0, round: int = 0) -> AdmmRequest:
    return AdmmRequest(round=round, rho=rho, reference=np.array(reference, dtype=float))


# -- finding 2 and 3: an empty or huge reference --------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1025, 60_000])
async def test_a_reference_outside_the_devices_horizon_is_refused_and_the_device_serves_on(size: int) -> None:
    agent = DeviceAgent(battery())
    async with InProcNetwork() as network:
        network.add(agent)
        asker = network.add(Asker("coordinator"))
        refused = await asker.request(request([0.0] * size), "bat", timeout=5)
        answered = await asker.request(request([1.0, -1.0]), "bat", timeout=5)
    assert isinstance(refused, AdmmFailure)
    assert f"takes runs of 1 to 1024 slots (max_slots), not {size}" in refused.reason
    assert isinstance(answered, AdmmAnswer)
    assert answered.x.shape == (2,)


def test_max_slots_is_the_devices_own_setting() -> None:
    assert battery(max_slots=96).max_slots == 96
    with pytest.raises(ValueError, match="max_slots"):
        battery(max_slots=0)


async def test_a_role_that_fails_on_a_message_refuses_it_and_the_device_lives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: Battery, horizon: int) -> None:
        raise IndexError("index 0 is out of bounds")

    agent = DeviceAgent(battery())
    async with InProcNetwork() as network:
        network.add(agent)
        asker = network.add(Asker("coordinator"))
        with monkeypatch.context() as patch:
            patch.setattr(Battery, "local_problem", broken)
            refused = await asker.request(request([1.0]), "bat", timeout=5)
        answered = await asker.request(request([1.0, 2.0]), "bat", timeout=5)
    assert isinstance(refused, Refusal)
    assert "IndexError: index 0 is out of bounds" in refused.reason
    assert agent.failures == 1
    assert isinstance(answered, AdmmAnswer)


# -- finding 4: nesting and numbers that escaped the codec -----------------------------------------------
HEAD = b'{"id":"x1","sender":"a","receiver":"b","seq":0,"body":'


@pytest.mark.parametrize(("payload", "named"), [
    (HEAD + b"[" * 5000 + b"]" * 5000 + b"}", "recursion limit"),
    (b"[" * 100_000 + b"]" * 100_000, "recursion limit"),
    (HEAD + b'{"kind":"admm.request","round":0,"rho":1,"reference":{"b64":"","shape":[1e400]}}}', "shape"),
    (HEAD + b'{"kind":"admm.request","round":0,"rho":1,"reference":{"b64":"","shape":[-1,0]}}}', "shape"),
    (HEAD + b'{"kind":"admm.request","round":0,"rho":1e400,"reference":[1]}}', "rho"),
    (HEAD + b'{"kind":"admm.request","round":0,"rho":1e10,"reference":[1]}}', "rho"),
    (b'{"id":"x1","sender":"a/b","receiver":"b","seq":0,"body":{"kind":"refusal","reason":"r"}}', "sender"),
    (b'{"id":"x1","sender":"a","receiver":"+","seq":0,"body":{"kind":"refusal","reason":"r"}}', "receiver"),
])
def test_the_codec_turns_every_defect_into_a_protocol_error(payload: bytes, named: str) -> None:
    with pytest.raises(ProtocolError, match=named):
        registry.codec().decode(payload)


# -- finding 6: a reply is bound to its request and to the one asked -----------------------------------
class SlowEcho:
    """Answers every request, after the test lets it."""

    def __init__(self, id: str, go: asyncio.Event) -> None:
        self.id = id
        self.go = go
        self.asked: list[Envelope] = []
        self.was_asked = asyncio.Event()

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        self.asked.append(envelope)
        self.was_asked.set()
        await self.go.wait()
        carrier.reply(AdmmAnswer(round=0, x=np.array([1.0])), envelope)


async def test_a_reply_from_anyone_but_the_one_asked_is_dropped_even_with_the_right_id() -> None:
    go = asyncio.Event()
    honest = SlowEcho("gen-2", go)
    async with InProcNetwork() as network:
        network.add(honest)
        forger = network.add(Asker("gen-1"))
        asker = network.add(Asker("coordinator"))
        answer = asker.request(request([0.0]), "gen-2", timeout=5)
        await honest.was_asked.wait()
        # gen-1 knows the request id (the worst case) and answers in gen-2's place
        forger.reply(AdmmAnswer(round=0, x=np.array([60.0])), honest.asked[0])
        go.set()
        result = await answer
    assert isinstance(result, AdmmAnswer)
    assert result.x.tolist() == [1.0]


async def test_request_ids_are_random() -> None:
    async with InProcNetwork() as network:
        echo = SlowEcho("e", asyncio.Event())
        echo.go.set()
        network.add(echo)
        asker = network.add(Asker("a"))
        for _ in range(3):
            await asker.request(request([0.0]), "e", timeout=5)
    ids = [e.id for e in echo.asked]
    assert len(set(ids)) == 3
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert not any(i.endswith(f"-{k}") for k, i in enumerate(ids))


# -- finding 7: one job's solver state is not another's -----------------------------------------------
async def test_four_concurrent_jobs_and_a_hostile_request_each_get_the_exact_result() -> None:
    generators = [Generator(id=f"g{i}", kind="generator", p_max=80, cost_linear=10 + i, cost_quadratic=0.05 + i / 50)
                  for i in range(3)]
    targets = [[90.0], [120.0], [60.0], [150.0]]
    jobs = [AdmmJobSpec(algorithm="admm-sharing", name=f"j{k}", target=t, priorities=[100.0],
                        participants=[g.id for g in generators],
                        settings=AdmmSettings(rho=0.5 + k)) for k, t in enumerate(targets)]
    async with InProcNetwork() as network:
        for generator in generators:
            network.add(DeviceAgent(generator))
        mallory = network.add(Asker("mallory"))
        for g in generators:  # an absurd penalty on the run every job would share if state were per device
            await mallory.request(request([0.0], rho=1e8), g.id, timeout=5)
        carriers = [RunCarrier(network.add(Asker(f"coordinator-{k}")), f"run-{k}") for k in range(len(jobs))]
        results = await asyncio.gather(*(job.coordinator(job.participants, id=c.id).run(c)
                                         for job, c in zip(jobs, carriers, strict=True)))
    for job, result in zip(jobs, results, strict=True):
        central = solve_sharing([g.local_problem(1) for g in generators], np.array(job.target), np.array([100.0]))
        assert result.status == "converged"
        assert result.objective == pytest.approx(central.objective, rel=1e-3)


# -- finding 8: presence cannot be spoofed ---------------------------------------------------------------
def record(agent: str, node: str, session: str, online: bool) -> bytes:
    return PresenceRecord(online=online, agent=agent, node=node, session=session).encode()


def test_a_device_cannot_end_another_nodes_session() -> None:
    tracker = PresenceTracker()
    coordinator = session_of("coordinator", "abc123")
    tracker.update("coordinator", record("coordinator", "coordinator", coordinator, online=True))
    tracker.update("gen-1", record("gen-1", "gen-1", session_of("gen-1", "f00"), online=True))
    # gen-1 read the coordinator's session from its retained record and ends it on its own topic
    tracker.update("gen-1", record("gen-1", "gen-1", coordinator, online=False))
    tracker.update("gen-1", record("gen-1", "coordinator", coordinator, online=False))
    assert tracker.online == {"coordinator", "gen-1"}
    with pytest.raises(ProtocolError, match="is not a session of node 'gen-1'"):
        tracker.update("gen-1", record("gen-1", "gen-1", coordinator, online=True))
    # the node's own will ends its session; an agent's own leave takes only that agent
    tracker.update("coordinator", record("coordinator", "coordinator", coordinator, online=False))
    assert tracker.online == {"gen-1"}


def test_an_agent_hosted_by_a_node_leaves_alone_and_the_nodes_will_ends_them_all() -> None:
    tracker = PresenceTracker()
    node = session_of("sched", "s1")
    for task in ("t1", "t2"):
        tracker.update(task, record(task, "sched", node, online=True))
    tracker.update("t1", record("t1", "sched", node, online=False))
    assert tracker.online == {"t2"}
    tracker.update("sched", record("sched", "sched", node, online=False))
    assert tracker.online == frozenset()
    tracker.update("t2", record("t2", "sched", node, online=True))  # a stale record of the ended session
    assert tracker.online == frozenset()


# -- finding 9: only operators submit jobs, and a captured job cannot be replayed ---------------------------
async def _submit(service: CoordinatorService, sender: str, job: AdmmJob, envelope_id: str) -> str | None:
    """Hand ``job`` to the service as ``sender``; the refusal it answers with, or None if it started the job."""
    carrier = RecordingCarrier(service)
    await service.handle(carrier, job, Envelope(id=envelope_id, sender=sender, receiver="coordinator", seq=0,
                                                body=job))
    await asyncio.sleep(0)  # let a started job see its cancellation
    if not carrier.sent:
        return None
    answer = carrier.sent[0].body
    assert isinstance(answer, AdmmJobResult)
    return answer.error


JOB = AdmmJobSpec(algorithm="admm-sharing", name="j", target=[1.0], participants=["g0"])


async def test_the_coordinator_takes_jobs_only_from_operators_and_only_once() -> None:
    now = [1_000_000.0]
    service = CoordinatorService(list, operators=["operator"], now=lambda: now[0])
    from_device = await _submit(service, "gen-1", AdmmJob(job=JOB, issued_at=now[0]), "a" * 16)
    assert from_device is not None
    assert "'gen-1' may not submit jobs; operators: ['operator']" in from_device
    assert await _submit(service, "operator", AdmmJob(job=JOB, issued_at=now[0]), "b" * 16) is None
    replayed = await _submit(service, "operator", AdmmJob(job=JOB, issued_at=now[0]), "b" * 16)
    assert replayed == "this job was run already (a replayed request)"
    now[0] += 25 * 60  # 25 minutes later, after a restart of the service
    restarted = CoordinatorService(list, operators=["operator"], now=lambda: now[0])
    late = await _submit(restarted, "operator", AdmmJob(job=JOB, issued_at=now[0] - 25 * 60), "b" * 16)
    assert late is not None
    assert "the job was issued 1500 s ago; jobs are accepted within 300 s of their issue" in late


# -- finding 10: a long run's report stays small ------------------------------------------------------
async def test_a_report_keeps_a_bounded_history_whatever_the_run_length() -> None:
    generators = [Generator(id=f"g{i}", kind="generator", p_max=50, cost_linear=1 + i, cost_quadratic=0.05)
                  for i in range(2)]
    job = AdmmJobSpec(algorithm="admm-sharing", target=[60.0], priorities=[100.0],
                      participants=[g.id for g in generators],
                      settings=AdmmSettings(max_iters=3000, min_iters=3000))
    async with InProcNetwork() as network:
        for generator in generators:
            network.add(DeviceAgent(generator))
        coordinator = job.coordinator(job.participants)
        result = await coordinator.run(network.add(coordinator))
    report = job.report(result, messages=0, wall_s=0.0).to_json()
    history = report["history"]
    assert result.iterations == 3000
    assert len(history) == 1000
    assert (history[0]["round"], history[-1]["round"]) == (0, 2999)
    assert len(registry.codec().encode(Envelope(id="r1", sender="c", receiver="o", seq=0,
                                                body=AdmmJobResult(job="j", report=report)))) < 256 * 1024


# -- finding 16: --out into a missing folder ------------------------------------------------------------
def test_out_into_a_missing_folder_creates_it_before_the_run(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "result.json"
    assert main(["solve", str(ROOT / "scenarios/three_actor_sharing.yaml"), "--out", str(out)]) == 0
    assert out.exists()


def test_out_that_cannot_be_written_fails_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["solve", str(ROOT / "scenarios/three_actor_sharing.yaml"), "--out", str(blocker / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot create the folder of" in err
    assert "status" not in err
