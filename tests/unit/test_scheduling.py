"""The scheduling model, passive placement and the best patch, against brute force on fine time grids."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.algorithms.scheduling import (
    Add,
    Booking,
    Patch,
    ResourceSchedule,
    Shift,
    Task,
    apply,
    best_patch,
    passive_placement,
)
from edge_agent.errors import ConfigError, ProtocolError

HORIZON = 20.0


def random_task(rng: np.random.Generator, name: str, max_duration: float = 5.0) -> Task:
    return Task(name, float(rng.uniform(0.5, max_duration)), float(rng.uniform(-1, HORIZON + 1)),
                float(rng.uniform(1.0, 8.0)))


def random_schedule(rng: np.random.Generator, n: int) -> ResourceSchedule:
    tasks = [random_task(rng, f"old{i}", 4.0) for i in range(n)]
    busy = sum(t.duration for t in tasks)
    slack = (HORIZON - busy) * float(rng.choice([0.0, 0.1, 0.5, 1.0]))
    gaps = rng.dirichlet(np.ones(n + 1)) * slack
    bookings, cursor = [], 0.0
    for task, gap in zip(tasks, gaps, strict=False):
        cursor += gap
        bookings.append(Booking(task, cursor))
        cursor += task.duration
    return ResourceSchedule("r1", HORIZON, tuple(bookings))


def brute_force_gain(bookings: tuple[Booking, ...], task: Task, position: int, completion: float) -> float | None:
    """Total-satisfaction change of inserting ``task`` at ``position`` completing at ``completion`` with the
    minimal cascade, or None if the result leaves the horizon."""
    if completion - task.duration < 0 or completion > HORIZON:
        return None
    gain = task.satisfaction_at(completion)
    bound = completion - task.duration
    for b in reversed(bookings[:position]):
        end = min(b.end, bound)
        gain += b.task.satisfaction_at(end) - b.satisfaction
        bound = end - b.task.duration
    if bound < -1e-12:
        return None
    bound = completion
    for b in bookings[position:]:
        end = max(b.end, bound + b.task.duration)
        gain += b.task.satisfaction_at(end) - b.satisfaction
        bound = end
    if bound > HORIZON + 1e-12:
        return None
    return gain


def max_slope(schedule: ResourceSchedule, task: Task) -> float:
    return sum(2 / t.width for t in (task, *(b.task for b in schedule.bookings)))


def check_valid(schedule: ResourceSchedule) -> None:
    for before, after in zip(schedule.bookings, schedule.bookings[1:], strict=False):
        assert after.start >= before.end - 1e-9
    for b in schedule.bookings:
        assert b.start >= -1e-9
        assert b.end <= schedule.horizon + 1e-9


# ---------------------------------------------------------------- model


def test_satisfaction_triangle_and_total() -> None:
    task = Task("a", 2.0, favourable=10.0, width=4.0)
    assert task.satisfaction_at(10.0) == 1.0
    assert task.satisfaction_at(11.0) == pytest.approx(0.5)
    assert task.satisfaction_at(12.5) == 0.0
    assert task.satisfaction(9.0) == pytest.approx(0.5)
    schedule = ResourceSchedule("r", 20.0, (Booking(task, 8.0), Booking(Task("b", 1.0, 3.0, 2.0), 1.5)))
    assert schedule.task_ids == ("b", "a")  # sorted by start
    assert schedule.total_satisfaction == pytest.approx(1.0 + 0.5)
    assert schedule.gaps() == [(0.0, 1.5), (2.5, 8.0), (10.0, 20.0)]
    booked = schedule.book(Task("c", 1.0, 1.0, 1.0), 0.0)
    assert booked.version == 1
    assert schedule.version == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"duration": -1.0}, "duration must be > 0"),
        ({"duration": 0.0}, "duration must be > 0"),
        ({"width": 0.0}, "width must be > 0"),
        ({"width": -2.0}, "width must be > 0"),
        ({"favourable": float("nan")}, "favourable must be a finite number"),
        ({"id": ""}, "non-empty"),
    ],
)
def test_bad_tasks(kwargs: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {"id": "t", "duration": 1.0, "favourable": 2.0, "width": 3.0} | kwargs
    with pytest.raises(ConfigError, match=match):
        Task(**fields)  # type: ignore[arg-type]


def test_bad_schedules() -> None:
    a, b = Task("a", 3.0, 5.0, 2.0), Task("b", 2.0, 5.0, 2.0)
    with pytest.raises(ConfigError, match=r"task 'b' \(from 2.0\) overlaps task 'a' \(until 4.0\) on resource 'r'"):
        ResourceSchedule("r", 10.0, (Booking(a, 1.0), Booking(b, 2.0)))
    with pytest.raises(ConfigError, match="outside the horizon"):
        ResourceSchedule("r", 10.0, (Booking(a, 8.0),))
    with pytest.raises(ConfigError, match="outside the horizon"):
        ResourceSchedule("r", 10.0, (Booking(a, -1.0),))
    with pytest.raises(ConfigError, match="booked twice"):
        ResourceSchedule("r", 10.0, (Booking(a, 0.0), Booking(a, 5.0)))
    with pytest.raises(ConfigError, match="horizon must be"):
        ResourceSchedule("r", 0.0)
    long = Task("long", 11.0, 5.0, 2.0)
    with pytest.raises(ConfigError, match=r"task 'long' \(duration 11.0\) is longer than the horizon 10.0"):
        ResourceSchedule("r", 10.0, (Booking(long, 0.0),))
    empty = ResourceSchedule("r", 10.0)
    for search in (passive_placement, best_patch):
        with pytest.raises(ConfigError, match="longer than the horizon"):
            search(empty, long)
    with pytest.raises(ConfigError, match="longer than the horizon"):
        empty.book(long, 0.0)
    with pytest.raises(ProtocolError, match="overlaps"):
        empty.book(a, 0.0).book(b, 2.0)
    with pytest.raises(ConfigError, match="already booked"):
        best_patch(empty.book(a, 0.0), a)


# ---------------------------------------------------------------- passive placement


@pytest.mark.parametrize("seed", range(30))
def test_passive_placement_against_grid(seed: int) -> None:
    rng = np.random.default_rng(seed)
    schedule = random_schedule(rng, int(rng.integers(0, 5)))
    task = random_task(rng, "new")
    starts = np.concatenate([
        np.linspace(0, HORIZON - task.duration, 4001),
        [b.end for b in schedule.bookings], [b.start - task.duration for b in schedule.bookings],
    ])
    best = 0.0
    for start in starts:
        end = start + task.duration
        if start < 0 or end > HORIZON:
            continue
        if all(end <= b.start + 1e-12 or start >= b.end - 1e-12 for b in schedule.bookings):
            best = max(best, task.satisfaction_at(end))
    patch = passive_placement(schedule, task)
    step = HORIZON / 4000
    if patch is None:
        assert best <= 2 / task.width * step
        return
    assert patch.modifications == (patch.added,)
    assert patch.gain >= best - 1e-9
    assert patch.gain <= best + 2 / task.width * step + 1e-9
    after = apply(schedule, patch)
    check_valid(after)
    assert after.total_satisfaction - schedule.total_satisfaction == pytest.approx(patch.gain, abs=1e-9)


def test_passive_none_when_nothing_fits_or_useless() -> None:
    full = ResourceSchedule("r", 4.0, (Booking(Task("a", 2.0, 2.0, 2.0), 0.0), Booking(Task("b", 2.0, 4.0, 2.0), 2.0)))
    assert passive_placement(full, Task("n", 1.0, 2.0, 2.0)) is None
    assert passive_placement(ResourceSchedule("r", 4.0), Task("n", 1.0, 50.0, 2.0)) is None


# ---------------------------------------------------------------- best patch


def test_best_patch_worked_example() -> None:
    # A on [2, 4] (peak at 4, wide); B peaks at 4 too, narrow. Passive: B can only finish at 2 or >= 6 -> 0.
    a = Task("a", 2.0, favourable=4.0, width=8.0)
    b = Task("b", 2.0, favourable=4.0, width=4.0)
    schedule = ResourceSchedule("r", 10.0, (Booking(a, 2.0),))
    assert passive_placement(schedule, b) is None
    patch = best_patch(schedule, b)
    assert patch is not None
    # before A: B ends 4 (s=1), A ends 6 (s 1 -> 0.5); after A ties at 0.5, the earlier position wins
    assert patch.gain == pytest.approx(0.5)
    assert patch.modifications == (Add(b, 2.0), Shift("a", 2.0, 4.0))
    after = apply(schedule, patch)
    assert after.version == 1
    assert after.task_ids == ("b", "a")
    assert after.total_satisfaction == pytest.approx(1.5)


@pytest.mark.parametrize("seed", range(40))
def test_best_patch_against_exhaustive_search(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    schedule = random_schedule(rng, int(rng.integers(2, 5)))
    task = random_task(rng, "new")
    grid = np.linspace(0, HORIZON, 2001)
    best = 0.0
    for position in range(len(schedule.bookings) + 1):
        for t in grid:
            gain = brute_force_gain(schedule.bookings, task, position, float(t))
            if gain is not None:
                best = max(best, gain)
    patch = best_patch(schedule, task)
    tolerance = max_slope(schedule, task) * HORIZON / 2000 + 1e-9
    if patch is None:
        assert best <= tolerance
        return
    assert patch.gain >= best - 1e-9
    assert patch.gain <= best + tolerance
    after = apply(schedule, patch)
    check_valid(after)
    assert after.total_satisfaction - schedule.total_satisfaction == pytest.approx(patch.gain, abs=1e-9)
    passive = passive_placement(schedule, task)
    if passive is not None:
        assert patch.gain >= passive.gain - 1e-9
    # shifts keep the order: left neighbours only earlier, right ones only later
    order = after.task_ids
    assert tuple(i for i in order if i != "new") == schedule.task_ids
    new_index = order.index("new")
    for shift in patch.shifts:
        moved_earlier = shift.start < shift.old_start
        assert moved_earlier == (order.index(shift.task_id) < new_index)


@pytest.mark.parametrize("seed", range(10))
def test_random_sequences_never_overlap(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    schedule = ResourceSchedule("r1", HORIZON)
    for step in range(25):
        task = random_task(rng, f"t{step}")
        search = best_patch if rng.random() < 0.7 else passive_placement
        patch = search(schedule, task)
        if patch is None:
            continue
        before = schedule
        schedule = apply(schedule, patch)
        check_valid(schedule)
        assert schedule.version == before.version + 1
        assert schedule.total_satisfaction - before.total_satisfaction == pytest.approx(patch.gain, abs=1e-9)
        assert patch.gain > 0
    assert schedule.version > 0


# ---------------------------------------------------------------- apply


def test_stale_and_foreign_patches_are_rejected() -> None:
    schedule = ResourceSchedule("r", 10.0, (Booking(Task("a", 2.0, 4.0, 8.0), 2.0),))
    first = best_patch(schedule, Task("b", 2.0, 4.0, 4.0))
    second = best_patch(schedule, Task("c", 1.0, 9.0, 4.0))
    assert first is not None
    assert second is not None
    applied = apply(schedule, first)
    with pytest.raises(ProtocolError, match="computed against version 0, current version is 1"):
        apply(applied, second)
    assert apply(schedule, second).version == 1  # the original schedule is untouched
    with pytest.raises(ProtocolError, match="patch for resource 'other'"):
        apply(schedule, Patch("other", 0, first.modifications, first.gain))


def test_bad_patches_are_rejected_atomically() -> None:
    a = Task("a", 2.0, 4.0, 8.0)
    schedule = ResourceSchedule("r", 10.0, (Booking(a, 2.0),))
    with pytest.raises(ProtocolError, match="shifts task 'zz', not booked"):
        apply(schedule, Patch("r", 0, (Shift("zz", 0.0, 1.0),), 0.0))
    with pytest.raises(ProtocolError, match="already booked"):
        apply(schedule, Patch("r", 0, (Add(a, 6.0),), 0.0))
    with pytest.raises(ProtocolError, match="overlaps"):
        apply(schedule, Patch("r", 0, (Add(Task("b", 2.0, 4.0, 4.0), 3.0),), 0.0))
    with pytest.raises(ProtocolError, match="outside the horizon"):
        apply(schedule, Patch("r", 0, (Shift("a", 2.0, 9.0),), 0.0))
    assert schedule.version == 0
    assert schedule.bookings == (Booking(a, 2.0),)


def test_public_names() -> None:
    from edge_agent.algorithms import scheduling

    assert {"ResourceAgent", "TaskAgent", "best_patch", "passive_placement", "drive"} <= set(scheduling.__all__)
    for name in scheduling.__all__:
        assert hasattr(scheduling, name)
