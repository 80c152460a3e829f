"""The COHDA participant: the glue between a :class:`WorkingMemory` and a carrier.

On every update from a neighbour it perceives (merges) at once; an update that changes nothing is
dropped on the spot, so no-op floods cannot build up. Then it decides and publishes only what changed
(:meth:`WorkingMemory.news`). With ``batch=True`` it first yields once to the event loop so that every
update delivered together is perceived before it decides: one decision and at most one message per
batch instead of one per received update.

``relay=False`` publishes only the participant's own entry and the candidates it built itself; that is
enough (and much cheaper) when every participant hears every other directly (complete topology).
In any other topology keep ``relay=True``: entries and adopted candidates must be passed on.

A :class:`CohdaStart` that reaches a participant already started asks for its full state: it publishes its
target, every configuration entry it knows and its best candidate, once (a launcher resynchronising a run after
its transport lost messages, ``launcher.py``).

A participant stops deciding after ``max_decisions`` decisions (``capped``): a safety net, never
reached by a healthy run because candidates only ever improve.
"""

from __future__ import annotations

import asyncio

import numpy as np
import structlog

from edge_agent.algorithms.cohda.deciders import Choice, Decider
from edge_agent.algorithms.cohda.messages import CohdaStart, CohdaTarget, CohdaUpdate, ScheduleEntries
from edge_agent.algorithms.cohda.performance import Performance, weighted_l1
from edge_agent.algorithms.cohda.working_memory import RespondTo, WorkingMemory
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
    """A COHDA participant for any carrier: add it to a network, subscribe its carrier to its neighbours.

    The options are those of :class:`WorkingMemory` plus ``batch``, ``max_decisions`` and
    ``max_entries_per_message`` (default: as many entries as fit in 128 KiB).
    """

    def __init__(
        self,
        id: str,
        decider: Decider,
        *,
        performance: Performance = weighted_l1,
        relay: bool = True,
        batch: bool = True,
        respond_to: RespondTo = "candidate",
        offers: int = 3,
        compose: bool = True,
        max_decisions: int = 10_000,
        improvement_tol: float = 1e-9,
        max_entries_per_message: int | None = None,
    ) -> None:
        if max_decisions < 1:
            msg = f"participant {id!r}: needs max_decisions >= 1"
            raise ConfigError(msg)
        self._id = id
        self.memory = WorkingMemory(
            id, decider, performance, relay=relay, respond_to=respond_to, offers=offers, compose=compose,
            improvement_tol=improvement_tol,
        )
        self._offers = offers
        self.batch = batch
        self.max_decisions = max_decisions
        self.max_entries = max_entries_per_message or entries_per_message(decider.horizon)
        self.decisions = 0
        self.dropped = 0
        self.capped = False
        self._parked: list[tuple[CohdaUpdate, str]] = []
        self._deciding = False

    @property
    def id(self) -> str:
        return self._id

    def restart(self, decider: Decider) -> None:
        """Forget the run (target, configuration, candidate, history) and start the next one from ``decider``'s
        initial schedule, with the same settings; counts (decisions, dropped) go on. Call it only while the
        network is quiescent: an update of the previous run that arrives later would be taken for this one's."""
        old = self.memory
        self.memory = WorkingMemory(
            self._id, decider, old.performance, relay=old.relay, respond_to=old.respond_to, offers=self._offers,
            compose=old.compose, max_pair_moves=old.max_pair_moves, improvement_tol=old.improvement_tol,
        )
        self._parked = []

    @property
    def decider(self) -> Decider:
        return self.memory.decider

    @property
    def performance(self) -> Performance:
        return self.memory.performance

    def choice(self) -> Choice:
        """This participant's schedule in its best candidate."""
        return self.memory.choice()

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, CohdaStart):
            if not self._learn(message.target, envelope.sender) and self.memory.candidate is not None:
                for update in self.full_state():
                    carrier.publish(update)
                return
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
            for update in self.memory.news(self.max_entries, self.decisions):
                carrier.publish(update)
        finally:
            self._deciding = False

    def announce(self, carrier: Carrier, target: CohdaTarget) -> None:
        """Start a restart round warm: learn ``target`` and publish our (restart) schedule without deciding, so
        that every participant decides first against the whole restart selection (``restarts.py``)."""
        self._learn(target, self.id)
        for update in self.memory.news(self.max_entries, self.decisions):
            carrier.publish(update)

    def full_state(self) -> list[CohdaUpdate]:
        """Target, every configuration entry and the best candidate, as updates of at most ``max_entries``."""
        memory = self.memory
        if memory.target is None or memory.candidate is None:
            return []
        config = memory.config
        ids, counters = config.ids, config.counters()
        rows = np.array([config.row(pid) for pid in ids])
        chunks = [ScheduleEntries(ids=ids[s : s + self.max_entries], counters=counters[s : s + self.max_entries],
                                  rows=rows[s : s + self.max_entries]) for s in range(0, len(ids), self.max_entries)]
        first = CohdaUpdate(target=memory.target.to_wire(), entries=chunks[0] if chunks else None,
                            candidate=memory.candidate.wire, round=self.decisions)
        return [first, *(CohdaUpdate(entries=chunk, round=self.decisions) for chunk in chunks[1:])]

    def _learn(self, target: CohdaTarget, sender: str) -> bool:
        if not self.memory.learn_target(target, sender):
            return False
        parked, self._parked = self._parked, []
        for update, from_ in parked:
            self._perceive(update, from_)
        return True

    def _perceive(self, update: CohdaUpdate, sender: str) -> bool:
        changed = update.target is not None and self._learn(update.target, sender)
        if self.memory.target is None:
            self._parked.append((update, sender))  # it overtook the update that carries the target
            return False
        return self.memory.perceive(update, sender) or changed

    def _decide(self) -> None:
        if self.decisions >= self.max_decisions:
            if not self.capped:
                log.warning("cohda.capped", participant=self.id, decisions=self.decisions)
            self.capped = True
            return
        self.decisions += 1
        self.memory.decide()
