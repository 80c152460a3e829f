"""Serve a socket owned by a callback-driven library (paho-mqtt) from the running asyncio loop.

The library reports its socket's life (opened, closed, has data to write); :class:`LoopSocket` turns
that into ``add_reader``/``add_writer`` registrations that call the library's read and write steps, plus
a periodic timer for its housekeeping step. No thread polls. Reports may come from a worker thread (a
blocking connect runs in one): they are forwarded to the loop in order. The registration of a socket is
always removed on the loop thread before the library closes that socket, so a reused descriptor number
never meets a stale registration.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import structlog

__all__ = ["LoopSocket"]

log = structlog.get_logger("edge_agent.mqtt")


class LoopSocket:
    """One library socket on the loop: ``read``/``write`` when ready, ``misc`` every ``misc_every_s``."""

    def __init__(
        self,
        read: Callable[[], object],
        write: Callable[[], object],
        misc: Callable[[], object],
        on_failure: Callable[[], None],
        misc_every_s: float = 1.0,
    ) -> None:
        self._read, self._write, self._misc_step = read, write, misc
        self._on_failure = on_failure
        self._misc_every_s = misc_every_s
        self._fd: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flush: asyncio.Handle | None = None  # a write step scheduled with call_soon
        self._wants_write = False  # the library has data to write
        self._writer = False  # a writer is registered (only while the send buffer is full)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve on ``loop``, whose thread is the calling one."""
        self._loop, self._thread = loop, threading.get_ident()

    # -- reports from the library (any thread) -------------------------------------------------
    def opened(self, fd: int) -> None:
        self._on_loop(self._watch, fd)

    def closed(self) -> None:
        self._on_loop(self.forget)

    def want_write(self, on: bool) -> None:
        self._on_loop(self._set_writer, on)

    # -- on the loop ---------------------------------------------------------------------------
    def forget(self) -> None:
        """Drop the reader, writer and timer of the current socket (before the library closes it)."""
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._fd = None
        self._writer = False
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_loop(self, function: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None, "LoopSocket.bind() was not called"
        if threading.get_ident() == self._thread:
            function(*args)
        else:
            self._loop.call_soon_threadsafe(function, *args)

    def _watch(self, fd: int) -> None:
        assert self._loop is not None
        self.forget()
        self._fd = fd
        self._loop.add_reader(fd, self._step, self._read)
        self._timer = self._loop.call_later(self._misc_every_s, self._misc)

    def _set_writer(self, on: bool) -> None:
        """Write on the next loop iteration (a socket is nearly always writable); only a full send buffer
        registers a writer. This saves two ``epoll_ctl`` calls and a selector round per outgoing packet, and
        ``remove_writer`` is only called for a registered writer (it costs ~10 us even when there is none)."""
        self._wants_write = on
        if self._fd is None or self._loop is None:
            return
        if not on:
            if self._writer:
                self._writer = False
                self._loop.remove_writer(self._fd)
        elif self._flush is None:
            self._flush = self._loop.call_soon(self._write_now)

    def flush(self) -> None:
        """Run a write step scheduled with ``call_soon`` now rather than on the next loop iteration."""
        if self._flush is not None:
            self._flush.cancel()
            self._write_now()

    def _write_now(self) -> None:
        self._flush = None
        if self._fd is None or self._loop is None:
            return
        self._step(self._write)
        if self._wants_write and self._fd is not None:  # the send buffer is full: wait until writable
            self._writer = True
            self._loop.add_writer(self._fd, self._step, self._write)

    def _misc(self) -> None:
        assert self._loop is not None
        self._step(self._misc_step)
        if self._fd is not None:
            self._timer = self._loop.call_later(self._misc_every_s, self._misc)

    def _step(self, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:  # a broken socket must lead to a reconnect, never to a dead loop callback
            with contextlib.suppress(Exception):
                log.exception("mqtt.socket_failed")
            self.forget()
            self._on_failure()
