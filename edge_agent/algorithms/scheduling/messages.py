"""Wire messages of the scheduling negotiation (``docs/scheduling.md``, "Protocol").

A task agent's id is its task's id; a resource agent's id is its resource's id.

===================  ======================  =========================================================
kind                 from -> to              meaning
===================  ======================  =========================================================
``sched.query``      task -> resource        request: the current schedule
``sched.state``      resource -> task        reply: the schedule (version, bookings); also the retained
                                             schedule record of a compute node
``sched.review``     initiator -> task       request: the initiator's patch would move you to ``start``
``sched.answer``     task -> initiator       reply: accept (with the task's consent), or reject because the task
                                             left the resource
``sched.patch``      task -> resource        request: apply these modifications to version ``base_version``
                                             (an ``add`` carries the task's booking key, a ``shift`` of another
                                             task its owner's consent: ``consent.py``)
``sched.outcome``    resource -> task        reply: applied (new state) or rejected (reason, current state)
``sched.notice``     resource -> task        a patch someone else made moved (or removed) your booking
===================  ======================  =========================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from edge_agent.algorithms.scheduling.consent import KEY_CHARS
from edge_agent.algorithms.scheduling.model import Booking, ResourceSchedule, Task
from edge_agent.algorithms.scheduling.placement import Add, Modification, Patch, Remove, Shift
from edge_agent.messages import Message

__all__ = [
    "MAX_BOOKINGS",
    "MAX_MODIFICATIONS",
    "BookingNotice",
    "PatchOutcome",
    "PatchReview",
    "PatchSubmit",
    "ReviewAnswer",
    "ScheduleQuery",
    "ScheduleState",
    "WireAdd",
    "WireBooking",
    "WireRemove",
    "WireShift",
    "WireTask",
]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        msg = "must be a finite number"
        raise ValueError(msg)
    return value


Finite = Annotated[float, AfterValidator(_finite)]
Positive = Annotated[float, Field(gt=0), AfterValidator(_finite)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Token = Annotated[str, Field(min_length=KEY_CHARS, max_length=128, pattern=r"^[0-9a-f]+$")]

MAX_MODIFICATIONS = 1025  # a patch on the wire (a node bounds it further by its own ``max_bookings``)
MAX_BOOKINGS = 1024  # bookings in a schedule on the wire


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WireTask(_Part):
    id: Id
    duration: Positive
    favourable: Finite
    width: Positive

    @classmethod
    def of(cls, task: Task) -> WireTask:
        return cls(id=task.id, duration=task.duration, favourable=task.favourable, width=task.width)

    def task(self) -> Task:
        return Task(self.id, self.duration, self.favourable, self.width)


class WireBooking(_Part):
    task: WireTask
    start: Finite


class WireAdd(_Part):
    """Book the sender's own task; ``key`` is the secret its consents to shifts are made with."""

    op: Literal["add"] = "add"
    task: WireTask
    start: Finite
    key: Token


class WireShift(_Part):
    """Move ``task_id``; a task not the sender's needs its owner's ``consent`` to exactly this move."""

    op: Literal["shift"] = "shift"
    task_id: Id
    old_start: Finite
    start: Finite
    consent: Token | None = None


class WireRemove(_Part):
    op: Literal["remove"] = "remove"
    task_id: Id


WireModification = Annotated[WireAdd | WireShift | WireRemove, Field(discriminator="op")]


def _to_wire(modification: Modification, key: str, consents: Mapping[str, str]) -> WireAdd | WireShift | WireRemove:
    if isinstance(modification, Add):
        return WireAdd(task=WireTask.of(modification.task), start=modification.start, key=key)
    if isinstance(modification, Shift):
        return WireShift(task_id=modification.task_id, old_start=modification.old_start, start=modification.start,
                         consent=consents.get(modification.task_id))
    return WireRemove(task_id=modification.task_id)


def _from_wire(modification: WireAdd | WireShift | WireRemove) -> Modification:
    if isinstance(modification, WireAdd):
        return Add(modification.task.task(), modification.start)
    if isinstance(modification, WireShift):
        return Shift(modification.task_id, modification.old_start, modification.start)
    return Remove(modification.task_id)


class ScheduleQuery(Message):
    kind: Literal["sched.query"] = "sched.query"


class ScheduleState(Message):
    """A resource's schedule at ``version``. ``up`` is false once the resource stopped taking bookings."""

    kind: Literal["sched.state"] = "sched.state"
    resource: Id
    horizon: Positive
    version: int = Field(ge=0)
    bookings: tuple[WireBooking, ...] = Field((), max_length=MAX_BOOKINGS)
    up: bool = True

    @classmethod
    def of(cls, schedule: ResourceSchedule, *, up: bool = True) -> ScheduleState:
        return cls(
            resource=schedule.resource_id,
            horizon=schedule.horizon,
            version=schedule.version,
            bookings=tuple(WireBooking(task=WireTask.of(b.task), start=b.start) for b in schedule.bookings),
            up=up,
        )

    def schedule(self) -> ResourceSchedule:
        """The schedule (:class:`~edge_agent.errors.ConfigError` if the bookings overlap or leave the horizon)."""
        bookings = tuple(Booking(b.task.task(), b.start) for b in self.bookings)
        return ResourceSchedule(self.resource, self.horizon, bookings, self.version)


class PatchSubmit(Message):
    """Apply ``modifications``, computed against ``base_version``, to ``resource``'s schedule, atomically."""

    kind: Literal["sched.patch"] = "sched.patch"
    resource: Id
    base_version: int = Field(ge=0)
    modifications: tuple[WireModification, ...] = Field(min_length=1, max_length=MAX_MODIFICATIONS)

    @classmethod
    def of(cls, patch: Patch, key: str, consents: Mapping[str, str] | None = None) -> PatchSubmit:
        """``patch`` on the wire: its ``add`` with the sender's booking ``key``, each shift with its owner's
        consent from ``consents`` (task id -> token)."""
        consents = consents or {}
        return cls(resource=patch.resource_id, base_version=patch.base_version,
                   modifications=tuple(_to_wire(m, key, consents) for m in patch.modifications))

    def patch(self) -> Patch:
        return Patch(self.resource, self.base_version, tuple(_from_wire(m) for m in self.modifications), 0.0)


class PatchOutcome(Message):
    """The resource's answer to a patch: applied or not (``reason``), with the schedule as it now is."""

    kind: Literal["sched.outcome"] = "sched.outcome"
    applied: bool
    reason: str = ""
    state: ScheduleState


class PatchReview(Message):
    """The initiator ``initiator`` asks: may its patch of ``resource`` (version ``base_version``) move you to
    start at ``start``?"""

    kind: Literal["sched.review"] = "sched.review"
    initiator: Id
    resource: Id
    base_version: int = Field(ge=0)
    start: Finite


class ReviewAnswer(Message):
    """``consent``: with ``accept``, the reviewer's token for the shift it accepted (``consent.py``)."""

    kind: Literal["sched.answer"] = "sched.answer"
    accept: bool
    reason: str = Field("", max_length=1000)
    consent: Token | None = None


class BookingNotice(Message):
    """A patch applied at ``version`` moved your booking on ``resource`` to ``start``."""

    kind: Literal["sched.notice"] = "sched.notice"
    resource: Id
    version: int = Field(ge=0)
    start: Finite
