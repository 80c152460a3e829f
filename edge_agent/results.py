"""The result every run produces, whatever the algorithm: one shape for tables, JSON and plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["RunReport", "Status"]

Status = Literal["converged", "max_iterations", "failed"]


@dataclass
class RunReport:
    """What ``edge-agent solve`` prints.

    ``participants`` maps each id to at least ``{"x": [...]}`` (its final decision); ``extra`` holds the
    algorithm's own top-level keys (multipliers, residual history, ...), merged into the JSON form.
    """

    scenario: str
    algorithm: str
    status: Status
    objective: float
    iterations: int
    messages: int
    wall_s: float
    aggregate: list[float]
    participants: dict[str, dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        core = {
            "scenario": self.scenario,
            "algorithm": self.algorithm,
            "status": self.status,
            "objective": self.objective,
            "iterations": self.iterations,
            "messages": self.messages,
            "wall_s": self.wall_s,
            "aggregate": self.aggregate,
            "participants": self.participants,
        }
        clash = core.keys() & self.extra.keys()
        if clash:
            msg = f"algorithm-specific result keys {sorted(clash)} would overwrite the common ones"
            raise ValueError(msg)
        return {**core, **self.extra}
