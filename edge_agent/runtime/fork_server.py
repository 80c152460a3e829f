"""A fork server: one pre-imported process that forks ``edge-agent`` commands, so N agents cost one import.

Starting an agent with ``exec`` pays the interpreter and every import again (about 0.4 s of CPU each, in
series on a small machine). :class:`ForkServer` starts ``python -m edge_agent.fork_main`` once; that process
imports what an agent needs (:mod:`edge_agent.fork_main`), freezes its heap for the garbage collector, and
then forks one child per request, which runs ``edge_agent.cli.main(argv)`` with its output in a log file.

The conversation is JSON lines. Requests on the server's stdin: ``{"argv": [...], "log": path}``. On its
stdout, in order, one answer per request (``{"pid": n}`` or ``{"error": "..."}``) and, whenever a child
ends, ``{"exited": pid, "status": code}`` (a negative code: killed by that signal, as ``subprocess``
says). Closing the server's stdin ends it: it sends SIGTERM to the children still running, reaps them and
exits. The server dies with its parent, and every child with the server (``PR_SET_PDEATHSIG``), so a
``kill -9`` of the launcher leaves no orphan.

:class:`ForkedProcess` is a child as :class:`~edge_agent.runtime.processes.ProcessGroup` sees it: the part of
``subprocess.Popen`` it uses (``pid``, ``poll``, ``wait``, ``send_signal``, ``kill``, ``returncode``).
Children are not this process's own, so their exit comes from the server's notices.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import structlog

from edge_agent.errors import TransportError
from edge_agent.runtime.interrupts import held

__all__ = ["ForkServer", "ForkedProcess", "forkable"]

log = structlog.get_logger("edge_agent.fleet")

_PREFIX = ("-m", "edge_agent")


def forkable(argv: list[str]) -> list[str] | None:
    """The ``edge-agent`` arguments of ``argv`` if it runs this interpreter's ``-m edge_agent``, else None."""
    if len(argv) >= 3 and argv[0] == sys.executable and tuple(argv[1:3]) == _PREFIX:
        return argv[3:]
    return None


class ForkedProcess:
    """A child of the fork server (see the module docstring)."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self._server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.status(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self._server.wait(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        self.returncode = code
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended just now; the server's notice follows
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The client side: starts the server, asks it for children, follows their exits. Thread-safe."""

    def __init__(self, log_path: Path, preexec: Any = None) -> None:
        self._log_path = log_path
        with log_path.open("wb") as output, held():
            self._process = subprocess.Popen(
                [sys.executable, "-m", "edge_agent.fork_main"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=output, preexec_fn=preexec,  # noqa: PLW1509  (only prctl, as for every child)
            )
        if self._process.stdin is None or self._process.stdout is None:  # never: both are pipes above
            raise TransportError("the fork server started without its pipes")
        self._stdin: IO[bytes] = self._process.stdin
        self._changed = threading.Condition()
        self._answers: list[dict[str, Any]] = []
        self._exits: dict[int, int] = {}
        self._gone = False  # the server's stdout closed: no more notices
        self._ask = threading.Lock()
        self._stdout: IO[bytes] = self._process.stdout
        self._reader = threading.Thread(target=self._read, args=(self._stdout,), name="fork-server-reader",
                                        daemon=True)
        self._reader.start()

    def _read(self, stdout: IO[bytes]) -> None:
        """The reader thread: answers go to the asker, exit notices to the table; ends with the server."""
        for line in stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            with self._changed:
                if "exited" in record:
                    self._exits[int(record["exited"])] = int(record["status"])
                else:
                    self._answers.append(record)
                self._changed.notify_all()
        with self._changed:
            self._gone = True
            self._changed.notify_all()

    def spawn(self, argv: list[str], log_path: Path, within_s: float = 30.0) -> ForkedProcess:
        """Fork a child running ``edge-agent <argv>`` with its output in ``log_path``."""
        with self._ask:
            try:
                self._stdin.write(json.dumps({"argv": argv, "log": str(log_path)}).encode() + b"\n")
                self._stdin.flush()
            except (BrokenPipeError, ValueError):
                raise TransportError(f"the fork server has exited; its output:\n{self._tail()}") from None
            with self._changed:
                if not self._changed.wait_for(lambda: self._answers or self._gone, within_s) or not self._answers:
                    raise TransportError(f"the fork server did not answer; its output:\n{self._tail()}")
                answer = self._answers.pop(0)
        if "pid" not in answer:
            raise TransportError(f"the fork server could not start {argv[:2]}: {answer.get('error')}")
        return ForkedProcess(self, int(answer["pid"]))

    def status(self, pid: int) -> int | None:
        """The exit status of child ``pid``, or None while it runs."""
        with self._changed:
            code = self._exits.get(pid)
            if code is None and self._gone:
                code = _probe(pid)
            return code

    def wait(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or self._gone, timeout)
        return self.status(pid)

    def close(self, grace_s: float = 10.0) -> None:
        """End the server (it stops its remaining children first) and wait for it."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self._process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("fleet.fork_server_killed", pid=self._process.pid)
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=grace_s)
        if not self._reader.is_alive():
            self._stdout.close()

    def _tail(self, lines: int = 15) -> str:
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _probe(pid: int) -> int | None:
    """Without the server, a child that is gone has an unknown status (-1); one still there, none yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return -1
    except PermissionError:  # the pid was reused by someone else's process: ours is gone
        return -1
    return None

