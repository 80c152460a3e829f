"""Runs whose agents each learn the end by themselves: the launcher that watches one from outside, and a
device's side of them.

Shared by the families whose agents notice the end of a run on their own (DCOP, RCDCOP, DisLRP). For
one run the launcher

1. sends each agent its join message and waits for every joined answer (sent once the agent's subscriptions
   hold), so no first message of the run can be missed;
2. sends the start message to every agent;
3. waits until every agent told it, unasked, that it stopped (an outcome with ``finished``); an agent whose
   run failed says so at once (``reason``), which ends the launch with a :class:`ProtocolError` naming it;
   after ``run_s`` a :class:`RunTimeout` names those that did not finish;
4. asks every agent for its outcome and finally sends the leave message to all, on success and on failure.

It does not listen to the run's gossip: the notices and the collect tell it all it reports. A device's side is a
:class:`NoticeMember`: it tells the launcher at once when the run failed on the device or its participant
finished, and answers the collect with the participant's outcome.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import structlog

from edge_agent.algorithms.gossip_runs import GossipMember, MemberRun, collect, join_all
from edge_agent.carrier.base import Carrier, Participant, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.messages import Envelope, Message

__all__ = ["LaunchResult", "NoticeLauncher", "NoticeMember", "NoticeMessages", "NoticeRun"]

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
                async with asyncio.timeout(run_s):
                    await watch.done.wait()
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


class Finishing(Participant, Protocol):
    """A run's participant that knows when it is done."""

    @property
    def finished(self) -> bool: ...


J = TypeVar("J")
P = TypeVar("P", bound=Finishing)


@dataclass
class NoticeRun(MemberRun[Any, P]):
    """A run on a device, with whom to tell of its end (the launcher that sent the join)."""

    launcher: str = field(kw_only=True)
    announced: bool = False


NR = TypeVar("NR", bound=NoticeRun[Any])


class NoticeMember(GossipMember[Any, NR]):
    """A device's side of runs whose agents learn the end by themselves (see the module). Subclasses name the
    outcome message (built with ``run`` and ``reason`` for a refusal) and say what the outcome of a run is."""

    outcome_kind: ClassVar[Callable[..., Message]]

    @abstractmethod
    def outcome(self, run: NR, final: bool) -> Message:
        """The participant's outcome: its unasked notice of the end (``final`` False) or the collect's answer."""

    def answer(self, collect: Any, run: NR | None) -> Message:
        if run is None:
            return self.outcome_kind(run=collect.run, reason=f"{self.id!r} takes no part in run {collect.run!r}")
        if run.error is not None:
            return self.outcome_kind(run=collect.run, reason=run.error)
        return self.outcome(run, final=True)

    async def _route(self, message: Message, envelope: Envelope) -> None:
        await super()._route(message, envelope)
        run = self._runs.get(envelope.run)
        if run is not None and run.error is not None and not run.announced:  # it failed here: say so at once
            run.announced = True
            run.carrier.send(self.outcome_kind(run=run.join.run, reason=run.error), run.launcher)

    def stepped(self, run: NR) -> None:
        if run.participant.finished and not run.announced:
            run.announced = True
            log.info(f"{self.family}.finished", participant=self.id, run=run.join.run)
            run.carrier.send(self.outcome(run, final=False), run.launcher)
