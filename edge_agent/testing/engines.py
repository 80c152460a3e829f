"""Other MQTT engines for interop tests and benchmarks: a private NATS server, the local RabbitMQ's MQTT plugin.

Both engines speak MQTT 3.1.1 only, so their URLs carry ``?protocol=3.1.1`` (``docs/brokers.md``)::

    with NatsMqttServer() as nats:           # nats-server on free ports, JetStream and MQTT on
        url = nats.url                       # mqtt://127.0.0.1:<port>?protocol=3.1.1
        nats.restart()                       # same ports, same JetStream store

    url = rabbitmq_mqtt_url()                # None (with the reason in ``rabbitmq_missing()``) if not reachable

    with NatsCluster(Path("deploy/cluster/nats-node.conf"), nodes=2) as cluster:
        cluster.urls                         # one MQTT URL per node; a fleet may connect to any of them

A missing engine is reported, never faked: :func:`nats_missing` and :func:`rabbitmq_missing` name what is
missing and how to get it, for ``pytest.skip``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = [
    "MQTT_MAX_ACK_PENDING",
    "RABBITMQ_MQTT_ENV",
    "NatsCluster",
    "NatsMqttServer",
    "nats_missing",
    "rabbitmq_missing",
    "rabbitmq_mqtt_url",
]

HOST = "127.0.0.1"
RABBITMQ_MQTT_ENV = "EDGE_AGENT_RABBITMQ_MQTT_URL"
_RABBITMQ_DEFAULT = "mqtt://guest:guest@127.0.0.1:1884?protocol=3.1.1"  # scripts/setup.sh dev sets this listener
_START_TIMEOUT_S = 10.0
# NATS splits a session's 65,535 packet ids among its QoS 1 subscriptions, max_ack_pending (default 1,024) each, so
# a session holds at most 63 of them by default and the 64th SUBSCRIBE is refused. Under MQTT 3.1.1 a launcher
# subscribes to the presence topic of every agent it waits for (docs/brokers.md): 64 lets one session hold 1,023.
MQTT_MAX_ACK_PENDING = 64


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def nats_missing() -> str | None:
    """Why :class:`NatsMqttServer` cannot run here, or None."""
    if shutil.which("nats-server") is None:
        return "nats-server is not installed (NATS 2.9+ with JetStream runs the MQTT listener)"
    return None


def rabbitmq_mqtt_url() -> str:
    """The URL of RabbitMQ's MQTT listener: ``EDGE_AGENT_RABBITMQ_MQTT_URL``, else guest on 127.0.0.1:1884."""
    return os.environ.get(RABBITMQ_MQTT_ENV) or _RABBITMQ_DEFAULT


def rabbitmq_missing() -> str | None:
    """Why RabbitMQ's MQTT listener cannot be used here, or None."""
    parts = urlsplit(rabbitmq_mqtt_url())
    host, port = parts.hostname or HOST, parts.port or 1883
    if _reachable(host, port):
        return None
    service = "the RabbitMQ MQTT plugin" if shutil.which("rabbitmqctl") else "RabbitMQ (rabbitmqctl not found)"
    return (f"{service} is not listening on {host}:{port}: as root, `source scripts/setup.sh dev` enables it on "
            f"127.0.0.1:1884, or set {RABBITMQ_MQTT_ENV}")


class NatsMqttServer:
    """A ``nats-server`` of its own: client and MQTT ports free on 127.0.0.1, JetStream in a temporary store."""

    def __init__(self, directory: Path | None = None) -> None:
        self._owned = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="ea-nats-")) if directory is None else directory
        self.port, self.mqtt_port = _free_port(), _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        config = self.directory / "nats.conf"
        config.write_text(
            f'server_name: "ea-test"\nlisten: "{HOST}:{self.port}"\n'
            f'jetstream {{ store_dir: "{self.directory / "js"}" }}\n'
            f'mqtt {{ listen: "{HOST}:{self.mqtt_port}", max_ack_pending: {MQTT_MAX_ACK_PENDING} }}\n',
            encoding="utf-8")
        self.config = config

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.mqtt_port}?protocol=3.1.1"

    @property
    def log_path(self) -> Path:
        return self.directory / "nats.log"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (its CPU time in ``/proc``), else None."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self) -> Self:
        missing = nats_missing()
        if missing is not None:
            raise RuntimeError(missing)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(["nats-server", "-c", str(self.config)], stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _reachable(HOST, self.mqtt_port, 0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"nats-server did not open its MQTT port {self.mqtt_port}:\n{tail}")
            time.sleep(0.02)
        return self

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def restart(self, signum: signal.Signals = signal.SIGKILL) -> None:
        """Stop (killed by default: no chance to flush) and start again on the same ports and store."""
        self.stop(signum)
        self.start()

    def close(self) -> None:
        self.stop()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


_LEADER_MARKS = ("Self is new JetStream cluster metadata leader", "JetStream cluster new metadata leader")


class NatsCluster:
    """``nodes`` ``nats-server`` processes run from one node configuration file (``deploy/cluster/nats-node.conf``,
    which takes every value from the environment) as a cluster on free loopback ports, JetStream in a temporary
    store per node. Returns from :meth:`start` once every MQTT port is open and JetStream has a leader."""

    def __init__(self, config: Path, nodes: int = 2) -> None:
        if nodes < 2:
            msg = f"a cluster has at least 2 nodes, not {nodes}"
            raise ValueError(msg)
        self.config = config
        self.directory = Path(tempfile.mkdtemp(prefix="ea-nats-cluster-"))
        self._ports = [(_free_port(), _free_port(), _free_port()) for _ in range(nodes)]  # client, mqtt, cluster
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def urls(self) -> list[str]:
        return [f"mqtt://{HOST}:{mqtt}?protocol=3.1.1" for _, mqtt, _ in self._ports]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.poll() is None]

    def _environment(self, index: int) -> dict[str, str]:
        client, mqtt, cluster = self._ports[index]
        seed = self._ports[1 if index == 0 else 0][2]  # node 0 routes to node 1, every other node to node 0
        return {**os.environ, "NODE_NAME": f"nats-{index + 1}", "LISTEN_HOST": HOST, "CLIENT_PORT": str(client),
                "MQTT_PORT": str(mqtt), "CLUSTER_PORT": str(cluster), "ROUTE": f"nats-route://{HOST}:{seed}",
                "STORE_DIR": str(self.directory / f"js-{index + 1}")}

    def _log(self, index: int) -> Path:
        return self.directory / f"nats-{index + 1}.log"

    def start(self) -> Self:
        missing = nats_missing()
        if missing is not None:
            raise RuntimeError(missing)
        for index in range(len(self._ports)):
            with self._log(index).open("ab") as log:
                self._processes.append(subprocess.Popen(
                    ["nats-server", "-c", str(self.config)], env=self._environment(index), stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 3 * _START_TIMEOUT_S
        while not self._ready():
            if any(p.poll() is not None for p in self._processes) or time.monotonic() > deadline:
                logs = "\n".join(self._log(i).read_text(encoding="utf-8", errors="replace")[-1500:]
                                 for i in range(len(self._ports)))
                self.close()
                raise RuntimeError(f"the NATS cluster did not come up:\n{logs}")
            time.sleep(0.05)
        return self

    def _ready(self) -> bool:
        if not all(_reachable(HOST, mqtt, 0.2) for _, mqtt, _ in self._ports):
            return False
        return any(mark in self._log(i).read_text(encoding="utf-8", errors="replace")
                   for i in range(len(self._ports)) for mark in _LEADER_MARKS)

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._processes = []
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
