"""What one agent knows of a DCOP: its own variables, the constraints on them, the domain sizes they name.

An agent never sees the whole problem: in process its :class:`LocalProblem` is cut from the :class:`Dcop`,
over MQTT it arrives in the agent's join message. Tables are in minimisation form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.dcop.messages import DcopConstraintWire, DcopJoin, DcopVariableWire
from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.errors import ConfigError

__all__ = ["LocalConstraint", "LocalProblem"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class LocalConstraint:
    name: str
    scope: tuple[str, ...]
    table: Array


@dataclass(frozen=True)
class LocalProblem:
    agent: str
    own: tuple[str, ...]
    sizes: Mapping[str, int]  # own variables and every variable a constraint on them names
    constraints: tuple[LocalConstraint, ...]
    _terms: dict[str, list[tuple[Array, int, tuple[str, ...]]]] = field(default_factory=dict, repr=False)
    # per own variable: its unary costs, and per binary constraint the other variable and the cost vector of
    # each of its values (contiguous copies: the hot path of the local searches adds a few of them)
    _fast: dict[str, tuple[Array, list[tuple[str, list[Array]]], bool]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for c in self.constraints:
            unknown = [name for name in c.scope if name not in self.sizes]
            if unknown:
                raise ConfigError(f"agent {self.agent!r}: constraint {c.name!r} names {unknown} without a domain")
            if c.table.shape != tuple(self.sizes[name] for name in c.scope):
                raise ConfigError(f"agent {self.agent!r}: constraint {c.name!r} has a table of shape "
                                  f"{list(c.table.shape)} for domains {[self.sizes[n] for n in c.scope]}")
        for name in self.own:
            if name not in self.sizes:
                raise ConfigError(f"agent {self.agent!r}: own variable {name!r} has no domain")
            self._terms[name] = [(c.table, c.scope.index(name), c.scope) for c in self.constraints
                                 if name in c.scope]
            unary = np.zeros(self.sizes[name])
            binary: list[tuple[str, list[Array]]] = []
            general = False
            for table, axis, scope in self._terms[name]:
                if len(scope) == 1:
                    unary = unary + table
                elif len(scope) == 2:
                    oriented = table if axis == 0 else table.T
                    binary.append((scope[1 - axis], [np.ascontiguousarray(oriented[:, k])
                                                     for k in range(oriented.shape[1])]))
                else:
                    general = True
            self._fast[name] = (unary, binary, general)

    @classmethod
    def of(cls, dcop: Dcop, agent: str) -> LocalProblem:
        own = dcop.agents[agent]
        picked = sorted({k for name in own for k in dcop.constraints_of[name]})
        constraints = tuple(LocalConstraint(dcop.constraints[k].name, dcop.constraints[k].scope,
                                            dcop.cost_tables[k]) for k in picked)
        names = {*own, *(name for c in constraints for name in c.scope)}
        sizes = {v.name: v.size for v in dcop.variables if v.name in names}
        return cls(agent, own, sizes, constraints)

    @classmethod
    def from_join(cls, agent: str, join: DcopJoin) -> LocalProblem:
        sizes = {v.name: v.size for v in join.domains}
        constraints = tuple(LocalConstraint(c.name, c.scope, np.asarray(c.table).reshape(c.shape))
                            for c in join.constraints)
        return cls(agent, join.own, sizes, constraints)

    def wire(self) -> tuple[tuple[DcopVariableWire, ...], tuple[DcopConstraintWire, ...]]:
        """The domains and constraints as a join carries them."""
        domains = tuple(DcopVariableWire(name=name, size=size) for name, size in self.sizes.items())
        constraints = tuple(DcopConstraintWire(name=c.name, scope=c.scope, shape=c.table.shape,
                                               table=c.table.ravel()) for c in self.constraints)
        return domains, constraints

    @cached_property
    def neighbours(self) -> dict[str, tuple[str, ...]]:
        """Each own variable's neighbours in the constraint graph (sorted by name)."""
        return {name: tuple(sorted({other for _, _, scope in self._terms[name] for other in scope} - {name}))
                for name in self.own}

    def local_costs(self, name: str, values: Mapping[str, int]) -> Array:
        """The cost of each value of own variable ``name``, the others at ``values``."""
        unary, binary, general = self._fast[name]
        costs = unary.copy()
        for other, columns in binary:
            costs += columns[values[other]]
        if general:
            for table, axis, scope in self._terms[name]:
                if len(scope) > 2:
                    costs += table[tuple(slice(None) if k == axis else values[o] for k, o in enumerate(scope))]
        return costs

    def floor(self, name: str) -> float:
        """The least local cost ``name`` could see: each of its tables at its own minimum."""
        return float(sum(table.min() for table, _, _ in self._terms[name]))
