"""A device's side of RCDCOP runs: join as one tree node when asked (the join carries the node), route the run's
UTIL and VALUE to it, tell the launcher once the node decided (or learnt the instance is infeasible), answer the
collect, leave. No gossip: every message is addressed to the one neighbour (parent or child) it is for.
"""

from __future__ import annotations

from edge_agent.algorithms.notice_launcher import NoticeMember, NoticeRun
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


def outcome_message(run: str, agent: RcAgent) -> RcOutcome:
    choice = agent.choice
    return RcOutcome(run=run, finished=agent.finished, infeasible=agent.infeasible, amount=agent.amount,
                     flow=agent.flow, optimum=choice.cost if choice and agent.node.parent is None else None,
                     entries=agent.entries, steps=choice.steps if choice else 0, distinct=agent.distinct,
                     truncated=bool(choice and choice.truncated), sent_bytes=agent.sent_bytes,
                     largest_bytes=agent.largest_bytes, sent=agent.sent)


_Run = NoticeRun[RcAgent]


class RcMember(NoticeMember[_Run]):
    """The RCDCOP runs of one device agent (any device model: the join carries the node)."""

    family = "rcdcop"
    join_kind = RcJoin
    collect_kind = RcCollect
    leave_kind = RcLeave
    start_kind = RcStart
    gossip_kinds = ()
    outcome_kind = RcOutcome

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

    def outcome(self, run: _Run, final: bool) -> Message:
        return outcome_message(run.join.run, run.participant)
