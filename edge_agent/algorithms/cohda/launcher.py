"""Launching a COHDA run among device agents and detecting its end as a listen-only observer.

For one run the launcher

1. subscribes to every participant's gossip (its :class:`CohdaObserver` hears every update) and waits until
   the transport confirms it (``settle``);
2. sends each participant its :class:`~.job.CohdaJoin` and waits for every :class:`~.job.CohdaJoined` (sent
   once the device's own subscriptions hold), so no first update can be missed;
3. sends :class:`~.messages.CohdaStart` (target and weights) to one participant;
4. waits for the end: the observer's candidate covers every participant and nothing it heard changed it for
   ``quiet_s`` while its connection was up (:class:`RunTimeout` after ``run_s``; see "Outages" below);
5. announces the final candidate to every participant (:class:`~.job.CohdaCollect`), which answers with its
   own schedule in it (:class:`~.job.CohdaChoice`), then sends :class:`~.job.CohdaLeave` to all.

Outages: gossip lost while the transport was down (an in-memory broker restarted loses every message it
held, and what a client sends before its peers subscribed again) would stall the run, and silence during an
outage is no sign of its end. So the quiet time does not run while the launcher's connection is down
(:attr:`Carrier.outages`), and after every loss the launcher resynchronises the run once its connection is
back: it sends :class:`~.messages.CohdaStart` again, every ``resync_s``, to each participant it has not heard
since (a started participant answers by publishing its full state; its publish shows that it is back, with
its subscriptions restored), then once more to every participant, so all of them hear every neighbour's full
state; the quiet time counts from then. A run that cannot resynchronise before ``run_s`` fails with
:class:`TransportError` naming the outage and the participants not heard since: never a wrong result.

Why the observer and not outcome notices as in the consensus launcher: a COHDA participant cannot know that
the run is over (there are no rounds; quiescence is global), so there is nothing it could notify. Listening
costs the launcher one copy of every update; COHDA updates are few (one per change) and small (a few KB).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import structlog

from edge_agent.algorithms.cohda.job import CohdaChoice, CohdaCollect, CohdaJoin, CohdaJoined, CohdaLeave
from edge_agent.algorithms.cohda.messages import CohdaCandidate, CohdaStart, CohdaTarget, CohdaUpdate
from edge_agent.algorithms.cohda.observer import CohdaObserver
from edge_agent.algorithms.cohda.performance import PERFORMANCES
from edge_agent.algorithms.gossip_runs import collect, join_all
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, RunTimeout, TransportError
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
    resyncs: int = 0  # outages of the launcher's connection the run was resynchronised after


@dataclass
class _Watch:
    """What the launcher knows of one run under way: its observer, when it last heard each participant."""

    observer: CohdaObserver
    updates: int = 0
    heard: dict[str, float] = field(default_factory=dict)


class CohdaLauncher:
    """A participant that starts COHDA runs among device agents and observes them (see the module)."""

    def __init__(self, id: str) -> None:
        self._id = id
        self._runs: dict[str, _Watch] = {}

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        watch = self._runs.get(envelope.run or "")
        if watch is None or not isinstance(message, CohdaUpdate | CohdaStart):
            log.debug("cohda.launcher_ignored", kind=message.kind, sender=envelope.sender, run=envelope.run)
            return
        watch.updates += 1
        watch.heard[envelope.sender] = carrier.clock.now()
        await watch.observer.handle(carrier, message, envelope)

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
        resync_s: float = 0.5,
    ) -> CohdaLaunchResult:
        ids = list(joins)
        if len(ids) < 2:
            raise ConfigError(f"COHDA needs at least two participants, got {len(ids)}")
        if run in self._runs:
            raise ConfigError(f"run {run!r} is already under way")
        if any(join.run != run for join in joins.values()):
            raise ConfigError(f"every join message must name run {run!r}")
        first = joins[ids[0]]
        view = RunCarrier(carrier, run)
        observer = CohdaObserver(self.id, ids, carrier.clock, quiet_s=quiet_s,
                                 performance=PERFORMANCES[first.settings.performance])
        watch = self._runs[run] = _Watch(observer)
        view.subscribe(ids)
        try:
            if settle is not None:
                await settle()
            await join_all(view, run, joins, CohdaJoined, join_s)
            started = time.perf_counter()
            view.send(CohdaStart(target=first.target), start_at or ids[0])
            log.info("cohda.run_started", run=run, participants=len(ids))
            end = _End(view, run, ids, watch, first.target, quiet_s=quiet_s, resync_s=resync_s)
            candidate = await end.wait(run_s)
            wall_s = time.perf_counter() - started
            asks = dict.fromkeys(ids, CohdaCollect(run=run, candidate=candidate))
            choices = await collect(view, run, asks, CohdaChoice, answer_s)
            return CohdaLaunchResult(run, candidate, choices, watch.updates, wall_s, quiet_s, end.resyncs)
        finally:
            view.unsubscribe(ids)
            del self._runs[run]
            try:
                for pid in ids:
                    view.send(CohdaLeave(run=run), pid)
            except EdgeAgentError as error:
                log.warning("cohda.leave_failed", run=run, error=str(error))



class _End:
    """The end of one run, detected by listening: complete and quiet for ``quiet_s`` of connected time, the
    run resynchronised after every outage of the launcher's connection (see the module)."""

    def __init__(self, view: Carrier, run: str, ids: list[str], watch: _Watch, target: CohdaTarget, *,
                 quiet_s: float, resync_s: float) -> None:
        self.view, self.run, self.ids, self.watch, self.target = view, run, ids, watch, target
        self.quiet_s, self.resync_s = quiet_s, resync_s
        self.resyncs = 0
        self._losses = view.outages.losses
        self._resyncing = False
        self._quiet_from = view.clock.now()  # quiet time counts from here at the earliest
        self._asked = -math.inf  # when participants were last asked for their state

    async def wait(self, run_s: float) -> CohdaCandidate:
        clock, outages, observer = self.view.clock, self.view.outages, self.watch.observer
        deadline = clock.now() + run_s
        while True:
            now = clock.now()
            if outages.losses != self._losses or not outages.connected:
                self._losses, self._resyncing = outages.losses, True
            if self._resyncing and outages.connected:
                self._resync(now)
            quiet_for = now - max(observer.last_change, self._quiet_from)
            if not self._resyncing and observer.complete() and quiet_for >= self.quiet_s:
                assert observer.candidate is not None
                return observer.candidate.wire
            if now >= deadline:
                raise self._failure(run_s)
            if self._resyncing:
                wait = self.resync_s
            else:
                wait = self.quiet_s - quiet_for if observer.complete() else self.quiet_s
            await clock.sleep(max(1e-3, min(wait, deadline - now)))

    def _resync(self, now: float) -> None:
        """Ask those not heard since the connection came back for their state; once all were, ask everyone."""
        back = self.view.outages.restored_at or -math.inf
        missing = self._missing(back)
        if missing:
            if now - self._asked >= self.resync_s:
                self._asked = now
                log.info("cohda.resync_asked", run=self.run, participants=missing)
                self._ask(missing)
            return
        self._ask(self.ids)  # every participant is back, subscriptions restored: all of them hear all now
        self._resyncing, self._quiet_from = False, now
        self.resyncs += 1
        log.info("cohda.resynchronised", run=self.run, participants=len(self.ids), outages=self._losses)

    def _missing(self, since: float) -> list[str]:
        heard = self.watch.heard
        return [pid for pid in self.ids if heard.get(pid, -math.inf) < since]

    def _ask(self, participants: list[str]) -> None:
        for pid in participants:
            try:
                self.view.send(CohdaStart(target=self.target), pid)
            except EdgeAgentError as error:  # e.g. the client's queue is full: asked again later
                log.warning("cohda.resync_failed", run=self.run, participant=pid, error=str(error))

    def _failure(self, run_s: float) -> EdgeAgentError:
        outages, observer = self.view.outages, self.watch.observer
        if self._resyncing:
            missing = self._missing(outages.restored_at or math.inf) if outages.connected else self.ids
            state = "is still down" if not outages.connected else f"came back; not heard since: {', '.join(missing)}"
            return TransportError(
                f"COHDA run {self.run!r} cannot be completed within {run_s:g} s: {outages.what} was lost "
                f"({outages.losses} outage(s)) and {state}; the result would be wrong, so there is none")
        silent = sorted(observer.expected - observer.heard)
        members = observer.candidate.members if observer.candidate else frozenset()
        missing_members = sorted(observer.expected - members)
        msg = (f"COHDA did not settle within {run_s:g} s: never heard from {silent or 'nobody'}; "
               f"missing from the best candidate: {missing_members or 'nobody'}")
        return RunTimeout(msg, participants=tuple(silent or missing_members))
