"""The COHDA participant: perceive, decide, act on every batch of updates from its neighbours.

- **perceive**: merge the update's configuration entries (higher counter wins) and its candidate
  (:func:`~edge_agent.algorithms.cohda.memory.merge_candidates`). An update that changes nothing is
  dropped on the spot (no decision, no message): a flood of no-op messages cannot build up.
- **decide**: the decider proposes a schedule given the sum of the others' schedules in the system
  configuration (kept incrementally, O(T) per decision). It becomes a new candidate only if that
  candidate beats the current one (more members, or equal members and strictly better performance,
  by more than ``improvement_tol`` relative). The participant's own configuration entry then follows
  its schedule in the best candidate.
- **act**: if anything changed, publish one :class:`CohdaUpdate` with only what changed (entries,
  candidate, and the target the first time). With ``batch=True`` a participant first yields once to
  the event loop so every update delivered together is perceived before it decides: one decision and
  at most one message per batch instead of one per received message.

``relay=False`` publishes only the participant's own entry and the candidates it built itself; that is
enough (and much cheaper) when every participant hears every other directly (complete topology).
In any other topology keep ``relay=True``: entries and adopted candidates must be passed on.

A participant stops deciding after ``max_decisions`` decisions (``capped``): a safety net, never
reached by a healthy run because candidates only ever improve.
"""

from __future__ import annotations

import asyncio

import structlog

from edge_agent.algorithms.cohda.deciders import Choice, Decider
from edge_agent.algorithms.cohda.memory import Rated, SystemConfig, merge_candidates
from edge_agent.algorithms.cohda.messages import CohdaStart, CohdaTarget, CohdaUpdate
from edge_agent.algorithms.cohda.performance import Performance, Target, rate, weighted_l1
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError, ProtocolError
from edge_agent.messages import Envelope, Message

__all__ = ["CohdaParticipant", "entries_per_message"]

log = structlog.get_logger("edge_agent.cohda")

MESSAGE_BUDGET_BYTES = 128 * 1024


def entries_per_message(horizon: int, budget: int = MESSAGE_BUDGET_BYTES) -> int:
    """How many configuration entries fit in ``budget`` bytes of JSON (base64 rows + id + counter)."""
    per_entry = 4 * ((8 * horizon + 2) // 3) + 80
    return max(1, budget // per_entry)


class CohdaParticipant:
    def __init__(
        self,
        id: str,
        decider: Decider,
        *,
        performance: Performance = weighted_l1,
        relay: bool = True,
        batch: bool = True,
        max_decisions: int = 10_000,
        improvement_tol: float = 1e-9,
        max_entries_per_message: int | None = None,
    ) -> None:
        if max_decisions < 1 or improvement_tol < 0:
            msg = f"participant {id!r}: needs max_decisions >= 1 and improvement_tol >= 0"
            raise ConfigError(msg)
        self._id = id
        self.decider = decider
        self.performance = performance
        self.relay = relay
        self.batch = batch
        self.max_decisions = max_decisions
        self.improvement_tol = improvement_tol
        self.max_entries = max_entries_per_message or entries_per_message(decider.horizon)
        self.target: Target | None = None
        self.config = SystemConfig(decider.horizon)
        self.candidate: Rated | None = None
        self.history: dict[int, Choice] = {}  # own schedule versions: counter -> schedule
        self.decisions = 0
        self.moves = 0
        self.dropped = 0
        self.capped = False
        self._parked: list[tuple[CohdaUpdate, str]] = []
        self._deciding = False
        self._target_sent = False
        self._candidate_changed = False
        self._candidate_built = False

    @property
    def id(self) -> str:
        return self._id

    # -- results ---------------------------------------------------------------------------------
    def choice(self) -> Choice:
        """This participant's schedule in its best candidate (its initial schedule before any run)."""
        if self.candidate is None:
            return self.decider.initial()
        return self.history[self.candidate.wire.counter_of(self.id)]

    # -- message handling ------------------------------------------------------------------------
    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, CohdaStart):
            self._learn_target(message.target, envelope.sender)
        elif isinstance(message, CohdaUpdate):
            if not self._perceive(message, envelope.sender):
                self.dropped += 1
                return
        else:
            msg = f"participant {self.id!r} cannot handle {message.kind!r} in a COHDA run"
            raise ProtocolError(msg, sender=envelope.sender)
        if self._deciding:
            return  # the decision already pending will see what this message changed
        self._deciding = True
        try:
            if self.batch:
                await asyncio.sleep(0)  # let the rest of this delivery batch be perceived first
            self._decide()
            self._act(carrier)
        finally:
            self._deciding = False

    def _learn_target(self, wire: CohdaTarget, sender: str) -> None:
        target = Target.from_wire(wire)
        if self.target is not None:
            if not self.target.same_as(target):
                msg = f"participant {self.id!r} already works toward a different target"
                raise ProtocolError(msg, sender=sender)
            return
        if target.horizon != self.decider.horizon:
            msg = (
                f"participant {self.id!r}: its schedules have {self.decider.horizon} slots but the target has "
                f"{target.horizon}; they must match"
            )
            raise ConfigError(msg)
        self.target = target
        first = self.decider.initial()
        self.history[1] = first
        self.config.set(self.id, 1, first.schedule)
        self.candidate = Rated.build(
            owner=self.id,
            ids=self.config.ids,
            counters=self.config.counters(),
            aggregate=self.config.total.copy(),
            performance=self.performance,
            target=target,
        )
        self._candidate_changed = self._candidate_built = True
        log.debug("cohda.target", participant=self.id, sender=sender, horizon=target.horizon)
        parked, self._parked = self._parked, []
        for update, from_ in parked:
            self._perceive(update, from_)

    def _perceive(self, update: CohdaUpdate, sender: str) -> bool:
        """Merge one update into working memory; True if anything changed."""
        changed = False
        if update.target is not None:
            changed = self.target is None
            self._learn_target(update.target, sender)
        if self.target is None:
            self._parked.append((update, sender))  # overtook the update carrying the target
            return False
        if update.entries is not None:
            changed = self.config.merge(update.entries, self.id, sender) or changed
        if update.candidate is not None:
            assert self.candidate is not None
            if update.candidate.aggregate.size != self.target.horizon:
                msg = f"a candidate with {update.candidate.aggregate.size} slots; the target has {self.target.horizon}"
                raise ProtocolError(msg, sender=sender)
            if update.candidate is not self.candidate.wire:
                theirs = Rated.of(update.candidate, self.performance, self.target)
                merged = merge_candidates(
                    self.candidate, theirs, me=self.id, config=self.config, performance=self.performance,
                    target=self.target,
                )
                if merged is not self.candidate:
                    self.candidate = merged
                    self._candidate_changed = True
                    self._candidate_built = self._candidate_built or merged is not theirs
                    changed = True
        return changed

    # -- decide and act --------------------------------------------------------------------------
    def _decide(self) -> None:
        target, candidate = self.target, self.candidate
        if target is None or candidate is None:
            return
        if self.decisions >= self.max_decisions:
            if not self.capped:
                log.warning("cohda.capped", participant=self.id, decisions=self.decisions)
            self.capped = True
            return
        self.decisions += 1
        own = self.history[self.config.counter(self.id)]
        others = self.config.total - self.config.row(self.id)
        base = self.history[candidate.wire.counter_of(self.id)]
        proposal = self.decider.propose(others, base, target, self.performance)
        aggregate = others + proposal.schedule
        perf = rate(self.performance, aggregate, target)
        members = self.config.members
        if len(candidate.members) < len(members):
            wins = candidate.members < members
        else:
            wins = members == candidate.members and perf > candidate.perf + self.improvement_tol * max(
                1.0, abs(candidate.perf)
            )
        if wins:
            if not proposal.same_as(own):
                self._record(proposal)
            candidate = Rated.build(
                owner=self.id,
                ids=self.config.ids,
                counters=self.config.counters(),
                aggregate=aggregate,
                performance=self.performance,
                target=target,
                members=members,
            )
            self.candidate = candidate
            self._candidate_changed = self._candidate_built = True
        version = candidate.wire.counter_of(self.id)
        if version != self.config.counter(self.id):
            self._record(self.history[version])

    def _record(self, choice: Choice) -> None:
        counter = self.config.counter(self.id) + 1
        self.history[counter] = choice
        self.config.set(self.id, counter, choice.schedule)
        self.moves += 1

    def _act(self, carrier: Carrier) -> None:
        assert self.target is not None
        assert self.candidate is not None
        chunks = self.config.take_dirty(self.max_entries, only=None if self.relay else self.id)
        send_candidate = self._candidate_changed if self.relay else self._candidate_built
        self._candidate_changed = self._candidate_built = False
        if not chunks and not send_candidate:
            return
        first = CohdaUpdate(
            target=None if self._target_sent else self.target.to_wire(),
            entries=chunks[0] if chunks else None,
            candidate=self.candidate.wire if send_candidate else None,
            round=self.decisions,
        )
        self._target_sent = True
        carrier.publish(first)
        for chunk in chunks[1:]:
            carrier.publish(CohdaUpdate(entries=chunk, round=self.decisions))
