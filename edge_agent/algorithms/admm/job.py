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

__all__ = ["AdmmJob", "AdmmJobResult", "AdmmJobSpec", "AdmmSettingsSpec"]


class AdmmSettingsSpec(StrictModel):
    rho: float = Field(1.0, gt=0, description="ADMM penalty")
    max_iters: int = Field(1000, ge=1)
    abs_tol: float = Field(1e-6, gt=0)
    rel_tol: float = Field(1e-6, gt=0)
    round_timeout_s: float = Field(30.0, gt=0, description="deadline for every participant's answer, per round")
    on_silent: Literal["fail", "continue"] = Field(
        "fail", description="a participant silent past the deadline ends the run (fail) or is dropped (continue)"
    )
    rho_update: Literal["fixed", "balance"] = Field(
        "fixed", description="balance: residual balancing of rho every adapt_every rounds (docs/admm.md)"
    )
    adapt_every: int = Field(5, ge=1)
    adapt_ratio: float = Field(5.0, gt=1)
    adapt_factor: float = Field(2.0, gt=1)
    rho_min: float = Field(1e-6, gt=0)
    rho_max: float = Field(1e6, gt=0)
    relaxation: float = Field(1.0, gt=0, lt=2, description="over-relaxation alpha (1: none)")
    feasibility_tol: float = Field(
        1e-3, gt=0, description="converged needs max_j |sum_i (x_ij - z_ij)| within this (absolute)"
    )

    def settings(self) -> AdmmSettings:
        return AdmmSettings(**self.model_dump())


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
    settings: AdmmSettingsSpec = AdmmSettingsSpec()
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
        return AdmmCoordinator(self.variant(), participants, len(self.target), self.settings.settings(), id=id)

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


def _status_basis(result: AdmmResult, settings: AdmmSettingsSpec) -> dict[str, float | int]:
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
