"""One small interface over the three carriers, so that the same conformance tests run on each.

A :class:`Fabric` opens *nodes* (one connection each: an MQTT client, a Zenoh session; in process, all nodes
share one network). A node hosts participants, waits until its subscriptions are known, and (networked
carriers only) puts raw bytes on the wire as an attacker would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Protocol

import pytest

from edge_agent import registry
from edge_agent.carrier.base import Carrier, Participant
from edge_agent.carrier.inproc import InProcNetwork
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.recall import Connection
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.runtime.connect import free_ports

from .helpers import FAST

CARRIERS = ["inproc", "mqtt", "zenoh"]


def zenoh_or_skip() -> None:
    """Skip with the reason when the zenoh extra is not installed (``scripts/setup.sh dev`` installs it)."""
    pytest.importorskip("zenoh", reason="the zenoh extra is not installed: pip install -e '.[zenoh]'")


class Node(Protocol):
    """One connection of a fabric."""

    networked: bool  # False in process: no bytes, no presence to lose

    def add(self, participant: Participant) -> Carrier: ...

    async def settled(self) -> None: ...

    async def inject(self, sender: str, receiver: str, payload: bytes) -> None:
        """Put ``payload`` as it is on the direct topic or key from ``sender`` to ``receiver``."""

    @property
    def rejected(self) -> int: ...


class _InProcNode:
    networked = False

    def __init__(self, network: InProcNetwork) -> None:
        self._network = network

    def add(self, participant: Participant) -> Carrier:
        return self._network.add(participant)

    async def settled(self) -> None:
        return

    async def inject(self, sender: str, receiver: str, payload: bytes) -> None:
        raise AssertionError("in process there are no bytes to inject")

    @property
    def rejected(self) -> int:
        return 0


class _ConnectionNode:
    networked = True

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, participant: Participant) -> Carrier:
        return self.connection.add(participant)

    async def settled(self) -> None:
        await self.connection.settled()

    async def inject(self, sender: str, receiver: str, payload: bytes) -> None:
        await self.connection.publish_raw(self.connection.topics.direct(sender, receiver), payload)

    @property
    def rejected(self) -> int:
        return self.connection.stats.rejected


class Fabric:
    """Nodes of one carrier under one topic prefix; ``max_payload`` caps what a node accepts (None: default)."""

    def __init__(self, kind: str, prefix: str, broker_url: str | None) -> None:
        self.kind, self.prefix, self.broker_url = kind, prefix, broker_url
        self._network: InProcNetwork | None = None
        self._zenoh_ports: list[str] = []

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Fabric]:
        async with AsyncExitStack() as stack:
            if self.kind == "inproc":
                self._network = await stack.enter_async_context(InProcNetwork())
            yield self

    def node(self, max_payload: int | None = None) -> AbstractAsyncContextManager[Node]:
        return self._node(max_payload)

    @asynccontextmanager
    async def _node(self, max_payload: int | None) -> AsyncIterator[Node]:
        if self.kind == "inproc":
            assert self._network is not None
            yield _InProcNode(self._network)
        elif self.kind == "mqtt":
            assert self.broker_url is not None
            options = FAST if max_payload is None else replace(FAST, max_payload=max_payload)
            async with MqttConnection(self.broker_url, codec=registry.codec(), prefix=self.prefix,
                                      options=options) as connection:
                yield _ConnectionNode(connection)
        else:
            from edge_agent.carrier.zenoh import ZenohConnection

            endpoint = f"tcp/127.0.0.1:{free_ports(1)[0]}"
            options = ZenohOptions(listen=(endpoint,), connect=tuple(self._zenoh_ports),
                                   **({} if max_payload is None else {"max_payload": max_payload}))
            self._zenoh_ports.append(endpoint)  # every later node connects to this one: a full mesh
            async with ZenohConnection(options, codec=registry.codec(), prefix=self.prefix) as zenoh_connection:
                yield _ConnectionNode(zenoh_connection)
