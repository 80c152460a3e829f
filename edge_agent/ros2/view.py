"""The fleet as ROS 2 messages: what the dashboard's :class:`FleetState` folded from the broker, re-typed.

The broker's records are parsed and checked once, by :class:`FleetState` (presence, device records, run
progress, run reports: bounds, drivers, untrusted payloads counted and dropped); this module only turns its
view into messages of the types of :mod:`edge_agent.ros2.interfaces`:

- every agent as one ``diagnostic_msgs/DiagnosticStatus`` (``OK`` online, ``STALE`` offline; ``hardware_id`` the
  agent id; values ``kind``, ``online``, ``since``, ``last_seen``), in ``DiagnosticArray`` chunks of at most
  :data:`STATUSES_PER_ARRAY`;
- each progress record of a run as an ``edge_agent_msgs/RunProgress``, each final report as a ``RunResult``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from edge_agent.dashboard.state import FleetState
from edge_agent.ros2.interfaces import DIAGNOSTIC_ARRAY, RUN_PROGRESS, RUN_RESULT, RosType

__all__ = ["STATUSES_PER_ARRAY", "diagnostics", "run_progress", "run_result", "stamp"]

STATUSES_PER_ARRAY = 500
_OK, _STALE = 0, 3


def stamp(seconds: float) -> Any:
    """A ``builtin_interfaces/Time``."""
    whole = math.floor(seconds)
    return _new("builtin_interfaces/msg/Time", sec=int(whole), nanosec=min(999_999_999, round((seconds - whole) * 1e9)))


def diagnostics(state: FleetState, agents: Iterable[str], now: float) -> list[Any]:
    """``DiagnosticArray`` messages for ``agents`` (ids known to ``state``; others are skipped)."""
    statuses = [_status(state, agent) for agent in agents if agent in state.agents]
    header = _new("std_msgs/msg/Header", stamp=stamp(now), frame_id="")
    return [DIAGNOSTIC_ARRAY.new(header=header, status=statuses[i:i + STATUSES_PER_ARRAY])
            for i in range(0, len(statuses), STATUSES_PER_ARRAY)]


def _status(state: FleetState, agent_id: str) -> Any:
    agent = state.agents[agent_id]
    values = {"kind": agent.kind or "", "online": str(agent.online).lower(), "since": _seconds(agent.since),
              "last_seen": _seconds(agent.last_seen)}
    return _new("diagnostic_msgs/msg/DiagnosticStatus", level=_OK if agent.online else _STALE,
                name=f"edge_agent/{state.topics.prefix}/{agent.id}", message="online" if agent.online else "offline",
                hardware_id=agent.id,
                values=[_new("diagnostic_msgs/msg/KeyValue", key=k, value=v) for k, v in values.items()])


def run_progress(state: FleetState, run: str, new_points: list[list[float | None]], now: float) -> Any:
    """The ``RunProgress`` of ``run`` after a progress record (``new_points``: its ``[round, primal, dual]``)."""
    view = state.runs[run]
    header = view.header
    max_iterations = header.get("max_iterations")  # None: no budget (-1 on the wire)
    return RUN_PROGRESS.new(
        stamp=stamp(now), run=view.run, job=_text(header.get("job")), algorithm=_text(header.get("algorithm")),
        driver=view.driver, status=_text(header.get("status")), iteration=_count(header.get("iteration")),
        max_iterations=_int64(max_iterations),
        participants=_count(header.get("participants")), present=_count(header.get("present")),
        started_at=_float(header.get("started_at")), elapsed_s=_float(header.get("elapsed_s")),
        rounds=np.array([_count(p[0]) for p in new_points], dtype=np.uint32),
        primal_residual=np.array([_float(p[1]) for p in new_points], dtype=np.float64),
        dual_residual=np.array([_float(p[2]) for p in new_points], dtype=np.float64),
    )


def run_result(state: FleetState, run: str, now: float) -> Any:
    """The ``RunResult`` of ``run`` once its final report arrived."""
    view = state.runs[run]
    result: Mapping[str, Any] = view.result or {}
    devices = result.get("participants")
    devices = devices if isinstance(devices, dict) else {}
    aggregate = result.get("aggregate")
    iterations = result.get("iterations")
    return RUN_RESULT.new(
        stamp=stamp(now), run=view.run, job=_text(view.header.get("job")), driver=view.driver,
        status=_text(result.get("status")), error=_text(result.get("error")), objective=_float(result.get("objective")),
        iterations=_int64(iterations), wall_s=_float(result.get("wall_s")),
        aggregate=np.array([_float(v) for v in aggregate] if isinstance(aggregate, list) else [], dtype=np.float64),
        devices=list(devices),
        device_costs=np.array([_float(v.get("cost")) if isinstance(v, dict) else math.nan for v in devices.values()],
                              dtype=np.float64),
    )


def _new(type_name: str, /, **fields: Any) -> Any:
    return RosType(type_name).new(**fields)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32 else 0


def _int64(value: object) -> int:
    """A count for an ``int64`` field: -1 when absent or out of range."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else -1


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
