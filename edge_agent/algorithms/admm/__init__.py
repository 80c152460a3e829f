"""ADMM: a coordinator drives rounds; each participant solves its private convex problem."""

from edge_agent.algorithms.admm.coordinator import AdmmCoordinator, AdmmResult, AdmmSettings, AdmmVariant, RoundRecord
from edge_agent.algorithms.admm.flex_actor import (
    AdmmFlexActor,
    create_admm_flex_actor_one_to_many,
    one_to_many_problem,
)
from edge_agent.algorithms.admm.job import AdmmJob, AdmmJobResult, AdmmJobSpec
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmFailure, AdmmRequest
from edge_agent.algorithms.admm.variants import ConsensusVariant, SharingVariant

__all__ = [
    "AdmmAnswer",
    "AdmmCoordinator",
    "AdmmFailure",
    "AdmmFlexActor",
    "AdmmJob",
    "AdmmJobResult",
    "AdmmJobSpec",
    "AdmmRequest",
    "AdmmResult",
    "AdmmSettings",
    "AdmmVariant",
    "ConsensusVariant",
    "RoundRecord",
    "SharingVariant",
    "create_admm_flex_actor_one_to_many",
    "one_to_many_problem",
]
