"""A device's side of consensus runs: join when asked, route each run's messages, report, leave.

A device agent holds one :class:`ConsensusMember`; it serves any number of runs over time (and at the
same time), told apart by the run id every envelope of a run carries (``Envelope.run``). For each run
it builds the round participant from the :class:`~.job.ConsensusJoin` and the device's own cost,
subscribes to the in-neighbours named in the join, waits until the transport confirms the subscriptions
(the injected ``settle``; over MQTT the broker's SUBACKs) and only then acknowledges, so that no
neighbour's round-0 message can be missed once the launcher starts the run.

A device listens only to the gossip of its runs' in-neighbours; a round message from any other sender
(possible only when two concurrent runs use different graphs) is counted and dropped. When its participant
has sent its final message (and so knows the run is over), the device tells the launcher with an
unsolicited :class:`~.job.ConsensusOutcome`; it keeps the run's state until the launcher's
:class:`~.job.ConsensusLeave` (or until ``runs_kept`` newer runs push it out).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog

from edge_agent.algorithms.consensus.averaging import AveragingParticipant
from edge_agent.algorithms.consensus.costs import QuadraticCost
from edge_agent.algorithms.consensus.diffusion import DiffusionParticipant
from edge_agent.algorithms.consensus.dispatch import EconomicDispatchActor
from edge_agent.algorithms.consensus.job import (
    ConsensusCollect,
    ConsensusFailure,
    ConsensusJoin,
    ConsensusJoined,
    ConsensusLeave,
    ConsensusOutcome,
    DiffusionMethod,
    PrimalDualMethod,
)
from edge_agent.algorithms.consensus.messages import ConsensusStart, RoundMessage
from edge_agent.algorithms.consensus.primal_dual import PrimalDualParticipant
from edge_agent.algorithms.gossip_runs import GossipMember, MemberRun
from edge_agent.carrier.base import RunCarrier
from edge_agent.messages import Envelope, Message

__all__ = ["ConsensusMember"]

log = structlog.get_logger("edge_agent.consensus")

CostSource = Callable[[], QuadraticCost]
Settle = Callable[[], Awaitable[None]]


@dataclass
class _Run(MemberRun[ConsensusJoin, PrimalDualParticipant | AveragingParticipant | DiffusionParticipant]):
    launcher: str = field(kw_only=True)  # who asked this device to join: told when the run is over
    actor: EconomicDispatchActor | None = field(kw_only=True)
    cost: QuadraticCost = field(kw_only=True)
    announced_end: bool = False

    def series(self) -> tuple[list[float], list[float]]:
        """``x_i(t)`` and ``lam_i(t)`` for every round computed so far."""
        p = self.participant
        if isinstance(p, PrimalDualParticipant):
            return p.x_history, p.lam_history
        if isinstance(p, DiffusionParticipant):
            return [float(x[0]) for x in p.x_history], [float(lam[0]) for lam in p.lam_history]
        assert self.actor is not None
        lam = [float(value[0]) for value in p.history]
        return [float(x) for x in self.actor.power(np.array(lam))], lam

    def outcome(self, rounds: Sequence[int]) -> ConsensusOutcome:
        p = self.participant
        if isinstance(p, PrimalDualParticipant):
            x, lam, residual = p.x, p.lam, p.w
        elif isinstance(p, DiffusionParticipant):
            x, lam, residual = float(p.x[0]), float(p.lam[0]), None
        else:
            assert self.actor is not None
            x, lam, residual = float(self.actor.power(p.lam)[0]), float(p.lam[0]), None
        xs, lams = self.series()
        last = len(xs) - 1
        return ConsensusOutcome(
            run=self.join.run, finished=p.finished, round=p.round, stop_reason=p.stop_reason, x=x, lam=lam,
            cost=self.cost.value(x), residual_estimate=residual,
            x_history=np.array([xs[min(k, last)] for k in rounds], dtype=np.float64),
            lam_history=np.array([lams[min(k, last)] for k in rounds], dtype=np.float64),
            received=dict(self.received), dropped=p.dropped + self.strangers,
        )


def _build(join: ConsensusJoin, id: str, cost: QuadraticCost) -> tuple[
    PrimalDualParticipant | AveragingParticipant | DiffusionParticipant, EconomicDispatchActor | None
]:
    method = join.method
    if isinstance(method, DiffusionMethod):
        diffusion = method.settings
        return DiffusionParticipant(id, join.in_neighbours, cost=cost, demand=[join.demand], agents=join.agents,
                                    settings=diffusion, termination=diffusion.termination(join.hops)), None
    if isinstance(method, PrimalDualMethod):
        settings = method.settings
        participant = PrimalDualParticipant(
            id, join.in_neighbours, index=join.index, agents=join.agents, cost=cost, demand=join.demand,
            settings=settings, termination=settings.termination(join.hops),
        )
        return participant, None
    actor = EconomicDispatchActor(cost=cost.a, p_min=cost.lower, p_max=cost.upper, p_target=[join.demand],
                                  n=method.share_divisor, rho=method.rho, epsilon=cost.b)
    averaging = method.settings
    return AveragingParticipant(id, join.in_neighbours, initial=[method.initial_lam], settings=averaging,
                                termination=averaging.termination(join.hops), actor=actor), actor


class ConsensusMember(GossipMember[ConsensusJoin, _Run]):
    """The consensus runs of one device. ``cost()`` gives the device's private cost (or raises
    :class:`ConfigError` if its model cannot take part); ``settle()`` waits until the transport has
    confirmed the subscriptions made so far (omit it where subscribing takes effect at once)."""

    family = "consensus"
    join_kind = ConsensusJoin
    collect_kind = ConsensusCollect
    leave_kind = ConsensusLeave
    start_kind = ConsensusStart
    gossip_kinds = (RoundMessage,)

    def __init__(self, id: str, cost: CostSource, settle: Settle | None = None, runs_kept: int = 4) -> None:
        super().__init__(id, settle, runs_kept)
        self._cost = cost

    def build(self, join: ConsensusJoin, envelope: Envelope, carrier: RunCarrier) -> _Run:
        cost = self._cost()
        participant, actor = _build(join, self.id, cost)
        return _Run(join, participant, carrier, launcher=envelope.sender, actor=actor, cost=cost)

    def joined(self, join: ConsensusJoin, reason: str | None) -> Message:
        return ConsensusJoined(run=join.run) if reason is None else ConsensusFailure(run=join.run, reason=reason)

    def answer(self, collect: ConsensusCollect, run: _Run | None) -> Message:
        if run is None:
            reason = f"{self.id!r} takes no part in run {collect.run!r} (never joined, or left)"
            return ConsensusFailure(run=collect.run, reason=reason)
        if run.error is not None:
            return ConsensusFailure(run=collect.run, reason=run.error)
        return run.outcome(collect.rounds)

    def stepped(self, run: _Run) -> None:
        p = run.participant
        if p.finished and not run.announced_end:
            run.announced_end = True
            log.info("consensus.finished", participant=self.id, run=run.join.run, round=p.round, reason=p.stop_reason)
            run.carrier.send(run.outcome(()), run.launcher)  # the notice; the history is asked for later
