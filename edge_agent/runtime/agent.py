"""A device agent process: one device on one MQTT connection (or Zenoh session), until SIGTERM/SIGINT.

Kept apart from the coordinator service (:mod:`.services`) so that starting an agent imports no algorithm:
the connection decodes with the registry's growing codec and the :class:`DeviceAgent` makes a family's role on
the first message of one of its kinds (``docs/lean-agents.md``). The agent leaves cleanly (retained offline
presence, clean DISCONNECT) and rides through broker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import structlog

from edge_agent import registry
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import redact_url
from edge_agent.carrier.recall import Connection
from edge_agent.device_agent import DeviceAgent
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.family import RoleContext
from edge_agent.messages import Message
from edge_agent.runtime.connect import zenoh_connection
from edge_agent.runtime.device_config import DeviceConfig

if TYPE_CHECKING:
    from edge_agent.runtime.metrics import ServedMetrics

__all__ = ["device_connection", "run_agent", "serve_metrics_if_asked", "serve_until_signalled"]

log = structlog.get_logger("edge_agent.service")


async def serve_until_signalled(what: str, **fields: object) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(f"{what}.ready", **fields)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info(f"{what}.stopping", **fields)


async def run_agent(config: DeviceConfig, broker: str | None = None, metrics_port: int | None = None) -> None:
    """Serve one device until signalled, over MQTT or (``carrier: zenoh``) over Zenoh (``docs/zenoh.md``)."""
    if config.carrier == "zenoh":
        if broker is not None or metrics_port is not None:
            given = "--broker" if broker is not None else "--metrics-port"
            raise ConfigError(f"{given} is for a device on MQTT; this one runs over Zenoh (carrier: zenoh)")
        zenoh = config.zenoh
        if not (zenoh.listen or zenoh.connect or zenoh.multicast_scouting):
            msg = (f"device {config.id!r} runs over Zenoh but its `zenoh:` block gives no listen or connect endpoint "
                   "and multicast_scouting is off: it could reach nobody (docs/zenoh.md)")
            raise ConfigError(msg)
        async with zenoh_connection(zenoh, config.prefix, config.client_id or config.id,
                                    registry.lazy_codec()) as connection:
            _start_device(connection, config)
            await _serve(config, f"zenoh {zenoh.mode}")
        return
    async with device_connection(config, broker) as mqtt:
        metrics = serve_metrics_if_asked(metrics_port, mqtt)
        await _serve(config, redact_url(config.broker_url(broker)))
        if metrics is not None:
            metrics.close()


async def _serve(config: DeviceConfig, where: str) -> None:
    # nothing awaited before the signal handlers are in place: once present, a SIGTERM is a clean leave
    await serve_until_signalled("agent", agent=config.id, kind=config.device.kind, broker=where)


@contextlib.asynccontextmanager
async def device_connection(config: DeviceConfig, broker: str | None = None) -> AsyncIterator[MqttConnection]:
    """One device on its own MQTT connection (client id, credentials, Last Will, presence), serving its roles
    until the block is left (then a clean leave). Its connection reads only the presence records it needs, not
    every device's (``docs/fleet-scale.md``). Used by ``edge-agent agent`` and, many at once, by ``edge-agent
    host``."""
    credentials = config.credentials
    url = config.broker_url(broker)  # mqtt:// with a CA or client certificate is refused, naming the field
    password = credentials.password()
    async with MqttConnection(
        url,
        codec=registry.lazy_codec(),
        prefix=config.prefix,
        client_id=config.client_id or config.id,
        username=credentials.username or (config.id if password is not None else None),
        password=password,
        tls=credentials.tls_context(),
        watch_presence=False,
    ) as mqtt:
        _start_device(mqtt, config)
        yield mqtt


def _start_device(connection: Connection, config: DeviceConfig) -> None:
    """Host the device's agent on ``connection`` and publish its records (nothing awaited)."""

    async def publish(name: str, payload: bytes) -> None:
        try:
            await connection.publish_raw(connection.topics.record(config.id, name), payload, retain=True)
        except EdgeAgentError as error:  # a role's next change publishes its whole record again; without the
            # device record, dashboards show the device without its kind
            log.warning("agent.record_not_published", agent=config.id, record=name, error=str(error))

    def on_record(name: str, record: Message) -> None:
        connection.spawn(publish(name, record.model_dump_json().encode()), f"publish-{name}")

    connection.add(DeviceAgent(config.device, RoleContext(settle=connection.settled, publish=on_record)))
    identity = json.dumps({"id": config.id, "kind": config.device.kind}).encode()
    connection.spawn(publish("device", identity), "publish-device")


def serve_metrics_if_asked(port: int | None, connection: MqttConnection) -> ServedMetrics | None:
    """Prometheus metrics of this process on ``port`` (``--metrics-port``); imported only when asked for."""
    if port is None:
        return None
    from edge_agent.runtime.metrics import serve_metrics  # noqa: PLC0415  (prometheus-client: only with --metrics-port)

    return serve_metrics(port, connection)
