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

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog

from edge_agent.algorithms.consensus.averaging import AveragingParticipant
from edge_agent.algorithms.consensus.costs import QuadraticCost
from edge_agent.algorithms.consensus.dispatch import EconomicDispatchActor
from edge_agent.algorithms.consensus.job import (
    ConsensusCollect,
    ConsensusFailure,
    ConsensusJoin,
    ConsensusJoined,
    ConsensusLeave,
    ConsensusOutcome,
    PrimalDualMethod,
)
from edge_agent.algorithms.consensus.messages import ConsensusStart, RoundMessage
from edge_agent.algorithms.consensus.primal_dual import PrimalDualParticipant
from edge_agent.algorithms.gossip_runs import RunTable
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.messages import Envelope, Message

__all__ = ["CONTROL_MESSAGES", "ConsensusMember"]

log = structlog.get_logger("edge_agent.consensus")

CostSource = Callable[[], QuadraticCost]
Settle = Callable[[], Awaitable[None]]
CONTROL_MESSAGES = (ConsensusJoin, ConsensusStart, ConsensusCollect, ConsensusLeave)


@dataclass
class _Run:
    join: ConsensusJoin
    launcher: str  # who asked this device to join: told when the run is over
    participant: PrimalDualParticipant | AveragingParticipant
    actor: EconomicDispatchActor | None
    cost: QuadraticCost
    carrier: RunCarrier
    received: Counter[str] = field(default_factory=Counter)
    strangers: int = 0
    error: str | None = None
    announced_end: bool = False

    @property
    def in_neighbours(self) -> tuple[str, ...]:
        return self.join.in_neighbours

    def series(self) -> tuple[list[float], list[float]]:
        """``x_i(t)`` and ``lam_i(t)`` for every round computed so far."""
        p = self.participant
        if isinstance(p, PrimalDualParticipant):
            return p.x_history, p.lam_history
        assert self.actor is not None
        lam = [float(value[0]) for value in p.history]
        return [float(x) for x in self.actor.power(np.array(lam))], lam

    def outcome(self, rounds: Sequence[int]) -> ConsensusOutcome:
        p = self.participant
        if isinstance(p, PrimalDualParticipant):
            x, lam, residual = p.x, p.lam, p.w
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
    PrimalDualParticipant | AveragingParticipant, EconomicDispatchActor | None
]:
    method = join.method
    if isinstance(method, PrimalDualMethod):
        settings = method.settings.settings()
        participant = PrimalDualParticipant(
            id, join.in_neighbours, index=join.index, agents=join.agents, cost=cost, demand=join.demand,
            settings=settings, termination=settings.termination(join.hops),
        )
        return participant, None
    actor = EconomicDispatchActor(cost=cost.a, p_min=cost.lower, p_max=cost.upper, p_target=[join.demand],
                                  n=method.share_divisor, rho=method.rho, epsilon=cost.b)
    averaging = method.settings.settings()
    return AveragingParticipant(id, join.in_neighbours, initial=[method.initial_lam], settings=averaging,
                                termination=averaging.termination(join.hops), actor=actor), actor


class ConsensusMember:
    """The consensus runs of one device. ``cost()`` gives the device's private cost (or raises
    :class:`ConfigError` if its model cannot take part); ``settle()`` waits until the transport has
    confirmed the subscriptions made so far (omit it where subscribing takes effect at once)."""

    def __init__(self, id: str, cost: CostSource, settle: Settle | None = None, runs_kept: int = 4) -> None:
        self.id = id
        self._cost = cost
        self._runs: RunTable[_Run] = RunTable(id, runs_kept, settle)
        self.strays = 0  # round messages of runs this device does not (or no longer) take part in

    @staticmethod
    def accepts(message: Message) -> bool:
        return isinstance(message, (*CONTROL_MESSAGES, RoundMessage))

    def runs(self) -> list[str]:
        return self._runs.ids()

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, ConsensusJoin):
            await self._join(carrier, message, envelope)
        elif isinstance(message, ConsensusCollect):
            run = self._runs.get(message.run)
            if run is None:
                reason = f"{self.id!r} takes no part in run {message.run!r} (never joined, or left)"
                carrier.reply(ConsensusFailure(run=message.run, reason=reason), envelope)
            elif run.error is not None:
                run.carrier.reply(ConsensusFailure(run=message.run, reason=run.error), envelope)
            else:
                run.carrier.reply(run.outcome(message.rounds), envelope)
        elif isinstance(message, ConsensusLeave):
            self._forget(message.run)
        elif isinstance(message, ConsensusStart | RoundMessage):
            await self._route(message, envelope)

    async def _join(self, carrier: Carrier, join: ConsensusJoin, envelope: Envelope) -> None:
        existing = self._runs.get(join.run)
        if existing is not None:
            if existing.join != join:
                reason = f"run {join.run!r} was already joined with other settings"
                carrier.reply(ConsensusFailure(run=join.run, reason=reason), envelope)
            else:  # the launcher asked again (a lost answer): same answer
                existing.carrier.reply(ConsensusJoined(run=join.run), envelope)
            return
        try:
            cost = self._cost()
            participant, actor = _build(join, self.id, cost)
        except ConfigError as error:
            log.warning("consensus.cannot_join", participant=self.id, run=join.run, error=str(error))
            carrier.reply(ConsensusFailure(run=join.run, reason=str(error)), envelope)
            return
        view = RunCarrier(carrier, join.run)
        refused = await self._runs.admit(join.run, _Run(join, envelope.sender, participant, actor, cost, view))
        if refused is not None:
            carrier.reply(ConsensusFailure(run=join.run, reason=refused), envelope)
            return
        log.info("consensus.joined", participant=self.id, run=join.run, algorithm=join.method.algorithm,
                 in_neighbours=list(join.in_neighbours))
        view.reply(ConsensusJoined(run=join.run), envelope)

    async def _route(self, message: ConsensusStart | RoundMessage, envelope: Envelope) -> None:
        run = self._runs.get(envelope.run)
        if run is None:
            self.strays += 1
            log.debug("consensus.stray", participant=self.id, run=envelope.run, sender=envelope.sender,
                      kind=message.kind)
            return
        if isinstance(message, RoundMessage):
            run.received[envelope.sender] += 1
            if envelope.sender not in run.join.in_neighbours:
                run.strangers += 1
                return
        if run.error is not None:
            return
        try:
            await run.participant.handle(run.carrier, message, envelope)
        except EdgeAgentError as error:  # e.g. a neighbour's malformed state: this run stalls, the device lives
            run.error = f"{type(error).__name__}: {error}"
            log.warning("consensus.run_failed", participant=self.id, run=run.join.run, error=run.error)
            return
        if run.participant.finished and not run.announced_end:
            run.announced_end = True
            log.info("consensus.finished", participant=self.id, run=run.join.run, round=run.participant.round,
                     reason=run.participant.stop_reason)
            run.carrier.send(run.outcome(()), run.launcher)  # the notice; the history is asked for later

    def _forget(self, run_id: str) -> None:
        run = self._runs.forget(run_id)
        if run is None:
            return
        log.info("consensus.left", participant=self.id, run=run_id, round=run.participant.round,
                 finished=run.participant.finished)
