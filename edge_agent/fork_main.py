"""The fork server's process (``python -m edge_agent.fork_main``; the client is
:class:`edge_agent.runtime.fork_server.ForkServer`, the conversation is described there).

It imports what an ``edge-agent agent`` needs and every family, with their message kinds in the process's wire
codec (:func:`edge_agent.registry.preload`): a child forked from it finds them loaded on its first message
instead of importing a family and building the codec's validators in its own memory (``docs/lean-agents.md``).
It freezes the heap so that the children share its pages instead of copying them when the garbage collector
walks them, then serves requests: each one a ``fork``; the child redirects its output to its log file and runs
``edge_agent.cli.main(argv)``. One thread only, so forking is safe: stdin and the
SIGCHLD wake-up pipe are watched by one selector.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import sys
import time
from typing import IO, Any

from edge_agent import registry
from edge_agent.runtime.processes import die_with_parent

_PRELOADED = ("edge_agent.cli", "edge_agent.runtime.agent", "edge_agent.runtime.device_config",
              "edge_agent.device_agent", "edge_agent.carrier.mqtt_carrier")


def _preload() -> None:
    """What every child runs before its first message (the agent command's own imports), and every family."""
    for module in _PRELOADED:
        importlib.import_module(module)
    registry.preload()


def _child(argv: list[str], log_path: str, closing: list[int], server: int) -> int:
    """In the child: its own output, default signals, then the command. Returns its exit status."""
    die_with_parent(server)
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    for fd in closing:
        with contextlib.suppress(OSError):
            os.close(fd)
    output = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    os.close(null)
    from edge_agent.cli import main  # noqa: PLC0415  (imported already: preloaded)

    try:
        return main(argv)
    except SystemExit as stop:  # argparse: a bad command line
        return stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # the child reports any failure in its log and exits
        import traceback  # noqa: PLC0415

        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


class _Server:
    def __init__(self, requests: IO[bytes], answers: IO[bytes]) -> None:
        self._requests, self._answers = requests, answers
        self._children: set[int] = set()
        self._private: list[int] = []
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wake-up fd is written
        signal.set_wakeup_fd(self._wake_write)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the launcher, which stops everyone

    def _say(self, record: dict[str, Any]) -> None:
        self._answers.write(json.dumps(record).encode() + b"\n")
        self._answers.flush()

    def _reap(self) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._children.discard(pid)
            self._say({"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    def _spawn(self, line: bytes) -> None:
        try:
            request = json.loads(line)
            argv = [str(arg) for arg in request["argv"]]
            log_path = str(request["log"])
        except (ValueError, KeyError, TypeError) as error:
            self._say({"error": f"bad request: {error}"})
            return
        server = os.getpid()
        try:
            pid = os.fork()
        except OSError as error:
            self._say({"error": f"fork failed: {error}"})
            return
        if pid == 0:
            # the server's own descriptors; stdin and stdout are replaced by the child
            closing = [self._wake_read, self._wake_write, *self._private]
            os._exit(_child(argv, log_path, closing, server))
        self._children.add(pid)
        self._say({"pid": pid})

    def serve(self) -> None:
        selector = selectors.DefaultSelector()
        self._private.append(selector.fileno())
        selector.register(self._requests.fileno(), selectors.EVENT_READ, "requests")
        selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        pending = b""
        open_ = True
        while open_:
            for key, _ in selector.select():
                if key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_read, 512):
                            pass
                    self._reap()
                    continue
                chunk = os.read(self._requests.fileno(), 65536)
                if not chunk:
                    open_ = False
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._spawn(line)
            self._reap()
        self._stop_children()

    def _stop_children(self, grace_s: float = 10.0) -> None:
        """stdin closed: SIGTERM whoever is left, reap them (SIGKILL after ``grace_s``)."""
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self._children and time.monotonic() < deadline:
            self._reap()
            if self._children:
                time.sleep(0.05)
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while self._children:
            pid, _ = os.waitpid(-1, 0)
            self._children.discard(pid)


def main() -> None:
    die_with_parent()
    # numpy comes with the families: its BLAS must start no thread pool, so that this process, which forks,
    # stays single-threaded (the agents' local problems are far too small for threaded BLAS anyway)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    _preload()
    gc.collect()
    gc.freeze()  # the children inherit these objects: the collector leaves their pages shared
    _Server(sys.stdin.buffer, sys.stdout.buffer).serve()


if __name__ == "__main__":
    main()
