"""Finite schedule sets from device models, for :class:`~edge_agent.algorithms.cohda.EnumerationDecider`.

Sign convention as in :mod:`edge_agent.devices`: ``x[t] > 0`` is power delivered to the shared system,
``x[t] < 0`` power drawn (a load consuming, a battery charging).
"""

from __future__ import annotations

import numpy as np

from edge_agent.algorithms.cohda.performance import Array
from edge_agent.errors import ConfigError

__all__ = ["battery_schedules", "shifted_profiles"]


def shifted_profiles(profile: object, horizon: int, earliest_start: int = 0, latest_start: int | None = None) -> Array:
    """Every placement of a fixed load ``profile`` (power drawn per slot, >= 0) that fits in the horizon.

    Row ``k`` starts the profile at slot ``earliest_start + k``; the result is negative (drawn power).
    """
    shape = np.array(profile, dtype=np.float64)
    if shape.ndim != 1 or shape.size == 0 or not np.isfinite(shape).all() or (shape < 0).any():
        msg = "a shiftable load's profile must be a non-empty list of finite numbers >= 0 (power drawn per slot)"
        raise ConfigError(msg)
    last = horizon - shape.size if latest_start is None else latest_start
    if not 0 <= earliest_start <= last <= horizon - shape.size:
        msg = (
            f"a profile of {shape.size} slots must start in [{earliest_start}, {last}] and end within "
            f"{horizon} slots; no placement fits"
        )
        raise ConfigError(msg)
    starts = np.arange(earliest_start, last + 1)
    rows = np.zeros((starts.size, horizon))
    for k, start in enumerate(starts):
        rows[k, start : start + shape.size] = -shape
    return rows


def battery_schedules(
    horizon: int,
    count: int,
    rng: np.random.Generator,
    *,
    power_max: float,
    energy_max: float,
    energy_initial: float,
    energy_min: float = 0.0,
    slot_hours: float = 1.0,
) -> Array:
    """``count`` random feasible battery schedules; the first is idle (all zeros).

    Slot by slot, each schedule draws its power uniformly from what the power limit and the stored
    energy ``e[t+1] = e[t] - slot_hours * x[t]`` within ``[energy_min, energy_max]`` still allow.
    """
    if not (power_max > 0 and slot_hours > 0 and 0 <= energy_min <= energy_initial <= energy_max and count >= 1):
        msg = (
            "a battery needs power_max > 0, slot_hours > 0, 0 <= energy_min <= energy_initial <= energy_max "
            "and count >= 1"
        )
        raise ConfigError(msg)
    rows = np.zeros((count, horizon))
    energy = np.full(count - 1, float(energy_initial))
    for t in range(horizon):
        low = np.maximum(-power_max, (energy - energy_max) / slot_hours)
        high = np.minimum(power_max, (energy - energy_min) / slot_hours)
        power = rng.uniform(low, high)
        rows[1:, t] = power
        energy = np.clip(energy - slot_hours * power, energy_min, energy_max)
    return rows
