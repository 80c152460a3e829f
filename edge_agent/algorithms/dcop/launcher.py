"""Launching a DCOP run among device agents and watching it to its end, from outside the run.

For one run the launcher

1. sends each agent its :class:`~.messages.DcopJoin` and waits for every :class:`~.messages.DcopJoined`
   (sent once the device's subscriptions to its constraint-graph neighbours hold), so no step-0 message can
   be missed;
2. sends :class:`~.messages.DcopStart` to every agent;
3. waits until every agent told it, unasked, that it stopped (a :class:`~.messages.DcopOutcome` with
   ``finished``): every agent learns the end by itself (the local searches' final gossip, DPOP's VALUE
   sweep); an agent whose run failed says so at once (``reason``), which ends the launch with a
   :class:`ProtocolError` naming it; after ``run_s`` :class:`RunTimeout` names those that did not finish;
4. asks every agent for its outcome (:class:`~.messages.DcopCollect`: final values, its changes, counts)
   and finally sends :class:`~.messages.DcopLeave` to all, on success and on failure.

It does not listen to the gossip: the notices and the collect tell it all it reports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from edge_agent.algorithms.dcop.messages import DcopCollect, DcopJoin, DcopJoined, DcopLeave, DcopOutcome, DcopStart
from edge_agent.algorithms.gossip_runs import collect, join_all
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["DcopLaunchResult", "DcopLauncher"]

log = structlog.get_logger("edge_agent.dcop")


@dataclass(frozen=True)
class DcopLaunchResult:
    run: str
    outcomes: dict[str, DcopOutcome]  # in the order of the joins
    wall_s: float  # from the start messages to the last notice


@dataclass
class _Watch:
    waiting: set[str]
    failed: dict[str, str] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class DcopLauncher:
    """A participant that starts DCOP runs among device agents and waits for their ends (see the module)."""

    def __init__(self, id: str) -> None:
        self._id = id
        self._watches: dict[str, _Watch] = {}

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, DcopOutcome) and (message.finished or message.reason):
            watch = self._watches.get(message.run)
            if watch is not None:
                watch.waiting.discard(envelope.sender)
                if message.reason:
                    watch.failed[envelope.sender] = message.reason
                if not watch.waiting or watch.failed:
                    watch.done.set()
            return
        log.warning("dcop.launcher_unexpected", kind=message.kind, sender=envelope.sender)

    async def run(self, carrier: Carrier, run: str, joins: Mapping[str, DcopJoin], *, join_s: float = 30.0,
                  run_s: float = 600.0, answer_s: float = 30.0) -> DcopLaunchResult:
        ids = list(joins)
        if not ids:
            raise ConfigError("a DCOP run needs at least one agent")
        if run in self._watches:
            raise ConfigError(f"run {run!r} is already under way")
        view = RunCarrier(carrier, run)
        watch = _Watch(set(ids))
        self._watches[run] = watch
        try:
            await join_all(view, run, joins, DcopJoined, join_s)
            started = time.perf_counter()
            for pid in ids:
                view.send(DcopStart(), pid)
            log.info("dcop.run_started", run=run, agents=len(ids))
            try:
                await asyncio.wait_for(watch.done.wait(), run_s)
            except TimeoutError:
                late = sorted(watch.waiting)
                raise RunTimeout(f"run {run!r}: {len(late)} agent(s) did not finish within {run_s:g} s: "
                                 f"{', '.join(late[:10])}", participants=tuple(late)) from None
            wall_s = time.perf_counter() - started
            if watch.failed:
                detail = "; ".join(f"{pid}: {reason}" for pid, reason in watch.failed.items())
                raise ProtocolError(f"run {run!r} failed on {len(watch.failed)} agent(s): {detail}")
            outcomes = await collect(view, run, dict.fromkeys(ids, DcopCollect(run=run)), DcopOutcome, answer_s)
            return DcopLaunchResult(run, outcomes, wall_s)
        finally:
            del self._watches[run]
            try:
                for pid in ids:
                    view.send(DcopLeave(run=run), pid)
            except EdgeAgentError as error:
                log.warning("dcop.leave_failed", run=run, error=str(error))
