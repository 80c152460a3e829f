"""COHDA scenarios (``algorithm: cohda``): each participant picks one schedule so the sum follows a target.

A participant is described by a finite schedule set (``kind: schedules``, the default), a device that
generates one (``shifted-load``, ``battery``), or continuous per-slot corridors searched locally
(``corridor``). :func:`run_cohda` wires participants over a topology in one process and runs until
quiescence; :meth:`CohdaScenario.run` builds everything from the file and reports.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import structlog
from pydantic import Discriminator, Field, Tag, model_validator

from edge_agent.algorithms.cohda import (
    PERFORMANCES,
    CohdaParticipant,
    Decider,
    EnumerationDecider,
    LocalSearchDecider,
    Target,
    battery_schedules,
    shifted_profiles,
)
from edge_agent.algorithms.cohda.job import CohdaCorridor, CohdaJoin, CohdaSettings
from edge_agent.algorithms.cohda.restarts import Restarts
from edge_agent.algorithms.cohda.run import CohdaOutcome, run_cohda
from edge_agent.carrier.base import Network
from edge_agent.config import StrictModel, require_unique
from edge_agent.family import RunOptions
from edge_agent.ids import AgentId
from edge_agent.results import RunReport
from edge_agent.topology import CompleteTopology, Graph, TopologySpec

__all__ = [
    "CohdaBatterySpec",
    "CohdaCorridorSpec",
    "CohdaOutcome",
    "CohdaScenario",
    "CohdaSchedulesSpec",
    "CohdaSettingsSpec",
    "CohdaShiftedLoadSpec",
    "run_cohda",
]

log = structlog.get_logger("edge_agent.cohda")


class _Spec(StrictModel):
    id: AgentId

    def horizon(self) -> int | None:
        return None

    def decider(self, horizon: int, device_rng: np.random.Generator, search_rng: np.random.Generator) -> Decider:
        """``device_rng`` draws the device's schedules (part of the problem: seeded by the scenario only),
        ``search_rng`` the algorithm's random choices (also seeded by the run options)."""
        raise NotImplementedError


class CohdaSchedulesSpec(_Spec):
    """A finite set of feasible schedules, one row per schedule."""

    kind: Literal["schedules"] = "schedules"
    schedules: list[list[float]] = Field(min_length=1, description="feasible schedules (at least one)")
    initial_index: int = Field(0, ge=0, description="the schedule to start from")

    @model_validator(mode="after")
    def _check(self) -> CohdaSchedulesSpec:
        lengths = {len(row) for row in self.schedules}
        if len(lengths) != 1 or 0 in lengths:
            msg = f"all schedules must have the same non-zero length, got lengths {sorted(lengths)}"
            raise ValueError(msg)
        if self.initial_index >= len(self.schedules):
            msg = f"initial_index {self.initial_index} is out of range for {len(self.schedules)} schedules"
            raise ValueError(msg)
        return self

    def horizon(self) -> int:
        return len(self.schedules[0])

    def decider(self, horizon: int, device_rng: np.random.Generator, search_rng: np.random.Generator) -> Decider:
        return EnumerationDecider(self.id, self.schedules, initial_index=self.initial_index)


class CohdaShiftedLoadSpec(_Spec):
    """A load with a fixed power profile (drawn, >= 0) that can start at any slot in a window."""

    kind: Literal["shifted-load"]
    profile: list[float] = Field(min_length=1)
    earliest_start: int = Field(0, ge=0)
    latest_start: int | None = Field(None, ge=0, description="default: the last start that fits")

    def decider(self, horizon: int, device_rng: np.random.Generator, search_rng: np.random.Generator) -> Decider:
        rows = shifted_profiles(self.profile, horizon, self.earliest_start, self.latest_start)
        return EnumerationDecider(self.id, rows)


class CohdaBatterySpec(_Spec):
    """A battery offering ``count`` random feasible schedules (the first idle), drawn from the scenario seed."""

    kind: Literal["battery"]
    power_max: float = Field(gt=0)
    energy_max: float = Field(gt=0)
    energy_initial: float = Field(ge=0)
    energy_min: float = Field(0.0, ge=0)
    slot_hours: float = Field(1.0, gt=0)
    count: int = Field(20, ge=1, le=10_000)

    def decider(self, horizon: int, device_rng: np.random.Generator, search_rng: np.random.Generator) -> Decider:
        rows = battery_schedules(
            horizon, self.count, device_rng, power_max=self.power_max, energy_max=self.energy_max,
            energy_initial=self.energy_initial, energy_min=self.energy_min, slot_hours=self.slot_hours,
        )
        return EnumerationDecider(self.id, rows)


class CohdaCorridorSpec(_Spec):
    """Continuous schedule within ``lower <= x <= upper`` per slot, searched by the local-search decider."""

    kind: Literal["corridor"]
    lower: list[float] = Field(min_length=1)
    upper: list[float] = Field(min_length=1)
    initial: list[float] | None = Field(None, description="default: the corridor midpoints")
    convergence_force_factor: float = Field(0.1, ge=0)
    max_iterations: int = Field(10, ge=1)
    sample_size_per_value: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _check(self) -> CohdaCorridorSpec:
        if len(self.upper) != len(self.lower) or (self.initial is not None and len(self.initial) != len(self.lower)):
            msg = "lower, upper (and initial) must have the same length"
            raise ValueError(msg)
        return self

    def horizon(self) -> int:
        return len(self.lower)

    def decider(self, horizon: int, device_rng: np.random.Generator, search_rng: np.random.Generator) -> Decider:
        return LocalSearchDecider(
            self.id, self.lower, self.upper, search_rng, initial=self.initial,
            convergence_force_factor=self.convergence_force_factor, max_iterations=self.max_iterations,
            sample_size_per_value=self.sample_size_per_value,
        )


def _participant_kind(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("kind", "schedules"))
    return str(getattr(data, "kind", "schedules"))


CohdaParticipantSpec = Annotated[
    Annotated[CohdaSchedulesSpec, Tag("schedules")]
    | Annotated[CohdaShiftedLoadSpec, Tag("shifted-load")]
    | Annotated[CohdaBatterySpec, Tag("battery")]
    | Annotated[CohdaCorridorSpec, Tag("corridor")],
    Discriminator(_participant_kind),
]


class CohdaSettingsSpec(StrictModel):
    batch: bool = Field(True, description="perceive every update delivered together before deciding once")
    relay: Literal["auto", "always", "never"] = Field(
        "auto", description="pass others' news on; auto = only when the topology is not complete"
    )
    max_decisions: int = Field(10_000, ge=1, description="per participant; a safety net")
    improvement_tol: float = Field(1e-9, ge=0, description="relative gain a new candidate needs")
    respond_to: Literal["config", "candidate", "both"] = Field(
        "candidate", description="decide against the system configuration (classic COHDA), the best candidate, or both"
    )
    offers: int = Field(3, ge=0, description="alternatives offered to neighbours for pair moves (0: none)")
    compose: bool = Field(True, description="apply the moves of a received candidate that fit ours")
    restarts: int = Field(0, ge=0, le=1000, description="rounds run again from the best selection, perturbed "
                          "(in process only; 0: the plain protocol)")
    perturb: float = Field(0.3, gt=0, le=1, description="with restarts: chance that a participant starts a round "
                           "from a random schedule of its own")


class CohdaScenario(StrictModel):
    """Choose one schedule per participant minimising the weighted distance of their sum to ``target``."""

    algorithm: Literal["cohda"]
    name: str = "unnamed"
    description: str = ""
    target: list[float] = Field(min_length=1, description="one value per slot")
    weights: list[float] | None = Field(None, description="weight of a deviation per slot (default 1)")
    performance: Literal["weighted-l1", "weighted-squares", "peak"] = "weighted-l1"
    topology: TopologySpec = CompleteTopology(kind="complete")
    seed: int = Field(0, description="draws the device schedules (batteries) and seeds the local search")
    settings: CohdaSettingsSpec = CohdaSettingsSpec()
    participants: list[CohdaParticipantSpec]

    @model_validator(mode="after")
    def _check(self) -> CohdaScenario:
        if len(self.participants) < 2:
            msg = f"COHDA needs at least two participants, got {len(self.participants)}"
            raise ValueError(msg)
        if self.weights is not None and len(self.weights) != len(self.target):
            msg = f"weights has {len(self.weights)} entries but target has {len(self.target)}; they must match"
            raise ValueError(msg)
        if self.weights is not None and min(self.weights) < 0:
            msg = "weights must be >= 0"
            raise ValueError(msg)
        require_unique(spec.id for spec in self.participants)
        for spec in self.participants:
            size = spec.horizon()
            if size is not None and size != len(self.target):
                msg = f"participant {spec.id!r} has schedules of {size} slots but target has {len(self.target)}"
                raise ValueError(msg)
        return self

    def build(self, options: RunOptions) -> tuple[list[CohdaParticipant], Graph, Target]:
        target = Target.of(self.target, self.weights)
        graph = self.topology.build([p.id for p in self.participants])
        relay = {"always": True, "never": False, "auto": not _is_complete(graph)}[self.settings.relay]
        participants = []
        for i, spec in enumerate(self.participants):
            device_rng = np.random.default_rng([self.seed, i])
            search_rng = np.random.default_rng([self.seed, i, 1, options.seed or 0])
            decider = spec.decider(len(self.target), device_rng, search_rng)
            participants.append(
                CohdaParticipant(
                    spec.id, decider, performance=PERFORMANCES[self.performance],
                    relay=relay, batch=self.settings.batch, max_decisions=self.settings.max_decisions,
                    improvement_tol=self.settings.improvement_tol, respond_to=self.settings.respond_to,
                    offers=self.settings.offers, compose=self.settings.compose,
                )
            )
        return participants, graph, target

    def joins(self, run: str, options: RunOptions) -> dict[str, CohdaJoin]:
        """What each participant is told to join run ``run`` over MQTT, in participant order: the same
        participants as :meth:`build` (schedules drawn from the same seeds, the same search seeds)."""
        participants, graph, target = self.build(options)
        relay = participants[0].memory.relay if participants else True
        settings = CohdaSettings(
            performance=self.performance, relay=relay, batch=self.settings.batch,
            respond_to=self.settings.respond_to, offers=self.settings.offers, compose=self.settings.compose,
            max_decisions=self.settings.max_decisions, improvement_tol=self.settings.improvement_tol,
        )
        joins = {}
        for i, (spec, participant) in enumerate(zip(self.participants, participants, strict=True)):
            decider = participant.decider
            common = {"run": run, "in_neighbours": tuple(graph.in_neighbours(spec.id)), "target": target.to_wire(),
                      "settings": settings}
            if isinstance(spec, CohdaCorridorSpec):
                corridor = CohdaCorridor(
                    lower=np.asarray(spec.lower, dtype=np.float64), upper=np.asarray(spec.upper, dtype=np.float64),
                    initial=None if spec.initial is None else np.asarray(spec.initial, dtype=np.float64),
                    convergence_force_factor=spec.convergence_force_factor, max_iterations=spec.max_iterations,
                    sample_size_per_value=spec.sample_size_per_value, seed=(self.seed, i, 1, options.seed or 0),
                )
                joins[spec.id] = CohdaJoin(**common, corridor=corridor)
            else:
                assert isinstance(decider, EnumerationDecider)
                joins[spec.id] = CohdaJoin(**common, schedules=decider.schedules,
                                           initial_index=decider.initial().index)
        return joins

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        participants, graph, target = self.build(options)
        restarts = None
        if self.settings.restarts:
            restarts = Restarts(self.settings.restarts, self.settings.perturb, (self.seed, 2, options.seed or 0))
        outcome = await run_cohda(participants, graph, target, network, restarts=restarts)
        return outcome.report(self.name, topology=self.topology.kind)


def _is_complete(graph: Graph) -> bool:
    n = len(graph)
    return all(len(graph.in_neighbours(node)) == n - 1 for node in graph.nodes)
