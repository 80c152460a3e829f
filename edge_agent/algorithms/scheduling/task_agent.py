"""The task agent: books its task on one of the resources, passively (free gaps only) or actively (patches).

Placing (:meth:`TaskAgent.place`), repeated until a patch is applied or the limiter stops it:

1. ask every known resource for its schedule (``sched.query``); a resource that does not answer (it may be
   going down) is left out of this round. If the task is already booked somewhere -- by an earlier run of
   the same scenario against long-lived nodes, or by a patch whose reply was lost -- it *adopts* that
   booking instead of booking again (see :meth:`TaskAgent._adopt`);
2. compute the best option on each: passive -- the best free gap (:func:`passive_placement`); active -- the
   best patch (:func:`best_patch`); take the one with the largest gain (first resource on ties);
   none with a gain > 0: the task stays unscheduled;
3. active only: send the patch to every task it shifts (``sched.review``); if one of them rejects -- it
   found a better place elsewhere and *left* the resource before answering -- start again at 1; each
   acceptance carries the reviewer's consent, which the patch hands to the resource with the shift;
4. send the patch to the resource (``sched.patch``, its ``add`` with this agent's booking key); applied:
   done; refused (stale, or the schedule changed under it) or unanswered (the node may be down): start
   again at 1.

Reviewing another initiator's patch (active): accept unless the shift lowers this task's satisfaction
*and* the best option on another resource gains more than the shifted satisfaction (by ``Limits.margin``);
then move -- book there first, then remove itself from the old resource -- and reject. A passive agent
always accepts. A moved task never leaves the schedule, so a scheduled task stays scheduled.

The limiter (:class:`Limits`) bounds each placement's attempts, each agent's moves and the requests an
agent sends over its life; a capped agent keeps what it has, stops moving, and says so in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import structlog

from edge_agent.algorithms.scheduling.consent import consent, new_key
from edge_agent.algorithms.scheduling.messages import (
    BookingNotice,
    PatchOutcome,
    PatchReview,
    PatchSubmit,
    ReviewAnswer,
    ScheduleQuery,
    ScheduleState,
    WireAdd,
    WireRemove,
    WireTask,
)
from edge_agent.algorithms.scheduling.model import Task
from edge_agent.algorithms.scheduling.placement import Patch, best_patch, passive_placement
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError
from edge_agent.messages import Envelope, Message

__all__ = ["Behaviour", "Limits", "Placement", "TaskAgent"]

log = structlog.get_logger("edge_agent.scheduling")

Behaviour = Literal["active", "passive"]
M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Limits:
    """The message limiter of one task agent (seed 002, section 5: negotiations must not cycle)."""

    attempts: int = 50  # placement computations per placement
    moves: int = 2  # times the agent may leave a resource for another
    requests: int = 5000  # requests the agent may send over its life
    timeout_s: float = 5.0  # reply deadline of each request
    margin: float = 1e-6  # leave a resource only for a gain larger than the shifted satisfaction by this

    def __post_init__(self) -> None:
        if min(self.attempts, self.requests) < 1 or self.moves < 0 or not self.timeout_s > 0 or self.margin < 0:
            msg = (f"scheduling limits need attempts >= 1, requests >= 1, moves >= 0, timeout_s > 0 and "
                   f"margin >= 0, got {self}")
            raise ConfigError(msg)


@dataclass(frozen=True)
class Placement:
    """Where the task is booked: ``resource`` from ``start``, as of the resource's schedule ``version``."""

    resource: str
    start: float
    version: int


class _LimitReached(EdgeAgentError):
    pass


def _failure(reply: BaseException) -> EdgeAgentError:
    """The error a request gathered with ``return_exceptions`` ended with; the limiter and anything that is not
    an :class:`EdgeAgentError` (a bug) propagate."""
    if isinstance(reply, _LimitReached) or not isinstance(reply, EdgeAgentError):
        raise reply
    return reply


class TaskAgent:
    def __init__(
        self, task: Task, behaviour: Behaviour, resources: Sequence[str], limits: Limits | None = None
    ) -> None:
        if behaviour not in ("active", "passive"):
            msg = f"task {task.id!r}: behaviour must be 'active' or 'passive', got {behaviour!r}"
            raise ConfigError(msg)
        if not resources:
            msg = f"task {task.id!r} knows no resource"
            raise ConfigError(msg)
        self.task = task
        self.behaviour: Behaviour = behaviour
        self.resources = list(resources)
        self.limits = limits or Limits()
        self.booking: Placement | None = None
        self.requests = 0
        self.moves = 0
        self.limited = False
        self.cancelled = False
        self._moving = False
        self._key = new_key()  # the booking key its consents are made with (``consent.py``)

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def satisfaction(self) -> float:
        return 0.0 if self.booking is None else self.task.satisfaction_at(self.booking.start + self.task.duration)

    def accepts(self, message: Message) -> bool:
        return isinstance(message, PatchReview | BookingNotice)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, BookingNotice):
            booking = self.booking
            if envelope.sender != message.resource:  # only the node itself says what it did
                log.warning("sched.forged_notice", task=self.id, sender=envelope.sender, resource=message.resource)
            elif booking is not None and booking.resource == message.resource and message.version > booking.version:
                self.booking = Placement(message.resource, message.start, message.version)
        elif isinstance(message, PatchReview):
            accept, reason = await self._review(carrier, message)
            token = None if not accept else consent(
                self._key, task=self.id, initiator=envelope.sender, resource=message.resource,
                base_version=message.base_version, start=message.start)
            carrier.reply(ReviewAnswer(accept=accept, reason=reason, consent=token), envelope)
        else:
            log.warning("sched.unexpected_message", task=self.id, kind=message.kind, sender=envelope.sender)

    # -- placing -------------------------------------------------------------------------------
    async def place(self, carrier: Carrier) -> bool:
        """Book the task somewhere (it must not be booked); True if it was booked."""
        try:
            return await self._place(carrier, self.resources)
        except _LimitReached as limit:
            self._capped(str(limit))
            return False
        except EdgeAgentError as error:  # a node went silent while the task adopted or left a booking
            log.warning("sched.place_failed", task=self.id, error=str(error))
            return False

    async def _place(self, carrier: Carrier, resources: Sequence[str]) -> bool:
        for _ in range(self.limits.attempts):
            if self.cancelled:
                return False
            states = await self._states(carrier, resources)
            if any(self.id in _task_ids(state) for state in states if state.up):
                if await self._adopt(carrier, states):
                    return True
                continue
            patch = self._best(states)
            if patch is None:
                log.debug("sched.no_place", task=self.id, behaviour=self.behaviour)
                return False
            consents = await self._agreed(carrier, patch) if patch.shifts else {}
            if consents is None:
                continue
            try:
                outcome = await self._ask(carrier, PatchSubmit.of(patch, self._key, consents), patch.resource_id,
                                          PatchOutcome)
            except _LimitReached:
                raise
            except EdgeAgentError as error:  # the node may be going down; the next round asks again
                log.info("sched.patch_failed", task=self.id, resource=patch.resource_id, error=str(error))
                continue
            if outcome.applied:
                added = patch.added
                assert added is not None
                self.booking = Placement(patch.resource_id, added.start, outcome.state.version)
                log.debug("sched.booked", task=self.id, resource=patch.resource_id, start=added.start,
                          gain=patch.gain, shifted=len(patch.shifts))
                return True
            log.debug("sched.patch_refused", task=self.id, resource=patch.resource_id, reason=outcome.reason)
        raise _LimitReached(f"no patch applied in {self.limits.attempts} attempts")

    def _best(self, states: Iterable[ScheduleState]) -> Patch | None:
        """The option with the largest gain over ``states`` (first on ties), or None."""
        search = best_patch if self.behaviour == "active" else passive_placement
        best: Patch | None = None
        for state in states:
            if not state.up or self.task.duration > state.horizon:
                continue
            try:
                schedule = state.schedule()
            except ConfigError as error:  # overlapping or out of the horizon: not a schedule a node may hold
                log.warning("sched.invalid_state", task=self.id, resource=state.resource, error=str(error))
                continue
            if self.id in schedule.task_ids:
                continue
            patch = search(schedule, self.task)
            if patch is not None and (best is None or patch.gain > best.gain):
                best = patch
        return best

    async def _states(self, carrier: Carrier, resources: Sequence[str]) -> list[ScheduleState]:
        resources = list(resources)  # the agent's list shrinks when a node is lost meanwhile
        replies = await asyncio.gather(*(self._ask(carrier, ScheduleQuery(), r, ScheduleState) for r in resources),
                                       return_exceptions=True)
        states: list[ScheduleState] = []
        for resource, reply in zip(resources, replies, strict=True):
            if isinstance(reply, ScheduleState) and reply.resource == resource:
                states.append(reply)
            elif isinstance(reply, ScheduleState):
                log.warning("sched.foreign_state", task=self.id, resource=resource, answered_for=reply.resource)
            else:
                log.info("sched.resource_unavailable", task=self.id, resource=resource, error=str(_failure(reply)))
        return states

    async def _adopt(self, carrier: Carrier, states: Sequence[ScheduleState]) -> bool:
        """The task is booked already (an earlier run, or a patch whose reply was lost): keep the first booking of
        exactly this task, under this agent's key (one patch removes and adds it at the same start), and remove
        any other (a booking of another task under this id, or a second one). True once the task is booked
        exactly once and this agent holds its booking; False: ask again."""
        mine = WireTask.of(self.task)
        kept: Placement | None = None
        for state in states:
            booking = next((b for b in state.bookings if b.task.id == self.id), None) if state.up else None
            if booking is None:
                continue
            if kept is None and booking.task == mine:
                rekey = PatchSubmit(resource=state.resource, base_version=state.version, modifications=(
                    WireRemove(task_id=self.id), WireAdd(task=mine, start=booking.start, key=self._key)))
                outcome = await self._ask(carrier, rekey, state.resource, PatchOutcome)
                if not outcome.applied:
                    return False
                kept = Placement(state.resource, booking.start, outcome.state.version)
                log.info("sched.adopted", task=self.id, resource=state.resource, start=booking.start)
            else:
                log.info("sched.left_over_removed", task=self.id, resource=state.resource, start=booking.start)
                await self._remove(carrier, state.resource)
        if kept is None:
            return False
        self.booking = kept
        return True

    async def _agreed(self, carrier: Carrier, patch: Patch) -> dict[str, str] | None:
        """Ask every task the patch shifts; their consents (task id -> token) if all accept, else None."""
        reviews = [(s.task_id, PatchReview(initiator=self.id, resource=patch.resource_id,
                                           base_version=patch.base_version, start=s.start)) for s in patch.shifts]
        answers = await asyncio.gather(*(self._ask(carrier, review, task_id, ReviewAnswer)
                                         for task_id, review in reviews), return_exceptions=True)
        consents: dict[str, str] | None = {}
        for (task_id, _), answer in zip(reviews, answers, strict=True):
            if not isinstance(answer, ReviewAnswer):
                log.info("sched.review_failed", task=self.id, reviewer=task_id, error=str(_failure(answer)))
                consents = None
            elif not answer.accept or answer.consent is None:
                log.debug("sched.review_rejected", task=self.id, reviewer=task_id, reason=answer.reason)
                consents = None
            elif consents is not None:
                consents[task_id] = answer.consent
        return consents

    # -- reviewing another initiator's patch -----------------------------------------------------
    async def _review(self, carrier: Carrier, review: PatchReview) -> tuple[bool, str]:
        booking = self.booking
        if (booking is None or booking.resource != review.resource or self.behaviour == "passive"
                or self._moving or self.limited or self.moves >= self.limits.moves):
            return True, ""
        proposed = self.task.satisfaction_at(review.start + self.task.duration)
        if proposed >= self.satisfaction:
            return True, ""
        if not await self._move(carrier, booking, proposed):
            return True, ""
        assert self.booking is not None
        log.debug("sched.moved", task=self.id, source=booking.resource, target=self.booking.resource,
                  initiator=review.initiator)
        return False, f"left {booking.resource!r} for {self.booking.resource!r}"

    async def _move(self, carrier: Carrier, booking: Placement, proposed: float) -> bool:
        """Leave ``booking``'s resource for a better one, booking there first; True if the task moved."""
        others = [r for r in self.resources if r != booking.resource]
        self._moving = True
        try:
            elsewhere = self._best(await self._states(carrier, others))
            if elsewhere is None or elsewhere.gain <= proposed + self.limits.margin:
                return False
            self.moves += 1
            if not await self._place(carrier, others):
                return False
            await self._remove(carrier, booking.resource)
        except _LimitReached as limit:
            self._capped(str(limit))
            return False
        except EdgeAgentError as error:  # a node went silent during the move (it may be going down)
            log.info("sched.move_failed", task=self.id, source=booking.resource, error=str(error))
            return self.booking not in (None, booking)
        finally:
            self._moving = False
        return True

    # -- leaving ---------------------------------------------------------------------------------
    async def cancel(self, carrier: Carrier) -> None:
        """Withdraw the task: take its booking off the schedule (if any) and never place it again."""
        self.cancelled = True
        booking = self.booking
        if booking is not None:
            self.booking = None
            try:
                await self._remove(carrier, booking.resource)
            except _LimitReached as limit:
                self._capped(str(limit))
            except EdgeAgentError as error:  # the node did not answer (it may be down: then it holds nothing)
                log.warning("sched.cancel_failed", task=self.id, resource=booking.resource, error=str(error))

    def resource_lost(self, resource: str) -> bool:
        """Forget ``resource`` (its node went down); True if the task was booked there and must be placed again."""
        if resource in self.resources:
            self.resources.remove(resource)
        if self.booking is not None and self.booking.resource == resource:
            self.booking = None
            return not self.cancelled
        return False

    async def _remove(self, carrier: Carrier, resource: str) -> None:
        """Remove the task from ``resource`` (retrying on stale versions); done when it is not booked there."""
        state = await self._ask(carrier, ScheduleQuery(), resource, ScheduleState)
        for _ in range(self.limits.attempts):
            if not state.up or self.id not in {b.task.id for b in state.bookings}:
                return
            patch = PatchSubmit(resource=resource, base_version=state.version,
                                modifications=(WireRemove(task_id=self.id),))
            outcome = await self._ask(carrier, patch, resource, PatchOutcome)
            if outcome.applied:
                return
            state = outcome.state
        raise _LimitReached(f"could not leave {resource!r} in {self.limits.attempts} attempts")

    # -- the limiter -----------------------------------------------------------------------------
    async def _ask(self, carrier: Carrier, body: Message, receiver: str, expected: type[M]) -> M:
        if self.requests >= self.limits.requests:
            raise _LimitReached(f"sent {self.requests} requests (limit {self.limits.requests})")
        self.requests += 1
        reply = await carrier.request(body, receiver, self.limits.timeout_s)
        if not isinstance(reply, expected):
            msg = f"{receiver!r} answered {body.kind!r} with {reply.kind!r}, expected {expected.__name__}"
            raise ProtocolError(msg)
        return reply

    def _capped(self, reason: str) -> None:
        self.limited = True
        log.warning("sched.limit_reached", task=self.id, reason=reason, booked=self.booking is not None)


def _task_ids(state: ScheduleState) -> set[str]:
    return {b.task.id for b in state.bookings}
