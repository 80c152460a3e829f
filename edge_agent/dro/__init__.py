"""The public API of the peer library ``distributed_resource_optimization`` (seed 000), over this project's
engines: a script written for it runs here after changing its import to ``edge_agent.dro``.

Every name is a thin adapter: ADMM runs :mod:`edge_agent.algorithms.admm`, averaging consensus
:mod:`edge_agent.algorithms.consensus`, COHDA :mod:`edge_agent.algorithms.cohda`; the seed's carriers move this
project's envelopes between them (:mod:`edge_agent.dro._bridge`). ``docs/migration.md`` maps every name.

Deviations from the seed (where its documented or measured behaviour is a bug, its intent is followed):

1. Averaging consensus: the start message is never counted as a neighbour's value (the seed's biases the
   average: 4.88 instead of 5.33 in its own example); the run also ends when everyone converged (distributed
   termination), not only at ``max_iter``.
2. ``LinearCostEconomicDispatchConsensusActor``: inside a run the true number of participants replaces
   ``n_guess`` (with the seed's fixed 10 the supply converges to ``N / 10`` times the target).
3. ``create_admm_flex_actor_one_to_many``: a positive ``P`` is a cost (penalised), as the seed documents; the
   seed's code rewards it. Efficiencies of 0 pin that output to 0 instead of dropping every coupling row.
4. ADMM residuals: the primal residual is measured on the aggregate ``sum_i (x_i - z_i)`` (the engine's test,
   which does not loosen as N grows). ``abs_tol``/``rel_tol`` keep the seed's defaults (1e-4, 1e-3), with which
   a run stops about 1 % short of the optimum, like the seed's; pass ``abs_tol=1e-6, rel_tol=1e-6`` for the
   optimum. ``ADMMGenericCoordinator.last_result`` tells the status honestly (``infeasible_result`` when the
   delivered total misses the agreed one by more than 1e-3).
5. ``ADMMConsensusGlobalActor(alpha)``: a *larger* alpha pulls *less* toward the target (``beta = rho^2/alpha``).
6. ``ADMMGenericCoordinator`` runs the sharing and consensus global actors only; another ``ADMMGlobalActor``
   subclass is refused with a ``ConfigError`` (its methods still compute as the seed's for direct use).
7. COHDA's ``LocalSearchDecider`` keeps the best sample (the seed's keeps the last), searches both ways and
   records the new schedule; without ``distribution`` its draws come from a generator seeded with the
   participant id (reproducible runs). A custom ``performance_function`` is called with the aggregate as a
   one-row matrix (the engine rates aggregates).
8. COHDA views: ``COHDAAlgorithmData.memory`` is built from the engine's working memory; a candidate row whose
   version the participant's configuration no longer holds is NaN (the engine keeps candidates as version
   vectors plus the aggregate); :func:`result` is always exact.
9. ``result`` is one function for both of the seed's modules: the aggregate of a COHDA participant, the last
   solution of an ADMM flex actor.
10. ``Carrier.address()`` is new: fully distributed runs (consensus, COHDA) need a participant's own address;
    a carrier without it runs coordinated (ADMM) runs only. Dispatch tasks are owned by the
    ``ActorContainer``, and a handler's error is raised by the ``start_*`` function instead of being lost.
"""

from __future__ import annotations

from typing import Any

from edge_agent.dro.admm import (
    ADMMAnswer,
    ADMMConsensusGlobalActor,
    ADMMFlexActor,
    ADMMGenericCoordinator,
    ADMMGlobalActor,
    ADMMGlobalObjective,
    ADMMMessage,
    ADMMSharingData,
    ADMMSharingGlobalActor,
    ADMMStart,
    ADMMTargetDistanceObjective,
    create_admm_flex_actor_one_to_many,
    create_admm_sharing_data,
    create_admm_start,
    create_admm_start_consensus,
    create_consensus_target_reach_admm_coordinator,
    create_sharing_admm_coordinator,
    create_sharing_target_distance_admm_coordinator,
)
from edge_agent.dro.carrier import (
    ActorContainer,
    Carrier,
    EventWithValue,
    SimpleCarrier,
    cid,
    start_coordinated_optimization,
    start_distributed_optimization,
)
from edge_agent.dro.cohda import (
    COHDAAlgorithmData,
    DefaultLocalDecider,
    LocalDecider,
    LocalSearchDecider,
    ScheduleSelection,
    SolutionCandidate,
    SystemConfig,
    TargetParams,
    WorkingMemory,
    cohda_default_performance,
    cohda_result,
    create_cohda_participant,
    create_cohda_participant_with_decider,
    create_cohda_start_message,
)
from edge_agent.dro.cohda_steps import (
    act,
    create_from_updated_sysconf,
    decide,
    merge_candidates,
    merge_sysconfigs,
    perceive,
    process_exchange_message,
)
from edge_agent.dro.consensus import (
    AveragingConsensusAlgorithm,
    AveragingConsensusMessage,
    ConsensusActor,
    ConsensusFinishedMessage,
    LinearCostEconomicDispatchConsensusActor,
    NoConsensusActor,
    create_averaging_consensus_participant,
    create_averaging_consensus_start,
)
from edge_agent.dro.core import (
    CoordinatedDistributedAlgorithm,
    Coordinator,
    DistributedAlgorithm,
    OptimizationMessage,
    on_exchange_message,
    start_optimization,
)
from edge_agent.errors import ConfigError


def result(actor: Any) -> Any:
    """The aggregate schedule of a COHDA participant, or the last local solution of an ADMM flex actor."""
    if isinstance(actor, COHDAAlgorithmData):
        return cohda_result(actor)
    if isinstance(actor, ADMMFlexActor):
        return actor.x
    raise ConfigError(f"result() takes a COHDA participant or an ADMM flex actor, got {type(actor).__name__}")


__all__ = [
    "ADMMAnswer", "ADMMConsensusGlobalActor", "ADMMFlexActor", "ADMMGenericCoordinator", "ADMMGlobalActor",
    "ADMMGlobalObjective", "ADMMMessage", "ADMMSharingData", "ADMMSharingGlobalActor", "ADMMStart",
    "ADMMTargetDistanceObjective", "ActorContainer", "AveragingConsensusAlgorithm", "AveragingConsensusMessage",
    "COHDAAlgorithmData", "Carrier", "ConsensusActor", "ConsensusFinishedMessage", "CoordinatedDistributedAlgorithm",
    "Coordinator", "DefaultLocalDecider", "DistributedAlgorithm", "EventWithValue",
    "LinearCostEconomicDispatchConsensusActor", "LocalDecider", "LocalSearchDecider", "NoConsensusActor",
    "OptimizationMessage", "ScheduleSelection", "SimpleCarrier", "SolutionCandidate", "SystemConfig",
    "TargetParams", "WorkingMemory", "act", "cid", "cohda_default_performance", "create_admm_flex_actor_one_to_many",
    "create_admm_sharing_data", "create_admm_start", "create_admm_start_consensus",
    "create_averaging_consensus_participant", "create_averaging_consensus_start", "create_cohda_participant",
    "create_cohda_participant_with_decider", "create_cohda_start_message",
    "create_consensus_target_reach_admm_coordinator", "create_from_updated_sysconf",
    "create_sharing_admm_coordinator", "create_sharing_target_distance_admm_coordinator", "decide",
    "merge_candidates", "merge_sysconfigs", "on_exchange_message", "perceive", "process_exchange_message",
    "result", "start_coordinated_optimization", "start_distributed_optimization", "start_optimization",
]
