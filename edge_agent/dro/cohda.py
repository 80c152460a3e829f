"""The seed's COHDA API over this project's COHDA engine (:mod:`edge_agent.algorithms.cohda`).

:class:`COHDAAlgorithmData` runs a :class:`~edge_agent.algorithms.cohda.CohdaParticipant` (engine id
``str(participant_id)``), built when the run reaches it: the seed's deciders become the engine's
:class:`~edge_agent.algorithms.cohda.EnumerationDecider` or
:class:`~edge_agent.algorithms.cohda.LocalSearchDecider`. The seed's data classes are *views* of the engine's
working memory (:attr:`COHDAAlgorithmData.memory`); the seed's step functions are in
:mod:`edge_agent.dro.cohda_steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.cohda import (
    CohdaParticipant,
    CohdaStart,
    EnumerationDecider,
    Target,
    weighted_l1,
)
from edge_agent.algorithms.cohda import LocalSearchDecider as EngineLocalSearch
from edge_agent.algorithms.cohda.performance import Performance
from edge_agent.dro._bridge import EngineCarrier, Wire
from edge_agent.dro.carrier import Carrier
from edge_agent.dro.core import DistributedAlgorithm, OptimizationMessage
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope

__all__ = [
    "COHDAAlgorithmData", "DefaultLocalDecider", "LocalDecider", "LocalSearchDecider", "ScheduleSelection",
    "SolutionCandidate", "SystemConfig", "TargetParams", "WorkingMemory", "cohda_default_performance",
    "cohda_result", "create_cohda_participant", "create_cohda_participant_with_decider", "create_cohda_start_message",
]

Array = NDArray[np.float64]


@dataclass
class ScheduleSelection:
    schedule: Array
    counter: int


@dataclass
class SystemConfig:
    schedule_choices: dict[int, ScheduleSelection] = field(default_factory=dict)


@dataclass
class SolutionCandidate:
    """``schedules[pid - 1]`` is participant ``pid``'s row (1-indexed ids)."""

    participant_id: int
    schedules: Array
    perf: float | None
    present: frozenset[int]


@dataclass
class TargetParams:
    schedule: Array
    weights: Array


@dataclass
class WorkingMemory(OptimizationMessage):
    target_params: TargetParams | None
    system_config: SystemConfig
    solution_candidate: SolutionCandidate | None
    additional_parameters: dict[str, Any] = field(default_factory=dict)


def cohda_default_performance(cluster_schedule: Array, target_params: TargetParams) -> float:
    """``-sum(weights * |target - column sums|)`` (the engine's ``weighted_l1``)."""
    target = Target.of(target_params.schedule, target_params.weights)
    return float(weighted_l1(np.sum(np.atleast_2d(cluster_schedule), axis=0)[np.newaxis, :], target)[0])


class LocalDecider:
    """Chooses a participant's own schedule in the decide step."""

    def initial_schedule(self, memory: WorkingMemory) -> Array:
        raise NotImplementedError

    def engine(self, owner: str, memory: WorkingMemory) -> Any:
        msg = f"{type(self).__name__}: only DefaultLocalDecider and LocalSearchDecider run on the engine"
        raise ConfigError(msg)


class DefaultLocalDecider(LocalDecider):
    """Every feasible schedule is rated; the best is kept only if the candidate gets strictly better."""

    def __init__(self, schedule_provider: Callable[[WorkingMemory], list[Any]],
                 is_local_acceptable: Callable[[Array], bool] = lambda _: True) -> None:
        self.schedule_provider = schedule_provider
        self.is_local_acceptable = is_local_acceptable

    def initial_schedule(self, memory: WorkingMemory) -> Array:
        return np.asarray(self.schedule_provider(memory)[0], dtype=np.float64)

    def engine(self, owner: str, memory: WorkingMemory) -> EnumerationDecider:
        schedules = np.array(self.schedule_provider(memory), dtype=np.float64)
        keep = [i for i, row in enumerate(schedules) if self.is_local_acceptable(row)]
        return EnumerationDecider(owner, schedules, initial_index=keep[0] if keep else 0,
                                  acceptable=self.is_local_acceptable)


class _Draws:
    """The engine decider's source of uniform draws, from the seed's ``distribution`` factory."""

    def __init__(self, distribution: Callable[[float, float], Callable[[], float]]) -> None:
        self.distribution = distribution

    def uniform(self, low: float, high: float, size: int) -> Array:
        draw = self.distribution(low, high)
        return np.array([draw() for _ in range(size)], dtype=np.float64)


class LocalSearchDecider(LocalDecider):
    """Random search in per-slot corridors (the engine's, which keeps the best sample, searches both ways and
    records the new schedule). Draws come from ``distribution`` or a generator seeded with the participant id."""

    def __init__(self, initial_schedule: Array, corridors: list[tuple[float, float]],
                 local_performance: Callable[[Array], float], convergence_force_factor: float = 0.1,
                 max_iterations: int = 10, sample_size_per_value: int = 10,
                 distribution: Callable[[float, float], Callable[[], float]] | None = None) -> None:
        self._initial = np.asarray(initial_schedule, dtype=np.float64)
        self.corridors = list(corridors)
        self.local_performance = local_performance
        self.convergence_force_factor = convergence_force_factor
        self.max_iterations = max_iterations
        self.sample_size_per_value = sample_size_per_value
        self.distribution = distribution

    def initial_schedule(self, memory: WorkingMemory) -> Array:
        return self._initial

    def engine(self, owner: str, memory: WorkingMemory) -> EngineLocalSearch:
        lower, upper = np.array(self.corridors, dtype=np.float64).T
        rng = (np.random.default_rng(int(owner)) if self.distribution is None
               else cast(np.random.Generator, _Draws(self.distribution)))
        local = self.local_performance
        return EngineLocalSearch(
            owner, lower, upper, rng, initial=self._initial,
            local_performance=lambda rows: np.array([local(r) for r in rows], dtype=np.float64),
            convergence_force_factor=self.convergence_force_factor, max_iterations=self.max_iterations,
            sample_size_per_value=self.sample_size_per_value)


def _performance(function: Callable[..., float]) -> Performance:
    if function is cohda_default_performance:
        return weighted_l1

    def rate(aggregates: Array, target: Target) -> Array:
        params = TargetParams(target.values, target.weights)
        return np.array([function(a[np.newaxis, :], params) for a in aggregates], dtype=np.float64)

    return rate


class COHDAAlgorithmData(DistributedAlgorithm):
    """One COHDA participant (1-indexed ``participant_id``)."""

    def __init__(self, participant_id: int, decider: LocalDecider,
                 performance_function: Callable[..., float] = cohda_default_performance) -> None:
        if not isinstance(participant_id, int) or participant_id < 1:
            raise ConfigError(f"participant_id must be an integer >= 1 (ids are 1-indexed), got {participant_id!r}")
        self.participant_id = participant_id
        self.decider = decider
        self.performance_function = performance_function
        self.engine: CohdaParticipant | None = None
        self._bridge: EngineCarrier | None = None

    def build(self, target: TargetParams) -> CohdaParticipant:
        if self.engine is None:
            seed_memory = WorkingMemory(target, SystemConfig(), None)
            decider = self.decider.engine(str(self.participant_id), seed_memory)
            self.engine = CohdaParticipant(str(self.participant_id), decider,
                                           performance=_performance(self.performance_function))
        return self.engine

    @property
    def memory(self) -> WorkingMemory:
        return _view(self)

    async def on_exchange_message(self, carrier: Carrier, message_data: Any, meta: Any) -> None:
        own = str(self.participant_id)
        if isinstance(message_data, WorkingMemory):
            if message_data.target_params is None:
                raise ConfigError("a COHDA run starts with a working memory that has target_params")
            engine = self.build(message_data.target_params)
            target = Target.of(message_data.target_params.schedule, message_data.target_params.weights)
            wire = Wire(Envelope(id="start", sender="start", receiver=own, seq=0,
                                 body=CohdaStart(target=target.to_wire())), message_data.target_params)
        elif isinstance(message_data, Wire):
            engine = self.build(message_data.data)
            wire = message_data
        else:
            raise ConfigError(f"COHDA handles WorkingMemory, got {type(message_data).__name__}")
        if self._bridge is None:
            self._bridge = EngineCarrier(carrier, engine, own, wire.data)
        handler = self._bridge.deliver(wire, meta)
        if handler is not None:
            await handler


def _view(data: COHDAAlgorithmData) -> WorkingMemory:
    engine = data.engine
    if engine is None or engine.memory.target is None:
        return WorkingMemory(None, SystemConfig(), None)
    memory, target = engine.memory, engine.memory.target
    config = SystemConfig({int(p): ScheduleSelection(memory.config.row(p).copy(), memory.config.counter(p))
                           for p in memory.config.ids})
    candidate = None
    if memory.candidate is not None:
        present = frozenset(int(p) for p in memory.candidate.wire.ids)
        rows = np.zeros((max(present | set(config.schedule_choices)), target.horizon))
        versions = dict(zip(memory.candidate.wire.ids, memory.candidate.wire.counters, strict=True))
        for pid in present:  # the configuration's row where it is the version the candidate holds, else NaN
            same = pid in config.schedule_choices and config.schedule_choices[pid].counter == versions[str(pid)]
            rows[pid - 1] = config.schedule_choices[pid].schedule if same else np.nan
            if pid == data.participant_id:
                rows[pid - 1] = memory.own(versions[str(pid)]).schedule
        candidate = SolutionCandidate(int(memory.candidate.wire.owner), rows, memory.candidate.perf, present)
    return WorkingMemory(TargetParams(target.values, target.weights), config, candidate)


def create_cohda_start_message(target_schedule: list[float] | Array,
                               weights: list[float] | Array | None = None) -> WorkingMemory:
    target = Target.of(target_schedule, weights)  # validated here: NaN, lengths, negative weights
    return WorkingMemory(TargetParams(target.values, target.weights), SystemConfig(), None)


def create_cohda_participant(participant_id: int, schedule_set: list[Any] | Callable[[WorkingMemory], list[Any]],
                             performance_function: Callable[..., float] = cohda_default_performance,
                             ) -> COHDAAlgorithmData:
    provider = schedule_set if callable(schedule_set) else (lambda _memory: schedule_set)
    return COHDAAlgorithmData(participant_id, DefaultLocalDecider(provider), performance_function)


def create_cohda_participant_with_decider(participant_id: int, decider: LocalDecider,
                                          performance_function: Callable[..., float] = cohda_default_performance,
                                          ) -> COHDAAlgorithmData:
    return COHDAAlgorithmData(participant_id, decider, performance_function)


def cohda_result(actor: COHDAAlgorithmData) -> Array:
    """The aggregate schedule of the participant's best candidate."""
    if actor.engine is None or actor.engine.memory.candidate is None:
        raise ConfigError(f"participant {actor.participant_id} has no candidate: the run never reached it")
    return np.array(actor.engine.memory.candidate.wire.aggregate, dtype=np.float64)
