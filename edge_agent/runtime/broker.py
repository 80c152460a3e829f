"""A private Mosquitto for tests and small fleets: free loopback port, temp config, start/kill/restart.

::

    with PrivateBroker() as broker:          # or: async with PrivateBroker() as broker
        url = broker.url                     # mqtt://127.0.0.1:<port>
        broker.kill()                        # SIGKILL, as in a crash
        broker.restart()                     # same port, fresh process

The config says ``allow_anonymous true`` unless a password file is given (Mosquitto 2 defaults to false
once a listener is configured), sets ``set_tcp_nodelay true`` (Nagle costs 40+ ms per QoS 1 round trip),
sizes ``max_queued_messages`` (the default 1000 silently drops bursts) and ``message_size_limit`` (equal to
the carrier's ``max_payload``). Mosquitto cannot report a port it chose itself, so a free one is picked
first. Run as root, Mosquitto drops privileges to user ``mosquitto``: the temp directory is handed to it.
Without a ``mosquitto`` binary, a reachable Docker engine and the optional ``testcontainers`` package run
the official image instead; otherwise :class:`TransportError` says how to install Mosquitto.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog

from edge_agent.carrier.mqtt_options import DEFAULT_MAX_PAYLOAD
from edge_agent.errors import ConfigError, TransportError
from edge_agent.runtime.interrupts import held

__all__ = ["PrivateBroker", "free_port"]

log = structlog.get_logger("edge_agent.broker")
HOST = "127.0.0.1"
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
_INSTALL_HINT = (
    "no `mosquitto` binary found and no Docker engine reachable: install Mosquitto "
    "(Debian/Ubuntu: `sudo apt-get install mosquitto`; macOS: `brew install mosquitto`) "
    "or start Docker and `pip install testcontainers`"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateBroker:
    """One Mosquitto process (or container) listening on ``127.0.0.1:<port>``."""

    def __init__(
        self,
        *,
        port: int | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        per_listener_settings: bool = False,
        message_size_limit: int = DEFAULT_MAX_PAYLOAD,
        max_queued_messages: int = 10_000,
        persistence: bool = False,
        extra_config: Sequence[str] = (),
        config_template: str | None = None,
        files: Sequence[Path] = (),
        binary: str | None = None,
        startup_timeout_s: float = 5.0,
    ) -> None:
        for name, value in (("message_size_limit", message_size_limit), ("max_queued_messages", max_queued_messages)):
            if value < 1:
                raise ConfigError(f"PrivateBroker {name} must be >= 1, got {value}")
        for path in (password_file, acl_file, *files):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"PrivateBroker: {path} does not exist or is not a file")
        if config_template is not None and (password_file or acl_file or extra_config or per_listener_settings):
            msg = "PrivateBroker: give either config_template or the individual settings, not both"
            raise ConfigError(msg)
        self._fixed_port = port
        self.port = port or 0
        self._password_file, self._acl_file = password_file, acl_file
        self._per_listener = per_listener_settings
        self.message_size_limit = message_size_limit
        self._max_queued = max_queued_messages
        self._persistence = persistence
        self._extra = list(extra_config)
        self._template = config_template
        self._files = [Path(f) for f in files]
        self._binary = binary or shutil.which("mosquitto", path=_SEARCH_PATH)
        self._startup_timeout_s = startup_timeout_s
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._container: Any = None  # testcontainers.core.container.DockerContainer, when used

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self._dir is None:
            raise TransportError("the broker has not been started")
        return self._dir / "mosquitto.log"

    @property
    def pid(self) -> int | None:
        """The broker's process id (its CPU time in ``/proc``: ``bench/fleet.py``); None in a container or stopped."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def running(self) -> bool:
        if self._container is not None:
            return True
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the broker and return once its port accepts connections."""
        if self.running:
            return self
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="edge-agent-mosquitto-"))
            _hand_to_mosquitto_user(self._dir)
        if self._binary is None:
            self._start_container()
            return self
        for attempt in range(3):
            if not self.port or (attempt and self._fixed_port is None):
                self.port = free_port()
            self._launch()
            try:
                self._await_port()
            except TransportError:
                if self._fixed_port is None and "Address already in use" in self.log_tail():
                    continue  # another process took the free port in between: pick a new one
                raise
            log.debug("broker.started", url=self.url, pid=self._pid())
            return self
        raise TransportError(f"could not find a free port for Mosquitto; log:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (a clean stop), waiting for the process to end."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the broker dies at once, as in a crash (no wills, no persistence flush)."""
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        """Stop if running, then start again on the same port."""
        if self.running:
            self.stop()
        self.start()

    def close(self) -> None:
        """Stop the broker and remove its temporary directory."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def log_tail(self, lines: int = 20) -> str:
        if self._container is not None:
            out, err = self._container.get_logs()
            text = (out + err).decode(errors="replace")
        elif self._dir is not None and self.log_path.exists():
            text = self.log_path.read_text(errors="replace")
        else:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.close)

    # -- internals -----------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        """The broker's private directory (config, log, copied files, persistence)."""
        if self._dir is None:
            raise TransportError("the broker has not been started")
        return self._dir

    def config_lines(self, listener: str | None = None) -> list[str]:
        """The Mosquitto config; ``listener`` overrides ``"<port> 127.0.0.1"`` (e.g. inside a container).

        With ``config_template``, that text is used instead, ``{port}`` and ``{dir}`` (the broker's private
        directory, where ``files`` are copied) replaced.
        """
        assert self._dir is not None
        for path in self._files:
            self._copy_in(path)
        if self._template is not None:
            return self._template.replace("{port}", str(self.port)).replace("{dir}", str(self._dir)).splitlines()
        lines = ["per_listener_settings true"] if self._per_listener else []
        if self._persistence:
            lines += ["persistence true", f"persistence_location {self._dir}/", "autosave_interval 1"]
        else:
            lines += ["persistence false"]
        lines += [
            "set_tcp_nodelay true",
            f"max_queued_messages {self._max_queued}",
            f"message_size_limit {self.message_size_limit}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp_format %H:%M:%S",
            *self._extra,
            f"listener {listener or f'{self.port} {HOST}'}",
        ]
        if self._password_file is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {self._copy_in(self._password_file)}"]
        if self._acl_file is not None:
            lines.append(f"acl_file {self._copy_in(self._acl_file)}")
        return lines

    def _copy_in(self, path: Path) -> Path:
        """A copy inside the broker's directory, readable after Mosquitto drops privileges."""
        assert self._dir is not None
        target = self._dir / Path(path).name
        if Path(path).resolve() != target.resolve():
            shutil.copyfile(path, target)
        _hand_to_mosquitto_user(target)
        return target

    def _launch(self) -> None:
        assert self._dir is not None
        assert self._binary is not None
        config = self._dir / "mosquitto.conf"
        config.write_text("\n".join(self.config_lines()) + "\n")
        with self.log_path.open("ab") as log_file, held():
            self._process = subprocess.Popen(
                [self._binary, "-c", str(config)], stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                start_new_session=True,
            )

    def _await_port(self) -> None:
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                msg = f"Mosquitto exited with code {self._process.returncode} on start; log:\n{self.log_tail()}"
                raise TransportError(msg)
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.005)
        self._signal(signal.SIGKILL)
        msg = f"Mosquitto did not accept connections on port {self.port} within {self._startup_timeout_s:g} s; log:\n"
        raise TransportError(msg + self.log_tail())

    def _pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _signal(self, signum: signal.Signals) -> None:
        if self._container is not None:
            self._stop_container(signum)
            return
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.debug("broker.stopped", url=self.url, signal=signum.name)

    def _start_container(self) -> None:
        try:
            from testcontainers.core.container import (  # type: ignore[import-not-found]  # noqa: PLC0415  (optional)
                DockerContainer,
            )
        except ImportError:
            raise TransportError(_INSTALL_HINT) from None
        assert self._dir is not None
        self.port = self.port or free_port()
        (self._dir / "mosquitto.conf").write_text("\n".join(self.config_lines("1883 0.0.0.0")) + "\n")
        container = (
            DockerContainer("eclipse-mosquitto:2.0")
            .with_bind_ports(1883, self.port)
            .with_volume_mapping(str(self._dir), str(self._dir), "rw")
            .with_command(f"mosquitto -c {self._dir}/mosquitto.conf")
        )
        try:
            container.start()
        except Exception as error:  # the Docker engine is unreachable or the image cannot be pulled
            raise TransportError(f"{_INSTALL_HINT} ({error})") from None
        self._container = container
        self._await_port()

    def _stop_container(self, signum: signal.Signals) -> None:
        container, self._container = self._container, None
        if signum == signal.SIGKILL:
            container.get_wrapped_container().kill()
        container.stop()


def _hand_to_mosquitto_user(path: Path) -> None:
    """Let Mosquitto read (and, for directories, write) ``path`` after dropping root privileges."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, 0o700 if path.is_dir() else 0o600)
