"""The dashboard process: one MQTT link feeding a :class:`FleetState`, and an aiohttp server for the page.

``GET /`` is the page, ``/static/*`` its script, style and the vendored chart library (uPlot, MIT), ``GET
/api/state`` the whole view as JSON and ``GET /events`` a stream of server-sent events: a ``snapshot`` first,
then every change. A page that reads too slowly (its queue of :data:`QUEUE_LIMIT` events fills) is
disconnected; the browser's ``EventSource`` reconnects and starts again from a snapshot.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from edge_agent.carrier.mqtt import MqttLink
from edge_agent.carrier.mqtt_options import BrokerAddress, Inbound, redact_url
from edge_agent.carrier.topics import Topics
from edge_agent.dashboard.state import Event, FleetState
from edge_agent.errors import ConfigError
from edge_agent.runtime.agent import serve_until_signalled

if TYPE_CHECKING:
    from edge_agent.runtime.metrics import ServedMetrics

__all__ = ["QUEUE_LIMIT", "Dashboard", "run_dashboard"]

log = structlog.get_logger("edge_agent.dashboard")
QUEUE_LIMIT = 2000
_STATIC = {
    "dashboard.js": "text/javascript", "dashboard.css": "text/css", "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css", "LICENSE.uPlot.txt": "text/plain",
}


class Dashboard:
    """The state, the pages connected to it, and the HTTP application serving them."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self._clients: set[asyncio.Queue[Event | None]] = set()
        self.app = web.Application()
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/api/state", self._state)
        self.app.router.add_get("/events", self._events)
        self.app.router.add_get("/static/{name}", self._static)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def on_message(self, message: Inbound) -> None:
        for event in self.state.receive(message.topic, message.payload):
            for queue in list(self._clients):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:  # a page that cannot keep up starts again from a snapshot
                    self._clients.discard(queue)
                    queue.get_nowait()
                    queue.put_nowait(None)

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=_read("index.html"), content_type="text/html", charset="utf-8")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound
        return web.Response(text=_read(name), content_type=_STATIC[name], charset="utf-8")

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.snapshot())

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_LIMIT)
        self._clients.add(queue)
        try:
            await response.write(_sse(self.state.snapshot()))
            while (event := await queue.get()) is not None:
                await response.write(_sse(event))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(queue)
        return response


def _sse(event: Event) -> bytes:
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _read(name: str) -> str:
    return resources.files("edge_agent.dashboard").joinpath("static", name).read_text(encoding="utf-8")


async def run_dashboard(
    broker: str,
    prefix: str = "edge",
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    metrics_port: int | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the page on ``host:port`` until signalled; ``ready`` gets the page's address once it listens.

    With a user in the URL (``mqtt://watch@host``, password from ``EDGE_AGENT_MQTT_PASSWORD_FILE``) the
    dashboard connects as that user: give it the provisioned ``dashboard`` role, which reads everything and
    writes nothing of the fleet's. It publishes nothing (no presence, no will).
    """
    address = BrokerAddress.parse(broker)
    dashboard = Dashboard(FleetState(Topics(prefix), now=time.time))
    link = MqttLink(broker, client_id=address.username or f"dashboard-{secrets.token_hex(4)}",
                    on_message=dashboard.on_message, on_connected=lambda: None)
    for topic_filter in dashboard.state.filters():
        link.subscribe(topic_filter)
    metrics = _metrics(metrics_port, dashboard, link)
    runner = web.AppRunner(dashboard.app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        async with asyncio.TaskGroup() as tasks:
            await link.start(tasks)
            await link.subscriptions_settled()
            site = web.TCPSite(runner, host, port, shutdown_timeout=1.0)
            try:
                await site.start()
            except OSError as error:
                raise ConfigError(f"--port {port}: cannot listen on {host}:{port}: {error}") from None
            bound = runner.addresses[0][1] if runner.addresses else port
            url = f"http://{host}:{bound}/"
            if ready is not None:
                ready(url)
            await serve_until_signalled("dashboard", url=url, broker=redact_url(broker))
            await link.close()
    finally:
        await runner.cleanup()
        if metrics is not None:
            metrics.close()


def _metrics(port: int | None, dashboard: Dashboard, link: MqttLink) -> ServedMetrics | None:
    if port is None:
        return None
    from edge_agent.runtime.metrics import ServedMetrics  # noqa: PLC0415  (only with --metrics-port)

    def values() -> dict[str, Any]:
        state = dashboard.state
        return {"edge_agent_mqtt_messages_received": state.received, "edge_agent_mqtt_decode_errors": state.rejected,
                "edge_agent_mqtt_reconnects": link.reconnects, "edge_agent_mqtt_connected": float(link.connected),
                "edge_agent_agents_online": sum(a.online for a in state.agents.values()),
                "edge_agent_dashboard_clients": dashboard.clients}

    return ServedMetrics(port, values)
