"""The generalised mutual assignment problem (GMAP; the generalised assignment problem as a distributed one).

Agents with knapsack capacities share goods: agent ``i`` earns ``profit[i, j]`` and uses ``weight[i, j]`` of its
capacity if it takes good ``j``; every good goes to exactly one agent and no agent exceeds its capacity.
:class:`Gmap` is validated at construction (non-negative integer weights and capacities, finite profits,
matching table sizes, unique names); every error names the table and item at fault. Algorithms always
*maximise* :attr:`Gmap.gain` (the profits, or the negated costs of a minimisation problem); :meth:`Gmap.objective`
gives a value in the user's sense. An assignment is an array giving each good's agent (its row index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import ConfigError
from edge_agent.ids import validate_id

__all__ = ["Gmap", "Sense"]

Sense = Literal["max", "min"]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Gmap:
    """A validated GMAP: ``profit`` and ``weight`` are (agents x goods) tables, ``capacity`` one per agent."""

    name: str
    agents: tuple[str, ...]
    goods: tuple[str, ...]
    profit: FloatArray
    weight: IntArray
    capacity: IntArray
    sense: Sense = "max"

    def __post_init__(self) -> None:
        if self.sense not in ("max", "min"):
            raise ConfigError(f"GMAP {self.name!r}: sense must be 'max' or 'min', got {self.sense!r}")
        if not self.agents or not self.goods:
            raise ConfigError(f"GMAP {self.name!r} needs at least one agent and one good "
                              f"(got {len(self.agents)} agents, {len(self.goods)} goods)")
        for agent in self.agents:
            validate_id(agent, "agent")
        _unique(self.agents, "agent")
        _unique(self.goods, "good")
        m, n = len(self.agents), len(self.goods)
        profit = _table(self.profit, "profit", (m, n))
        weight = _integers(self.weight, "weight", (m, n))
        capacity = _integers(self.capacity, "capacity", (m,))
        if not np.isfinite(profit).all():
            i, j = np.argwhere(~np.isfinite(profit))[0]
            raise ConfigError(f"GMAP {self.name!r}: profit of good {self.goods[j]!r} for agent {self.agents[i]!r} "
                              "is not a finite number")
        if (weight < 0).any():
            i, j = np.argwhere(weight < 0)[0]
            raise ConfigError(f"GMAP {self.name!r}: weight of good {self.goods[j]!r} for agent {self.agents[i]!r} "
                              f"is {weight[i, j]}; weights must be non-negative integers")
        if (capacity < 0).any():
            i = int(np.argmax(capacity < 0))
            raise ConfigError(f"GMAP {self.name!r}: capacity of agent {self.agents[i]!r} is {capacity[i]}; "
                              "capacities must be non-negative integers")
        for value, key in ((profit, "profit"), (weight, "weight"), (capacity, "capacity")):
            value.setflags(write=False)
            object.__setattr__(self, key, value)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.agents), len(self.goods)

    @cached_property
    def gain(self) -> FloatArray:
        """What the algorithms maximise: the profits, or the negated costs when the sense is ``min``."""
        gain = self.profit if self.sense == "max" else -self.profit
        gain = np.array(gain, dtype=np.float64)
        gain.setflags(write=False)
        return gain

    @cached_property
    def eligible(self) -> NDArray[np.bool_]:
        """Which agent can take which good at all (its weight within the agent's capacity)."""
        return np.asarray(self.weight <= self.capacity[:, None])

    @cached_property
    def integral(self) -> bool:
        """Whether every profit is an integer (then the optimum is, and a bound may be rounded down)."""
        return bool(np.all(self.profit == np.round(self.profit)))

    def neighbours(self, i: int) -> tuple[int, ...]:
        """The agents sharing a good with agent ``i`` (both able to take it)."""
        shared = np.asarray(self.eligible[:, self.eligible[i]].any(axis=1))
        shared[i] = False
        return tuple(int(k) for k in np.flatnonzero(shared))

    def infeasibility(self) -> str | None:
        """A proof that no assignment exists, in words, or None when none was found (cheap tests only)."""
        orphans = np.flatnonzero(~self.eligible.any(axis=0))
        if orphans.size:
            names = [self.goods[j] for j in orphans[:5]]
            return f"good(s) {names} fit no agent (each weighs more than every agent's capacity)"
        lightest = np.where(self.eligible, self.weight, np.iinfo(np.int64).max).min(axis=0)
        if int(lightest.sum()) > int(self.capacity.sum()):
            return (f"the goods need at least {int(lightest.sum())} units of capacity and the agents have "
                    f"{int(self.capacity.sum())}")
        return None

    # -- evaluation --------------------------------------------------------------------------------
    def violation(self, owner: Sequence[int] | IntArray) -> str | None:
        """Why ``owner`` (each good's agent) is not a feasible assignment, or None if it is."""
        owner = np.asarray(owner)
        m, n = self.shape
        if owner.shape != (n,) or not ((owner >= 0) & (owner < m)).all():
            return f"every one of the {n} goods needs one agent index in [0, {m})"
        load = np.zeros(m, dtype=np.int64)
        np.add.at(load, owner, self.weight[owner, np.arange(n)])
        over = np.flatnonzero(load > self.capacity)
        if over.size:
            i = int(over[0])
            return f"agent {self.agents[i]!r} carries {int(load[i])} > capacity {int(self.capacity[i])}"
        return None

    def value(self, owner: Sequence[int] | IntArray) -> float:
        """The gain (maximised form) of an assignment."""
        owner = np.asarray(owner)
        return float(self.gain[owner, np.arange(len(self.goods))].sum())

    def objective(self, gain: float) -> float:
        """A gain in the user's sense (the cost when minimising)."""
        return gain if self.sense == "max" else -gain


def _table(values: object, what: str, shape: tuple[int, ...]) -> FloatArray:
    try:
        table = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"the {what} table is not a regular array of numbers") from None
    if table.shape != shape:
        raise ConfigError(f"the {what} table has shape {list(table.shape)}; expected {list(shape)} "
                          f"({'agents x goods' if len(shape) == 2 else 'one per agent'})")
    return table


def _integers(values: object, what: str, shape: tuple[int, ...]) -> IntArray:
    table = _table(values, what, shape)
    if not np.isfinite(table).all() or (table != np.round(table)).any():
        raise ConfigError(f"the {what} table must hold integers (the exact knapsack needs them)")
    return table.astype(np.int64)


def _unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{what} name {name!r} is used twice; names must be unique")
        seen.add(name)
