"""Local deciders: how a participant picks its own schedule given the sum of the others' schedules.

- :class:`EnumerationDecider` rates every schedule of a finite set in one vectorised expression and
  proposes the best (the participant keeps it only if the resulting candidate is strictly better).
- :class:`LocalSearchDecider` searches continuous per-slot corridors ``lower <= x <= upper`` by
  sampling and pruning, slot by slot (the seed's decider, parameters ``convergence_force_factor=0.1``,
  ``max_iterations=10``, ``sample_size_per_value=10``). Its score for a schedule ``x`` is
  ``local_performance(x) + convergence_force_factor * performance(others + x)``: the global term pulls
  each slot toward the open target from either side. Differences from the peer's decider, which had
  bugs: it keeps the best sample (not the last), searches both ways around the best value (the peer's
  score only ever rewarded larger values) and the participant records the *new* schedule.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge_agent.algorithms.cohda.performance import Array, Performance, Target
from edge_agent.errors import ConfigError

__all__ = ["Choice", "Decider", "EnumerationDecider", "LocalPerformance", "LocalSearchDecider"]

LocalPerformance = Callable[[Array], Array]
"""``local_performance(schedules (k, T)) -> ratings (k,)``, higher is better (e.g. minus a wear cost)."""


@dataclass(frozen=True, slots=True, eq=False)
class Choice:
    """One schedule of a participant; ``index`` is its position in a finite schedule set, if any.

    Compare choices with :meth:`same_as` (``==`` is identity: the schedule is an array)."""

    schedule: Array
    index: int | None = None

    def same_as(self, other: Choice) -> bool:
        if self.index is not None and other.index is not None:
            return self.index == other.index
        return bool(np.array_equal(self.schedule, other.schedule))


class Decider(Protocol):
    @property
    def horizon(self) -> int: ...

    def initial(self) -> Choice:
        """The schedule a participant starts from."""
        ...

    def propose(self, others: Array, current: Choice, target: Target, performance: Performance) -> Choice:
        """The best schedule found given the others' sum (``current`` if nothing better)."""
        ...


def _finite_matrix(owner: str, name: str, value: object) -> Array:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"participant {owner!r}: {name} must be a list of equal-length lists of numbers"
        raise ConfigError(msg) from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        msg = (
            f"participant {owner!r}: {name} must hold at least one schedule of at least one slot "
            f"(a list of equal-length lists of numbers), got shape {list(array.shape)}"
        )
        raise ConfigError(msg)
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        msg = f"participant {owner!r}: {name}[{row}] contains NaN or infinity; only finite numbers are accepted"
        raise ConfigError(msg)
    array.flags.writeable = False
    return array


class EnumerationDecider:
    """Choose among a finite set of feasible schedules (rows of a ``(m, T)`` matrix).

    ``acceptable`` filters the set once (the seed's ``is_local_acceptable``); ``initial_index`` names the
    starting schedule (default: the first). Indices reported are positions in the unfiltered set.
    """

    def __init__(
        self,
        owner: str,
        schedules: object,
        *,
        initial_index: int = 0,
        acceptable: Callable[[Array], bool] | None = None,
    ) -> None:
        matrix = _finite_matrix(owner, "schedules", schedules)
        keep = np.arange(matrix.shape[0])
        if acceptable is not None:
            keep = np.array([i for i in keep if acceptable(matrix[i])], dtype=np.int64)
            if keep.size == 0:
                msg = f"participant {owner!r}: none of its {matrix.shape[0]} schedules is acceptable"
                raise ConfigError(msg)
        if initial_index not in keep:
            msg = f"participant {owner!r}: initial_index {initial_index} is not one of its schedules {keep.tolist()}"
            raise ConfigError(msg)
        self.owner = owner
        self.schedules = matrix
        self._keep = keep
        self._rows = matrix[keep]
        self._initial = initial_index

    @property
    def horizon(self) -> int:
        return int(self.schedules.shape[1])

    def initial(self) -> Choice:
        return Choice(self.schedules[self._initial], self._initial)

    def propose(self, others: Array, current: Choice, target: Target, performance: Performance) -> Choice:
        ratings = performance(others + self._rows, target)
        best = int(np.argmax(ratings))  # the first of equally good schedules
        index = int(self._keep[best])
        return Choice(self.schedules[index], index)

    def responses(self, others: Array, target: Target, performance: Performance) -> tuple[Array, Array]:
        """For each row of ``others`` (n, T): the best rating and the index of the schedule reaching it."""
        ratings = performance(others[:, np.newaxis, :] + self._rows[np.newaxis, :, :], target)
        best = np.argmax(ratings, axis=1)
        return ratings[np.arange(best.size), best], self._keep[best]

    def choice(self, index: int) -> Choice:
        return Choice(self.schedules[index], index)

    def starting_at(self, index: int) -> EnumerationDecider:
        """The same decider with another starting schedule (a restart, ``restarts.py``)."""
        if index not in self._keep:
            msg = f"participant {self.owner!r}: cannot start from schedule {index}: not one of its schedules"
            raise ConfigError(msg)
        twin = copy.copy(self)
        twin._initial = index
        return twin

    def random_index(self, rng: np.random.Generator) -> int:
        """One of its (acceptable) schedules, drawn uniformly."""
        return int(self._keep[int(rng.integers(self._keep.size))])

    def alternatives(
        self, others: Array, current: Choice, count: int, target: Target, performance: Performance
    ) -> list[Choice]:
        """The ``count`` best schedules other than ``current``, best first."""
        ratings = performance(others + self._rows, target)
        order = [int(k) for k in np.argsort(-ratings, kind="stable") if int(self._keep[k]) != current.index]
        return [Choice(self.schedules[int(self._keep[k])], int(self._keep[k])) for k in order[:count]]


class LocalSearchDecider:
    """Random search with pruning inside per-slot corridors ``lower[t] <= x[t] <= upper[t]``.

    Each decision visits the slots in order; for slot ``t`` it draws ``sample_size_per_value`` values
    (plus both corridor ends the first time), keeps the best-scoring one if it beats the current value,
    and halves the search interval around the best value, ``max_iterations`` times.
    """

    def __init__(
        self,
        owner: str,
        lower: object,
        upper: object,
        rng: np.random.Generator,
        *,
        initial: object | None = None,
        local_performance: LocalPerformance | None = None,
        convergence_force_factor: float = 0.1,
        max_iterations: int = 10,
        sample_size_per_value: int = 10,
    ) -> None:
        corridors = _finite_matrix(owner, "corridors (lower, upper)", [lower, upper])
        lo, hi = corridors
        if (lo > hi).any():
            t = int(np.argmax(lo > hi))
            msg = f"participant {owner!r}: corridor of slot {t} is empty (lower {lo[t]} > upper {hi[t]})"
            raise ConfigError(msg)
        start = (lo + hi) / 2 if initial is None else _finite_matrix(owner, "initial", [initial])[0]
        if start.shape != lo.shape:
            msg = f"participant {owner!r}: initial has {start.size} slots, its corridors have {lo.size}"
            raise ConfigError(msg)
        if ((start < lo) | (start > hi)).any():
            msg = f"participant {owner!r}: the initial schedule leaves its corridors"
            raise ConfigError(msg)
        if not (convergence_force_factor >= 0 and max_iterations >= 1 and sample_size_per_value >= 1):
            msg = (
                f"participant {owner!r}: local search needs convergence_force_factor >= 0, max_iterations >= 1 "
                "and sample_size_per_value >= 1"
            )
            raise ConfigError(msg)
        self.owner = owner
        self.lower, self.upper = lo, hi
        self._start = start
        self._rng = rng
        self._local = local_performance
        self.convergence_force_factor = convergence_force_factor
        self.max_iterations = max_iterations
        self.sample_size_per_value = sample_size_per_value

    @property
    def horizon(self) -> int:
        return int(self.lower.size)

    def initial(self) -> Choice:
        return Choice(self._start)

    def starting_at(self, schedule: Array) -> LocalSearchDecider:
        """The same decider (same random stream) starting from ``schedule``, which must lie in the corridors."""
        start = _finite_matrix(self.owner, "initial", [schedule])[0]
        if start.shape != self.lower.shape or ((start < self.lower) | (start > self.upper)).any():
            msg = f"participant {self.owner!r}: a restart needs {self.lower.size} slots inside the corridors"
            raise ConfigError(msg)
        twin = copy.copy(self)
        twin._start = start
        return twin

    def random_schedule(self, rng: np.random.Generator) -> Array:
        """A schedule drawn uniformly inside the corridors."""
        return np.asarray(rng.uniform(self.lower, self.upper), dtype=np.float64)

    def score(self, schedules: Array, others: Array, target: Target, performance: Performance) -> Array:
        """``local_performance(x) + convergence_force_factor * performance(others + x)`` per row."""
        rating = self.convergence_force_factor * performance(others + schedules, target)
        if self._local is not None:
            rating = rating + self._local(schedules)
        return rating

    def propose(self, others: Array, current: Choice, target: Target, performance: Performance) -> Choice:
        x = np.array(current.schedule, dtype=np.float64)
        best = float(self.score(x[np.newaxis, :], others, target, performance)[0])
        improved = False
        for t in range(x.size):
            a, b = float(self.lower[t]), float(self.upper[t])
            if a == b:
                continue
            low, high = a, b
            for iteration in range(self.max_iterations):
                samples = self._rng.uniform(low, high, self.sample_size_per_value)
                if iteration == 0:
                    samples = np.concatenate([[a, b], samples])
                trial = np.repeat(x[np.newaxis, :], samples.size, axis=0)
                trial[:, t] = samples
                scores = self.score(trial, others, target, performance)
                k = int(np.argmax(scores))
                if scores[k] > best:
                    best, x[t], improved = float(scores[k]), samples[k], True
                half = (high - low) / 4  # prune: keep half the interval, centred on the best value so far
                low, high = max(a, x[t] - half), min(b, x[t] + half)
        if not improved:
            return current
        x.flags.writeable = False
        return Choice(x)
