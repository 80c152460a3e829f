"""Child processes of a fleet: started with their output in log files, watched, and always torn down.

Children ask the kernel for SIGTERM when their parent dies (``PR_SET_PDEATHSIG`` on Linux), so even a
``kill -9`` of the launcher leaves no orphan agent behind.

``spawn="exec"`` (the default) starts every child as a new interpreter; ``spawn="fork"`` forks the
``edge-agent`` commands among them from one pre-imported fork server (:mod:`.fork_server`), so N agents do
not cost N full imports in series (``docs/lean-agents.md``); other commands are still executed.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self

import structlog

from edge_agent.errors import ConfigError, TransportError
from edge_agent.runtime.fork_server import ForkServer, forkable
from edge_agent.runtime.interrupts import held

__all__ = ["SPAWN_METHODS", "ChildProcess", "ProcessGroup", "Spawn", "die_with_parent"]

Spawn = Literal["exec", "fork"]
SPAWN_METHODS: tuple[Spawn, ...] = ("exec", "fork")

log = structlog.get_logger("edge_agent.fleet")

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel for SIGTERM when the parent dies (Linux): a child's first step, between fork and exec.

    ``parent``: the pid that forked this child. A parent that died before the request was made (a child
    scheduled late, on a loaded machine) sends nothing, so the child then ends at once, as the signal would
    have ended it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if parent is not None and os.getppid() != parent:
            os._exit(128 + signal.SIGTERM)


class Process(Protocol):
    """What a group needs of a child: a ``subprocess.Popen`` or a fork server's child."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...


@dataclass
class ChildProcess:
    name: str
    process: Process
    log_path: Path
    devices: int = 1  # agents it serves (``edge-agent host``: many), for its grace on stop

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ProcessGroup:
    """Use as ``with ProcessGroup(log_dir) as group: group.start(name, argv)``; leaving stops them all.

    ``spawn``: how ``edge-agent`` commands start (see the module docstring)."""

    def __init__(self, log_dir: Path, spawn: Spawn = "exec") -> None:
        if spawn not in SPAWN_METHODS:
            raise ConfigError(f"spawn {spawn!r} is not a way to start processes; accepted: {', '.join(SPAWN_METHODS)}")
        self.log_dir = log_dir
        self.spawn = spawn
        self.children: list[ChildProcess] = []
        self._fork_server: ForkServer | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self, name: str, argv: list[str], devices: int = 1) -> ChildProcess:
        log_path = self.log_dir / f"{name}.log"
        command = forkable(argv) if self.spawn == "fork" else None
        process: Process
        with held():  # a stop signal waits until the child is known to the group, which stops it on the way out
            if command is not None:
                if self._fork_server is None:
                    self._fork_server = ForkServer(self.log_dir / "fork-server.log",
                                                   preexec=functools.partial(die_with_parent, os.getpid()))
                process = self._fork_server.spawn(command, log_path)
            else:
                with log_path.open("wb") as output:
                    process = subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                        preexec_fn=functools.partial(die_with_parent, os.getpid()),  # noqa: PLW1509  (prctl and getppid only)
                    )
            child = ChildProcess(name, process, log_path, devices)
            self.children.append(child)
        log.debug("fleet.process_started", name=name, pid=process.pid)
        return child

    def kill(self, name: str) -> None:
        """SIGKILL the child ``name`` (a simulated crash: no clean leave) and forget it."""
        child = next((c for c in self.children if c.name == name), None)
        if child is None:
            raise ConfigError(f"no process named {name!r}; running: {sorted(c.name for c in self.children)}")
        child.process.kill()
        child.process.wait()
        self.children.remove(child)
        log.info("fleet.process_killed", name=name, pid=child.process.pid, reason="requested")

    def check(self) -> None:
        """Raise :class:`TransportError` naming the first child that has exited, with its last output."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise TransportError(
                    f"{child.name} exited with status {code}; its last output:\n{child.log_tail()}"
                )

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM every child, wait up to ``grace_s``, then SIGKILL whoever is left, all at once.

        The default grace grows with the number of agents the children serve: a clean leave (offline presence,
        DISCONNECT) of 100 agent processes on two cores was measured at 8-20 s.
        """
        running = [c for c in self.children if c.process.poll() is None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
        served = sum(child.devices for child in running)
        deadline = time.monotonic() + (grace_s if grace_s is not None else max(5.0, 0.2 * served))
        stragglers = []
        for child in running:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stragglers.append(child)
        for child in stragglers:
            log.warning("fleet.process_killed", name=child.name, pid=child.process.pid)
            child.process.kill()
        for child in stragglers:
            child.process.wait()
        if self._fork_server is not None:
            self._fork_server.close()
            self._fork_server = None
