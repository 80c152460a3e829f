"""The ``edge-agent ros2-bridge`` process: its Zenoh session, its MQTT link, the bridge between them, until a signal.

The session is a Zenoh peer with multicast scouting off, connecting to ``--zenoh-connect`` (by default the router
``rmw_zenohd`` on ``tcp/localhost:7447``) and listening on ``--zenoh-listen``, as rmw_zenoh's default session
does. The MQTT link reads the fleet like the dashboard (``FleetState.filters()``); setpoints are submitted with
``submit_jobs``, each on a connection of its own, as ``edge-agent submit`` does.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable

import zenoh

from edge_agent.algorithms.admm.job import AdmmJobSpec
from edge_agent.carrier.mqtt import MqttLink
from edge_agent.carrier.mqtt_options import BrokerAddress, redact_url
from edge_agent.carrier.topics import Topics
from edge_agent.dashboard.state import FleetState
from edge_agent.errors import ConfigError, first_own_error
from edge_agent.results import RunReport
from edge_agent.ros2.bridge import Ros2Bridge
from edge_agent.ros2.options import BridgeOptions
from edge_agent.runtime.agent import serve_until_signalled
from edge_agent.runtime.fleet import submit_jobs

__all__ = ["run_bridge", "zenoh_config"]

_ENDPOINT = re.compile(r"^[a-z][a-z0-9-]*/\S+$")


def zenoh_config(options: BridgeOptions) -> zenoh.Config:
    """A peer session connecting to ``options.connect`` (rmw_zenoh's default: the router on localhost:7447),
    multicast scouting off as in rmw_zenoh's default session configuration."""
    for option, endpoints in (("--zenoh-connect", options.connect), ("--zenoh-listen", options.listen)):
        for endpoint in endpoints:
            if not _ENDPOINT.match(endpoint):
                raise ConfigError(f"{option} {endpoint!r}: a Zenoh endpoint <protocol>/<address>, e.g. "
                                  "tcp/192.168.1.10:7447 or tcp/localhost:7447")
    config = zenoh.Config()
    for key, value in (("mode", "peer"), ("scouting/multicast/enabled", False),
                       ("connect/endpoints", list(options.connect)), ("listen/endpoints", list(options.listen))):
        try:
            config.insert_json5(key, json.dumps(value))
        except zenoh.ZError as error:
            raise ConfigError(f"the Zenoh configuration refused {key} = {value}: {_short(error)}") from None
    return config


def _short(error: zenoh.ZError) -> str:
    """Zenoh's message without the source location it appends."""
    text = str(error)
    found = re.search(r'msg: "(.*?)(?: at /[^"]*)?"', text)
    return (found.group(1) if found else text.split(" at /", maxsplit=1)[0])[:300]


async def run_bridge(
    broker: str,
    options: BridgeOptions,
    *,
    ready: Callable[[Ros2Bridge], None] | None = None,
) -> None:
    """Bridge the fleet under ``options.prefix`` on ``broker`` to ROS 2 until SIGINT/SIGTERM.

    The bridge reads the whole fleet and submits jobs as one user (the URL's, else none): no provisioned role
    allows both yet (``docs/ros2.md``, brokers with users).
    """
    address = BrokerAddress.parse(broker)
    config = zenoh_config(options)
    try:
        session = await asyncio.to_thread(zenoh.open, config)
    except zenoh.ZError as error:
        raise ConfigError(f"cannot open a Zenoh session (--zenoh-connect {' '.join(options.connect)}, "
                          f"--zenoh-listen {' '.join(options.listen) or '(none)'}): {_short(error)}") from None
    try:
        state = FleetState(Topics(options.prefix), now=time.time)

        async def submit(job: AdmmJobSpec) -> list[RunReport]:
            return await submit_jobs([job], broker, options.prefix, options.job_timeout_s,
                                     wait_for=job.participants)

        bridge = Ros2Bridge(session, state, options, submit)
        view_id = f"{address.username}-ros2-view" if address.username else f"ros2-bridge-{secrets.token_hex(4)}"
        link = MqttLink(broker, client_id=view_id,
                        on_message=bridge.on_mqtt, on_connected=lambda: None)
        for topic_filter in state.filters():
            link.subscribe(topic_filter)
        try:
            async with asyncio.TaskGroup() as tasks:
                await link.start(tasks)
                await link.subscriptions_settled()
                bridge.start(tasks)
                if ready is not None:
                    ready(bridge)
                await serve_until_signalled("ros2_bridge", broker=redact_url(broker), domain_id=options.domain_id,
                                            zenoh_connect=list(options.connect))
                bridge.stop()
                await link.close()
        except BaseExceptionGroup as group:
            raise first_own_error(group) from None
    finally:
        session.close()

