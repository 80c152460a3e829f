"""Consensus dispatch among agent processes: one per generator, no coordinator; a launcher that watches.

The launcher asks every generator to join the run (its in-neighbours, the settings), starts it, and collects
the outcomes once every device reported its end (``docs/consensus.md``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from edge_agent.algorithms.consensus.launcher import ConsensusLauncher, LaunchDeadlines
from edge_agent.algorithms.consensus.scenario import (
    ConsensusDispatchScenario,
    DiffusionDispatchScenario,
    PrimalDualDispatchScenario,
)
from edge_agent.carrier.base import Host
from edge_agent.devices import AgentDevice
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport

__all__ = ["ConsensusPlan", "DispatchScenario", "consensus_plan"]

log = structlog.get_logger("edge_agent.consensus")

DispatchScenario = PrimalDualDispatchScenario | ConsensusDispatchScenario | DiffusionDispatchScenario


@dataclass(frozen=True)
class ConsensusPlan:
    scenario: DispatchScenario
    deadlines: LaunchDeadlines | None = None
    run_id: str | None = None
    hosting: str = "one process per generator"

    def agents(self) -> Sequence[AgentDevice]:
        return self.scenario.participants

    async def launch(self, host: Host) -> RunReport:
        scenario = self.scenario
        run = self.run_id or f"{scenario.name[:40]}-{secrets.token_hex(4)}"
        launcher = ConsensusLauncher(f"consensus-{secrets.token_hex(4)}")
        started = time.perf_counter()
        result = await launcher.run(host.add(launcher), run, scenario.joins(run),
                                    history_points=scenario.history_points, deadlines=self.deadlines)
        wall_s = time.perf_counter() - started
        log.info("consensus.mqtt_run_done", run=run, iterations=result.iterations, wall_s=round(wall_s, 3))
        return scenario.launch_report(result, wall_s=wall_s)


def consensus_plan(scenario: ScenarioModel, options: RunOptions) -> ConsensusPlan:
    if not isinstance(scenario, PrimalDualDispatchScenario | ConsensusDispatchScenario | DiffusionDispatchScenario):
        raise ConfigError(f"over MQTT, consensus runs dispatch scenarios (primal-dual-dispatch, consensus-dispatch, "
                          f"diffusion-dispatch), "
                          f"not {scenario.algorithm!r}")
    return ConsensusPlan(scenario)
