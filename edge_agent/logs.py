"""Logging setup: called once, by the entry point. Library code only calls ``structlog.get_logger``."""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog

__all__ = ["configure_logging", "end_status_line"]

_CLEAR = "\r\x1b[K"  # carriage return, erase to the end of the line


def configure_logging(verbosity: int = 0, stream: TextIO | None = None, json: bool | None = None) -> None:
    """Key-value events on stderr. By default only warnings and ``info`` events, which are kept rare
    (progress of a long run every few seconds, a device joining or leaving); ``-v`` adds every round.

    JSON lines when the stream is not a terminal (or ``json=True``), aligned console output otherwise. On a
    terminal at the default verbosity, the progress events of long runs (``*.progress``) are one status line,
    rewritten in place (:class:`_StatusLine`); :func:`end_status_line` clears it before a command prints.
    """
    level = logging.INFO if verbosity == 0 else logging.DEBUG
    as_json = not (stream or sys.stderr).isatty() if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    output = stream or cast(TextIO, _CurrentStderr())
    _STATUS.stream = output if (not as_json and verbosity == 0) else None
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _STATUS,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _plain_numbers,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(output),
        cache_logger_on_first_use=False,
    )


class _StatusLine:
    """On a terminal: a ``*.progress`` event rewrites one status line instead of adding a log line."""

    def __init__(self) -> None:
        self.stream: TextIO | None = None
        self.showing = False

    def __call__(self, logger: object, method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
        if self.stream is None:
            return event
        name = str(event.get("event", ""))
        if name.endswith(".progress"):
            fields = " ".join(f"{key}={_short(value)}" for key, value in event.items() if key != "event")
            self.stream.write(f"{_CLEAR}{name.removesuffix('.progress')}: {fields}"[:200])
            self.stream.flush()
            self.showing = True
            raise structlog.DropEvent
        self.clear()
        return event

    def clear(self) -> None:
        if self.stream is not None and self.showing:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self.showing = False


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


_STATUS = _StatusLine()


def end_status_line() -> None:
    """Clear the status line, if one is showing (before printing results)."""
    _STATUS.clear()


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the time of writing (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _plain_numbers(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """numpy scalars -> Python numbers, so JSON output stays plain."""
    for key, value in event.items():
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            event[key] = value.item()
    return event
