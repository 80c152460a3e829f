"""Adaptive scheduling with patches (seed 002): the pure model and the patch search on one resource."""

from edge_agent.algorithms.scheduling.model import TIME_EPS, Booking, ResourceSchedule, Task, check_fits_horizon
from edge_agent.algorithms.scheduling.placement import (
    GAIN_EPS,
    Add,
    Modification,
    Patch,
    Shift,
    apply,
    best_patch,
    passive_placement,
)
from edge_agent.algorithms.scheduling.pwl import PiecewiseLinear, constant, triangle

__all__ = [
    "GAIN_EPS",
    "TIME_EPS",
    "Add",
    "Booking",
    "Modification",
    "Patch",
    "PiecewiseLinear",
    "ResourceSchedule",
    "Shift",
    "Task",
    "apply",
    "best_patch",
    "check_fits_horizon",
    "constant",
    "passive_placement",
    "triangle",
]
