"""Adaptive scheduling of tasks on compute nodes as a registered family (:mod:`edge_agent.registry`)."""

from __future__ import annotations

from edge_agent.algorithms.scheduling.figure import plot_schedule_gantt
from edge_agent.algorithms.scheduling.messages import (
    BookingNotice,
    PatchOutcome,
    PatchReview,
    PatchSubmit,
    ReviewAnswer,
    ScheduleQuery,
    ScheduleState,
)
from edge_agent.algorithms.scheduling.plan import scheduling_plan
from edge_agent.algorithms.scheduling.resource_agent import ResourceAgent
from edge_agent.algorithms.scheduling.scenario import SchedulingScenario
from edge_agent.devices import AgentDevice, ComputeNode
from edge_agent.family import Family, RoleContext, one_run

__all__ = ["FAMILY"]


def _role(device: AgentDevice, context: RoleContext) -> ResourceAgent | None:
    """A compute node holds its schedule; a retained ``schedule`` record follows every change."""
    if not isinstance(device, ComputeNode):
        return None
    publish = context.publish
    resource = ResourceAgent(device.id, device.horizon_h,
                             None if publish is None else (lambda state: publish("schedule", state)))
    if publish is not None:
        publish("schedule", resource.state)
    return resource


FAMILY = Family(
    name="scheduling",
    messages=(ScheduleQuery, ScheduleState, PatchSubmit, PatchOutcome, PatchReview, ReviewAnswer, BookingNotice),
    scenarios=(SchedulingScenario,),
    role=_role,
    plan=scheduling_plan,
    figure=one_run(plot_schedule_gantt, "scheduling (Gantt chart)"),
)
