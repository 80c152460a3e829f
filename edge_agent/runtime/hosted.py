"""Many device agents in one process (``edge-agent host --configs DIR``), each on its own MQTT connection.

Every device keeps what a process of its own would have: its client id, credentials, Last Will and presence,
so the broker (and every other agent) cannot tell them apart from separate processes; they only share one
event loop, one interpreter and its imports. An emulated fleet of 1,000 devices then fits one box
(``docs/fleet-scale.md``).

Every file of the folder is checked before anything connects: a bad file is reported with its path and field,
along with every other bad file, and nothing starts. While serving, a device whose connection fails for good
(refused credentials, a broker away past the connect timeout) ends the host with an error naming the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from edge_agent.errors import ConfigError, EdgeAgentError, TransportError, first_own_error
from edge_agent.runtime.agent import device_connection, serve_until_signalled
from edge_agent.runtime.device_config import DeviceConfig, load_device_config

__all__ = ["CONNECTING_AT_ONCE", "host_devices", "load_config_dir", "run_host"]

log = structlog.get_logger("edge_agent.hosted")

CONNECTING_AT_ONCE = 64  # connections opening at one time (each a TCP connect and CONNECT in a worker thread)
_SUFFIXES = (".yaml", ".yml")


def load_config_dir(directory: Path, broker: str | None = None) -> list[DeviceConfig]:
    """Every device configuration file (``*.yaml``, ``*.yml``) of ``directory``, all checked before any is used:
    the schema, the password and TLS files they name, ``broker`` (``--broker``) against their credentials, and
    unique ids and client ids. :class:`ConfigError` lists every bad file with its field."""
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a folder"
        raise ConfigError(f"{what}; --configs takes a folder of device configuration files (*.yaml)",
                          source=str(directory))
    paths = sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    if not paths:
        raise ConfigError("holds no device configuration file (*.yaml or *.yml)", source=str(directory))
    problems: list[str] = []
    loaded: list[tuple[Path, DeviceConfig]] = []
    for path in paths:
        try:
            config = load_device_config(path)
        except ConfigError as error:
            problems.append(str(error))
            continue
        if config.carrier != "mqtt":
            problems.append(f"{path}: carrier: {config.carrier!r}: edge-agent host serves devices on MQTT; run this "
                            "one with `edge-agent agent --config`")
            continue
        try:
            config.broker_url(broker)
        except ValueError as error:  # --broker against the file's credentials
            problems.append(f"{path}: {error}")
            continue
        try:
            config.credentials.password()
            config.credentials.tls_context()
        except ConfigError as error:
            problems.append(f"{path}: credentials: {error}")
            continue
        loaded.append((path, config))
    problems += _repeated(loaded, lambda c: c.id, "id") + _repeated(loaded, lambda c: c.client_id or c.id,
                                                                     "client_id (default: the id)")
    if problems:
        listed = "\n".join("  " + problem.replace("\n", "\n    ") for problem in problems)
        msg = f"{len(problems)} problem(s) in the device configurations of {directory}; nothing was started:\n{listed}"
        raise ConfigError(msg)
    return [config for _, config in loaded]


def _repeated(loaded: list[tuple[Path, DeviceConfig]], key: Callable[[DeviceConfig], str], field: str) -> list[str]:
    seen: dict[str, Path] = {}
    problems = []
    for path, config in loaded:
        value = key(config)
        if value in seen:
            problems.append(f"{path}: {field} {value!r} is also the {field} of {seen[value]}; "
                            "each device needs its own")
        else:
            seen[value] = path
    return problems


async def host_devices(
    configs: Sequence[DeviceConfig],
    stop: asyncio.Event,
    broker: str | None = None,
    *,
    on_ready: Callable[[float], None] | None = None,
    connecting_at_once: int = CONNECTING_AT_ONCE,
) -> None:
    """Serve every device of ``configs`` on a connection of its own until ``stop`` is set, then let each leave
    cleanly. ``on_ready`` is called with the seconds it took once every device is connected and announced."""
    gate = asyncio.Semaphore(connecting_at_once)
    started = time.perf_counter()
    connected = 0
    all_up = asyncio.Event()

    async def serve(config: DeviceConfig) -> None:
        nonlocal connected
        try:
            async with contextlib.AsyncExitStack() as stack:
                async with gate:
                    await stack.enter_async_context(device_connection(config, broker))
                connected += 1
                if connected == len(configs):
                    all_up.set()
                await stop.wait()
        except ConfigError as error:
            raise ConfigError(f"device {config.id!r}: {error}") from None
        except EdgeAgentError as error:
            raise TransportError(f"device {config.id!r}: {error}") from None

    async def report_ready() -> None:
        await all_up.wait()
        seconds = time.perf_counter() - started
        log.info("host.connected", devices=len(configs), seconds=round(seconds, 2))
        if on_ready is not None:
            on_ready(seconds)

    try:
        async with asyncio.TaskGroup() as tasks:
            ready = tasks.create_task(report_ready(), name="host:ready")
            for config in configs:
                tasks.create_task(serve(config), name=f"host:device:{config.id}")
            await stop.wait()
            ready.cancel()
    except BaseExceptionGroup as group:
        raise first_own_error(group) from None


async def run_host(configs: Sequence[DeviceConfig], broker: str | None = None) -> None:
    """``edge-agent host``: serve the devices until SIGTERM/SIGINT."""
    stop = asyncio.Event()

    async def until_signalled() -> None:
        try:
            await serve_until_signalled("host", devices=len(configs))
        finally:
            stop.set()

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(until_signalled(), name="host:signals")
            tasks.create_task(host_devices(configs, stop, broker), name="host:devices")
    except BaseExceptionGroup as group:
        raise first_own_error(group) from None
