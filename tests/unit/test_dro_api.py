"""``edge_agent.dro``: every name of the peer library's API (seed 000) importable, with the seed's signature.

The table below is taken from the seed's API reference (``../shared/seeds/000_*.txt``): for each callable,
its parameters in order and their defaults (``REQ``: no default). Methods are checked on their classes.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from edge_agent import dro

REQ = inspect.Parameter.empty
SEED: dict[str, list[tuple[str, Any]]] = {
    # carrier
    "Carrier.send_to_other": [("content", REQ), ("receiver", REQ), ("meta", None)],
    "Carrier.reply_to_other": [("content", REQ), ("meta", REQ)],
    "Carrier.send_awaitable": [("content", REQ), ("receiver", REQ), ("meta", None)],
    "Carrier.others": [("participant_id", REQ)],
    "Carrier.sleep": [("seconds", REQ)],
    "Carrier.spawn": [("coroutine", REQ)],
    "Carrier.wait_for": [("awaitable", REQ)],
    "EventWithValue": [],
    "ActorContainer": [],
    "SimpleCarrier": [("container", REQ), ("actor", REQ)],
    "SimpleCarrier.send_to_other": [("content", REQ), ("receiver", REQ), ("meta", None)],
    "SimpleCarrier.reply_to_other": [("content", REQ), ("meta", REQ)],
    "SimpleCarrier.send_awaitable": [("content", REQ), ("receiver", REQ), ("meta", None)],
    "cid": [("carrier", REQ)],
    "start_distributed_optimization": [("actors", REQ), ("start_message", REQ)],
    "start_coordinated_optimization": [("actors", REQ), ("coordinator", REQ), ("start_message", REQ)],
    # algorithm core
    "DistributedAlgorithm.on_exchange_message": [("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "Coordinator.start_optimization": [("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "on_exchange_message": [("algorithm", REQ), ("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "start_optimization": [("coordinator", REQ), ("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "CoordinatedDistributedAlgorithm": [("distributed_algo", REQ), ("coordinator", REQ)],
    # COHDA
    "ScheduleSelection": [("schedule", REQ), ("counter", REQ)],
    "SystemConfig": [("schedule_choices", "factory")],
    "SolutionCandidate": [("participant_id", REQ), ("schedules", REQ), ("perf", REQ), ("present", REQ)],
    "TargetParams": [("schedule", REQ), ("weights", REQ)],
    "WorkingMemory": [("target_params", REQ), ("system_config", REQ), ("solution_candidate", REQ),
                      ("additional_parameters", "factory")],
    "cohda_default_performance": [("cluster_schedule", REQ), ("target_params", REQ)],
    "LocalDecider.initial_schedule": [("memory", REQ)],
    "DefaultLocalDecider": [("schedule_provider", REQ), ("is_local_acceptable", "lambda")],
    "COHDAAlgorithmData": [("participant_id", REQ), ("decider", REQ), ("performance_function", "default_perf")],
    "COHDAAlgorithmData.on_exchange_message": [("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "merge_sysconfigs": [("sysconfig_i", REQ), ("sysconfig_j", REQ)],
    "merge_candidates": [("candidate_i", REQ), ("candidate_j", REQ), ("participant_id", REQ), ("perf_func", REQ),
                         ("target_params", REQ)],
    "perceive": [("cohda_data", REQ), ("working_memories", REQ)],
    "create_from_updated_sysconf": [("participant_id", REQ), ("sysconfig", REQ), ("new_schedule", REQ)],
    "decide": [("cohda_data", REQ), ("decider", REQ), ("sysconfig", REQ), ("candidate", REQ)],
    "act": [("cohda_data", REQ), ("new_sysconfig", REQ), ("new_candidate", REQ)],
    "process_exchange_message": [("algorithm_data", REQ), ("messages", REQ), ("carrier", REQ)],
    "create_cohda_start_message": [("target_schedule", REQ), ("weights", None)],
    "create_cohda_participant": [("participant_id", REQ), ("schedule_set", REQ),
                                 ("performance_function", "default_perf")],
    "create_cohda_participant_with_decider": [("participant_id", REQ), ("decider", REQ),
                                              ("performance_function", "default_perf")],
    "result": [("actor", REQ)],
    "LocalSearchDecider": [("initial_schedule", REQ), ("corridors", REQ), ("local_performance", REQ),
                           ("convergence_force_factor", 0.1), ("max_iterations", 10), ("sample_size_per_value", 10),
                           ("distribution", None)],
    # ADMM
    "ADMMStart": [("data", REQ), ("solution_length", REQ)],
    "ADMMMessage": [("v", REQ), ("rho", REQ)],
    "ADMMAnswer": [("x", REQ), ("aux", None)],
    "ADMMGlobalActor.z_update": [("input_data", REQ), ("x", REQ), ("u", REQ), ("z", REQ), ("rho", REQ), ("n", REQ)],
    "ADMMGlobalActor.u_update": [("x", REQ), ("u", REQ), ("z", REQ), ("rho", REQ), ("n", REQ)],
    "ADMMGlobalActor.init_z": [("n", REQ), ("m", REQ)],
    "ADMMGlobalActor.init_u": [("n", REQ), ("m", REQ)],
    "ADMMGlobalActor.actor_correction": [("x", REQ), ("z", REQ), ("u", REQ), ("i", REQ)],
    "ADMMGlobalActor.primal_residual": [("x", REQ), ("z", REQ)],
    "ADMMGlobalActor.dual_residual": [("z", REQ), ("z_old", REQ), ("rho", REQ)],
    "ADMMGenericCoordinator": [("global_actor", REQ), ("rho", 1.0), ("max_iters", 1000), ("abs_tol", 0.0001),
                               ("rel_tol", 0.001)],
    "ADMMGenericCoordinator.start_optimization": [("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "create_admm_start": [("data", REQ), ("length", None)],
    "ADMMFlexActor": [("lb", REQ), ("u", REQ), ("C", REQ), ("d", REQ), ("S", REQ)],
    "ADMMFlexActor.on_exchange_message": [("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "create_admm_flex_actor_one_to_many": [("in_capacity", REQ), ("eta", REQ), ("P", None)],
    "ADMMConsensusGlobalActor": [("alpha", 100)],
    "create_consensus_target_reach_admm_coordinator": [],
    "create_admm_start_consensus": [("target", REQ)],
    "ADMMTargetDistanceObjective": [],
    "ADMMGlobalObjective": [],
    "ADMMSharingData": [("target", REQ), ("priorities", REQ)],
    "create_admm_sharing_data": [("target", REQ), ("priorities", None)],
    "ADMMSharingGlobalActor": [("global_objective", REQ)],
    "create_sharing_target_distance_admm_coordinator": [],
    "create_sharing_admm_coordinator": [("objective", REQ)],
    # consensus
    "ConsensusActor": [],
    "NoConsensusActor": [],
    "AveragingConsensusMessage": [("lam", REQ), ("k", REQ), ("data", REQ), ("initial", False)],
    "ConsensusFinishedMessage": [("lam", REQ), ("k", REQ), ("actor", REQ)],
    "AveragingConsensusAlgorithm": [("finish_callback", REQ), ("consensus_actor", None), ("initial_lam", 10.0),
                                    ("alpha", 0.3), ("max_iter", 50)],
    "AveragingConsensusAlgorithm.on_exchange_message": [("carrier", REQ), ("message_data", REQ), ("meta", REQ)],
    "create_averaging_consensus_participant": [("finish_callback", REQ), ("consensus_actor", None),
                                               ("initial_lam", 10.0), ("alpha", 0.3), ("max_iter", 50)],
    "create_averaging_consensus_start": [("initial_lam", REQ), ("data", None)],
    "LinearCostEconomicDispatchConsensusActor": [("cost", REQ), ("p_max", REQ), ("rho", 0.05), ("epsilon", 0.1),
                                                 ("p_min", 0.0), ("n_guess", 10), ("P", "factory")],
    "LinearCostEconomicDispatchConsensusActor.gradient_term": [("lam", REQ), ("p_target", REQ)],
}
BARE = {"OptimizationMessage", "DistributedAlgorithm", "Coordinator", "ADMMGlobalActor", "LocalDecider", "Carrier"}


def _resolve(path: str) -> Any:
    target: Any = dro
    for part in path.split("."):
        target = getattr(target, part)
    return target


def _parameters(target: Any) -> list[inspect.Parameter]:
    params = list(inspect.signature(target).parameters.values())
    return params[1:] if params and params[0].name == "self" else params


@pytest.mark.parametrize("path", sorted(SEED))
def test_the_signature_is_the_seeds(path: str) -> None:
    params = _parameters(_resolve(path))
    assert [p.name for p in params] == [name for name, _ in SEED[path]], path
    for param, (name, default) in zip(params, SEED[path], strict=True):
        if default == "factory":  # a dataclass field with default_factory: no plain default in the signature
            assert param.default is not REQ, name
        elif default == "lambda":
            assert callable(param.default), name
        elif default == "default_perf":
            assert param.default is dro.cohda_default_performance, name
        else:
            assert param.default == default, name


def test_every_name_the_issue_lists_is_exported() -> None:
    names = {path.split(".")[0] for path in SEED} | BARE
    assert names <= set(dro.__all__)
    assert all(hasattr(dro, name) for name in dro.__all__)
