"""The carrier in MQTT 3.1.1 mode on three engines: Mosquitto, RabbitMQ's MQTT plugin and NATS's MQTT listener.

Each engine runs request/reply, send and gossip, presence (retained records, the Last Will, a clean leave) and a
small ADMM job whose result must equal the in-process run's. RabbitMQ is the machine's own service (skipped with
the reason when its MQTT listener is not reachable); NATS is a server of this module's own, skipped when
``nats-server`` is missing. What each engine does and does not do: ``docs/brokers.md``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from edge_agent import registry
from edge_agent.algorithms.admm import AdmmResult
from edge_agent.algorithms.admm.messages import AdmmAnswer
from edge_agent.carrier import InProcNetwork
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.runtime import PrivateBroker
from edge_agent.testing.engines import NatsMqttServer, nats_missing, rabbitmq_missing, rabbitmq_mqtt_url

from .helpers import FAST, Echo, request
from .test_admm_mqtt import coordinator_for, fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

V311 = replace(FAST, protocol="3.1.1")
ENGINES = ["mosquitto", "rabbitmq", "nats"]


@pytest.fixture(scope="module")
def nats() -> Iterator[NatsMqttServer]:
    missing = nats_missing()
    if missing is not None:
        pytest.skip(missing)
    with NatsMqttServer() as server:
        yield server


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, broker: PrivateBroker) -> str:
    """The URL of one engine in MQTT 3.1.1 mode (the option says 3.1.1 too; the URL says it for the others)."""
    if request.param == "mosquitto":
        return f"{broker.url}?protocol=3.1.1"
    if request.param == "rabbitmq":
        missing = rabbitmq_missing()
        if missing is not None:
            pytest.skip(missing)
        return rabbitmq_mqtt_url()
    server: NatsMqttServer = request.getfixturevalue("nats")
    return server.url


async def test_request_reply(url: str, prefix: str, fast_path: bool) -> None:
    options = replace(V311, fast_path=fast_path)
    async with (
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=options) as a,
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=options) as b,
    ):
        assert a._link.protocol == "3.1.1"
        echo = Echo("echo")
        b.add(echo)
        me = a.add(Echo("me"))
        await me.wait_present(["echo"], within_s=10)
        answers = await asyncio.gather(*(me.request(request(k), "echo", timeout=10) for k in range(20)))
    assert [a.round for a in answers if isinstance(a, AdmmAnswer)] == list(range(20))
    assert all(isinstance(a, AdmmAnswer) and a.x.tolist() == [k, k] for k, a in enumerate(answers))
    assert sorted(echo.calls.values()) == [1] * 20


async def test_send_and_gossip(url: str, prefix: str) -> None:
    async with (
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=V311) as a,
        MqttConnection(url, codec=registry.codec(), prefix=prefix, options=V311) as b,
    ):
        speaker = a.add(Echo("speaker"))
        near, far, deaf = Echo("near"), Echo("far"), Echo("deaf")
        a.add(near).subscribe(["speaker"])
        b.add(far).subscribe(["speaker"])
        b.add(deaf)
        await asyncio.gather(a.settled(), b.settled())
        await speaker.wait_present(["near", "far", "deaf"], within_s=10)
        speaker.publish(request(1))
        speaker.send(request(2), "deaf")
        speaker.publish(request(3))
        speaker.send(request(4), "deaf")
        await asyncio.gather(near.received(2), far.received(2), deaf.received(2))
    assert [(e.receiver, e.body.round) for e in near.seen] == [("*", 1), ("*", 3)]  # type: ignore[attr-defined]
    assert [(e.receiver, e.body.round) for e in far.seen] == [("*", 1), ("*", 3)]  # type: ignore[attr-defined]
    assert [(e.receiver, e.body.round) for e in deaf.seen] == [("deaf", 2), ("deaf", 4)]  # type: ignore[attr-defined]


async def test_presence_retained_will_and_leave(url: str, prefix: str) -> None:
    slow_return = replace(V311, reconnect_min_s=2.0, reconnect_max_s=2.0)  # back after >= 1 s: the will first
    async with MqttConnection(url, codec=registry.codec(), prefix=prefix, options=V311) as a:
        watcher = a.add(Echo("watcher"))
        async with MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-b",
                                  options=slow_return) as b:
            b.add(Echo("dev"))
            await watcher.wait_present(["dev"], within_s=10)
            async with MqttConnection(url, codec=registry.codec(), prefix=prefix, options=V311) as late:
                newcomer = late.add(Echo("newcomer"))
                await newcomer.wait_present(["dev", "watcher"], within_s=10)  # retained records only
            sock = b._link._client.socket()  # cut b's TCP connection: the broker sends its will
            assert isinstance(sock, socket.socket)
            sock.shutdown(socket.SHUT_RDWR)
            await watcher.wait_absent(["dev"], within_s=10)
            await watcher.wait_present(["dev"], within_s=15)  # reconnected, announced in a new session
            assert isinstance(await watcher.request(request(3), "dev", timeout=10), AdmmAnswer)
            assert b._link.reconnects == 1
        await watcher.wait_absent(["dev"], within_s=10)  # b left cleanly: retained offline records


async def test_admm_matches_the_in_process_run(url: str, prefix: str) -> None:
    actors = fleet()
    coordinator = coordinator_for(actors)
    async with InProcNetwork() as net:
        for actor in actors:
            net.add(actor)
        expected: AdmmResult = await coordinator.run(net.add(coordinator))
    actors = fleet()
    coordinator = coordinator_for(actors)
    async with (
        MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-dev", options=V311) as devices,
        MqttConnection(url, codec=registry.codec(), prefix=prefix, client_id=f"{prefix}-hub", options=V311) as hub,
    ):
        for actor in actors:
            devices.add(actor)
        carrier = hub.add(coordinator)
        await carrier.wait_present([a.id for a in actors], within_s=10)
        result = await coordinator.run(carrier)
    assert result.status == expected.status == "converged"
    assert result.iterations == expected.iterations
    assert result.objective == pytest.approx(expected.objective, rel=1e-12, abs=1e-12)
    for pid in expected.x:
        np.testing.assert_allclose(result.x[pid], expected.x[pid], rtol=0, atol=1e-12)
    assert devices.stats.duplicates == hub.stats.duplicates == 0


@pytest.mark.parametrize("engine", ["mosquitto", "nats"])
async def test_requests_sent_while_the_broker_is_down_are_answered_after_its_restart(engine: str, prefix: str) -> None:
    """The engine is killed and started again (same port and store); requests made meanwhile are answered once.
    RabbitMQ is the machine's shared service and is not restarted here (``docs/brokers.md``)."""
    if engine == "nats" and (missing := nats_missing()) is not None:
        pytest.skip(missing)
    server: PrivateBroker | NatsMqttServer = PrivateBroker() if engine == "mosquitto" else NatsMqttServer()
    with server:
        url = f"{server.url}?protocol=3.1.1" if engine == "mosquitto" else server.url
        async with (
            MqttConnection(url, codec=registry.codec(), prefix=prefix, options=V311) as a,
            MqttConnection(url, codec=registry.codec(), prefix=prefix, options=V311) as b,
        ):
            echo = Echo("echo")
            b.add(echo)
            me = a.add(Echo("me"))
            await me.wait_present(["echo"], within_s=10)
            assert isinstance(await me.request(request(0), "echo", timeout=10), AdmmAnswer)
            await asyncio.to_thread(server.stop)
            pending = [me.request(request(k), "echo", timeout=20) for k in (1, 2, 3)]
            await asyncio.to_thread(server.start)
            answers = await asyncio.gather(*pending)
    assert [a.round for a in answers if isinstance(a, AdmmAnswer)] == [1, 2, 3]
    assert sorted(echo.calls.values()) == [1] * 4
