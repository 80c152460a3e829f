"""Logging setup: called once, by the entry point. Library code only calls ``structlog.get_logger``."""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog

__all__ = ["configure_logging"]


def configure_logging(verbosity: int = 0, stream: TextIO | None = None, json: bool | None = None) -> None:
    """Key-value events on stderr. By default only warnings and ``info`` events, which are kept rare
    (progress of a long run every few seconds, a device joining or leaving); ``-v`` adds every round.

    JSON lines when the stream is not a terminal (or ``json=True``), aligned console output otherwise.
    """
    level = logging.INFO if verbosity == 0 else logging.DEBUG
    as_json = not (stream or sys.stderr).isatty() if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _plain_numbers,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=False,
    )


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
