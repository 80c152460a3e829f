"""Launching a DisLRP run among device agents and watching it to its end, from outside the run.

For one run the launcher sends each agent its :class:`~.messages.DisLrpJoin` and waits for every
:class:`~.messages.DisLrpJoined` (sent once the device's subscriptions hold, so no cycle-0 message can be
missed), sends :class:`~.messages.DisLrpStart`, waits until every agent said, unasked, that it stopped (an
agent whose run failed says so at once: :class:`ProtocolError` naming it; after ``run_s`` :class:`RunTimeout`
names the late ones), collects every agent's history and finally sends :class:`~.messages.DisLrpLeave` to all,
on success and on failure. It does not listen to the gossip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from edge_agent.algorithms.gmap.messages import (
    DisLrpCollect,
    DisLrpJoin,
    DisLrpJoined,
    DisLrpLeave,
    DisLrpOutcome,
    DisLrpStart,
)
from edge_agent.algorithms.gossip_runs import collect, join_all
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["GmapLaunchResult", "GmapLauncher"]

log = structlog.get_logger("edge_agent.gmap")


@dataclass(frozen=True)
class GmapLaunchResult:
    run: str
    outcomes: dict[str, DisLrpOutcome]  # in the order of the joins
    wall_s: float  # from the start messages to the last notice


@dataclass
class _Watch:
    waiting: set[str]
    failed: dict[str, str] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class GmapLauncher:
    """A participant that starts DisLRP runs among device agents and waits for their ends (see the module)."""

    def __init__(self, id: str) -> None:
        self._id = id
        self._watches: dict[str, _Watch] = {}

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, DisLrpOutcome) and (message.finished or message.reason):
            watch = self._watches.get(message.run)
            if watch is not None:
                watch.waiting.discard(envelope.sender)
                if message.reason:
                    watch.failed[envelope.sender] = message.reason
                if not watch.waiting or watch.failed:
                    watch.done.set()
            return
        log.warning("gmap.launcher_unexpected", kind=message.kind, sender=envelope.sender)

    async def run(self, carrier: Carrier, run: str, joins: Mapping[str, DisLrpJoin], *, join_s: float = 30.0,
                  run_s: float = 600.0, answer_s: float = 30.0) -> GmapLaunchResult:
        ids = list(joins)
        if not ids:
            raise ConfigError("a DisLRP run needs at least one agent")
        if run in self._watches:
            raise ConfigError(f"run {run!r} is already under way")
        view = RunCarrier(carrier, run)
        watch = _Watch(set(ids))
        self._watches[run] = watch
        try:
            await join_all(view, run, joins, DisLrpJoined, join_s)
            started = time.perf_counter()
            for pid in ids:
                view.send(DisLrpStart(), pid)
            log.info("gmap.run_started", run=run, agents=len(ids))
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
            outcomes = await collect(view, run, dict.fromkeys(ids, DisLrpCollect(run=run)), DisLrpOutcome, answer_s)
            return GmapLaunchResult(run, outcomes, wall_s)
        finally:
            del self._watches[run]
            try:
                for pid in ids:
                    view.send(DisLrpLeave(run=run), pid)
            except EdgeAgentError as error:
                log.warning("gmap.leave_failed", run=run, error=str(error))
