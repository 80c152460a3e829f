"""On a terminal, progress events of long runs are one status line rewritten in place (``logs.py``)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from edge_agent.logs import configure_logging, end_status_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging(0, stream=io.StringIO(), json=True)  # as tests/conftest.py leaves it


def test_progress_rewrites_one_line_and_other_events_clear_it_first() -> None:
    terminal = Terminal()
    configure_logging(0, stream=terminal)
    log = structlog.get_logger("test")
    log.info("admm.progress", round=10, r_primal=0.123456)
    log.info("admm.progress", round=20, r_primal=0.01)
    log.warning("fleet.something", detail="x")
    log.info("admm.progress", round=30, r_primal=0.001)
    end_status_line()
    text = terminal.getvalue()
    assert text.count("\n") == 1  # the warning is the only line; progress never added one
    assert "\r\x1b[Kadmm: round=20 r_primal=0.01" in text
    assert "r_primal=0.123" in text
    assert text.endswith("\r\x1b[K")  # cleared before results are printed
    assert text.index("round=20") < text.index("fleet.something") < text.index("round=30")


@pytest.mark.parametrize(("verbosity", "json"), [(1, False), (0, True)])
def test_verbose_or_json_output_keeps_progress_as_log_lines(verbosity: int, json: bool) -> None:
    terminal = Terminal()
    configure_logging(verbosity, stream=terminal, json=json)
    structlog.get_logger("test").info("admm.progress", round=10)
    end_status_line()
    assert "\x1b[K" not in terminal.getvalue()
    assert terminal.getvalue().count("\n") == 1
