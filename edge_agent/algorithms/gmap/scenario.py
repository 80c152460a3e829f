"""GMAP scenario files: the problem (written out, an OR-Library file, or generated from a seed) and DisLRP's
settings. Exactly one of ``gmap``, ``orlib`` and ``generate`` gives the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, PrivateAttr, model_validator

from edge_agent.algorithms.gmap.agent import DisLrpSettings
from edge_agent.algorithms.gmap.files import generate, read_orlib
from edge_agent.algorithms.gmap.model import Gmap
from edge_agent.algorithms.gmap.runner import dislrp_report, hops, run_dislrp
from edge_agent.carrier.base import Network
from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.results import RunReport

__all__ = ["GmapAgentSpec", "GmapGenerate", "GmapScenario", "GmapSpec", "OrlibSpec"]


class GmapAgentSpec(StrictModel):
    """One agent: its capacity, and its profit and weight for each good (in the order of ``goods``)."""

    capacity: float
    profit: list[float]
    weight: list[float]


class GmapSpec(StrictModel):
    """A GMAP written out (weights and capacities: non-negative integers)."""

    sense: Literal["max", "min"] = "max"
    goods: list[str] = Field(min_length=1)
    agents: dict[str, GmapAgentSpec] = Field(min_length=1)

    def build(self, name: str) -> Gmap:
        n = len(self.goods)
        for agent, spec in self.agents.items():
            for key in ("profit", "weight"):
                if len(getattr(spec, key)) != n:
                    raise ConfigError(f"agent {agent!r}: {key} lists {len(getattr(spec, key))} numbers for "
                                      f"{n} goods {self.goods[:8]}")
        specs = list(self.agents.values())
        return Gmap(name, tuple(self.agents), tuple(self.goods), np.array([s.profit for s in specs]),
                    np.array([s.weight for s in specs]), np.array([s.capacity for s in specs]), self.sense)


class OrlibSpec(StrictModel):
    """Problem ``problem`` (from 1) of an OR-Library GAP file (path relative to the working directory)."""

    file: str
    problem: int = Field(1, ge=1)
    sense: Literal["max", "min"] = Field("max", description="gap1-gap12 maximise profit, gapa-gapd minimise cost")

    def build(self) -> Gmap:
        problems = read_orlib(Path(self.file), self.sense)
        if self.problem > len(problems):
            raise ConfigError(f"{self.file}: problem {self.problem} asked, the file has {len(problems)}")
        return problems[self.problem - 1]


class GmapGenerate(StrictModel):
    """A seeded GAP of Yagiura's type C, D or E (costs, minimised)."""

    type: Literal["C", "D", "E"] = "C"
    agents: int = Field(5, ge=1, le=1000)
    goods: int = Field(20, ge=1, le=100_000)
    seed: int = Field(0, ge=0)

    def build(self, name: str) -> Gmap:
        return generate(self.type, self.agents, self.goods, np.random.default_rng(self.seed), name=name)


class GmapScenario(StrictModel):
    """A GMAP and DisLRP's settings (the step-size rule: ``docs/gmap.md``)."""

    algorithm: Literal["dislrp"]
    name: str = "gmap"
    description: str = ""
    gmap: GmapSpec | None = None
    orlib: OrlibSpec | None = None
    generate: GmapGenerate | None = None
    max_cycles: int = Field(300, ge=1, le=100_000)
    initial_step: float = Field(0.1, gt=0, description="first price step, as a fraction of a good's largest gain")
    grow: float = Field(1.0, ge=1, description="step factor while a good's subgradient keeps its sign")
    shrink: float = Field(0.95, gt=0, lt=1, description="step factor when it flips")
    known_optimum: float | None = Field(None, description="the optimum if known (drawn by --plot; its gaps reported)")
    _problem: Gmap | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self) -> GmapScenario:
        given = [key for key in ("gmap", "orlib", "generate") if getattr(self, key) is not None]
        if len(given) != 1:
            msg = f"give exactly one of gmap, orlib and generate (got {given or 'none'})"
            raise ValueError(msg)
        try:
            self.problem()
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self

    def problem(self) -> Gmap:
        if self._problem is None:
            if self.gmap is not None:
                self._problem = self.gmap.build(self.name)
            elif self.orlib is not None:
                self._problem = self.orlib.build()
            else:
                assert self.generate is not None
                self._problem = self.generate.build(self.name)
        return self._problem

    def settings(self) -> DisLrpSettings:
        return DisLrpSettings(max_cycles=self.max_cycles, hops=hops(self.problem()), initial_step=self.initial_step,
                              grow=self.grow, shrink=self.shrink)

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        del options  # DisLRP is deterministic
        problem = self.problem()
        reason = problem.infeasibility()
        if reason is not None:
            return dislrp_report(problem, self.name, None, reason)
        outcome = await run_dislrp(problem, self.settings(), network)
        return dislrp_report(problem, self.name, outcome, extra=self.optimum_extra())

    def optimum_extra(self) -> dict[str, float]:
        return {} if self.known_optimum is None else {"known_optimum": self.known_optimum}
