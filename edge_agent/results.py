"""The result every run produces, whatever the algorithm: one shape for tables, JSON and plots.

A run's :data:`Status` says how far its answer can be trusted, and :data:`EXIT_CODES` is the one
mapping from status to the exit code of ``edge-agent solve`` (documented in the README):

========================  ====  ==============================================================
status                    exit  meaning
========================  ====  ==============================================================
``converged``             0     coupling/balance residual within the stated absolute tolerance
                                *and* the method's optimality test passed
``approximate``           4     feasible within tolerance, optimality not shown (heuristics,
                                local optima, a stopping test not reached)
``max_iterations``        3     the iteration cap ended the run before its tests held
``infeasible_result``     5     the method's own test held, but the delivered balance/coupling
                                misses the stated tolerance
``diverged``              6     iterates left every sensible bound (or became NaN); stopped early
``infeasible``            7     the method proved that the instance has no feasible point
``failed``                1     the run did not produce a usable answer
========================  ====  ==============================================================

Invalid input exits with 2 and a run-time failure (an exception) with 1, before any status exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EXIT_CODES", "RunReport", "Status", "exit_code", "worst_exit_code"]

Status = Literal["converged", "approximate", "max_iterations", "infeasible_result", "diverged", "infeasible",
                 "failed"]

EXIT_CODES: dict[str, int] = {
    "converged": 0,
    "failed": 1,
    "max_iterations": 3,
    "approximate": 4,
    "infeasible_result": 5,
    "diverged": 6,
    "infeasible": 7,
}
# Which status decides the exit code of several runs: the least trustworthy one.
_SEVERITY = ("converged", "approximate", "max_iterations", "infeasible_result", "diverged", "infeasible", "failed")


def exit_code(status: str) -> int:
    """The CLI exit code of a run that ended with ``status`` (1 for an unknown status)."""
    return EXIT_CODES.get(status, 1)


def worst_exit_code(statuses: Iterable[str]) -> int:
    """The exit code of a batch of runs: that of the least trustworthy status among them (0 if none)."""
    ranked = [s if s in _SEVERITY else "failed" for s in statuses]
    return exit_code(max(ranked, key=_SEVERITY.index)) if ranked else 0


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
