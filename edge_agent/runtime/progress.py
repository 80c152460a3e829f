"""Run progress on the wire: what a coordinator publishes while a run goes, at a bounded rate.

A run's progress is a :class:`RunProgress` record on ``<prefix>/<agent>/progress`` (not retained): the run id,
the job and algorithm, the status (``running`` until the end, then the report's status, or ``failed``), the
iteration reached, the last residuals, the participants taking part and still answering, wall time, and the
rounds since the previous record (``points``, thinned to at most :data:`POINTS_PER_RECORD`), so a chart drawn
from the records misses no stretch of the run. :class:`ProgressPublisher` turns the algorithm's per-round
callback into such records, at most one per ``min_interval_s`` (plus the first and the last).

The final report of each run is retained on ``<prefix>/<agent>/runs/<run>``; :class:`RetainedRuns` keeps the
last ``keep`` of them and clears older ones (an empty retained payload), so the broker holds a bounded history.
``docs/topics.md`` and ``docs/dashboard.md`` describe the payloads.
"""

from __future__ import annotations

import math
import re
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from edge_agent.ids import ID_PATTERN

__all__ = ["POINTS_PER_RECORD", "ProgressPoint", "ProgressPublisher", "RetainedRuns", "RunProgress", "RunResult",
           "history_points", "run_id"]

POINTS_PER_RECORD = 64
Finite = Annotated[float, Field(allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=128)]


class ProgressPoint(BaseModel):
    """One round: its index and its residuals (primal and dual for ADMM; ``dual`` may be absent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round: int = Field(ge=0)
    primal: Finite
    dual: Finite | None = None


class RunProgress(BaseModel):
    """The payload of ``<prefix>/<agent>/progress``: one run's state now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["run.progress"] = "run.progress"
    run: Annotated[str, Field(pattern=f"^{ID_PATTERN.pattern}$")]
    job: Text
    algorithm: Text
    status: Annotated[str, Field(max_length=32)]
    iteration: int = Field(ge=0)
    max_iterations: int | None = Field(None, ge=0)
    participants: int = Field(ge=0)
    present: int = Field(ge=0, description="participants still answering")
    started_at: Finite = Field(description="seconds since the epoch, the publisher's clock")
    elapsed_s: Finite = Field(ge=0)
    points: list[ProgressPoint] = Field(default_factory=list, max_length=POINTS_PER_RECORD)


class RunResult(BaseModel):
    """The retained record of a finished run on ``<prefix>/<agent>/runs/<run>``: the coordinator service's
    ``admm.job_result`` and a launcher's ``run.result`` share these fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["run.result", "admm.job_result"] = "run.result"
    job: Text
    error: Annotated[str, Field(max_length=4096)] | None = None
    report: dict[str, JsonValue] | None = None


def history_points(report: Mapping[str, object]) -> list[ProgressPoint]:
    """The residual history of a report (``history: [{round, r_primal, r_dual}]``, ADMM), or none."""
    history = report.get("history")
    points = []
    if isinstance(history, list):
        for entry in history:
            try:
                points.append(ProgressPoint(round=entry["round"], primal=entry["r_primal"], dual=entry.get("r_dual")))
            except (KeyError, TypeError, ValueError):
                return []
    return _thin(points, POINTS_PER_RECORD)


def run_id(job: str, token: str | None = None) -> str:
    """A run id that is also one topic level: the job's name (characters outside ``A-Za-z0-9_.-`` as ``_``,
    at most 40) and a random suffix."""
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", job)[:40] or "run"
    if not stem[0].isalnum():
        stem = "r" + stem[:39]
    return f"{stem}-{token or secrets.token_hex(6)}"


def _thin(points: list[ProgressPoint], limit: int) -> list[ProgressPoint]:
    """At most ``limit`` points, evenly spaced, the last one kept."""
    if len(points) <= limit:
        return points
    step = len(points) / limit
    return [points[min(len(points) - 1, math.ceil((i + 1) * step) - 1)] for i in range(limit)]


class ProgressPublisher:
    """Feeds :class:`RunProgress` records of one run to ``send``, at most one per ``min_interval_s``.

    ``round(k, primal, dual, present)`` is the algorithm's per-round callback; ``finish(status, iteration)``
    sends the last record at once. ``now`` is the clock (seconds since the epoch), injected.
    """

    def __init__(
        self,
        send: Callable[[RunProgress], None],
        *,
        run: str,
        job: str,
        algorithm: str,
        participants: int,
        max_iterations: int | None,
        now: Callable[[], float],
        min_interval_s: float = 0.25,
    ) -> None:
        self._send, self._now, self._min_interval_s = send, now, min_interval_s
        self._base = {"run": run, "job": job[:128], "algorithm": algorithm[:128], "participants": participants,
                      "max_iterations": max_iterations}
        self._started = now()
        self._pending: list[ProgressPoint] = []
        self._iteration = 0
        self._present = participants
        self._last_sent: float | None = None
        self.sent = 0

    def start(self) -> None:
        self._emit("running")

    def round(self, k: int, primal: float, dual: float | None = None, present: int | None = None) -> None:
        if not math.isfinite(primal) or (dual is not None and not math.isfinite(dual)):
            return  # a diverging run: the record cannot carry it, the final status will say so
        self._pending.append(ProgressPoint(round=k, primal=primal, dual=dual))
        self._iteration = k + 1
        if present is not None:
            self._present = present
        if len(self._pending) > 16 * POINTS_PER_RECORD:
            self._pending = _thin(self._pending, POINTS_PER_RECORD)
        if self._last_sent is None or self._now() - self._last_sent >= self._min_interval_s:
            self._emit("running")

    def finish(self, status: str, iteration: int | None = None) -> None:
        if iteration is not None:
            self._iteration = iteration
        self._emit(status)

    def _emit(self, status: str) -> None:
        now = self._now()
        self._last_sent = now
        points, self._pending = _thin(self._pending, POINTS_PER_RECORD), []
        record = RunProgress(**self._base, status=status[:32], iteration=self._iteration,
                             present=self._present, started_at=self._started,
                             elapsed_s=max(0.0, now - self._started), points=points)
        self.sent += 1
        self._send(record)


class RetainedRuns:
    """The ids of the last ``keep`` runs whose reports are retained; :meth:`add` returns the ones to clear."""

    def __init__(self, keep: int = 20) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self._keep = keep
        self._runs: deque[str] = deque()

    def add(self, run: str) -> list[str]:
        self._runs.append(run)
        dropped = []
        while len(self._runs) > self._keep:
            dropped.append(self._runs.popleft())
        return dropped
