"""ADMM scenarios: devices share (``admm-sharing``) or are pulled toward (``admm-consensus``) a target."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from edge_agent.algorithms.admm.coordinator import AdmmSettings
from edge_agent.algorithms.admm.device import AdmmDevice
from edge_agent.algorithms.admm.job import AdmmJobSpec
from edge_agent.carrier.base import Network
from edge_agent.config import StrictModel, require_unique
from edge_agent.devices import AgentDevice, DeviceSpec
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.results import RunReport

__all__ = ["AdmmConsensusScenario", "AdmmSharingScenario", "run_admm_job"]


async def run_admm_job(job: AdmmJobSpec, devices: Sequence[AgentDevice], network: Network) -> RunReport:
    """Run ``job`` in one process: an :class:`AdmmDevice` per device taking part, the coordinator beside them."""
    participants = job.participants or [device.id for device in devices]
    coordinator = job.coordinator(participants)
    started = time.perf_counter()
    async with network:
        for device in devices:
            if device.id in participants:
                network.add(AdmmDevice(device))
        result = await coordinator.run(network.add(coordinator))
    return job.report(result, messages=network.stats.sent, wall_s=time.perf_counter() - started)


class _AdmmScenario(StrictModel):
    name: str = "unnamed"
    description: str = ""
    target: list[float] = Field(min_length=1, description="net power the fleet must deliver, one value per slot")
    settings: AdmmSettings = AdmmSettings()
    participants: list[DeviceSpec]

    @model_validator(mode="after")
    def _check_participants(self) -> _AdmmScenario:
        if not self.participants:
            msg = "at least one participant is needed, got none"
            raise ValueError(msg)
        require_unique(device.id for device in self.participants)
        for device in self.participants:
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

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        return await run_admm_job(self.job(), self.participants, network)


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
