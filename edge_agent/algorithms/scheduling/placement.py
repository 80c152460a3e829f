"""Placing a new task on one resource: passive placement (free gaps only) and the best active patch.

Assumptions (seed 002, sections 2-4, made explicit):

- time is continuous and a resource's horizon is ``[0, horizon]``; no task may move outside it;
- a shift keeps the order of the bookings: the new task is inserted at one position, tasks to its left may
  only move earlier and tasks to its right only later, each by the least amount that frees the room
  (minimal cascade: a task moves only if its neighbour pushes it);
- the shift cost is the satisfaction the shifted tasks lose, taken with its sign: a shift that brings a
  task closer to its favourable time is a negative cost. ``dS`` is therefore exactly the change of the
  resource's total satisfaction;
- one insertion per patch. A task that moves to another resource books itself there first and then
  leaves this one with a patch holding a single :class:`Remove` (``task_agent.py``).

For insertion position ``p`` (between bookings ``p - 1`` and ``p``) and new completion time ``t``, the left
task ``k < p`` ends at ``min(e_k, t - d - sum_{k<j<p} d_j)`` and the right task ``k >= p`` ends at
``max(e_k, t + sum_{p<=j<=k} d_j)``. Composed with the triangles, each shifted task's satisfaction is a
clipped, shifted copy of its triangle, so ``dS_p(t)`` is piecewise linear and its maximum on the feasible
interval ``[d + sum_{j<p} d_j, horizon - sum_{j>=p} d_j]`` is attained at a breakpoint or an end.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.algorithms.scheduling.model import TIME_EPS, Booking, ResourceSchedule, Task, check_fits_horizon
from edge_agent.algorithms.scheduling.pwl import PiecewiseLinear
from edge_agent.errors import ConfigError, ProtocolError

__all__ = ["GAIN_EPS", "Add", "Modification", "Patch", "Remove", "Shift", "apply", "best_patch", "passive_placement"]

GAIN_EPS = 1e-12  # a patch must improve the total satisfaction by more than this


@dataclass(frozen=True)
class Add:
    """Book ``task`` at ``start``."""

    task: Task
    start: float


@dataclass(frozen=True)
class Shift:
    """Move the booked task ``task_id`` from ``old_start`` to ``start``."""

    task_id: str
    old_start: float
    start: float


@dataclass(frozen=True)
class Remove:
    """Take the booked task ``task_id`` off the schedule (it was cancelled or moved to another resource)."""

    task_id: str


Modification = Add | Shift | Remove


@dataclass(frozen=True)
class Patch:
    """Modifications of one resource's schedule, computed against its ``base_version``, in schedule order.

    ``gain`` is the change of the resource's total satisfaction the patch brings."""

    resource_id: str
    base_version: int
    modifications: tuple[Modification, ...]
    gain: float

    @property
    def added(self) -> Add | None:
        return next((m for m in self.modifications if isinstance(m, Add)), None)

    @property
    def shifts(self) -> tuple[Shift, ...]:
        return tuple(m for m in self.modifications if isinstance(m, Shift))


def _check_new(schedule: ResourceSchedule, task: Task) -> None:
    check_fits_horizon(task, schedule.resource_id, schedule.horizon)
    if schedule.booking_of(task.id) is not None:
        msg = f"task {task.id!r} is already booked on resource {schedule.resource_id!r}"
        raise ConfigError(msg)


def passive_placement(schedule: ResourceSchedule, task: Task) -> Patch | None:
    """The best booking of ``task`` in a free gap (no other task moves), or ``None`` if no gap is long enough
    or the best satisfaction there is 0. Ties go to the earliest completion time."""
    _check_new(schedule, task)
    satisfaction = task.satisfaction
    best: tuple[float, float] | None = None
    for a, b in schedule.gaps():
        if b - a < task.duration - TIME_EPS:
            continue
        lo = min(a + task.duration, b)
        t, value = satisfaction.argmax(lo, b)
        if best is None or value > best[1]:
            best = (t, value)
    if best is None or best[1] <= GAIN_EPS:
        return None
    t, value = best
    start = max(0.0, t - task.duration)
    return Patch(schedule.resource_id, schedule.version, (Add(task, start),), value)


def _gain_function(bookings: tuple[Booking, ...], task: Task, position: int, lo: float, hi: float) -> PiecewiseLinear:
    """``dS(t)`` for inserting ``task`` at ``position`` with completion time ``t`` in ``[lo, hi]``."""
    gain = task.satisfaction
    offset = task.duration  # left task k must end by t - offset
    for booking in reversed(bookings[:position]):
        own = booking.task.satisfaction
        limit = booking.end + offset  # for t >= limit the task stays where it is
        gain = gain + own.shift(offset).clip(min(lo, limit), limit) - booking.satisfaction
        offset += booking.task.duration
    offset = 0.0  # right task k ends at max(e_k, t + offset + d_k)
    for booking in bookings[position:]:
        offset += booking.task.duration
        own = booking.task.satisfaction
        limit = booking.end - offset  # for t <= limit the task stays where it is
        gain = gain + own.shift(-offset).clip(limit, max(hi, limit)) - booking.satisfaction
    return gain


def _cascade(bookings: tuple[Booking, ...], task: Task, position: int, completion: float) -> list[Modification]:
    modifications: list[Modification] = []
    left: list[Modification] = []
    bound = completion - task.duration
    for booking in reversed(bookings[:position]):
        end = min(booking.end, bound)
        start = max(0.0, end - booking.task.duration)
        if start < booking.start - TIME_EPS:
            left.append(Shift(booking.task.id, booking.start, start))
        bound = start
    modifications.extend(reversed(left))
    modifications.append(Add(task, max(0.0, completion - task.duration)))
    bound = completion
    for booking in bookings[position:]:
        start = max(booking.start, bound)
        if start > booking.start + TIME_EPS:
            modifications.append(Shift(booking.task.id, booking.start, start))
        bound = start + booking.task.duration
    return modifications


def best_patch(schedule: ResourceSchedule, task: Task) -> Patch | None:
    """The patch inserting ``task`` that raises the total satisfaction of ``schedule`` most (shifting
    neighbours as needed), or ``None`` when no insertion has ``dS > 0``. Ties go to the earliest insertion
    position, then the earliest completion time."""
    _check_new(schedule, task)
    bookings = schedule.bookings
    durations = [b.task.duration for b in bookings]
    best: tuple[float, int, float] | None = None  # (gain, position, completion)
    for position in range(len(bookings) + 1):
        lo = task.duration + sum(durations[:position])
        hi = schedule.horizon - sum(durations[position:])
        if lo > hi + TIME_EPS:
            continue
        hi = max(lo, hi)
        t, value = _gain_function(bookings, task, position, lo, hi).argmax(lo, hi)
        if best is None or value > best[0]:
            best = (value, position, t)
    if best is None or best[0] <= GAIN_EPS:
        return None
    value, position, t = best
    return Patch(schedule.resource_id, schedule.version, tuple(_cascade(bookings, task, position, t)), value)


def apply(schedule: ResourceSchedule, patch: Patch) -> ResourceSchedule:
    """Apply ``patch`` atomically: a new schedule with ``version + 1``, or :class:`ProtocolError` (and no
    change) if the patch is for another resource, is stale, names unknown tasks or does not fit."""
    if patch.resource_id != schedule.resource_id:
        msg = f"patch for resource {patch.resource_id!r} sent to resource {schedule.resource_id!r}"
        raise ProtocolError(msg)
    if patch.base_version != schedule.version:
        msg = (f"stale patch for resource {schedule.resource_id!r}: computed against version {patch.base_version}, "
               f"current version is {schedule.version}")
        raise ProtocolError(msg)
    by_id = {b.task.id: b for b in schedule.bookings}
    for modification in patch.modifications:
        if isinstance(modification, Add):
            if modification.task.id in by_id:
                msg = f"patch adds task {modification.task.id!r}, already booked on resource {schedule.resource_id!r}"
                raise ProtocolError(msg)
            by_id[modification.task.id] = Booking(modification.task, modification.start)
            continue
        current = by_id.get(modification.task_id)
        if current is None:
            verb = "shifts" if isinstance(modification, Shift) else "removes"
            msg = f"patch {verb} task {modification.task_id!r}, not booked on resource {schedule.resource_id!r}"
            raise ProtocolError(msg)
        if isinstance(modification, Shift):
            by_id[modification.task_id] = Booking(current.task, modification.start)
        else:
            del by_id[modification.task_id]
    return schedule.replaced(by_id.values())
