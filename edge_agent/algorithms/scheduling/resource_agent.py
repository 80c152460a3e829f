"""The resource agent: the one holder of a compute node's schedule.

It answers ``sched.query`` with its current state and applies ``sched.patch`` requests one at a time. A
patch may add or remove only the sender's own task; it is validated against the *current* version and
applied whole (``apply``), or refused with the reason and the current state (stale, unknown task,
overlap, ...). Handling a patch never awaits, so two initiators on one resource are serialised by the
version check alone: the first applies, the second gets "stale" and the new state. After a patch the
agent tells every other task it moved (``sched.notice``) and hands the new state to ``on_change`` (a
compute node publishes it as its retained schedule record).

:meth:`ResourceAgent.fail` simulates the node going down: from then on it answers nothing (requests to
it time out).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from edge_agent.algorithms.scheduling.messages import (
    BookingNotice,
    PatchOutcome,
    PatchSubmit,
    ScheduleQuery,
    ScheduleState,
)
from edge_agent.algorithms.scheduling.model import ResourceSchedule
from edge_agent.algorithms.scheduling.placement import Add, Modification, Remove, Shift, apply
from edge_agent.carrier.base import Carrier
from edge_agent.errors import EdgeAgentError, ProtocolError
from edge_agent.messages import Envelope, Message

__all__ = ["ResourceAgent"]

log = structlog.get_logger("edge_agent.scheduling")


class ResourceAgent:
    def __init__(
        self, resource_id: str, horizon: float, on_change: Callable[[ScheduleState], None] | None = None
    ) -> None:
        self.schedule = ResourceSchedule(resource_id, horizon)
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
        patch = message.patch()
        try:
            _check_own(patch.modifications, envelope.sender)
            self.schedule = apply(self.schedule, patch)
        except EdgeAgentError as error:
            self.refused += 1
            log.debug("sched.patch_refused", resource=self.id, sender=envelope.sender, reason=str(error))
            carrier.reply(PatchOutcome(applied=False, reason=str(error), state=self.state), envelope)
            return
        self.applied += 1
        state = self.state
        carrier.reply(PatchOutcome(applied=True, state=state), envelope)
        for modification in patch.modifications:
            if isinstance(modification, Shift) and modification.task_id != envelope.sender:
                carrier.send(BookingNotice(resource=self.id, version=state.version, start=modification.start),
                             modification.task_id)
        if self._on_change is not None:
            self._on_change(state)


def _check_own(modifications: tuple[Modification, ...], sender: str) -> None:
    """A task agent may add or remove only its own task (shifts of others are what it negotiated)."""
    for modification in modifications:
        task_id = modification.task.id if isinstance(modification, Add) else modification.task_id
        if isinstance(modification, Add | Remove) and task_id != sender:
            verb = "add" if isinstance(modification, Add) else "remove"
            msg = f"{sender!r} may not {verb} task {task_id!r}: a task agent adds and removes only its own task"
            raise ProtocolError(msg)
