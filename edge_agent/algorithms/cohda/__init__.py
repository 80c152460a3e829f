"""COHDA (Hinrichs et al. 2014): fully distributed choice of one schedule per participant so that the sum
of all chosen schedules follows a target. Participants gossip with their neighbours only; see
``docs/cohda.md`` for the protocol, message sizes and termination."""

from edge_agent.algorithms.cohda.deciders import (
    Choice,
    Decider,
    EnumerationDecider,
    LocalPerformance,
    LocalSearchDecider,
)
from edge_agent.algorithms.cohda.memory import Rated, SystemConfig, candidate_beats, merge_candidates
from edge_agent.algorithms.cohda.messages import (
    CohdaCandidate,
    CohdaMoves,
    CohdaOffers,
    CohdaStart,
    CohdaTarget,
    CohdaUpdate,
    ScheduleEntries,
)
from edge_agent.algorithms.cohda.observer import CohdaObserver
from edge_agent.algorithms.cohda.participant import CohdaParticipant, entries_per_message
from edge_agent.algorithms.cohda.performance import (
    PERFORMANCES,
    Performance,
    Target,
    peak_deviation,
    rate,
    weighted_l1,
    weighted_squares,
)
from edge_agent.algorithms.cohda.schedules import battery_schedules, shifted_profiles
from edge_agent.algorithms.cohda.working_memory import RespondTo, WorkingMemory

__all__ = [
    "PERFORMANCES",
    "Choice",
    "CohdaCandidate",
    "CohdaMoves",
    "CohdaObserver",
    "CohdaOffers",
    "CohdaParticipant",
    "CohdaStart",
    "CohdaTarget",
    "CohdaUpdate",
    "Decider",
    "EnumerationDecider",
    "LocalPerformance",
    "LocalSearchDecider",
    "Performance",
    "Rated",
    "RespondTo",
    "ScheduleEntries",
    "SystemConfig",
    "Target",
    "WorkingMemory",
    "battery_schedules",
    "candidate_beats",
    "entries_per_message",
    "merge_candidates",
    "peak_deviation",
    "rate",
    "shifted_profiles",
    "weighted_l1",
    "weighted_squares",
]
