"""Launching a COHDA run among device agents and detecting its end as a listen-only observer.

For one run the launcher

1. subscribes to every participant's gossip (its :class:`CohdaObserver` hears every update) and waits until
   the transport confirms it (``settle``);
2. sends each participant its :class:`~.job.CohdaJoin` and waits for every :class:`~.job.CohdaJoined` (sent
   once the device's own subscriptions hold), so no first update can be missed;
3. sends :class:`~.messages.CohdaStart` (target and weights) to one participant;
4. waits for the end: the observer's candidate covers every participant and nothing it heard changed it for
   ``quiet_s`` (:meth:`CohdaObserver.wait`; :class:`RunTimeout` after ``run_s``);
5. announces the final candidate to every participant (:class:`~.job.CohdaCollect`), which answers with its
   own schedule in it (:class:`~.job.CohdaChoice`), then sends :class:`~.job.CohdaLeave` to all.

Why the observer and not outcome notices as in the consensus launcher: a COHDA participant cannot know that
the run is over (there are no rounds; quiescence is global), so there is nothing it could notify. Listening
costs the launcher one copy of every update; COHDA updates are few (one per change) and small (a few KB).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from edge_agent.algorithms.cohda.job import CohdaChoice, CohdaCollect, CohdaJoin, CohdaJoined, CohdaLeave
from edge_agent.algorithms.cohda.messages import CohdaCandidate, CohdaStart, CohdaUpdate
from edge_agent.algorithms.cohda.observer import CohdaObserver
from edge_agent.algorithms.cohda.performance import PERFORMANCES
from edge_agent.algorithms.gossip_runs import ask
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["CohdaLaunchResult", "CohdaLauncher"]

log = structlog.get_logger("edge_agent.cohda")


@dataclass(frozen=True)
class CohdaLaunchResult:
    run: str
    candidate: CohdaCandidate
    choices: dict[str, CohdaChoice]  # in the order of the joins
    updates: int  # gossip updates the observer heard (= published by the participants)
    wall_s: float  # from the start message to the detected end (includes ``quiet_s``)
    quiet_s: float


class CohdaLauncher:
    """A participant that starts COHDA runs among device agents and observes them (see the module)."""

    def __init__(self, id: str) -> None:
        self._id = id
        self._observers: dict[str, CohdaObserver] = {}
        self._updates: dict[str, int] = {}

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        observer = self._observers.get(envelope.run or "")
        if observer is None or not isinstance(message, CohdaUpdate | CohdaStart):
            log.debug("cohda.launcher_ignored", kind=message.kind, sender=envelope.sender, run=envelope.run)
            return
        self._updates[envelope.run or ""] += 1
        await observer.handle(carrier, message, envelope)

    async def run(
        self,
        carrier: Carrier,
        run: str,
        joins: Mapping[str, CohdaJoin],
        *,
        settle: Callable[[], Awaitable[None]] | None = None,
        start_at: str | None = None,
        quiet_s: float = 2.0,
        join_s: float = 15.0,
        answer_s: float = 5.0,
        run_s: float = 600.0,
    ) -> CohdaLaunchResult:
        ids = list(joins)
        if len(ids) < 2:
            raise ConfigError(f"COHDA needs at least two participants, got {len(ids)}")
        if run in self._observers:
            raise ConfigError(f"run {run!r} is already under way")
        if any(join.run != run for join in joins.values()):
            raise ConfigError(f"every join message must name run {run!r}")
        first = joins[ids[0]]
        view = RunCarrier(carrier, run)
        observer = CohdaObserver(self.id, ids, carrier.clock, quiet_s=quiet_s,
                                 performance=PERFORMANCES[first.settings.performance])
        self._observers[run], self._updates[run] = observer, 0
        view.subscribe(ids)
        try:
            if settle is not None:
                await settle()
            await _join_all(view, run, joins, join_s)
            started = time.perf_counter()
            view.send(CohdaStart(target=first.target), start_at or ids[0])
            log.info("cohda.run_started", run=run, participants=len(ids))
            candidate = await observer.wait(run_s)
            wall_s = time.perf_counter() - started
            choices = await _collect(view, run, ids, candidate, answer_s)
            return CohdaLaunchResult(run, candidate, choices, self._updates[run], wall_s, quiet_s)
        finally:
            view.unsubscribe(ids)
            del self._observers[run]
            self._updates.pop(run, None)
            try:
                for pid in ids:
                    view.send(CohdaLeave(run=run), pid)
            except EdgeAgentError as error:
                log.warning("cohda.leave_failed", run=run, error=str(error))



async def _join_all(view: Carrier, run: str, joins: Mapping[str, CohdaJoin], join_s: float) -> None:
    answers = await ask(view, joins, join_s)
    silent = [pid for pid, a in answers.items() if a is None]
    refused = {pid: a.reason for pid, a in answers.items() if isinstance(a, CohdaJoined) and a.reason}
    for pid, a in answers.items():
        if a is not None and not isinstance(a, CohdaJoined):
            raise ProtocolError(f"expected cohda.joined, got {a.kind!r}", sender=pid)
    if refused:
        detail = "; ".join(f"{pid}: {reason}" for pid, reason in refused.items())
        raise ConfigError(f"run {run!r}: {len(refused)} participant(s) cannot take part: {detail}")
    if silent:
        raise RunTimeout(f"run {run!r}: no answer to the join within {join_s:g} s from {', '.join(silent)}",
                         participants=tuple(silent))


async def _collect(
    view: Carrier, run: str, ids: list[str], candidate: CohdaCandidate, answer_s: float
) -> dict[str, CohdaChoice]:
    answers = await ask(view, dict.fromkeys(ids, CohdaCollect(run=run, candidate=candidate)), answer_s)
    choices: dict[str, CohdaChoice] = {}
    problems = []
    for pid, a in answers.items():
        if isinstance(a, CohdaChoice) and a.reason is None:
            choices[pid] = a
        elif a is None:
            problems.append(f"{pid} did not answer within {answer_s:g} s")
        else:
            problems.append(f"{pid}: {getattr(a, 'reason', None) or a.kind}")
    if problems:
        raise RunTimeout(f"run {run!r} ended but its outcome is incomplete: {'; '.join(problems)}",
                         participants=tuple(pid for pid in ids if pid not in choices))
    return choices
