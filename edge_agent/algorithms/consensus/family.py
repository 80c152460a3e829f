"""Consensus (averaging, the seed's dispatch consensus, the primal-dual dispatch) as a registered family."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge_agent.algorithms.consensus.costs import QuadraticCost
from edge_agent.algorithms.consensus.figure import plot_dispatch_history
from edge_agent.algorithms.consensus.job import (
    ConsensusCollect,
    ConsensusFailure,
    ConsensusJoin,
    ConsensusJoined,
    ConsensusLeave,
    ConsensusOutcome,
)
from edge_agent.algorithms.consensus.member import ConsensusMember
from edge_agent.algorithms.consensus.messages import AveragingValue, ConsensusStart, PrimalDualState
from edge_agent.algorithms.consensus.plan import consensus_plan
from edge_agent.algorithms.consensus.scenario import (
    AveragingScenario,
    ConsensusDispatchScenario,
    PrimalDualDispatchScenario,
)
from edge_agent.devices import AgentDevice, Generator
from edge_agent.errors import ConfigError
from edge_agent.family import Family, RoleContext
from edge_agent.results import RunReport

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> ConsensusMember:
    def cost() -> QuadraticCost:
        """The private cost a generator brings to a dispatch; any other device declines to join."""
        if not isinstance(device, Generator):
            raise ConfigError(f"device {device.id!r} is a {device.kind}; only generators take part in a dispatch")
        return QuadraticCost(device.cost_linear, device.cost_quadratic, device.p_min, device.p_max, device.id)

    return ConsensusMember(device.id, cost, settle=context.settle)


def _figure(reports: Sequence[RunReport], path: Path) -> Path:
    if len(reports) != 1 or reports[0].algorithm == "averaging":
        raise ConfigError("--plot draws one dispatch run at a time (consensus-dispatch or primal-dual-dispatch)")
    return plot_dispatch_history(reports[0].to_json(), path)


FAMILY = Family(
    name="consensus",
    messages=(ConsensusStart, AveragingValue, PrimalDualState, ConsensusJoin, ConsensusJoined, ConsensusFailure,
              ConsensusCollect, ConsensusOutcome, ConsensusLeave),
    scenarios=(AveragingScenario, ConsensusDispatchScenario, PrimalDualDispatchScenario),
    role=_role,
    plan=consensus_plan,
    figure=_figure,
)
