"""ADMM scenarios: devices share (``admm-sharing``) or are pulled toward (``admm-consensus``) a target."""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from edge_agent.algorithms.admm import (
    AdmmCoordinator,
    AdmmResult,
    AdmmSettings,
    AdmmVariant,
    ConsensusVariant,
    SharingVariant,
)
from edge_agent.config import StrictModel
from edge_agent.devices import DeviceSpec
from edge_agent.errors import ConfigError
from edge_agent.results import RunReport
from edge_agent.runtime.device_agent import DeviceAgent
from edge_agent.scenario.options import RunOptions

__all__ = ["AdmmConsensusScenario", "AdmmJobSpec", "AdmmSettingsSpec", "AdmmSharingScenario"]


class AdmmSettingsSpec(StrictModel):
    rho: float = Field(1.0, gt=0, description="ADMM penalty")
    max_iters: int = Field(1000, ge=1)
    abs_tol: float = Field(1e-6, gt=0)
    rel_tol: float = Field(1e-5, gt=0)
    round_timeout_s: float = Field(30.0, gt=0, description="deadline for every participant's answer, per round")
    on_silent: Literal["fail", "continue"] = Field(
        "fail", description="a participant silent past the deadline ends the run (fail) or is dropped (continue)"
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
    participants: list[str] = Field(default_factory=list)

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

    def report(self, result: AdmmResult, messages: int, wall_s: float) -> RunReport:
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
                "dropped": result.dropped,
                "history": [
                    {"round": r.round, "r_primal": r.r_primal, "r_dual": r.r_dual,
                     "eps_primal": r.eps_primal, "eps_dual": r.eps_dual}
                    for r in result.history
                ],
            },
        )


class _AdmmScenario(StrictModel):
    name: str = "unnamed"
    description: str = ""
    target: list[float] = Field(min_length=1, description="net power the fleet must deliver, one value per slot")
    settings: AdmmSettingsSpec = AdmmSettingsSpec()
    participants: list[DeviceSpec]

    @model_validator(mode="after")
    def _check_participants(self) -> _AdmmScenario:
        if not self.participants:
            msg = "at least one participant is needed, got none"
            raise ValueError(msg)
        seen: set[str] = set()
        for device in self.participants:
            if device.id in seen:
                msg = f"participant id {device.id!r} is used twice; ids must be unique"
                raise ValueError(msg)
            seen.add(device.id)
            size = device.fixed_size()
            if size is not None and size != len(self.target):
                msg = (
                    f"participant {device.id!r} has {size} variables but target has {len(self.target)} "
                    "entries; they must match"
                )
                raise ValueError(msg)
            try:
                device.local_problem(len(self.target))
            except ConfigError as error:
                raise ValueError(str(error)) from None
        return self

    def job(self) -> AdmmJobSpec:
        """The scenario as a coordinator job: the same run without the devices' parameters."""
        fields = self.model_dump(exclude={"description", "participants"})
        return AdmmJobSpec(**fields, participants=[device.id for device in self.participants])

    async def run(self, options: RunOptions) -> RunReport:
        job = self.job()
        coordinator = job.coordinator(job.participants)
        started = time.perf_counter()
        async with options.network() as network:
            for device in self.participants:
                network.add(DeviceAgent(device))
            result = await coordinator.run(network.add(coordinator))
        return job.report(result, messages=network.stats.sent, wall_s=time.perf_counter() - started)


class AdmmSharingScenario(_AdmmScenario):
    """``min sum_i f_i(x_i) + sum_j |p_j| |sum_i x_ij - t_j|``: meet the target, trading off local costs."""

    algorithm: Literal["admm-sharing"]
    priorities: list[float] | None = Field(
        None, description="weight of missing each target entry (default 1); above the marginal cost it is enforced"
    )

    @model_validator(mode="after")
    def _check_priorities(self) -> AdmmSharingScenario:
        self.job()  # the job's own checks (priorities per target entry)
        return self


class AdmmConsensusScenario(_AdmmScenario):
    """``min sum_i f_i(x_i) + (rho^2 / 2 alpha) ||sum_i x_i - t||^2``: larger alpha = weaker pull to the target."""

    algorithm: Literal["admm-consensus"]
    alpha: float = Field(100.0, gt=0)
