"""A device's side of COHDA runs: join when asked, route each run's gossip to its participant, report, leave.

Transport-free like :class:`~edge_agent.algorithms.consensus.member.ConsensusMember`: runs are told apart by
``Envelope.run``; ``settle`` waits until the transport confirmed the subscriptions (over MQTT the broker's
SUBACKs), so a device acknowledges its join only once it really hears its in-neighbours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import structlog

from edge_agent.algorithms.cohda.deciders import Decider, EnumerationDecider, LocalSearchDecider
from edge_agent.algorithms.cohda.job import COHDA_CONTROL, CohdaChoice, CohdaCollect, CohdaJoin, CohdaJoined, CohdaLeave
from edge_agent.algorithms.cohda.messages import CohdaStart, CohdaUpdate
from edge_agent.algorithms.cohda.participant import CohdaParticipant
from edge_agent.algorithms.cohda.performance import PERFORMANCES
from edge_agent.algorithms.gossip_runs import RunTable
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.messages import Envelope, Message

__all__ = ["CohdaMember", "build_participant"]

log = structlog.get_logger("edge_agent.cohda")

Settle = Callable[[], Awaitable[None]]


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


@dataclass
class _Run:
    join: CohdaJoin
    participant: CohdaParticipant
    carrier: RunCarrier
    received: int = 0
    strangers: int = 0
    error: str | None = None

    @property
    def in_neighbours(self) -> tuple[str, ...]:
        return self.join.in_neighbours


class CohdaMember:
    """The COHDA runs of one device (at most ``runs_kept``; a newer one pushes out the oldest)."""

    def __init__(self, id: str, settle: Settle | None = None, runs_kept: int = 4) -> None:
        self.id = id
        self._runs: RunTable[_Run] = RunTable(id, runs_kept, settle)
        self.strays = 0

    @staticmethod
    def accepts(message: Message) -> bool:
        return isinstance(message, (*COHDA_CONTROL, CohdaStart, CohdaUpdate))

    def runs(self) -> list[str]:
        return self._runs.ids()

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, CohdaJoin):
            await self._join(carrier, message, envelope)
        elif isinstance(message, CohdaCollect):
            carrier.reply(self._choice(message), envelope)
        elif isinstance(message, CohdaLeave):
            self._forget(message.run)
        elif isinstance(message, CohdaStart | CohdaUpdate):
            await self._route(message, envelope)

    async def _join(self, carrier: Carrier, join: CohdaJoin, envelope: Envelope) -> None:
        existing = self._runs.get(join.run)
        if existing is not None:
            same = existing.join.model_dump_json() == join.model_dump_json()  # (arrays: no ==)
            reason = None if same else f"run {join.run!r} was already joined with other settings"
            carrier.reply(CohdaJoined(run=join.run, reason=reason), envelope)
            return
        try:
            participant = build_participant(self.id, join)
        except ConfigError as error:
            log.warning("cohda.cannot_join", participant=self.id, run=join.run, error=str(error))
            carrier.reply(CohdaJoined(run=join.run, reason=str(error)), envelope)
            return
        view = RunCarrier(carrier, join.run)
        refused = await self._runs.admit(join.run, _Run(join, participant, view))
        if refused is not None:
            carrier.reply(CohdaJoined(run=join.run, reason=refused), envelope)
            return
        log.info("cohda.joined", participant=self.id, run=join.run, in_neighbours=list(join.in_neighbours))
        view.reply(CohdaJoined(run=join.run), envelope)

    async def _route(self, message: CohdaStart | CohdaUpdate, envelope: Envelope) -> None:
        run = self._runs.get(envelope.run)
        if run is None:
            self.strays += 1
            return
        if isinstance(message, CohdaUpdate):
            run.received += 1
            if envelope.sender not in run.join.in_neighbours:
                run.strangers += 1
                return
        if run.error is not None:
            return
        try:
            await run.participant.handle(run.carrier, message, envelope)
        except EdgeAgentError as error:  # e.g. a duplicate id: this run fails, the device lives
            run.error = f"{type(error).__name__}: {error}"
            log.warning("cohda.run_failed", participant=self.id, run=run.join.run, error=run.error)

    def _choice(self, collect: CohdaCollect) -> CohdaChoice:
        run = self._runs.get(collect.run)
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
            capped=p.capped, dropped=p.dropped + run.strangers, moves=p.memory.moves, received=run.received,
        )

    def _forget(self, run_id: str) -> None:
        if self._runs.forget(run_id) is not None:
            log.info("cohda.left", participant=self.id, run=run_id)
