"""The resource agent: the one holder of a compute node's schedule.

It answers ``sched.query`` with its current state and applies ``sched.patch`` requests one at a time.
Patches come only from the task's owner (a task agent's id is its task's id; ``docs/scheduling.md``,
"Who may change a schedule"): an ``add`` only of the sender's own task (with the key its consents are made
with), a ``remove`` only of the sender's own task, a ``shift`` of another task only with that task's consent
to exactly this patch (:mod:`~edge_agent.algorithms.scheduling.consent`). Every patch is checked against the
node's own model before any work (its size against ``max_bookings``, every time within the horizon, a
shift's ``old_start`` against the booking), then against the *current* version and applied whole
(``apply``), or refused with the reason and the current state (stale, unknown task, overlap, ...).
Handling a patch never awaits, so two initiators on one resource are serialised by the version check
alone: the first applies, the second gets "stale" and the new state. After a patch the agent tells every
other task it moved (``sched.notice``) and hands the new state to ``on_change`` (a compute node publishes it
as its retained schedule record; booking keys are never part of it).

:meth:`ResourceAgent.fail` simulates the node going down: from then on it answers nothing (requests to
it time out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import structlog

from edge_agent.algorithms.scheduling.consent import valid_consent
from edge_agent.algorithms.scheduling.messages import MAX_BOOKINGS as MAX_WIRE_BOOKINGS
from edge_agent.algorithms.scheduling.messages import (
    BookingNotice,
    PatchOutcome,
    PatchSubmit,
    ScheduleQuery,
    ScheduleState,
    WireAdd,
    WireRemove,
    WireShift,
)
from edge_agent.algorithms.scheduling.model import TIME_EPS, ResourceSchedule, check_fits_horizon
from edge_agent.algorithms.scheduling.placement import Shift, apply
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError, EdgeAgentError, ProtocolError
from edge_agent.messages import Envelope, Message

__all__ = ["MAX_BOOKINGS", "ResourceAgent"]

MAX_BOOKINGS = 256  # bookings a node holds at most, unless configured otherwise

log = structlog.get_logger("edge_agent.scheduling")


class ResourceAgent:
    def __init__(
        self,
        resource_id: str,
        horizon: float,
        on_change: Callable[[ScheduleState], None] | None = None,
        *,
        max_bookings: int = MAX_BOOKINGS,
    ) -> None:
        if not 1 <= max_bookings <= MAX_WIRE_BOOKINGS:
            msg = f"resource {resource_id!r}: max_bookings must be in [1, {MAX_WIRE_BOOKINGS}], got {max_bookings}"
            raise ConfigError(msg)
        self.schedule = ResourceSchedule(resource_id, horizon)
        self.max_bookings = max_bookings
        self._keys: dict[str, str] = {}  # task id -> the key its owner booked it with (never published)
        self.up = True
        self.applied = 0
        self.refused = 0
        self._on_change = on_change

    @property
    def id(self) -> str:
        return self.schedule.resource_id

    @property
    def state(self) -> ScheduleState:
        return ScheduleState.of(self.schedule, up=self.up)

    def accepts(self, message: Message) -> bool:
        return isinstance(message, ScheduleQuery | PatchSubmit)

    def fail(self) -> None:
        """Go down: ignore every message from now on."""
        self.up = False
        log.warning("sched.resource_down", resource=self.id, bookings=len(self.schedule.bookings))

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if not self.up:
            return
        if isinstance(message, ScheduleQuery):
            carrier.reply(self.state, envelope)
        elif isinstance(message, PatchSubmit):
            self._patch(carrier, message, envelope)
        else:
            log.warning("sched.unexpected_message", resource=self.id, kind=message.kind, sender=envelope.sender)

    def _patch(self, carrier: Carrier, message: PatchSubmit, envelope: Envelope) -> None:
        try:
            self._check(message, envelope.sender)
            patch = message.patch()
            schedule = apply(self.schedule, patch)
        except EdgeAgentError as error:
            self.refused += 1
            log.debug("sched.patch_refused", resource=self.id, sender=envelope.sender, reason=str(error))
            carrier.reply(PatchOutcome(applied=False, reason=str(error), state=self.state), envelope)
            return
        self.schedule = schedule
        for modification in message.modifications:
            if isinstance(modification, WireAdd):
                self._keys[modification.task.id] = modification.key
            elif isinstance(modification, WireRemove):
                self._keys.pop(modification.task_id, None)
        self.applied += 1
        state = self.state
        carrier.reply(PatchOutcome(applied=True, state=state), envelope)
        for change in patch.modifications:
            if isinstance(change, Shift) and change.task_id != envelope.sender:
                carrier.send(BookingNotice(resource=self.id, version=state.version, start=change.start),
                             change.task_id)
        if self._on_change is not None:
            self._on_change(state)

    def _check(self, message: PatchSubmit, sender: str) -> None:
        """ProtocolError unless every modification is the sender's to make and fits this node's model."""
        modifications = message.modifications
        if len(modifications) > self.max_bookings + 1:
            msg = (f"a patch of {len(modifications)} modifications; resource {self.id!r} holds at most "
                   f"{self.max_bookings} bookings")
            raise ProtocolError(msg)
        named = Counter(m.task.id if isinstance(m, WireAdd) else m.task_id for m in modifications)
        ops = Counter(m.op for m in modifications)
        if ops["add"] > 1 or ops["remove"] > 1 or any(
                count > 1 for task, count in named.items() if task != sender):
            msg = "a patch adds at most one task, removes at most one and names every other task once"
            raise ProtocolError(msg)
        booked = len(self.schedule.bookings)
        for modification in modifications:
            if isinstance(modification, WireAdd | WireRemove):
                task_id = modification.task.id if isinstance(modification, WireAdd) else modification.task_id
                if task_id != sender:
                    verb = modification.op
                    msg = (f"{sender!r} may not {verb} task {task_id!r}: a task agent adds and removes only "
                           "its own task")
                    raise ProtocolError(msg)
                if isinstance(modification, WireAdd):
                    check_fits_horizon(modification.task.task(), self.id, self.schedule.horizon)
                    self._check_times(task_id, modification.start, modification.task.duration)
                continue
            self._check_shift(modification, sender, message)
        if booked + ops["add"] - ops["remove"] > self.max_bookings:
            msg = f"resource {self.id!r} holds at most {self.max_bookings} bookings"
            raise ProtocolError(msg)

    def _check_shift(self, shift: WireShift, sender: str, message: PatchSubmit) -> None:
        current = self.schedule.booking_of(shift.task_id)
        if current is None:  # ``apply`` names it (after the version check: a stale patch is "stale")
            return
        self._check_times(shift.task_id, shift.start, current.task.duration)
        if abs(shift.old_start - current.start) > TIME_EPS and message.base_version == self.schedule.version:
            msg = (f"patch shifts task {shift.task_id!r} from {shift.old_start}, but it starts at {current.start} "
                   f"on resource {self.id!r}")
            raise ProtocolError(msg)
        if shift.task_id == sender:
            return
        key = self._keys.get(shift.task_id)
        if key is None or not valid_consent(shift.consent, key, task=shift.task_id, initiator=sender,
                                            resource=self.id, base_version=message.base_version,
                                            start=shift.start):
            msg = (f"{sender!r} may not shift task {shift.task_id!r}: its owner did not consent to this patch "
                   "(a shift of another's task needs the owner's consent from its review)")
            raise ProtocolError(msg)

    def _check_times(self, task_id: str, start: float, duration: float) -> None:
        horizon = self.schedule.horizon
        if start < -TIME_EPS or start + duration > horizon + TIME_EPS:
            msg = (f"task {task_id!r} on [{start}, {start + duration}] lies outside the horizon [0, {horizon}] "
                   f"of resource {self.id!r}")
            raise ProtocolError(msg)
