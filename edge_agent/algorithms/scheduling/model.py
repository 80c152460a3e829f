"""The scheduling model: tasks with a satisfaction of their completion time, bookings, resource schedules.

Time is continuous; a resource's horizon is ``[0, horizon]``. A task of duration ``d`` booked at ``start``
occupies ``[start, start + d)`` and completes at ``start + d``. Its satisfaction is an isosceles triangle of
the completion time: 1 at ``favourable``, falling linearly to 0 at ``favourable -/+ width / 2``, 0 outside.

A :class:`ResourceSchedule` is immutable: every change returns a new schedule whose ``version`` is one
higher, so a patch computed against one version can be recognised as stale later. Overlap and horizon
checks allow a rounding slack of :data:`TIME_EPS` (cascaded shifts add and subtract durations).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from edge_agent.algorithms.scheduling.pwl import PiecewiseLinear, triangle
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError

__all__ = ["TIME_EPS", "Booking", "ResourceSchedule", "Task", "check_fits_horizon"]

TIME_EPS = 1e-9


def _finite(value: float, what: str) -> None:
    if not np.isfinite(value):
        msg = f"{what} must be a finite number, got {value}"
        raise ConfigError(msg)


@dataclass(frozen=True)
class Task:
    """A task: ``duration`` > 0, satisfaction peak at completion time ``favourable``, base ``width`` > 0."""

    id: str
    duration: float
    favourable: float
    width: float

    def __post_init__(self) -> None:
        if not self.id:
            msg = "task id must be a non-empty string"
            raise ConfigError(msg)
        for name in ("duration", "favourable", "width"):
            _finite(getattr(self, name), f"task {self.id!r}: {name}")
        if self.duration <= 0:
            msg = f"task {self.id!r}: duration must be > 0, got {self.duration}"
            raise ConfigError(msg)
        if self.width <= 0:
            msg = f"task {self.id!r}: satisfaction width must be > 0, got {self.width}"
            raise ConfigError(msg)

    @property
    def satisfaction(self) -> PiecewiseLinear:
        """Satisfaction as a function of the completion time."""
        return triangle(self.favourable, self.width)

    def satisfaction_at(self, completion: float) -> float:
        return max(0.0, 1.0 - abs(completion - self.favourable) / (self.width / 2))


@dataclass(frozen=True)
class Booking:
    """``task`` runs on ``[start, end)`` with ``end = start + task.duration``."""

    task: Task
    start: float

    def __post_init__(self) -> None:
        _finite(self.start, f"booking of task {self.task.id!r}: start")

    @property
    def end(self) -> float:
        return self.start + self.task.duration

    @property
    def satisfaction(self) -> float:
        return self.task.satisfaction_at(self.end)


def check_fits_horizon(task: Task, resource_id: str, horizon: float) -> None:
    """ConfigError if ``task`` is longer than the horizon of the resource (it could never be booked)."""
    if task.duration > horizon + TIME_EPS:
        msg = (f"task {task.id!r} (duration {task.duration}) is longer than the horizon {horizon} "
               f"of resource {resource_id!r}")
        raise ConfigError(msg)


def _validate(resource_id: str, horizon: float, bookings: tuple[Booking, ...], error: type[EdgeAgentError]) -> None:
    seen: set[str] = set()
    for booking in bookings:
        task = booking.task
        check_fits_horizon(task, resource_id, horizon)
        if task.id in seen:
            msg = f"task {task.id!r} is booked twice on resource {resource_id!r}"
            raise error(msg)
        seen.add(task.id)
        if booking.start < -TIME_EPS or booking.end > horizon + TIME_EPS:
            msg = (f"task {task.id!r} booked on [{booking.start}, {booking.end}] lies outside the horizon "
                   f"[0, {horizon}] of resource {resource_id!r}")
            raise error(msg)
    for before, after in pairwise(bookings):
        if after.start < before.end - TIME_EPS:
            msg = (f"task {after.task.id!r} (from {after.start}) overlaps task {before.task.id!r} "
                   f"(until {before.end}) on resource {resource_id!r}")
            raise error(msg)


@dataclass(frozen=True)
class ResourceSchedule:
    """The bookings of one resource on ``[0, horizon]``, sorted by start, never overlapping.

    Construction sorts the bookings by start and raises :class:`ConfigError` on an overlap, a booking
    outside the horizon, a task longer than the horizon or a task booked twice. Operations (:meth:`book`,
    :func:`~edge_agent.algorithms.scheduling.placement.apply`) raise :class:`ProtocolError` for a change
    that does not fit, and return a new schedule with ``version + 1``."""

    resource_id: str
    horizon: float
    bookings: tuple[Booking, ...] = ()
    version: int = 0

    def __post_init__(self) -> None:
        if not self.resource_id:
            msg = "resource id must be a non-empty string"
            raise ConfigError(msg)
        if not (np.isfinite(self.horizon) and self.horizon > 0):
            msg = f"resource {self.resource_id!r}: horizon must be a finite number > 0, got {self.horizon}"
            raise ConfigError(msg)
        if self.version < 0:
            msg = f"resource {self.resource_id!r}: version must be >= 0, got {self.version}"
            raise ConfigError(msg)
        ordered = tuple(sorted(self.bookings, key=lambda b: b.start))
        _validate(self.resource_id, self.horizon, ordered, ConfigError)
        object.__setattr__(self, "bookings", ordered)

    @property
    def total_satisfaction(self) -> float:
        return float(sum(b.satisfaction for b in self.bookings))

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(b.task.id for b in self.bookings)

    def booking_of(self, task_id: str) -> Booking | None:
        return next((b for b in self.bookings if b.task.id == task_id), None)

    def gaps(self) -> list[tuple[float, float]]:
        """The free intervals ``(a, b)`` with ``b > a``, in time order."""
        free: list[tuple[float, float]] = []
        cursor = 0.0
        for booking in self.bookings:
            if booking.start > cursor:
                free.append((cursor, booking.start))
            cursor = max(cursor, booking.end)
        if self.horizon > cursor:
            free.append((cursor, self.horizon))
        return free

    def replaced(self, bookings: Iterable[Booking]) -> ResourceSchedule:
        """A new schedule with these bookings and ``version + 1``; :class:`ProtocolError` if they do not fit."""
        ordered = tuple(sorted(bookings, key=lambda b: b.start))
        _validate(self.resource_id, self.horizon, ordered, ProtocolError)
        return ResourceSchedule(self.resource_id, self.horizon, ordered, self.version + 1)

    def book(self, task: Task, start: float) -> ResourceSchedule:
        """Add one booking (no other task moves)."""
        check_fits_horizon(task, self.resource_id, self.horizon)
        return self.replaced((*self.bookings, Booking(task, start)))
