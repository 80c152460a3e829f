"""Fully distributed consensus algorithms (no coordinator): synchronous rounds over gossip.

* :mod:`~.averaging`: averaging consensus with an optional gradient plug-in (seed 000), and
  :mod:`~.dispatch`, its economic-dispatch actor;
* :mod:`~.diffusion`: adapt-then-combine economic dispatch (the peer library's diffusion);
* :mod:`~.primal_dual`: the primal-dual subgradient dispatch for unbalanced directed networks (seed 001);
* :mod:`~.rounds`: the round / buffering / termination machinery both share;
* :mod:`~.runner`: running them to quiescence in a simulation;
* :mod:`~.job`, :mod:`~.member`, :mod:`~.launcher`: running them among device agents (over MQTT, one
  process per device): the control messages, the device's side and the launcher's (``docs/consensus.md``).
"""

from edge_agent.algorithms.consensus.averaging import AveragingParticipant, AveragingSettings, ConsensusActor
from edge_agent.algorithms.consensus.costs import ConvexCost, LocalCost, QuadraticCost, check_feasible_demand
from edge_agent.algorithms.consensus.diffusion import DiffusionParticipant, DiffusionSettings
from edge_agent.algorithms.consensus.dispatch import EconomicDispatchActor
from edge_agent.algorithms.consensus.job import (
    AveragingDispatchMethod,
    ConsensusCollect,
    ConsensusFailure,
    ConsensusJoin,
    ConsensusJoined,
    ConsensusLeave,
    ConsensusOutcome,
    DispatchMethod,
    PrimalDualMethod,
    sample_rounds,
)
from edge_agent.algorithms.consensus.launcher import ConsensusLauncher, LaunchDeadlines, LaunchResult
from edge_agent.algorithms.consensus.member import ConsensusMember
from edge_agent.algorithms.consensus.messages import (
    AveragingValue,
    ConsensusStart,
    DiffusionValue,
    PrimalDualState,
    RoundMessage,
    StopReason,
)
from edge_agent.algorithms.consensus.primal_dual import PrimalDualParticipant, PrimalDualSettings, StepSize
from edge_agent.algorithms.consensus.rounds import RoundParticipant, Termination
from edge_agent.algorithms.consensus.runner import (
    LAUNCHER_ID,
    AveragingResult,
    DiffusionResult,
    PrimalDualResult,
    QuiescentNetwork,
    run_rounds,
    simulate_averaging,
    simulate_diffusion,
    simulate_primal_dual,
)

__all__ = [
    "LAUNCHER_ID",
    "AveragingDispatchMethod",
    "AveragingParticipant",
    "AveragingResult",
    "AveragingSettings",
    "AveragingValue",
    "ConsensusActor",
    "ConsensusCollect",
    "ConsensusFailure",
    "ConsensusJoin",
    "ConsensusJoined",
    "ConsensusLauncher",
    "ConsensusLeave",
    "ConsensusMember",
    "ConsensusOutcome",
    "ConsensusStart",
    "ConvexCost",
    "DiffusionParticipant",
    "DiffusionResult",
    "DiffusionSettings",
    "DiffusionValue",
    "DispatchMethod",
    "EconomicDispatchActor",
    "LaunchDeadlines",
    "LaunchResult",
    "LocalCost",
    "PrimalDualMethod",
    "PrimalDualParticipant",
    "PrimalDualResult",
    "PrimalDualSettings",
    "PrimalDualState",
    "QuadraticCost",
    "QuiescentNetwork",
    "RoundMessage",
    "RoundParticipant",
    "StepSize",
    "StopReason",
    "Termination",
    "check_feasible_demand",
    "run_rounds",
    "sample_rounds",
    "simulate_averaging",
    "simulate_diffusion",
    "simulate_primal_dual",
]
