"""Adaptive scheduling with patches (seed 002): the model, the patch search, the negotiating agents."""

from edge_agent.algorithms.scheduling.messages import (
    BookingNotice,
    PatchOutcome,
    PatchReview,
    PatchSubmit,
    ReviewAnswer,
    ScheduleQuery,
    ScheduleState,
)
from edge_agent.algorithms.scheduling.model import TIME_EPS, Booking, ResourceSchedule, Task, check_fits_horizon
from edge_agent.algorithms.scheduling.placement import (
    GAIN_EPS,
    Add,
    Modification,
    Patch,
    Remove,
    Shift,
    apply,
    best_patch,
    passive_placement,
)
from edge_agent.algorithms.scheduling.pwl import PiecewiseLinear, constant, triangle
from edge_agent.algorithms.scheduling.resource_agent import ResourceAgent
from edge_agent.algorithms.scheduling.task_agent import Behaviour, Limits, Placement, TaskAgent
from edge_agent.algorithms.scheduling.timeline import (
    Arrival,
    Cancellation,
    Event,
    NodeFailure,
    check_timeline,
    drive,
    re_place,
)

__all__ = [
    "GAIN_EPS",
    "TIME_EPS",
    "Add",
    "Arrival",
    "Behaviour",
    "Booking",
    "BookingNotice",
    "Cancellation",
    "Event",
    "Limits",
    "Modification",
    "NodeFailure",
    "Patch",
    "PatchOutcome",
    "PatchReview",
    "PatchSubmit",
    "PiecewiseLinear",
    "Placement",
    "Remove",
    "ResourceAgent",
    "ResourceSchedule",
    "ReviewAnswer",
    "ScheduleQuery",
    "ScheduleState",
    "Shift",
    "Task",
    "TaskAgent",
    "apply",
    "best_patch",
    "check_fits_horizon",
    "check_timeline",
    "constant",
    "drive",
    "passive_placement",
    "re_place",
    "triangle",
]
