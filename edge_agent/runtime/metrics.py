"""Prometheus metrics of one process (``--metrics-port`` on ``agent``, ``coordinator`` and ``dashboard``).

Imported only when the option is given: ``prometheus-client`` is the ``metrics`` extra, and an agent started
without the option loads neither. The counters of the MQTT connection are read when Prometheus scrapes (no
work per message); run counts and durations are observed from the coordinator's progress records. The names,
types and meanings are the table :data:`METRICS` (``docs/dashboard.md`` shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from threading import Thread
from typing import TYPE_CHECKING, Literal
from wsgiref.simple_server import WSGIServer

from edge_agent.errors import ConfigError

if TYPE_CHECKING:
    from edge_agent.carrier.mqtt_carrier import MqttConnection
    from edge_agent.runtime.progress import RunProgress

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
except ImportError as missing:  # pragma: no cover - depends on the installed extras
    msg = "--metrics-port needs prometheus-client: pip install 'edge-agent[metrics]'"
    raise ConfigError(msg) from missing

__all__ = ["METRICS", "ServedMetrics", "connection_values", "serve_metrics"]

Kind = Literal["counter", "gauge"]

METRICS: dict[str, tuple[Kind, str]] = {
    "edge_agent_mqtt_messages_sent": ("counter", "envelopes published by this process"),
    "edge_agent_mqtt_messages_received": ("counter", "envelopes (or dashboard records) received and accepted"),
    "edge_agent_mqtt_decode_errors": ("counter", "payloads rejected: not JSON, schema, size, sender or topic"),
    "edge_agent_mqtt_duplicates": ("counter", "QoS 1 redeliveries and repeated requests dropped"),
    "edge_agent_mqtt_resent": ("counter", "requests sent again after a reconnect or a peer's new session"),
    "edge_agent_mqtt_reconnects": ("counter", "connections to the broker re-established after a loss"),
    "edge_agent_mqtt_connected": ("gauge", "1 while connected to the broker"),
    "edge_agent_queue_depth": ("gauge", "message handlers and drivers still running in this process"),
    "edge_agent_solver_calls": ("counter", "local solves run off the event loop"),
    "edge_agent_solver_seconds": ("counter", "wall time of those solves"),
    "edge_agent_agents_online": ("gauge", "agents this process sees online (presence records)"),
    "edge_agent_dashboard_clients": ("gauge", "pages connected to the dashboard's event stream"),
}
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


def connection_values(connection: MqttConnection) -> dict[str, float]:
    """The :data:`METRICS` values of an MQTT connection, now."""
    stats = connection.stats
    return {
        "edge_agent_mqtt_messages_sent": stats.sent,
        "edge_agent_mqtt_messages_received": stats.received,
        "edge_agent_mqtt_decode_errors": stats.rejected,
        "edge_agent_mqtt_duplicates": stats.duplicates,
        "edge_agent_mqtt_resent": stats.resent,
        "edge_agent_mqtt_reconnects": connection.reconnects,
        "edge_agent_mqtt_connected": float(connection.connected),
        "edge_agent_queue_depth": connection.pending,
        "edge_agent_solver_calls": stats.blocking_calls,
        "edge_agent_solver_seconds": stats.blocking_s,
        "edge_agent_agents_online": len(connection.online()),
    }


class _Collector:
    def __init__(self, values: Callable[[], Mapping[str, float]]) -> None:
        self._values = values

    def collect(self) -> Iterator[Metric]:
        for name, value in self._values().items():
            kind, help_text = METRICS[name]
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=value)


class ServedMetrics:
    """A registry served over HTTP on ``127.0.0.1:port`` from a thread of its own; :meth:`close` stops it."""

    def __init__(self, port: int, values: Callable[[], Mapping[str, float]], host: str = "127.0.0.1") -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(values))
        self.runs = Counter("edge_agent_runs", "runs finished, by algorithm and status", ["algorithm", "status"],
                            registry=self.registry)
        self.run_seconds = Histogram("edge_agent_run_duration_seconds", "wall time of finished runs",
                                     ["algorithm"], buckets=_RUN_BUCKETS, registry=self.registry)
        self.run_iterations = Histogram("edge_agent_run_iterations", "iterations of finished runs", ["algorithm"],
                                        buckets=(1, 10, 30, 100, 300, 1000, 3000, 10000), registry=self.registry)
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            raise ConfigError(f"--metrics-port {port}: cannot listen on {host}:{port}: {error}") from None
        self._server: WSGIServer = server
        self._thread: Thread = thread
        self.port = server.server_port

    def observe_progress(self, record: RunProgress) -> None:
        """Count a run when its last record (a status other than ``running``) goes out."""
        if record.status == "running":
            return
        self.runs.labels(record.algorithm, record.status).inc()
        self.run_seconds.labels(record.algorithm).observe(record.elapsed_s)
        self.run_iterations.labels(record.algorithm).observe(record.iteration)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(port: int, connection: MqttConnection) -> ServedMetrics:
    return ServedMetrics(port, lambda: connection_values(connection))
