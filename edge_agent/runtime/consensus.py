"""Consensus dispatch over MQTT: one device agent process per generator, and a launcher that watches.

:func:`run_consensus_fleet` is what ``edge-agent solve <dispatch scenario> --carrier mqtt`` runs: a private
broker (unless one is given), one ``edge-agent agent`` process per generator of the scenario, then
:func:`launch_consensus`. That one needs only a broker on which the agents are (or will be) present, so it
also serves agents started otherwise (a real fleet, or many devices hosted in one process by a benchmark).
How a run proceeds and ends is described in ``docs/consensus.md``.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import structlog

from edge_agent.algorithms.consensus.launcher import ConsensusLauncher, LaunchDeadlines
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.results import RunReport
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import device_processes, wait_for_agents
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.scenario.consensus import ConsensusDispatchScenario, PrimalDualDispatchScenario

__all__ = ["DispatchScenario", "launch_consensus", "run_consensus_fleet"]

log = structlog.get_logger("edge_agent.consensus")

DispatchScenario = PrimalDualDispatchScenario | ConsensusDispatchScenario


def run_consensus_fleet(
    scenario: DispatchScenario,
    broker_url: str | None = None,
    *,
    prefix: str = "edge",
    deadlines: LaunchDeadlines | None = None,
) -> RunReport:
    """Run ``scenario`` with one agent process per generator; tear everything down whatever happens."""
    devices = [DeviceConfig(id=g.id, device=g, prefix=prefix) for g in scenario.participants]
    with device_processes(devices, broker_url) as (url, processes):
        return asyncio.run(launch_consensus(scenario, url, prefix, processes=processes, deadlines=deadlines))


async def launch_consensus(
    scenario: DispatchScenario,
    broker_url: str,
    prefix: str = "edge",
    *,
    processes: ProcessGroup | None = None,
    deadlines: LaunchDeadlines | None = None,
    run_id: str | None = None,
    options: MqttOptions | None = None,
    hosting: str = "one process per generator",
) -> RunReport:
    """Wait until every generator's agent is present, run the scenario among them, return the report.

    ``processes``: the agents' processes, if ours (a child that exits while we wait fails at once, with its
    output). ``hosting`` describes where the agents run, for the report's ``transport`` entry.
    """
    run = run_id or f"{scenario.name[:40]}-{secrets.token_hex(4)}"
    launcher = ConsensusLauncher(f"launcher-{secrets.token_hex(4)}")
    ids = scenario.ids()
    async with MqttConnection(broker_url, prefix=prefix, client_id=launcher.id, options=options) as connection:
        carrier = connection.add(launcher)
        await wait_for_agents(connection, ids, processes)
        started = time.perf_counter()
        result = await launcher.run(carrier, run, scenario.joins(run), history_points=scenario.history_points,
                                    deadlines=deadlines)
        wall_s = time.perf_counter() - started
        transport = {"carrier": "mqtt", "hosting": hosting, "broker": broker_url, "prefix": prefix,
                     "launcher_received": connection.stats.received, "launcher_duplicates": connection.stats.duplicates}
    log.info("consensus.mqtt_run_done", run=run, iterations=result.iterations, wall_s=round(wall_s, 3))
    return scenario.launch_report(result, wall_s=wall_s, transport=transport)
