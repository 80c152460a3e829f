"""DCOP scenario files: the problem (written out, generated from a seed, or read from a pyDCOP YAML file), the
algorithm and its settings.

One scenario model serves every DCOP algorithm; ``algorithm`` names it (``dsa``, ``mgm``, ``mgm2``,
``maxsum``, ``dpop``, ``deqed``), so a
report's ``algorithm`` says which one ran. Exactly one of ``dcop`` (written out), ``generate`` (a seeded
instance) and ``pydcop`` (a file in pyDCOP's YAML format, its path relative to the working directory) gives
the problem. Settings that an algorithm does not use are ignored by it (``variant`` and ``p`` are DSA's,
``max_cycles`` and ``quiet_cycles`` the cycle-based algorithms', ``offer_probability`` MGM-2's, ``damping``
and ``tolerance`` Max-Sum's, ``memory_limit_mb`` DPOP's, ``step`` DeQED's, which also runs ``max_cycles``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PrivateAttr, model_validator

from edge_agent.algorithms.dcop import generators
from edge_agent.algorithms.dcop.deqed import deqed, deqed_report
from edge_agent.algorithms.dcop.dpop import dpop_report, run_dpop
from edge_agent.algorithms.dcop.local_search import LocalSearchSettings
from edge_agent.algorithms.dcop.model import Constraint, Dcop, DomainValue, Variable
from edge_agent.algorithms.dcop.pydcop import load_pydcop
from edge_agent.algorithms.dcop.runner import local_search_report, run_local_search
from edge_agent.carrier.base import Network
from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.results import RunReport

__all__ = ["ConstraintSpec", "DcopScenario", "DcopSpec", "GeneratorSpec"]

Algorithm = Literal["dsa", "mgm", "mgm2", "maxsum", "dpop", "deqed"]


class ConstraintSpec(StrictModel):
    """A cost table over ``scope``: nested lists, one level per variable, in the order of its domain."""

    scope: list[str] = Field(min_length=1)
    table: list[Any] = Field(description="nested lists of costs, one level per variable of the scope")


class DcopSpec(StrictModel):
    """A DCOP written out. ``variables`` maps each variable to a domain name (of ``domains``) or its values."""

    objective: Literal["min", "max"] = "min"
    domains: dict[str, list[DomainValue]] = Field(default_factory=dict)
    variables: dict[str, str | list[DomainValue]] = Field(min_length=1)
    constraints: dict[str, ConstraintSpec] = Field(default_factory=dict)
    agents: dict[str, list[str]] = Field(default_factory=dict, description="agent -> variables it owns")

    def build(self, name: str) -> Dcop:
        variables = []
        for var, domain in self.variables.items():
            if isinstance(domain, str):
                if domain not in self.domains:
                    raise ConfigError(f"variable {var!r} names unknown domain {domain!r}; "
                                      f"known: {sorted(self.domains)}")
                values = self.domains[domain]
            else:
                values = domain
            variables.append(Variable(var, tuple(values)))
        constraints = []
        for cname, spec in self.constraints.items():
            try:
                table = np.array(spec.table, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"constraint {cname!r}: its table is not a regular array of numbers "
                                  f"({error})") from None
            constraints.append(Constraint(cname, tuple(spec.scope), table))
        agents = {agent: tuple(owned) for agent, owned in self.agents.items()}
        return Dcop(name, tuple(variables), tuple(constraints), agents, self.objective)


class GeneratorSpec(StrictModel):
    """A seeded instance: ``random`` (``n`` and ``density`` or ``edges``), ``scale-free`` (``n``, ``m``),
    ``grid`` (``rows``, ``columns``) or ``colouring`` (``n``, ``density`` or ``edges``, ``colours``)."""

    kind: Literal["random", "scale-free", "grid", "colouring"]
    seed: int = Field(0, ge=0)
    n: int | None = Field(None, ge=1)
    density: float | None = Field(None, ge=0, le=1)
    edges: int | None = Field(None, ge=0)
    m: int = Field(2, ge=1)
    rows: int | None = Field(None, ge=1)
    columns: int | None = Field(None, ge=1)
    domain: int = Field(3, ge=1)
    costs: tuple[int, int] = (0, 100)
    colours: int = Field(3, ge=1)
    conflict: float = Field(100.0, ge=0)
    preference: int = Field(0, ge=0)

    def build(self, name: str) -> Dcop:
        rng = np.random.default_rng(self.seed)
        if self.kind == "grid":
            if self.rows is None or self.columns is None:
                raise ConfigError("a grid needs rows and columns")
            return generators.grid(self.rows, self.columns, rng, domain=self.domain, costs=self.costs, name=name)
        if self.n is None:
            raise ConfigError(f"a {self.kind} instance needs n (its number of variables)")
        if self.kind == "scale-free":
            return generators.scale_free(self.n, rng, m=self.m, domain=self.domain, costs=self.costs, name=name)
        if self.kind == "colouring":
            return generators.colouring(self.n, rng, colours=self.colours, density=self.density, edges=self.edges,
                                        conflict=self.conflict, preference=self.preference, name=name)
        return generators.random_graph(self.n, rng, density=self.density, edges=self.edges, domain=self.domain,
                                       costs=self.costs, name=name)


class DcopScenario(StrictModel):
    """A DCOP and the algorithm to solve it (see the module)."""

    algorithm: Algorithm
    name: str = "dcop"
    description: str = ""
    dcop: DcopSpec | None = None
    generate: GeneratorSpec | None = None
    pydcop: str | None = Field(None, description="a pyDCOP YAML file (relative to the working directory)")
    variant: Literal["A", "B", "C"] = Field("B", description="DSA's variant")
    p: float = Field(0.7, gt=0, le=1, description="DSA's probability of moving")
    offer_probability: float = Field(0.5, ge=0, le=1, description="MGM-2: chance that a variable makes an offer")
    max_cycles: int = Field(100, ge=1)
    quiet_cycles: int = Field(10, ge=1, description="stop once no value changed for this many cycles")
    memory_limit_mb: float = Field(256.0, gt=0, description="DPOP refuses a UTIL table larger than this")
    damping: float = Field(0.9, ge=0, lt=1, description="Max-Sum: weight of a message's previous value")
    tolerance: float | None = Field(None, ge=0, description="Max-Sum: also wait until no message moves by more "
                                    "than this (None: the values alone decide, as for the local searches)")
    step: float = Field(0.1, gt=0, description="DeQED: multiplier step, as a fraction of a table's cost range")
    _problem: Dcop | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self) -> DcopScenario:
        given = [key for key in ("dcop", "generate", "pydcop") if getattr(self, key) is not None]
        if len(given) != 1:
            msg = f"give exactly one of dcop, generate and pydcop (got {given or 'none'})"
            raise ValueError(msg)
        try:
            self.problem()  # built (or read) now, so a bad problem is reported with the scenario
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self

    def problem(self) -> Dcop:
        """The DCOP (built once, when the scenario is validated)."""
        if self._problem is None:
            if self.dcop is not None:
                self._problem = self.dcop.build(self.name)
            elif self.generate is not None:
                self._problem = self.generate.build(self.name)
            else:
                assert self.pydcop is not None
                self._problem = load_pydcop(Path(self.pydcop))
        return self._problem

    def local_search_settings(self, seed: int) -> LocalSearchSettings:
        algorithm = self.algorithm
        if algorithm == "dpop" or algorithm == "deqed":  # noqa: PLR1714 (two comparisons narrow the Literal)
            raise ConfigError(f"{algorithm} is not a local search")
        return LocalSearchSettings(algorithm, variant=self.variant, p=self.p, max_cycles=self.max_cycles,
                                   quiet_cycles=self.quiet_cycles, hops=self.problem().diameter_bound(), seed=seed,
                                   damping=self.damping, tolerance=self.tolerance,
                                   offer_probability=self.offer_probability)

    @staticmethod
    def seed(options: RunOptions) -> int:
        """The run's seed for every random choice (drawn from ``options``: fixed if ``options.seed`` is)."""
        return int(options.rng().integers(2**31))

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        dcop = self.problem()
        if self.algorithm == "deqed":
            return deqed_report(dcop, self.name, deqed(dcop, self.max_cycles, self.step))
        if self.algorithm == "dpop":
            exact = await run_dpop(dcop, self.memory_limit_mb, network)
            return dpop_report(dcop, self.name, exact.tree, exact.assignment, messages=exact.messages,
                               wall_s=exact.wall_s, extra={"messages_by_kind": exact.by_kind,
                                                           "message_bytes": exact.sent_bytes})
        settings = self.local_search_settings(self.seed(options))
        outcome = await run_local_search(dcop, settings, network)
        return local_search_report(dcop, self.name, self.algorithm, outcome.status, changes=outcome.changes,
                                   cycles=outcome.cycles, messages=outcome.messages, wall_s=outcome.wall_s, extra={
                                       "seed": settings.seed, "stop": sorted({str(s) for s in outcome.stops.values()}),
                                       "messages_by_kind": outcome.by_kind, "message_bytes": outcome.sent_bytes})
