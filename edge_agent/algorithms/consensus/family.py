"""Consensus (averaging, the seed's dispatch consensus, the primal-dual dispatch) as a registered family."""

from __future__ import annotations

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
from edge_agent.algorithms.consensus.messages import AveragingValue, ConsensusStart, DiffusionValue, PrimalDualState
from edge_agent.algorithms.consensus.plan import consensus_plan
from edge_agent.algorithms.consensus.scenario import (
    AveragingScenario,
    ConsensusDispatchScenario,
    DiffusionDispatchScenario,
    PrimalDualDispatchScenario,
)
from edge_agent.devices import AgentDevice, Generator
from edge_agent.errors import ConfigError
from edge_agent.family import Family, RoleContext, one_run

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> ConsensusMember:
    def cost() -> QuadraticCost:
        """The private cost a generator brings to a dispatch; any other device declines to join."""
        if not isinstance(device, Generator):
            raise ConfigError(f"device {device.id!r} is a {device.kind}; only generators take part in a dispatch")
        return QuadraticCost(device.cost_linear, device.cost_quadratic, device.p_min, device.p_max, device.id)

    return ConsensusMember(device.id, cost, settle=context.settle)


FAMILY = Family(
    name="consensus",
    messages=(ConsensusStart, AveragingValue, PrimalDualState, DiffusionValue, ConsensusJoin,
              ConsensusJoined, ConsensusFailure,
              ConsensusCollect, ConsensusOutcome, ConsensusLeave),
    scenarios=(AveragingScenario, ConsensusDispatchScenario, PrimalDualDispatchScenario, DiffusionDispatchScenario),
    role=_role,
    plan=consensus_plan,
    figure=one_run(plot_dispatch_history, "dispatch"),
)
