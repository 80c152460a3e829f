"""Open the connection a process hosts its participants on: MQTT (a broker URL) or Zenoh (a session's endpoints).

The Zenoh carrier is an optional extra (``pip install 'edge-agent[zenoh]'``): it is imported here, on first use,
and its absence is a :class:`ConfigError` that says how to install it.
"""

from __future__ import annotations

import socket
from contextlib import AbstractAsyncContextManager, ExitStack
from typing import TYPE_CHECKING

from edge_agent import registry
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions, redact_url
from edge_agent.carrier.recall import Connection
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.errors import ConfigError

if TYPE_CHECKING:
    from edge_agent.carrier.zenoh import ZenohConnection
    from edge_agent.codec import Codec

__all__ = ["Where", "describe", "free_ports", "open_connection", "zenoh_connection"]

Where = str | ZenohOptions  # an MQTT broker URL, or how a Zenoh session reaches its peers


def zenoh_connection(options: ZenohOptions, prefix: str, node: str | None, codec: Codec | None = None
                     ) -> ZenohConnection:
    """A :class:`~edge_agent.carrier.zenoh.ZenohConnection` (``codec``: the registry's, unless given);
    :class:`ConfigError` if the extra is missing."""
    try:
        from edge_agent.carrier.zenoh import ZenohConnection  # noqa: PLC0415  (the optional zenoh extra)
    except ImportError as error:
        msg = f"the Zenoh carrier needs its extra: pip install 'edge-agent[zenoh]' ({error})"
        raise ConfigError(msg) from None
    return ZenohConnection(options, codec=codec or registry.codec(), prefix=prefix, node=node)


def open_connection(where: Where, prefix: str, node: str | None, mqtt: MqttOptions | None = None
                    ) -> AbstractAsyncContextManager[Connection]:
    """The connection for ``where`` (enter it with ``async with``); ``node`` is the MQTT client id or Zenoh node."""
    if isinstance(where, ZenohOptions):
        return zenoh_connection(where, prefix, node)
    return MqttConnection(where, codec=registry.codec(), prefix=prefix, client_id=node, options=mqtt)


def describe(where: Where) -> dict[str, object]:
    """How a run was carried, for its report (never a password)."""
    if isinstance(where, ZenohOptions):
        return {"carrier": "zenoh", "mode": where.mode, "listen": list(where.listen), "connect": list(where.connect)}
    return {"carrier": "mqtt", "broker": redact_url(where)}


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports free on ``host`` now (held together while asked, so none repeats)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
