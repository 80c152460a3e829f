"""A device's side of DisLRP runs: join when asked (the agent's own data comes in the join), route the run's
cycle gossip to its :class:`DisLrpAgent`, tell the launcher when the agent stopped, answer the collect with
the agent's history, leave. Gossip is heard only from the agents sharing a good (its subscriptions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.algorithms.gmap.agent import DisLrpAgent, DisLrpSettings, LocalGmap
from edge_agent.algorithms.gmap.messages import (
    DisLrpCollect,
    DisLrpCycle,
    DisLrpJoin,
    DisLrpJoined,
    DisLrpLeave,
    DisLrpOutcome,
    DisLrpStart,
)
from edge_agent.algorithms.notice_launcher import NoticeMember, NoticeRun
from edge_agent.carrier.base import RunCarrier
from edge_agent.messages import Envelope, Message

__all__ = ["GmapMember", "build_agent"]


def build_agent(id: str, join: DisLrpJoin) -> DisLrpAgent:
    """The agent a join describes (:class:`ConfigError` if it cannot be built)."""
    s = join.settings
    local = LocalGmap(agent=id, gain=np.asarray(join.gain, dtype=np.float64),
                      weight=np.asarray(join.weight, dtype=np.int64), capacity=join.capacity,
                      goods=np.asarray(join.goods, dtype=np.int64), scale=np.asarray(join.scale, dtype=np.float64),
                      neighbours=join.in_neighbours)
    return DisLrpAgent(local, DisLrpSettings(max_cycles=s.max_cycles, hops=s.hops, initial_step=s.initial_step,
                                             grow=s.grow, shrink=s.shrink))


@dataclass
class _Run(NoticeRun[DisLrpAgent]):
    def outcome(self, with_history: bool) -> DisLrpOutcome:
        agent = self.participant
        received = sum(self.received.values())
        if not with_history:
            return DisLrpOutcome(run=self.join.run, finished=agent.finished, stop=agent.stop, received=received)
        goods = agent.local.goods
        return DisLrpOutcome(
            run=self.join.run, finished=agent.finished, stop=agent.stop, received=received,
            chosen=tuple(tuple(int(j) for j in np.flatnonzero(choice)) for choice, _, _ in agent.history),
            values=tuple(value for _, value, _ in agent.history),
            prices=np.array([price[goods] for _, _, price in agent.history]).reshape(len(agent.history), len(goods)))


class GmapMember(NoticeMember[_Run]):
    """The DisLRP runs of one device agent (any device model: the join carries the agent's data)."""

    family = "gmap"
    join_kind = DisLrpJoin
    collect_kind = DisLrpCollect
    leave_kind = DisLrpLeave
    start_kind = DisLrpStart
    gossip_kinds = (DisLrpCycle,)
    outcome_kind = DisLrpOutcome

    def build(self, join: DisLrpJoin, envelope: Envelope, carrier: RunCarrier) -> _Run:
        return _Run(join, build_agent(self.id, join), carrier, launcher=envelope.sender)

    def joined(self, join: DisLrpJoin, reason: str | None) -> Message:
        return DisLrpJoined(run=join.run, reason=reason)

    def outcome(self, run: _Run, final: bool) -> Message:
        return run.outcome(with_history=final)
