"""Scenario files of the resource-constrained DCOP on a feeder tree (``algorithm: rcdcop``).

Exactly one of ``tree`` (written out: node id -> parent, link capacity, amount -> cost) and ``generate`` (a
seeded feeder, :func:`~edge_agent.algorithms.rcdcop.generators.feeder`) gives the problem. ``aggregation``
(``sum`` or ``max``) and ``tie_break`` (``greedy`` or ``center``) choose the variant.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PrivateAttr, model_validator

from edge_agent.algorithms.rcdcop.agent import RcSettings
from edge_agent.algorithms.rcdcop.generators import Shape, feeder
from edge_agent.algorithms.rcdcop.model import Aggregation, RcNode, RcTree, TieBreak
from edge_agent.algorithms.rcdcop.runner import rc_report, run_rcdcop
from edge_agent.carrier.base import Network
from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.results import RunReport

__all__ = ["FeederSpec", "NodeSpec", "RcdcopScenario"]

Cost = float


class NodeSpec(StrictModel):
    """One node: its parent (omit for the root), the capacity of the link to its parent, and its amounts with
    their costs (negative amount: supply, positive: demand; listed in the order a greedy choice tries them)."""

    parent: str | None = None
    capacity: int = Field(0, ge=0, le=100_000)
    costs: dict[int, Cost] = Field(min_length=1, max_length=10_000,
                                   description="amount -> cost (>= 0); at least one amount")

    @model_validator(mode="after")
    def _check(self) -> NodeSpec:
        bad = [c for c in self.costs.values() if c < 0]
        if bad:
            msg = f"costs must be >= 0, got {bad[:3]}"
            raise ValueError(msg)
        return self


class FeederSpec(StrictModel):
    """A seeded feeder tree (see :func:`~edge_agent.algorithms.rcdcop.generators.feeder` for how it is drawn)."""

    shape: Shape = "binary"
    providers: int = Field(2, ge=1, le=100_000)
    consumers: int = Field(10, ge=0, le=100_000)
    seed: int = Field(0, ge=0)
    demand: int = Field(2, ge=1, le=1000)
    supply_ratio: float = Field(0.4, gt=0, le=10)
    capacity: tuple[int, int] = (4, 8)

    def build(self, name: str) -> RcTree:
        if not 0 <= self.capacity[0] <= self.capacity[1] <= 100_000:
            raise ConfigError(f"generate.capacity {list(self.capacity)} must be [low, high] with 0 <= low <= high")
        return feeder(self.shape, self.providers, self.consumers, np.random.default_rng(self.seed),
                      demand=self.demand, supply_ratio=self.supply_ratio, capacity=self.capacity, name=name)


class RcdcopScenario(StrictModel):
    """A feeder tree and the variant to solve it with (see the module)."""

    algorithm: Literal["rcdcop"]
    name: str = "rcdcop"
    description: str = ""
    aggregation: Aggregation = "sum"
    tie_break: TieBreak = "greedy"
    candidate_limit: int = Field(10_000, ge=1, le=1_000_000,
                                 description="center: at most this many optimal candidates are compared per node")
    tree: dict[str, NodeSpec] | None = Field(None, description="node id -> node")
    generate: FeederSpec | None = None
    _problem: RcTree | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self) -> RcdcopScenario:
        given = [key for key in ("tree", "generate") if getattr(self, key) is not None]
        if len(given) != 1:
            msg = f"give exactly one of tree and generate (got {given or 'none'})"
            raise ValueError(msg)
        try:
            self.problem()
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self

    def problem(self) -> RcTree:
        if self._problem is None:
            if self.tree is not None:
                nodes = {name: RcNode(name, spec.parent, spec.capacity, dict(spec.costs))
                         for name, spec in self.tree.items()}
                self._problem = RcTree(self.name, nodes)
            else:
                assert self.generate is not None
                self._problem = self.generate.build(self.name)
        return self._problem

    def settings(self) -> RcSettings:
        return RcSettings(self.aggregation, self.tie_break, self.candidate_limit)

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        tree = self.problem()
        outcome = await run_rcdcop(tree, self.settings(), network)
        return rc_report(tree, self.settings(), outcome, extra={"messages_by_kind": dict(network.stats.by_kind)})
