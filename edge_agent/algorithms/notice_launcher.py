"""Launching a run among agents that each learn its end by themselves, and watching it from outside.

Shared by the families whose agents notice the end of a run on their own (DCOP, RCDCOP, DisLRP). For
one run the launcher

1. sends each agent its join message and waits for every joined answer (sent once the agent's subscriptions
   hold), so no first message of the run can be missed;
2. sends the start message to every agent;
3. waits until every agent told it, unasked, that it stopped (an outcome with ``finished``); an agent whose
   run failed says so at once (``reason``), which ends the launch with a :class:`ProtocolError` naming it;
   after ``run_s`` a :class:`RunTimeout` names those that did not finish;
4. asks every agent for its outcome and finally sends the leave message to all, on success and on failure.

It does not listen to the run's gossip: the notices and the collect tell it all it reports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import structlog

from edge_agent.algorithms.gossip_runs import collect, join_all
from edge_agent.carrier.base import Carrier, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["LaunchResult", "NoticeLauncher", "NoticeMessages"]

log = structlog.get_logger("edge_agent.launcher")


class Notice(Protocol):
    """An agent's outcome message: sent unasked when it stopped (``finished``) or failed (``reason``)."""

    @property
    def run(self) -> str: ...

    @property
    def finished(self) -> bool: ...

    @property
    def reason(self) -> str | None: ...


OutcomeT = TypeVar("OutcomeT", bound=Message)


@dataclass(frozen=True)
class NoticeMessages(Generic[OutcomeT]):
    """One family's messages for a launch, and how its errors name the run's agents."""

    family: str  # "DCOP", "RCDCOP": in errors and log events
    agents: str  # "agent", "node"
    joined: type[Message]
    start: Callable[[], Message]
    outcome: type[OutcomeT]  # must also satisfy :class:`Notice`
    collect: Callable[[str], Message]  # run id -> the request for an agent's outcome
    leave: Callable[[str], Message]


@dataclass(frozen=True)
class LaunchResult(Generic[OutcomeT]):
    run: str
    outcomes: dict[str, OutcomeT]  # in the order of the joins
    wall_s: float  # from the start messages to the last notice


@dataclass
class _Watch:
    waiting: set[str]
    failed: dict[str, str] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class NoticeLauncher(Generic[OutcomeT]):
    """A participant that starts runs among agents and waits for their ends (see the module)."""

    def __init__(self, id: str, messages: NoticeMessages[OutcomeT]) -> None:
        self._id = id
        self._messages = messages
        self._watches: dict[str, _Watch] = {}

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, self._messages.outcome):
            notice: Notice = message  # type: ignore[assignment]  # NoticeMessages.outcome satisfies Notice
            if notice.finished or notice.reason:
                watch = self._watches.get(notice.run)
                if watch is not None:
                    watch.waiting.discard(envelope.sender)
                    if notice.reason:
                        watch.failed[envelope.sender] = notice.reason
                    if not watch.waiting or watch.failed:
                        watch.done.set()
                return
        log.warning("launcher.unexpected", family=self._messages.family, kind=message.kind, sender=envelope.sender)

    async def run(self, carrier: Carrier, run: str, joins: Mapping[str, Message], *, join_s: float = 30.0,
                  run_s: float = 600.0, answer_s: float = 30.0) -> LaunchResult[OutcomeT]:
        m = self._messages
        ids = list(joins)
        if not ids:
            raise ConfigError(f"a {m.family} run needs at least one {m.agents}")
        if run in self._watches:
            raise ConfigError(f"run {run!r} is already under way")
        view = RunCarrier(carrier, run)
        watch = _Watch(set(ids))
        self._watches[run] = watch
        try:
            await join_all(view, run, joins, m.joined, join_s)
            started = time.perf_counter()
            for pid in ids:
                view.send(m.start(), pid)
            log.info("launcher.run_started", family=m.family, run=run, agents=len(ids))
            try:
                await asyncio.wait_for(watch.done.wait(), run_s)
            except TimeoutError:
                late = sorted(watch.waiting)
                raise RunTimeout(f"run {run!r}: {len(late)} {m.agents}(s) did not finish within {run_s:g} s: "
                                 f"{', '.join(late[:10])}", participants=tuple(late)) from None
            wall_s = time.perf_counter() - started
            if watch.failed:
                detail = "; ".join(f"{pid}: {reason}" for pid, reason in watch.failed.items())
                raise ProtocolError(f"run {run!r} failed on {len(watch.failed)} {m.agents}(s): {detail}")
            outcomes = await collect(view, run, {pid: m.collect(run) for pid in ids}, m.outcome, answer_s)
            return LaunchResult(run, outcomes, wall_s)
        finally:
            del self._watches[run]
            try:
                for pid in ids:
                    view.send(m.leave(run), pid)
            except EdgeAgentError as error:
                log.warning("launcher.leave_failed", family=m.family, run=run, error=str(error))
