"""The seed's COHDA step functions (``perceive``, ``decide``, ``act``, the merges) for users who drive a
participant by hand: they call the engine's working memory and configuration through
:class:`~edge_agent.dro.cohda.COHDAAlgorithmData`; ``merge_candidates`` applies the seed's dominance rules to
the seed's candidates (a strict superset wins; equal sets compare performance, then the lower id; else merge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edge_agent.algorithms.cohda import CohdaCandidate, CohdaUpdate, ScheduleEntries, Target
from edge_agent.algorithms.cohda import SystemConfig as EngineConfig
from edge_agent.dro.carrier import Carrier
from edge_agent.dro.cohda import (
    Array,
    COHDAAlgorithmData,
    LocalDecider,
    ScheduleSelection,
    SolutionCandidate,
    SystemConfig,
    TargetParams,
    WorkingMemory,
)
from edge_agent.errors import ConfigError

__all__ = ["act", "create_from_updated_sysconf", "decide", "merge_candidates", "merge_sysconfigs", "perceive",
           "process_exchange_message"]


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
