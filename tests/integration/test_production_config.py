"""broker/mosquitto.prod.conf with credentials and ACL from `edge-agent provision`: anonymous and wrong
passwords are refused, devices are confined to their own topics, the carrier works through the ACL and TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.admm import AdmmAnswer, AdmmJob, AdmmJobSpec, AdmmRequest, AdmmSettings
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.carrier.presence import PresenceRecord
from edge_agent.device_agent import DeviceAgent
from edge_agent.devices import Generator
from edge_agent.errors import TransportError
from edge_agent.messages import Envelope, Message
from edge_agent.provision import provision
from edge_agent.runtime import PrivateBroker, free_port
from edge_agent.runtime.fleet import submit_jobs
from edge_agent.runtime.services import CoordinatorService
from edge_agent.testing.central import solve_sharing

from .helpers import FAST, Echo, request
from .production import prod_config, site_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "fleet"
NOT_AUTHORISED = 135  # MQTT 5 PUBACK reason codes: < 128 success (16: no subscribers), 135 not authorised


@dataclass
class ProdBroker:
    broker: PrivateBroker
    tls_port: int
    passwords: dict[str, str]
    ca_file: Path


@pytest.fixture(scope="module")
def prod() -> Iterator[ProdBroker]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    with site_dir() as work:
        provision(work, devices=dict.fromkeys(["d1", "d2", "d3"]), prefix=PREFIX)
        users = ("d1", "d2", "d3", "coordinator", "operator")
        passwords = {user: (work / "secrets" / f"{user}.password").read_text().strip() for user in users}
        tls_port = free_port()
        with PrivateBroker(config_template=prod_config(work, tls_port)) as broker:
            yield ProdBroker(broker, tls_port, passwords, work / "certs/ca.crt")


async def test_anonymous_and_wrong_passwords_are_refused(prod: ProdBroker) -> None:
    with pytest.raises(TransportError, match="refused the connection: Not authorized"):
        async with MqttConnection(prod.broker.url, codec=registry.codec(), prefix=PREFIX, options=FAST):
            pass
    with pytest.raises(TransportError, match="refused the connection: Not authorized"):
        async with MqttConnection(prod.broker.url, codec=registry.codec(),
                                  prefix=PREFIX, username="d1", password="guess", options=FAST):
            pass


async def test_devices_talk_through_the_acl_but_cannot_publish_as_another(prod: ProdBroker) -> None:
    def device(name: str) -> MqttConnection:
        return MqttConnection(prod.broker.url, codec=registry.codec(),
                              prefix=PREFIX, username=name, password=prod.passwords[name],
                              options=FAST)

    async with device("d1") as c1, device("d2") as c2, device("d3") as c3:
        d1, d2, d3 = Echo("d1"), Echo("d2"), Echo("d3")
        me = c1.add(d1)
        c2.add(d2)
        c3.add(d3).subscribe(["d2"])
        await me.wait_present(["d1", "d2", "d3"], within_s=5)
        answer = await me.request(request(1), "d2", timeout=5)  # d1 -> d2 and back, each on its own topics
        assert isinstance(answer, AdmmAnswer)

        spoofed = c1.topics.direct("d2", "d3")  # d1 posing as d2
        assert await c1.publish_raw(spoofed, b"{}") == NOT_AUTHORISED
        assert await c1.publish_raw(c1.topics.presence("d2"), b"", retain=True) == NOT_AUTHORISED
        assert await c1.publish_raw(c1.topics.gossip("d2"), b"{}") == NOT_AUTHORISED
        assert await c1.publish_raw(c1.topics.record("d1", "results"), b"{}") < 128  # its own subtree: accepted
        c2.carriers["d2"].publish(request(2))  # the real d2's gossip, after the refused copy
        await d3.received(1)
        assert [(e.sender, e.receiver) for e in d3.seen] == [("d2", "*")]  # gossip arrives with receiver '*'
        assert c3.stats.rejected == 0  # the spoofed messages never arrived
        assert me.others() == ["d2", "d3"]  # d2's presence was not cleared


async def test_devices_connect_over_tls(prod: ProdBroker) -> None:
    trusting = ssl.create_default_context(cafile=str(prod.ca_file))
    url = f"mqtts://127.0.0.1:{prod.tls_port}"
    async with (
        MqttConnection(url, codec=registry.codec(),
                       prefix=PREFIX, username="d1", password=prod.passwords["d1"], tls=trusting,
                       options=FAST) as c1,
        MqttConnection(url, codec=registry.codec(),
                       prefix=PREFIX, username="d2", password=prod.passwords["d2"], tls=trusting,
                       options=FAST) as c2,
    ):
        me = c1.add(Echo("d1"))
        c2.add(Echo("d2"))
        await me.wait_present(["d2"], within_s=5)
        answers = await asyncio.gather(*(me.request(request(k), "d2", timeout=5) for k in range(10)))
        assert [a.round for a in answers if isinstance(a, AdmmAnswer)] == list(range(10))
    with pytest.raises(TransportError, match=r"failed TLS verification: .*CERTIFICATE_VERIFY_FAILED"):
        async with MqttConnection(url, codec=registry.codec(),
                                  prefix=PREFIX, username="d1", password=prod.passwords["d1"],
                                  options=MqttOptions(connect_timeout_s=0.5)):
            pass


async def test_a_request_the_broker_refuses_fails_at_once_naming_the_reason(prod: ProdBroker) -> None:
    """Finding 18: a requester outside the ACL got `Not authorized (135)`, then waited out its whole timeout and
    blamed the receiver. Now the refusal fails the request at once and says why."""
    async with (
        MqttConnection(prod.broker.url, codec=registry.codec(), prefix=PREFIX, username="d1",
                       password=prod.passwords["d1"], options=FAST) as c1,
        MqttConnection(prod.broker.url, codec=registry.codec(), prefix=PREFIX, username="d2",
                       password=prod.passwords["d2"], options=FAST) as c2,
    ):
        c2.add(Echo("d2"))
        stranger = c1.add(Echo("cli-1234"))  # hosted on d1's connection, but d1 may only write as d1
        await stranger.wait_present(["d2"], within_s=5)
        with pytest.raises(TransportError, match=r"the broker refused 'cli-1234''s message to 'd2' .*\(135\)"):
            await stranger.request(request(1), "d2", timeout=600)


class Forger:
    """d1's device agent, answering for itself honestly, and forging an answer for every other participant with
    every request id it could guess from the one it got (the id itself, its neighbours in both id formats)."""

    def __init__(self, generator: Generator) -> None:
        self.agent = DeviceAgent(generator)
        self.id = generator.id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        await self.agent.handle(carrier, message, envelope)
        if isinstance(message, AdmmRequest):
            head, _, seq = envelope.id.rpartition("-")
            near = range(-8, 9)
            guesses = {envelope.id, *(f"{int(envelope.id, 16) + k:016x}" for k in near if len(envelope.id) == 16)}
            guesses |= {f"{head}-{int(seq) + k}" for k in near} if seq.isdigit() else set()
            for guess in guesses:
                forged = envelope.model_copy(update={"id": guess})
                carrier.reply(AdmmAnswer(round=message.round, x=np.array([0.0]), cost=0.0), forged)


async def test_a_device_with_valid_credentials_changes_no_other_result_presence_or_process(
    prod: ProdBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the production ACL, d1 (authenticated, a participant of the job) forges answers in the others'
    place, spoofs presence, submits jobs and floods the others with requests: the job's result is the exact one,
    and d2, d3 and the coordinator stay online and serving."""
    generators = {name: Generator(id=name, kind="generator", p_max=80, cost_linear=10 + k, cost_quadratic=0.05)
                  for k, name in enumerate(("d1", "d2", "d3"))}
    job = AdmmJobSpec(algorithm="admm-sharing", name="honest", target=[120.0], priorities=[100.0],
                      participants=list(generators), settings=AdmmSettings(round_timeout_s=10))

    def connect(user: str) -> MqttConnection:
        return MqttConnection(prod.broker.url, codec=registry.codec(), prefix=PREFIX, username=user,
                              password=prod.passwords[user], options=FAST)

    async with connect("d2") as c2, connect("d3") as c3, connect("coordinator") as cc, connect("d1") as c1:
        c2.add(DeviceAgent(generators["d2"]))
        c3.add(DeviceAgent(generators["d3"]))
        cc.add(CoordinatorService(cc.online, operators=["operator"]))
        mallory = c1.add(Forger(generators["d1"]))
        await mallory.wait_present(["d2", "d3", "coordinator"], within_s=10)
        sessions = {name: c1.presence._session_of[name] for name in ("d2", "d3", "coordinator")}

        async def attack() -> None:
            for k in range(100):
                for victim in ("d2", "d3"):  # absurd requests outside any job
                    mallory.send(AdmmRequest(round=k, rho=1e8, reference=np.array([1e6])), victim)
                mallory.send(AdmmJob(job=job, issued_at=time.time()), "coordinator")
                for name, session in sessions.items():  # end the others' sessions, as itself and as them
                    record = PresenceRecord(online=False, agent="d1", node=name, session=session).encode()
                    await c1.publish_raw(c1.topics.presence("d1"), record)
                    assert await c1.publish_raw(c1.topics.presence(name), record) == NOT_AUTHORISED

        attacker = asyncio.create_task(attack())
        monkeypatch.setenv("EDGE_AGENT_MQTT_PASSWORD", prod.passwords["operator"])
        [report] = await submit_jobs([job], prod.broker.url.replace("mqtt://", "mqtt://operator@"), PREFIX,
                                     job_timeout_s=120, wait_for=list(generators))
        await attacker
        assert set(c1.presence.online) >= {"d2", "d3", "coordinator"}
        fresh = RunCarrier(mallory, "fresh-run")  # d1's flood reached only d1's own solvers on d2
        again = await fresh.request(AdmmRequest(round=0, rho=1.0, reference=np.array([1.0])), "d2", timeout=10)
    problems = [g.local_problem(1) for g in generators.values()]
    central = solve_sharing(problems, np.array([120.0]), np.array([100.0]))
    assert report.status == "converged"
    assert report.objective == pytest.approx(central.objective, rel=1e-3)
    assert report.aggregate == pytest.approx([120.0], abs=1e-3)
    assert isinstance(again, AdmmAnswer)  # d2 still serves
