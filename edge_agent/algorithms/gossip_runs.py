"""What every fully distributed algorithm needs to serve runs on a device over time (consensus, COHDA).

A device agent may take part in several runs, each on its own graph: :class:`RunTable` keeps them (the
newest ``kept``), subscribes each to its in-neighbours' gossip and shares the subscriptions among the runs;
:class:`GossipMember` is a device's side of one family's runs (join when asked, route each run's messages to
its participant, answer the launcher's collect, leave); a launcher asks every participant the same thing at
once (:func:`ask`); join messages name run ids and in-neighbours the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Generic, Protocol, TypeVar, cast

import structlog
from pydantic import AfterValidator, Field

from edge_agent.carrier.base import Carrier, Participant, RunCarrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError, RunTimeout
from edge_agent.ids import AgentId
from edge_agent.messages import Envelope, Message

__all__ = [
    "GossipMember",
    "HeldRun",
    "InNeighbours",
    "MemberRun",
    "RunId",
    "RunTable",
    "ask",
    "collect",
    "join_all",
]

log = structlog.get_logger("edge_agent.device")

RunId = Annotated[str, Field(min_length=1, max_length=128)]


def _distinct(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        msg = f"in_neighbours lists a sender twice: {list(value)}"
        raise ValueError(msg)
    return value


InNeighbours = Annotated[
    tuple[AgentId, ...],
    AfterValidator(_distinct),
    Field(description="whose gossip the device hears (its subscriptions)"),
]


class HeldRun(Protocol):
    """What :class:`RunTable` needs of a run: its view of the device's carrier and whose gossip it hears."""

    @property
    def carrier(self) -> RunCarrier: ...

    @property
    def in_neighbours(self) -> tuple[str, ...]: ...


R = TypeVar("R", bound=HeldRun)


class RunTable(Generic[R]):
    """The runs one device takes part in, oldest first: at most ``kept`` (a newer run pushes out the oldest).

    Each run subscribes its carrier to its in-neighbours' gossip; the runs share the subscriptions, and one goes
    when no run needs it any more. ``settle`` (optional) waits until the transport confirmed the subscriptions
    made so far (over MQTT the broker's SUBACKs), so a device acknowledges a join only once it really hears its
    in-neighbours."""

    def __init__(self, owner: str, kept: int, settle: Callable[[], Awaitable[None]] | None = None) -> None:
        if kept < 1:
            raise ConfigError(f"runs_kept must be >= 1, got {kept}")
        self._owner = owner
        self._kept = kept
        self._settle = settle
        self._runs: OrderedDict[str, R] = OrderedDict()
        self._runs_per_sender: Counter[str] = Counter()

    def get(self, run_id: str | None) -> R | None:
        return None if run_id is None else self._runs.get(run_id)

    def ids(self) -> list[str]:
        return list(self._runs)

    async def admit(self, run_id: str, run: R) -> str | None:
        """Keep ``run`` and subscribe it, push out the oldest runs beyond ``kept``, wait for ``settle``. Returns
        None, or why the run cannot be kept (it is forgotten again)."""
        self._runs[run_id] = run
        self._runs_per_sender.update(run.in_neighbours)
        run.carrier.subscribe(run.in_neighbours)
        while len(self._runs) > self._kept:
            oldest = next(iter(self._runs))
            log.warning("device.run_evicted", participant=self._owner, run=oldest, kept=self._kept)
            self.forget(oldest)
        if self._settle is not None:
            try:
                await self._settle()
            except EdgeAgentError as error:
                self.forget(run_id)
                return f"cannot subscribe: {error}"
        return None

    def forget(self, run_id: str) -> R | None:
        """Drop the run (if kept) and the subscriptions no other run needs; the run, or None."""
        run = self._runs.pop(run_id, None)
        if run is None:
            return None
        senders = list(run.in_neighbours)
        self._runs_per_sender.subtract(senders)
        unused = [sender for sender in senders if self._runs_per_sender[sender] <= 0]
        for sender in unused:
            del self._runs_per_sender[sender]
        if unused:
            run.carrier.unsubscribe(unused)
        return run


A = TypeVar("A", bound=Message)


async def join_all(view: Carrier, run: str, joins: Mapping[str, Message], joined: type[Message], join_s: float
                   ) -> None:
    """Ask every participant to join ``run``; :class:`ConfigError` naming those that refused (their answer's
    ``reason``), :class:`RunTimeout` naming the silent ones, :class:`ProtocolError` for an answer of another kind."""
    answers = await ask(view, joins, join_s)
    silent = [pid for pid, a in answers.items() if a is None]
    for pid, a in answers.items():
        if a is not None and not isinstance(a, joined):
            raise ProtocolError(f"expected {joined.model_fields['kind'].default}, got {a.kind!r}", sender=pid)
    refused = {pid: reason for pid, a in answers.items() if a is not None and (reason := getattr(a, "reason", None))}
    if refused:
        detail = "; ".join(f"{pid}: {reason}" for pid, reason in refused.items())
        raise ConfigError(f"run {run!r}: {len(refused)} participant(s) cannot take part: {detail}")
    if silent:
        raise RunTimeout(f"run {run!r}: no answer to the join within {join_s:g} s from {', '.join(silent)}",
                         participants=tuple(silent))


async def collect(view: Carrier, run: str, requests: Mapping[str, Message], answer: type[A], answer_s: float
                  ) -> dict[str, A]:
    """Ask every participant for its outcome of ``run``: the answers of type ``answer`` without a ``reason``, or
    :class:`RunTimeout` naming every participant whose outcome is missing and why."""
    answers = await ask(view, requests, answer_s)
    outcomes: dict[str, A] = {}
    problems = []
    for pid, a in answers.items():
        if isinstance(a, answer) and getattr(a, "reason", None) is None:
            outcomes[pid] = a
        elif a is None:
            problems.append(f"{pid} did not answer within {answer_s:g} s")
        else:
            problems.append(f"{pid}: {getattr(a, 'reason', None) or a.kind}")
    if problems:
        raise RunTimeout(f"run {run!r} ended but its outcome is incomplete: {'; '.join(problems)}",
                         participants=tuple(pid for pid in requests if pid not in outcomes))
    return outcomes


async def ask(view: Carrier, requests: Mapping[str, Message], within_s: float) -> dict[str, Message | None]:
    """Send each request, wait for every answer; ``None`` for those that did not answer in time."""
    futures = {pid: view.request(body, pid, timeout=within_s) for pid, body in requests.items()}
    answers: dict[str, Message | None] = {}
    for pid, future in futures.items():
        try:
            answers[pid] = await future
        except RunTimeout:
            answers[pid] = None
    return answers


class _Join(Protocol):
    @property
    def run(self) -> str: ...

    @property
    def in_neighbours(self) -> tuple[str, ...]: ...

    def model_dump_json(self) -> str: ...


def _run_of(message: Message) -> str:
    """The run a control message (collect, leave) names."""
    run = getattr(message, "run", None)
    if not isinstance(run, str):
        raise ProtocolError(f"{message.kind!r} names no run")
    return run


J = TypeVar("J", bound=_Join)
P = TypeVar("P", bound=Participant)


@dataclass
class MemberRun(Generic[J, P]):
    """One run a device takes part in: its join, its participant, its view of the carrier, what it heard."""

    join: J
    participant: P
    carrier: RunCarrier
    received: Counter[str] = field(default_factory=Counter)  # gossip of the run delivered, per sender
    strangers: int = 0  # gossip from senders that are not in-neighbours (dropped)
    error: str | None = None  # why the run failed on this device; it then stalls here, the device lives

    @property
    def in_neighbours(self) -> tuple[str, ...]:
        return self.join.in_neighbours


MR = TypeVar("MR", bound=MemberRun[Any, Any])


class GossipMember(ABC, Generic[J, MR]):
    """A device's side of one family's gossip runs, told apart by the run id every envelope carries.

    A join builds the run's participant (:meth:`build`), subscribes it to its in-neighbours, waits until the
    transport confirms the subscriptions (``settle``) and only then acknowledges, so that no neighbour's first
    message can be missed once the launcher starts the run; asked again with the same join it answers the
    same. Gossip from a sender that is not an in-neighbour is counted and dropped; messages of runs the device
    does not hold are counted as strays. A participant failing on a message fails its run on this device only.
    Subclasses name their message kinds and answer joins and collects.
    """

    family: ClassVar[str]
    join_kind: ClassVar[type[Message]]
    collect_kind: ClassVar[type[Message]]
    leave_kind: ClassVar[type[Message]]
    start_kind: ClassVar[type[Message]]
    gossip_kinds: ClassVar[tuple[type[Message], ...]]

    def __init__(self, id: str, settle: Callable[[], Awaitable[None]] | None = None, runs_kept: int = 4) -> None:
        self.id = id
        self._runs: RunTable[MR] = RunTable(id, runs_kept, settle)
        self.strays = 0  # messages of runs this device does not (or no longer) take part in

    @classmethod
    def accepts(cls, message: Message) -> bool:
        kinds = (cls.join_kind, cls.collect_kind, cls.leave_kind, cls.start_kind, *cls.gossip_kinds)
        return isinstance(message, kinds)

    def runs(self) -> list[str]:
        return self._runs.ids()

    @abstractmethod
    def build(self, join: J, envelope: Envelope, carrier: RunCarrier) -> MR:
        """The run a join describes; :class:`ConfigError` if this device cannot take part."""

    @abstractmethod
    def joined(self, join: J, reason: str | None) -> Message:
        """The answer to a join: acknowledged (``reason`` None) or refused."""

    @abstractmethod
    def answer(self, collect: Any, run: MR | None) -> Message:
        """The answer to the launcher's collect (``run`` None: the device holds no such run)."""

    def stepped(self, run: MR) -> None:
        """Called after the participant handled a message of ``run`` (e.g. to announce its end)."""

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, self.join_kind):
            await self._join(carrier, cast(J, message), envelope)
        elif isinstance(message, self.collect_kind):
            run = self._runs.get(_run_of(message))
            (carrier if run is None else run.carrier).reply(self.answer(message, run), envelope)
        elif isinstance(message, self.leave_kind):
            if self._runs.forget(_run_of(message)) is not None:
                log.info(f"{self.family}.left", participant=self.id, run=_run_of(message))
        else:
            await self._route(message, envelope)

    async def _join(self, carrier: Carrier, join: J, envelope: Envelope) -> None:
        existing = self._runs.get(join.run)
        if existing is not None:
            same = existing.join.model_dump_json() == join.model_dump_json()  # (arrays: no ==)
            reason = None if same else f"run {join.run!r} was already joined with other settings"
            carrier.reply(self.joined(join, reason), envelope)
            return
        view = RunCarrier(carrier, join.run)
        try:
            run = self.build(join, envelope, view)
        except ConfigError as error:
            log.warning(f"{self.family}.cannot_join", participant=self.id, run=join.run, error=str(error))
            carrier.reply(self.joined(join, str(error)), envelope)
            return
        refused = await self._runs.admit(join.run, run)
        if refused is not None:
            carrier.reply(self.joined(join, refused), envelope)
            return
        log.info(f"{self.family}.joined", participant=self.id, run=join.run, in_neighbours=list(join.in_neighbours))
        view.reply(self.joined(join, None), envelope)

    async def _route(self, message: Message, envelope: Envelope) -> None:
        run = self._runs.get(envelope.run)
        if run is None:
            self.strays += 1
            log.debug(f"{self.family}.stray", participant=self.id, run=envelope.run, sender=envelope.sender,
                      kind=message.kind)
            return
        if isinstance(message, self.gossip_kinds):
            run.received[envelope.sender] += 1
            if envelope.sender not in run.in_neighbours:
                run.strangers += 1
                return
        if run.error is not None:
            return
        try:
            await run.participant.handle(run.carrier, message, envelope)
        except EdgeAgentError as error:  # e.g. a neighbour's malformed state: this run stalls, the device lives
            run.error = f"{type(error).__name__}: {error}"
            log.warning(f"{self.family}.run_failed", participant=self.id, run=run.join.run, error=run.error)
            return
        self.stepped(run)
