"""A DCOP: variables with finite domains, agents that own them, and cost tables over one or more variables.

:class:`Dcop` is built once and validated at construction; every error names the item at fault (a
variable, a constraint, an agent) and what would be accepted. Costs are numpy ``float64`` tables, one axis
per variable of the constraint's scope, in the order of the variable's domain. Algorithms always
*minimise*: a maximisation problem keeps its tables as written (:attr:`Constraint.table`) and exposes
their negation (:meth:`Dcop.cost_tables`); :meth:`Dcop.objective` evaluates an assignment in the user's
sense. An assignment maps each variable to the *index* of its value in the domain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import ConfigError
from edge_agent.ids import validate_id

__all__ = ["Assignment", "Constraint", "Dcop", "DomainValue", "Objective", "Variable"]

DomainValue = int | float | str
Objective = Literal["min", "max"]
Assignment = Mapping[str, int]  # variable -> index of its value in the domain


@dataclass(frozen=True)
class Variable:
    name: str
    domain: tuple[DomainValue, ...]

    def __post_init__(self) -> None:
        if not self.domain:
            raise ConfigError(f"variable {self.name!r} has an empty domain; give it at least one value")
        if len(set(self.domain)) != len(self.domain):
            raise ConfigError(f"variable {self.name!r}: its domain lists a value twice: {list(self.domain)}")

    @property
    def size(self) -> int:
        return len(self.domain)


@dataclass(frozen=True, eq=False)
class Constraint:
    """A cost table over ``scope`` (one axis per variable, in scope order)."""

    name: str
    scope: tuple[str, ...]
    table: NDArray[np.float64]

    def __post_init__(self) -> None:
        if not self.scope:
            raise ConfigError(f"constraint {self.name!r} has an empty scope")
        if len(set(self.scope)) != len(self.scope):
            raise ConfigError(f"constraint {self.name!r} names a variable twice: {list(self.scope)}")
        table = np.array(self.table, dtype=np.float64)
        if table.ndim != len(self.scope):
            raise ConfigError(f"constraint {self.name!r}: a table of {table.ndim} axes for {len(self.scope)} "
                              f"variables {list(self.scope)}")
        if np.isnan(table).any():
            raise ConfigError(f"constraint {self.name!r}: its table holds NaN; costs must be finite numbers")
        if not np.isfinite(table).all():
            raise ConfigError(f"constraint {self.name!r}: its table holds an infinite cost; costs must be "
                              "finite (use a large cost for a forbidden combination)")
        table.setflags(write=False)
        object.__setattr__(self, "table", table)

    @property
    def arity(self) -> int:
        return len(self.scope)


@dataclass(frozen=True, eq=False)
class Dcop:
    """A validated DCOP. ``agents`` maps each agent to the variables it owns (every variable exactly once);
    without agents, each variable is its own agent (named after it)."""

    name: str
    variables: tuple[Variable, ...]
    constraints: tuple[Constraint, ...]
    agents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    objective: Objective = "min"

    def __post_init__(self) -> None:
        if self.objective not in ("min", "max"):
            raise ConfigError(f"objective must be 'min' or 'max', got {self.objective!r}")
        if not self.variables:
            raise ConfigError(f"DCOP {self.name!r} has no variables")
        _unique((v.name for v in self.variables), "variable")
        _unique((c.name for c in self.constraints), "constraint")
        sizes = {v.name: v.size for v in self.variables}
        for c in self.constraints:
            unknown = [name for name in c.scope if name not in sizes]
            if unknown:
                raise ConfigError(f"constraint {c.name!r} names unknown variable(s) {unknown}; "
                                  f"known: {_short(sizes)}")
            expected = tuple(sizes[name] for name in c.scope)
            if c.table.shape != expected:
                raise ConfigError(f"constraint {c.name!r}: table of shape {list(c.table.shape)} does not match "
                                  f"the domains of {list(c.scope)} (sizes {list(expected)})")
        agents = dict(self.agents) or {v.name: (v.name,) for v in self.variables}
        owner: dict[str, str] = {}
        for agent, owned in agents.items():
            validate_id(agent, "agent")
            if not owned:
                raise ConfigError(f"agent {agent!r} owns no variable")
            for name in owned:
                if name not in sizes:
                    raise ConfigError(f"agent {agent!r} owns unknown variable {name!r}; known: {_short(sizes)}")
                if name in owner:
                    raise ConfigError(f"variable {name!r} is owned by both {owner[name]!r} and {agent!r}")
                owner[name] = agent
        unowned = [v.name for v in self.variables if v.name not in owner]
        if unowned:
            raise ConfigError(f"variable(s) {unowned[:5]} belong to no agent; every variable needs one owner")
        object.__setattr__(self, "agents", {a: tuple(vs) for a, vs in agents.items()})

    # -- structure ------------------------------------------------------------------------------
    @property
    def maximise(self) -> bool:
        return self.objective == "max"

    @cached_property
    def index(self) -> dict[str, int]:
        """Each variable's position in :attr:`variables`."""
        return {v.name: i for i, v in enumerate(self.variables)}

    @cached_property
    def owner(self) -> dict[str, str]:
        return {name: agent for agent, owned in self.agents.items() for name in owned}

    def variable(self, name: str) -> Variable:
        return self.variables[self.index[name]]

    @cached_property
    def cost_tables(self) -> tuple[NDArray[np.float64], ...]:
        """The tables to minimise, one per constraint (negated utilities when maximising)."""
        if not self.maximise:
            return tuple(c.table for c in self.constraints)
        tables = []
        for c in self.constraints:
            negated = -c.table
            negated.setflags(write=False)
            tables.append(negated)
        return tuple(tables)

    @cached_property
    def constraints_of(self) -> dict[str, tuple[int, ...]]:
        """The constraints (by position) each variable appears in."""
        found: dict[str, list[int]] = {v.name: [] for v in self.variables}
        for k, c in enumerate(self.constraints):
            for name in c.scope:
                found[name].append(k)
        return {name: tuple(ks) for name, ks in found.items()}

    @cached_property
    def neighbours(self) -> dict[str, tuple[str, ...]]:
        """The constraint graph on variables: those sharing a constraint, in variable order."""
        near: dict[str, set[str]] = {v.name: set() for v in self.variables}
        for c in self.constraints:
            for name in c.scope:
                near[name].update(other for other in c.scope if other != name)
        return {name: tuple(sorted(others, key=self.index.__getitem__)) for name, others in near.items()}

    @cached_property
    def agent_neighbours(self) -> dict[str, tuple[str, ...]]:
        """The constraint graph on agents: those owning variables that share a constraint (sorted)."""
        owner = self.owner
        near: dict[str, set[str]] = {agent: set() for agent in self.agents}
        for agent, owned in self.agents.items():
            for name in owned:
                near[agent].update(owner[other] for other in self.neighbours[name])
            near[agent].discard(agent)
        return {agent: tuple(sorted(others)) for agent, others in near.items()}

    def components(self) -> list[list[str]]:
        """Connected components of the agent graph (each sorted), in order of their first agent."""
        seen: set[str] = set()
        parts = []
        for start in sorted(self.agents):
            if start in seen:
                continue
            part, stack = [], [start]
            seen.add(start)
            while stack:
                node = stack.pop()
                part.append(node)
                for other in self.agent_neighbours[node]:
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
            parts.append(sorted(part))
        return parts

    def diameter_bound(self) -> int:
        """The largest diameter of a component of the agent graph (breadth-first from every agent)."""
        best = 0
        for agent in self.agents:
            depth = {agent: 0}
            frontier = [agent]
            while frontier:
                following = []
                for node in frontier:
                    for other in self.agent_neighbours[node]:
                        if other not in depth:
                            depth[other] = depth[node] + 1
                            following.append(other)
                frontier = following
            best = max(best, *depth.values())
        return best

    # -- evaluation -----------------------------------------------------------------------------
    def check_assignment(self, assignment: Assignment) -> None:
        missing = [v.name for v in self.variables if v.name not in assignment]
        if missing:
            raise ConfigError(f"the assignment leaves {missing[:5]} without a value")
        for v in self.variables:
            value = assignment[v.name]
            if not 0 <= value < v.size:
                raise ConfigError(f"variable {v.name!r}: value index {value} outside its domain of {v.size}")

    def cost(self, assignment: Assignment) -> float:
        """The sum of the cost tables (minimisation form) at ``assignment``."""
        self.check_assignment(assignment)
        return float(sum(table[tuple(assignment[name] for name in c.scope)]
                         for c, table in zip(self.constraints, self.cost_tables, strict=True)))

    def objective_value(self, assignment: Assignment) -> float:
        """The objective in the user's sense (the utility when maximising)."""
        cost = self.cost(assignment)
        return -cost if self.maximise else cost

    def values(self, assignment: Assignment) -> dict[str, DomainValue]:
        """The domain values an assignment of indices stands for."""
        return {v.name: v.domain[assignment[v.name]] for v in self.variables}

    def indices(self, values: Mapping[str, DomainValue]) -> dict[str, int]:
        """The inverse of :meth:`values` (``ConfigError`` naming a value outside its domain)."""
        found = {}
        for v in self.variables:
            if v.name not in values:
                raise ConfigError(f"no value for variable {v.name!r}")
            try:
                found[v.name] = v.domain.index(values[v.name])
            except ValueError:
                raise ConfigError(f"variable {v.name!r}: {values[v.name]!r} is not in its domain "
                                  f"{list(v.domain)}") from None
        return found


def _unique(names: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{what} name {name!r} is used twice; names must be unique")
        seen.add(name)


def _short(names: Sequence[str] | Mapping[str, object], most: int = 8) -> str:
    listed = list(names)
    return str(listed[:most])[:-1] + (", ...]" if len(listed) > most else "]")
