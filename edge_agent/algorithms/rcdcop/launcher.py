"""Launching an RCDCOP run among node agents and watching it to its end, from outside the run.

The launcher sends each node its :class:`~.messages.RcJoin` and waits for every :class:`~.messages.RcJoined`;
sends :class:`~.messages.RcStart` to every node (the leaves begin the UTIL sweep); waits until every node told
it, unasked, that it decided (an :class:`~.messages.RcOutcome` with ``finished``) or failed (``reason``: a
:class:`ProtocolError` naming it); after ``run_s`` a :class:`RunTimeout` names the silent nodes. Then it asks
every node for its outcome (:class:`~.messages.RcCollect`) and finally sends :class:`~.messages.RcLeave` to all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from edge_agent.algorithms.gossip_runs import collect, join_all
from edge_agent.algorithms.rcdcop.messages import RcCollect, RcJoin, RcJoined, RcLeave, RcOutcome, RcStart
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["RcLaunchResult", "RcLauncher"]

log = structlog.get_logger("edge_agent.rcdcop")


@dataclass(frozen=True)
class RcLaunchResult:
    run: str
    outcomes: dict[str, RcOutcome]
    wall_s: float  # from the start messages to the last notice


@dataclass
class _Watch:
    waiting: set[str]
    failed: dict[str, str] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class RcLauncher:
    """A participant that starts RCDCOP runs among node agents and waits for their ends (see the module)."""

    def __init__(self, id: str) -> None:
        self._id = id
        self._watches: dict[str, _Watch] = {}

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, RcOutcome) and (message.finished or message.reason):
            watch = self._watches.get(message.run)
            if watch is not None:
                watch.waiting.discard(envelope.sender)
                if message.reason:
                    watch.failed[envelope.sender] = message.reason
                if not watch.waiting or watch.failed:
                    watch.done.set()
            return
        log.warning("rcdcop.launcher_unexpected", kind=message.kind, sender=envelope.sender)

    async def run(self, carrier: Carrier, run: str, joins: Mapping[str, RcJoin], *, join_s: float = 30.0,
                  run_s: float = 600.0, answer_s: float = 30.0) -> RcLaunchResult:
        ids = list(joins)
        if not ids:
            raise ConfigError("an RCDCOP run needs at least one node")
        if run in self._watches:
            raise ConfigError(f"run {run!r} is already under way")
        view = RunCarrier(carrier, run)
        watch = _Watch(set(ids))
        self._watches[run] = watch
        try:
            await join_all(view, run, joins, RcJoined, join_s)
            started = time.perf_counter()
            for pid in ids:
                view.send(RcStart(), pid)
            try:
                await asyncio.wait_for(watch.done.wait(), run_s)
            except TimeoutError:
                late = sorted(watch.waiting)
                raise RunTimeout(f"run {run!r}: {len(late)} node(s) did not decide within {run_s:g} s: "
                                 f"{', '.join(late[:10])}", participants=tuple(late)) from None
            wall_s = time.perf_counter() - started
            if watch.failed:
                detail = "; ".join(f"{pid}: {reason}" for pid, reason in watch.failed.items())
                raise ProtocolError(f"run {run!r} failed on {len(watch.failed)} node(s): {detail}")
            outcomes = await collect(view, run, dict.fromkeys(ids, RcCollect(run=run)), RcOutcome, answer_s)
            return RcLaunchResult(run, outcomes, wall_s)
        finally:
            del self._watches[run]
            try:
                for pid in ids:
                    view.send(RcLeave(run=run), pid)
            except EdgeAgentError as error:
                log.warning("rcdcop.leave_failed", run=run, error=str(error))
