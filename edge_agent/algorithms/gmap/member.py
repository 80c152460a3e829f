"""A device's side of DisLRP runs: join when asked (the agent's own data comes in the join), route the run's
cycle gossip to its :class:`DisLrpAgent`, tell the launcher when the agent stopped, answer the collect with
the agent's history, leave. Gossip is heard only from the agents sharing a good (its subscriptions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import structlog

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
from edge_agent.algorithms.gossip_runs import GossipMember, MemberRun
from edge_agent.carrier.base import RunCarrier
from edge_agent.messages import Envelope, Message

__all__ = ["GmapMember", "build_agent"]

log = structlog.get_logger("edge_agent.gmap")


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
class _Run(MemberRun[DisLrpJoin, DisLrpAgent]):
    launcher: str = field(kw_only=True)
    announced: bool = False

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


class GmapMember(GossipMember[DisLrpJoin, _Run]):
    """The DisLRP runs of one device agent (any device model: the join carries the agent's data)."""

    family = "gmap"
    join_kind = DisLrpJoin
    collect_kind = DisLrpCollect
    leave_kind = DisLrpLeave
    start_kind = DisLrpStart
    gossip_kinds = (DisLrpCycle,)

    def build(self, join: DisLrpJoin, envelope: Envelope, carrier: RunCarrier) -> _Run:
        return _Run(join, build_agent(self.id, join), carrier, launcher=envelope.sender)

    def joined(self, join: DisLrpJoin, reason: str | None) -> Message:
        return DisLrpJoined(run=join.run, reason=reason)

    def answer(self, collect: DisLrpCollect, run: _Run | None) -> Message:
        if run is None:
            return DisLrpOutcome(run=collect.run, reason=f"{self.id!r} takes no part in run {collect.run!r}")
        if run.error is not None:
            return DisLrpOutcome(run=collect.run, reason=run.error)
        return run.outcome(with_history=True)

    async def _route(self, message: Message, envelope: Envelope) -> None:
        await super()._route(message, envelope)
        run = self._runs.get(envelope.run)
        if run is not None and run.error is not None and not run.announced:
            run.announced = True
            run.carrier.send(DisLrpOutcome(run=run.join.run, reason=run.error), run.launcher)

    def stepped(self, run: _Run) -> None:
        if run.participant.finished and not run.announced:
            run.announced = True
            log.info("gmap.finished", participant=self.id, run=run.join.run)
            run.carrier.send(run.outcome(with_history=False), run.launcher)
