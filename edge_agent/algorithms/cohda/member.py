"""A device's side of COHDA runs: join when asked, route each run's gossip to its participant, report, leave.

Transport-free like :class:`~edge_agent.algorithms.consensus.member.ConsensusMember`: runs are told apart by
``Envelope.run``; ``settle`` waits until the transport confirmed the subscriptions (over MQTT the broker's
SUBACKs), so a device acknowledges its join only once it really hears its in-neighbours.
"""

from __future__ import annotations

import numpy as np
import structlog

from edge_agent.algorithms.cohda.deciders import Decider, EnumerationDecider, LocalSearchDecider
from edge_agent.algorithms.cohda.job import CohdaChoice, CohdaCollect, CohdaJoin, CohdaJoined, CohdaLeave
from edge_agent.algorithms.cohda.messages import CohdaStart, CohdaUpdate
from edge_agent.algorithms.cohda.participant import CohdaParticipant
from edge_agent.algorithms.cohda.performance import PERFORMANCES
from edge_agent.algorithms.gossip_runs import GossipMember, MemberRun
from edge_agent.carrier.base import RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.messages import Envelope, Message

__all__ = ["CohdaMember", "build_participant"]

log = structlog.get_logger("edge_agent.cohda")

def build_participant(id: str, join: CohdaJoin) -> CohdaParticipant:
    """The participant a join describes (:class:`ConfigError` if it cannot be built)."""
    decider: Decider
    if join.corridor is not None and join.schedules is None:
        c = join.corridor
        decider = LocalSearchDecider(
            id, c.lower, c.upper, np.random.default_rng(list(c.seed)), initial=c.initial,
            convergence_force_factor=c.convergence_force_factor, max_iterations=c.max_iterations,
            sample_size_per_value=c.sample_size_per_value,
        )
    elif join.schedules is not None and join.corridor is None:
        decider = EnumerationDecider(id, join.schedules, initial_index=join.initial_index)
    else:
        raise ConfigError(f"participant {id!r}: a join needs exactly one of schedules and corridor")
    if decider.horizon != join.target.values.size:
        raise ConfigError(f"participant {id!r}: schedules of {decider.horizon} slots, target of "
                          f"{join.target.values.size}")
    s = join.settings
    return CohdaParticipant(
        id, decider, performance=PERFORMANCES[s.performance], relay=s.relay, batch=s.batch,
        respond_to=s.respond_to, offers=s.offers, compose=s.compose, max_decisions=s.max_decisions,
        improvement_tol=s.improvement_tol,
    )


_Run = MemberRun[CohdaJoin, CohdaParticipant]


class CohdaMember(GossipMember[CohdaJoin, _Run]):
    """The COHDA runs of one device (at most ``runs_kept``; a newer one pushes out the oldest)."""

    family = "cohda"
    join_kind = CohdaJoin
    collect_kind = CohdaCollect
    leave_kind = CohdaLeave
    start_kind = CohdaStart
    gossip_kinds = (CohdaUpdate,)

    def build(self, join: CohdaJoin, envelope: Envelope, carrier: RunCarrier) -> _Run:
        return MemberRun(join, build_participant(self.id, join), carrier)

    def joined(self, join: CohdaJoin, reason: str | None) -> Message:
        return CohdaJoined(run=join.run, reason=reason)

    def answer(self, collect: CohdaCollect, run: _Run | None) -> Message:
        if run is None:
            return CohdaChoice(run=collect.run, reason=f"{self.id!r} takes no part in run {collect.run!r}")
        if run.error is not None:
            return CohdaChoice(run=collect.run, reason=run.error)
        p = run.participant
        counter = collect.candidate.counter_of(self.id)
        if counter == 0:
            return CohdaChoice(run=collect.run, reason=f"{self.id!r} is not a member of the final candidate")
        try:
            choice = p.memory.own(counter)
        except EdgeAgentError as error:
            return CohdaChoice(run=collect.run, reason=str(error))
        own = p.memory.candidate
        return CohdaChoice(
            run=collect.run, index=choice.index, schedule=np.asarray(choice.schedule, dtype=np.float64),
            initial=np.asarray(p.decider.initial().schedule, dtype=np.float64),
            agreed=own is not None and own.wire.same_choice(collect.candidate), decisions=p.decisions,
            capped=p.capped, dropped=p.dropped + run.strangers, moves=p.memory.moves,
            received=sum(run.received.values()),
        )
