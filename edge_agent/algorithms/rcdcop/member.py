"""A device's side of RCDCOP runs: join as one tree node when asked (the join carries the node), route the run's
UTIL and VALUE to it, tell the launcher once the node decided (or learnt the instance is infeasible), answer the
collect, leave. No gossip: every message is addressed to the one neighbour (parent or child) it is for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from edge_agent.algorithms.gossip_runs import GossipMember, MemberRun
from edge_agent.algorithms.rcdcop.agent import RcAgent, RcSettings
from edge_agent.algorithms.rcdcop.messages import (
    RcCollect,
    RcJoin,
    RcJoined,
    RcLeave,
    RcOutcome,
    RcStart,
    RcUtil,
    RcValue,
)
from edge_agent.algorithms.rcdcop.model import RcNode
from edge_agent.carrier.base import RunCarrier
from edge_agent.messages import Envelope, Message

__all__ = ["RcMember", "outcome_message"]

log = structlog.get_logger("edge_agent.rcdcop")


def outcome_message(run: str, agent: RcAgent) -> RcOutcome:
    choice = agent.choice
    return RcOutcome(run=run, finished=agent.finished, infeasible=agent.infeasible, amount=agent.amount,
                     flow=agent.flow, optimum=choice.cost if choice and agent.node.parent is None else None,
                     entries=agent.entries, steps=choice.steps if choice else 0, distinct=agent.distinct,
                     truncated=bool(choice and choice.truncated), sent_bytes=agent.sent_bytes,
                     largest_bytes=agent.largest_bytes, sent=agent.sent)


@dataclass
class _Run(MemberRun[RcJoin, RcAgent]):
    launcher: str = field(kw_only=True)
    announced: bool = False


class RcMember(GossipMember[RcJoin, _Run]):
    """The RCDCOP runs of one device agent (any device model: the join carries the node)."""

    family = "rcdcop"
    join_kind = RcJoin
    collect_kind = RcCollect
    leave_kind = RcLeave
    start_kind = RcStart
    gossip_kinds = ()

    @classmethod
    def accepts(cls, message: Message) -> bool:
        return super().accepts(message) or isinstance(message, RcUtil | RcValue)

    def build(self, join: RcJoin, envelope: Envelope, carrier: RunCarrier) -> _Run:
        node = RcNode(self.id, join.parent, join.capacity, dict(join.costs))  # ConfigError: the join is refused
        s = join.settings
        agent = RcAgent(node, join.children, RcSettings(s.aggregation, s.tie_break, s.candidate_limit))
        return _Run(join, agent, carrier, launcher=envelope.sender)

    def joined(self, join: RcJoin, reason: str | None) -> Message:
        return RcJoined(run=join.run, reason=reason)

    def answer(self, collect: RcCollect, run: _Run | None) -> Message:
        if run is None:
            return RcOutcome(run=collect.run, reason=f"{self.id!r} takes no part in run {collect.run!r}")
        if run.error is not None:
            return RcOutcome(run=collect.run, reason=run.error)
        return outcome_message(run.join.run, run.participant)

    async def _route(self, message: Message, envelope: Envelope) -> None:
        await super()._route(message, envelope)
        run = self._runs.get(envelope.run)
        if run is not None and run.error is not None and not run.announced:  # it failed here: say so at once
            run.announced = True
            run.carrier.send(RcOutcome(run=run.join.run, reason=run.error), run.launcher)

    def stepped(self, run: _Run) -> None:
        if run.participant.finished and not run.announced:
            run.announced = True
            log.info("rcdcop.finished", participant=self.id, run=run.join.run)
            run.carrier.send(outcome_message(run.join.run, run.participant), run.launcher)
