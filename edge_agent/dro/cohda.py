"""The seed's COHDA API over this project's COHDA engine (:mod:`edge_agent.algorithms.cohda`).

:class:`COHDAAlgorithmData` runs a :class:`~edge_agent.algorithms.cohda.CohdaParticipant` (engine id
``str(participant_id)``), built when the run reaches it: the seed's deciders become the engine's
:class:`~edge_agent.algorithms.cohda.EnumerationDecider` or
:class:`~edge_agent.algorithms.cohda.LocalSearchDecider`. The seed's data classes are *views* of the engine's
working memory (:attr:`COHDAAlgorithmData.memory`); the step functions (:func:`perceive`, :func:`decide`,
:func:`act`, :func:`merge_sysconfigs`) call the engine's working memory and configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.cohda import (
    CohdaCandidate,
    CohdaParticipant,
    CohdaStart,
    CohdaUpdate,
    EnumerationDecider,
    ScheduleEntries,
    Target,
    weighted_l1,
)
from edge_agent.algorithms.cohda import LocalSearchDecider as EngineLocalSearch
from edge_agent.algorithms.cohda import SystemConfig as EngineConfig
from edge_agent.algorithms.cohda.performance import Performance
from edge_agent.dro._bridge import EngineCarrier, Wire
from edge_agent.dro.carrier import Carrier
from edge_agent.dro.core import DistributedAlgorithm, OptimizationMessage
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope

__all__ = [
    "COHDAAlgorithmData", "DefaultLocalDecider", "LocalDecider", "LocalSearchDecider", "ScheduleSelection",
    "SolutionCandidate", "SystemConfig", "TargetParams", "WorkingMemory", "act", "cohda_default_performance",
    "create_cohda_participant", "create_cohda_participant_with_decider", "create_cohda_start_message",
    "create_from_updated_sysconf", "decide", "merge_candidates", "merge_sysconfigs", "perceive",
    "process_exchange_message",
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


def merge_sysconfigs(sysconfig_i: SystemConfig, sysconfig_j: SystemConfig) -> SystemConfig:
    """Per participant the entry with the higher counter (the engine's configuration merge);
    ``sysconfig_i`` itself when it already dominates."""
    horizon = next((np.size(s.schedule) for s in [*sysconfig_i.schedule_choices.values(),
                                                   *sysconfig_j.schedule_choices.values()]), 0)
    if horizon == 0:
        return sysconfig_i
    config = EngineConfig(horizon)
    for pid, sel in sysconfig_i.schedule_choices.items():
        config.set(str(pid), sel.counter, np.asarray(sel.schedule, dtype=np.float64))
    ids = sorted(sysconfig_j.schedule_choices)
    entries = ScheduleEntries(ids=tuple(str(p) for p in ids),
                              counters=tuple(sysconfig_j.schedule_choices[p].counter for p in ids),
                              rows=np.array([sysconfig_j.schedule_choices[p].schedule for p in ids], dtype=float))
    if not config.merge(entries, me="0", sender="0"):
        return sysconfig_i
    return SystemConfig({int(p): ScheduleSelection(config.row(p).copy(), config.counter(p)) for p in config.ids})


def merge_candidates(candidate_i: SolutionCandidate, candidate_j: SolutionCandidate | None, participant_id: int,
                     perf_func: Callable[..., float], target_params: TargetParams | None) -> SolutionCandidate:
    """The dominance rules: a strict superset wins; equal sets compare performance, then the lower id;
    otherwise ``candidate_i`` extended by ``candidate_j``'s extra participants."""
    if candidate_j is None:
        return candidate_i
    a, b = candidate_i.present, candidate_j.present
    if a < b:
        return candidate_j
    if a == b:
        def perf(c: SolutionCandidate) -> float:
            if c.perf is not None or target_params is None:
                return c.perf if c.perf is not None else -np.inf
            return float(perf_func(c.schedules, target_params))
        pi, pj = perf(candidate_i), perf(candidate_j)
        if pj > pi or (pj == pi and candidate_j.participant_id < candidate_i.participant_id):
            return candidate_j
        return candidate_i
    extra = b - a
    if not extra:
        return candidate_i
    size = max(candidate_i.schedules.shape[0], candidate_j.schedules.shape[0])
    rows = np.zeros((size, candidate_i.schedules.shape[1]))
    rows[: candidate_i.schedules.shape[0]] = candidate_i.schedules
    for pid in extra:
        rows[pid - 1] = candidate_j.schedules[pid - 1]
    merged = SolutionCandidate(participant_id, rows, None, a | b)
    if target_params is not None:
        merged.perf = float(perf_func(rows[[p - 1 for p in sorted(merged.present)]], target_params))
    return merged


def create_from_updated_sysconf(participant_id: int, sysconfig: SystemConfig, new_schedule: Array) -> SolutionCandidate:
    """A candidate of every participant in ``sysconfig``, with ``participant_id``'s row replaced."""
    choices = dict(sysconfig.schedule_choices)
    present = frozenset(choices) | {participant_id}
    rows = np.zeros((max(present), np.size(new_schedule)))
    for pid, sel in choices.items():
        rows[pid - 1] = sel.schedule
    rows[participant_id - 1] = new_schedule
    return SolutionCandidate(participant_id, rows, None, present)


def _update(memory: WorkingMemory) -> CohdaUpdate:
    target = memory.target_params
    config = memory.system_config.schedule_choices
    ids = sorted(config)
    entries = ScheduleEntries(ids=tuple(str(p) for p in ids), counters=tuple(config[p].counter for p in ids),
                              rows=np.array([config[p].schedule for p in ids], dtype=float)) if ids else None
    candidate = None
    c = memory.solution_candidate
    if c is not None and all(p in config for p in c.present):
        members = sorted(c.present)
        candidate = CohdaCandidate(owner=str(c.participant_id), ids=tuple(str(p) for p in members),
                                   counters=tuple(config[p].counter for p in members),
                                   aggregate=c.schedules[[p - 1 for p in members]].sum(axis=0))
    return CohdaUpdate(target=None if target is None else Target.of(target.schedule, target.weights).to_wire(),
                       entries=entries, candidate=candidate)


def perceive(cohda_data: COHDAAlgorithmData, working_memories: list[WorkingMemory]) -> tuple[SystemConfig,
                                                                                               SolutionCandidate]:
    """Merge received memories into the engine's working memory; the resulting configuration and candidate."""
    for memory in working_memories:
        if memory.target_params is not None:
            engine = cohda_data.build(memory.target_params)
            engine.memory.learn_target(Target.of(memory.target_params.schedule,
                                                 memory.target_params.weights).to_wire(), "0")
            sender = str(memory.solution_candidate.participant_id) if memory.solution_candidate else "0"
            if memory.system_config.schedule_choices or memory.solution_candidate is not None:
                engine.memory.perceive(_update(memory), sender)
    view = cohda_data.memory
    if view.solution_candidate is None:
        raise ConfigError("perceive: no target known yet (the first memory must carry target_params)")
    return view.system_config, view.solution_candidate


def decide(cohda_data: COHDAAlgorithmData, decider: LocalDecider, sysconfig: SystemConfig,
           candidate: SolutionCandidate) -> tuple[SystemConfig, SolutionCandidate]:
    """The engine's decision on the state :func:`perceive` left (the arguments are that state's views)."""
    if cohda_data.engine is None:
        raise ConfigError("decide: call perceive first (the participant has no target yet)")
    cohda_data.engine.memory.decide()
    view = cohda_data.memory
    assert view.solution_candidate is not None
    return view.system_config, view.solution_candidate


def act(cohda_data: COHDAAlgorithmData, new_sysconfig: SystemConfig, new_candidate: SolutionCandidate) -> WorkingMemory:
    """The engine committed the decision already: the participant's memory (what it forwards)."""
    return cohda_data.memory


async def process_exchange_message(algorithm_data: COHDAAlgorithmData, messages: list[Any], carrier: Carrier) -> None:
    """Handle ``messages`` one after another (each perceived, a decision, and the changes forwarded)."""
    for message in messages:
        await algorithm_data.on_exchange_message(carrier, message, None)


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
