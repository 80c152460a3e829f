"""An ADMM job: the public description of a run (coupling, target, settings, who takes part).

It is what a coordinator needs and all it gets: the devices keep their models. Scenario files add
the devices to it; over MQTT it travels inside an :class:`AdmmJob` message.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, JsonValue, model_validator

from edge_agent.algorithms.admm.coordinator import AdmmCoordinator, AdmmResult, AdmmSettings, AdmmVariant
from edge_agent.algorithms.admm.variants import ConsensusVariant, SharingVariant
from edge_agent.config import StrictModel
from edge_agent.ids import AgentId
from edge_agent.messages import Message
from edge_agent.results import RunReport

__all__ = ["AdmmJob", "AdmmJobResult", "AdmmJobSpec"]


class AdmmJobSpec(StrictModel):
    """What a coordinator needs to run ADMM: everything but the devices' private models.

    ``participants`` names the devices taking part (empty: every device present, over MQTT).
    """

    algorithm: Literal["admm-sharing", "admm-consensus"]
    name: str = "unnamed"
    target: list[float] = Field(min_length=1, description="net power the fleet must deliver, one value per slot")
    priorities: list[float] | None = Field(
        None, description="sharing: weight of missing each target entry (default 1); above the marginal cost "
        "it is enforced exactly"
    )
    alpha: float = Field(100.0, gt=0, description="consensus: the pull is (rho^2 / 2 alpha) ||sum x - t||^2")
    settings: AdmmSettings = AdmmSettings()
    participants: list[AgentId] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_priorities(self) -> AdmmJobSpec:
        if self.priorities is not None and len(self.priorities) != len(self.target):
            msg = (
                f"priorities has {len(self.priorities)} entries but target has {len(self.target)}; "
                "give one priority per target entry"
            )
            raise ValueError(msg)
        return self

    def variant(self) -> AdmmVariant:
        if self.algorithm == "admm-sharing":
            return SharingVariant(self.target, self.priorities)
        return ConsensusVariant(np.array(self.target), self.alpha, self.settings.rho)

    def coordinator(self, participants: list[str], id: str = "coordinator") -> AdmmCoordinator:
        return AdmmCoordinator(self.variant(), participants, len(self.target), self.settings, id=id)

    def report(self, result: AdmmResult, messages: int, wall_s: float, history_points: int = 1000) -> RunReport:
        """The run's report; its residual history keeps at most ``history_points`` rounds (evenly spaced, the
        first and the last among them), so that a report of any run fits in one message."""
        kept = np.unique(np.linspace(0, len(result.history) - 1, min(len(result.history), history_points)).round())
        return RunReport(
            scenario=self.name,
            algorithm=self.algorithm,
            status=result.status,
            objective=result.objective,
            iterations=result.iterations,
            messages=messages,
            wall_s=wall_s,
            aggregate=result.aggregate.tolist(),
            participants={
                pid: {"x": x.tolist(), "cost": result.local_costs[pid]} for pid, x in result.x.items()
            },
            extra={
                "target": self.target,
                "status_basis": _status_basis(result, self.settings),
                "dropped": result.dropped,
                "history": [
                    {"round": r.round, "r_primal": r.r_primal, "r_dual": r.r_dual,
                     "eps_primal": r.eps_primal, "eps_dual": r.eps_dual, "rho": r.rho}
                    for r in (result.history[int(i)] for i in kept)
                ],
            },
        )


def _status_basis(result: AdmmResult, settings: AdmmSettings) -> dict[str, float | int]:
    """The residuals of the last round, which decided the status."""
    if not result.history:
        return {}
    last = result.history[-1]
    return {
        "round": last.round, "r_primal": last.r_primal, "eps_primal": last.eps_primal, "r_dual": last.r_dual,
        "eps_dual": last.eps_dual, "coupling": last.coupling, "feasibility_tol": settings.feasibility_tol,
        "rho": last.rho,
    }


class AdmmJob(Message):
    """Requester -> coordinator service: run this job and reply with an :class:`AdmmJobResult`.

    ``issued_at`` (seconds since the epoch, the requester's clock) bounds how long a captured job could be
    replayed: the service refuses jobs issued outside its validity window.
    """

    kind: Literal["admm.job"] = "admm.job"
    job: AdmmJobSpec
    issued_at: float = Field(allow_inf_nan=False)


class AdmmJobResult(Message):
    """Coordinator service -> requester: the run's report (the JSON of ``edge-agent solve``), or why it failed."""

    kind: Literal["admm.job_result"] = "admm.job_result"
    job: str
    error: str | None = None
    report: dict[str, JsonValue] | None = None
