"""A device's side of DCOP runs: join when asked (its variables and constraints come in the join), route the
run's messages to its agent, tell the launcher when the agent stopped, answer the collect, leave.

Cycle gossip (:class:`DcopCycle`) is heard only from the agent's constraint-graph neighbours (its
subscriptions); DPOP's UTIL and VALUE are sent to the one agent that owns the receiving variable.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.algorithms.dcop.dpop import DpopAgent, DpopVariable
from edge_agent.algorithms.dcop.local import LocalProblem
from edge_agent.algorithms.dcop.local_search import LocalSearchAgent, LocalSearchSettings
from edge_agent.algorithms.dcop.messages import (
    DcopCollect,
    DcopCycle,
    DcopJoin,
    DcopJoined,
    DcopLeave,
    DcopOutcome,
    DcopStart,
    DpopUtil,
    DpopValue,
)
from edge_agent.algorithms.dcop.runner import cycle_agent
from edge_agent.algorithms.notice_launcher import NoticeMember, NoticeRun
from edge_agent.carrier.base import RunCarrier
from edge_agent.errors import ConfigError
from edge_agent.messages import Envelope, Message

__all__ = ["DcopMember", "build_agent"]


Agent = LocalSearchAgent | DpopAgent


def build_agent(id: str, join: DcopJoin) -> Agent:
    """The agent a join describes (:class:`ConfigError` if it cannot be built)."""
    s = join.settings
    local = LocalProblem.from_join(id, join)
    if s.algorithm != "dpop":
        settings = LocalSearchSettings(s.algorithm, variant=s.variant, p=s.p, max_cycles=s.max_cycles,
                                       quiet_cycles=s.quiet_cycles, hops=s.hops, seed=s.seed, damping=s.damping,
                                       tolerance=s.tolerance, offer_probability=s.offer_probability)
        return cycle_agent(local, join.in_neighbours, settings)
    if join.tree is None or set(join.tree) != set(join.own):
        raise ConfigError(f"agent {id!r}: a DPOP join needs the tree place of each own variable")
    by_name = {c.name: c for c in local.constraints}
    variables = {}
    for name in join.own:
        parent, pseudo_parents, children, handled = join.tree[name]
        unknown = [c for c in handled if c not in by_name]
        if unknown:
            raise ConfigError(f"agent {id!r}: variable {name!r} handles constraints {unknown} the join lacks")
        constraints = tuple((by_name[c].scope, by_name[c].table) for c in handled)
        variables[name] = DpopVariable(name, local.sizes[name], parent, pseudo_parents, children, constraints)
    return DpopAgent(id, variables, join.owners, s.memory_limit_mb * 1e6)


@dataclass
class _Run(NoticeRun[Agent]):
    def outcome(self, with_changes: bool) -> DcopOutcome:
        p = self.participant
        received = sum(self.received.values())
        if isinstance(p, LocalSearchAgent):
            return DcopOutcome(run=self.join.run, finished=p.finished, stop=p.stop, step=p.cycle,
                               values=dict(p.values), changes=tuple(p.changes) if with_changes else (),
                               received=received, sent_bytes=p.sent_bytes)
        return DcopOutcome(run=self.join.run, finished=p.finished, stop="converged" if p.finished else None,
                           values=p.values(), received=received + p.received, util_entries=p.util_entries,
                           util_bytes=8 * p.util_entries, sent_bytes=p.sent_bytes)


class DcopMember(NoticeMember[_Run]):
    """The DCOP runs of one device agent (any device model: the join carries the agent's problem)."""

    family = "dcop"
    join_kind = DcopJoin
    collect_kind = DcopCollect
    leave_kind = DcopLeave
    start_kind = DcopStart
    gossip_kinds = (DcopCycle,)
    outcome_kind = DcopOutcome

    @classmethod
    def accepts(cls, message: Message) -> bool:
        return super().accepts(message) or isinstance(message, DpopUtil | DpopValue)

    def build(self, join: DcopJoin, envelope: Envelope, carrier: RunCarrier) -> _Run:
        return _Run(join, build_agent(self.id, join), carrier, launcher=envelope.sender)

    def joined(self, join: DcopJoin, reason: str | None) -> Message:
        return DcopJoined(run=join.run, reason=reason)

    def outcome(self, run: _Run, final: bool) -> Message:
        return run.outcome(with_changes=final)
