"""ADMM among agent processes: every device in its own process, the coordinator beside the launcher.

The coordinator sees only the devices' decisions, never their models. (``edge-agent fleet up`` runs the
coordinator as a service process of its own instead, and submits jobs to it: ``runtime/services.py``.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.algorithms.admm.scenario import AdmmConsensusScenario, AdmmSharingScenario
from edge_agent.carrier.base import Host
from edge_agent.devices import AgentDevice
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport

__all__ = ["AdmmPlan", "admm_plan"]


@dataclass(frozen=True)
class AdmmPlan:
    scenario: AdmmSharingScenario | AdmmConsensusScenario
    hosting: str = "one process per device, the coordinator in the launching process"

    def agents(self) -> Sequence[AgentDevice]:
        return self.scenario.participants

    async def launch(self, host: Host) -> RunReport:
        job = self.scenario.job()
        coordinator = job.coordinator(job.participants)
        started = time.perf_counter()
        result = await coordinator.run(host.add(coordinator))
        return job.report(result, messages=result.messages, wall_s=time.perf_counter() - started)


def admm_plan(scenario: ScenarioModel, options: RunOptions) -> AdmmPlan:
    if not isinstance(scenario, AdmmSharingScenario | AdmmConsensusScenario):
        raise ConfigError(f"an ADMM plan takes an ADMM scenario, not {scenario.algorithm!r}")
    return AdmmPlan(scenario)
