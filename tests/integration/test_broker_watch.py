"""The broker's dropped-message counter is watched and every increase reported (issue 11: provisioning, 13)."""

from __future__ import annotations

import asyncio
import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.broker_watch import DropCounter, watch_dropped
from edge_agent.runtime import PrivateBroker

from .helpers import FAST, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def _client(broker: PrivateBroker, client_id: str) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 300  # the session, and its queue, outlive the connection
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=properties)
    return client


def _leave_a_full_queue(broker: PrivateBroker, messages: int) -> None:
    """A subscriber goes offline keeping its session; then ``messages`` QoS 1 messages arrive for it."""
    sleeper = _client(broker, "sleeper")
    subscribed = threading.Event()
    sleeper.on_subscribe = lambda *_: subscribed.set()
    sleeper.loop_start()
    sleeper.subscribe("watch/t", qos=1)
    assert subscribed.wait(5)
    sleeper.disconnect()
    sleeper.loop_stop()
    sender = _client(broker, "sender")
    sender.loop_start()
    infos = [sender.publish("watch/t", b"x", qos=1) for _ in range(messages)]
    for info in infos:
        info.wait_for_publish(timeout=5)  # every one PUBACKed, most of them dropped
    sender.disconnect()
    sender.loop_stop()


async def test_drops_for_a_full_queue_are_reported() -> None:
    async with PrivateBroker(max_queued_messages=5, extra_config=["sys_interval 1"]) as broker:
        reported: list[int] = []
        stop = asyncio.Event()
        seen = DropCounter()
        watcher = asyncio.create_task(watch_dropped(broker.url, stop, on_drop=lambda new, _: reported.append(new),
                                                    options=FAST, counter=seen))
        await wait_until(lambda: seen.total is not None, within_s=10, what="the baseline total")
        await asyncio.to_thread(_leave_a_full_queue, broker, 50)
        await wait_until(lambda: bool(reported), within_s=10, what="a reported drop")
        stop.set()
        counter = await watcher
    assert sum(reported) == counter.dropped >= 40


def test_totals_become_new_drops_and_a_restart_starts_over() -> None:
    counter = DropCounter()
    assert [counter.update(v) for v in (b"7", b"7", b"12", b"3", b"junk", b"5")] == [0, 0, 5, 3, 0, 2]
    assert (counter.dropped, counter.total, counter.restarts) == (10, 5, 1)
