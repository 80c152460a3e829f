"""COHDA over MQTT: one ``edge-agent agent`` process per participant, gossip on the topology, a launcher that
listens to every participant's gossip and declares the end (``docs/cohda.md``, "Over MQTT").

:func:`run_cohda_fleet` is what ``edge-agent solve <cohda scenario> --carrier mqtt`` runs: a private broker
(unless one is given), one agent process per participant, then :func:`launch_cohda`, which needs only a broker
on which the agents are (or will be) present.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import numpy as np
import structlog

from edge_agent.algorithms.cohda.launcher import CohdaLauncher, CohdaLaunchResult
from edge_agent.algorithms.cohda.performance import PERFORMANCES, Target, rate
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import MqttOptions
from edge_agent.devices import GenericQP
from edge_agent.results import RunReport, Status
from edge_agent.runtime.device_config import DeviceConfig
from edge_agent.runtime.fleet import device_processes, wait_for_agents
from edge_agent.runtime.processes import ProcessGroup
from edge_agent.scenario.cohda import CohdaScenario
from edge_agent.scenario.options import RunOptions

__all__ = ["cohda_devices", "cohda_launch_report", "launch_cohda", "run_cohda_fleet"]

log = structlog.get_logger("edge_agent.cohda")


def cohda_devices(scenario: CohdaScenario, prefix: str = "edge") -> list[DeviceConfig]:
    """One agent configuration per participant. Its device model plays no part yet (the join carries the
    schedule set), so every agent gets a placeholder one-variable model."""
    return [DeviceConfig(id=p.id, device=_placeholder(p.id), prefix=prefix) for p in scenario.participants]


def _placeholder(id: str) -> GenericQP:
    return GenericQP(id=id, kind="qp", lb=[0.0], ub=[0.0])


def run_cohda_fleet(
    scenario: CohdaScenario,
    broker_url: str | None = None,
    *,
    prefix: str = "edge",
    options: RunOptions | None = None,
    quiet_s: float = 2.0,
) -> RunReport:
    """Run ``scenario`` with one agent process per participant; tear everything down whatever happens."""
    with device_processes(cohda_devices(scenario, prefix), broker_url) as (url, processes):
        return asyncio.run(launch_cohda(scenario, url, prefix, processes=processes, options=options,
                                        quiet_s=quiet_s))


async def launch_cohda(
    scenario: CohdaScenario,
    broker_url: str,
    prefix: str = "edge",
    *,
    processes: ProcessGroup | None = None,
    options: RunOptions | None = None,
    quiet_s: float = 2.0,
    run_s: float = 600.0,
    mqtt: MqttOptions | None = None,
    hosting: str = "one process per participant",
) -> RunReport:
    """Wait until every participant's agent is present, run the scenario among them, return the report."""
    run = f"{scenario.name[:40]}-{secrets.token_hex(4)}"
    options = options or RunOptions(run_id=run)
    launcher = CohdaLauncher(f"launcher-{secrets.token_hex(4)}")
    ids = [p.id for p in scenario.participants]
    joins = scenario.joins(run, options)
    async with MqttConnection(broker_url, prefix=prefix, client_id=launcher.id, options=mqtt) as connection:
        carrier = connection.add(launcher)
        await wait_for_agents(connection, ids, processes)
        result = await launcher.run(carrier, run, joins, settle=connection.settled, quiet_s=quiet_s, run_s=run_s)
        transport = {"carrier": "mqtt", "hosting": hosting, "broker": broker_url, "prefix": prefix, "run": run,
                     "quiet_s": quiet_s, "launcher_received": connection.stats.received,
                     "launcher_duplicates": connection.stats.duplicates}
    log.info("cohda.mqtt_run_done", run=run, updates=result.updates, wall_s=round(result.wall_s, 3))
    target = Target.from_wire(joins[ids[0]].target)
    return cohda_launch_report(scenario, result, target, transport)


def cohda_launch_report(
    scenario: CohdaScenario, result: CohdaLaunchResult, target: Target, transport: dict[str, Any]
) -> RunReport:
    """The same report as an in-process run (same keys), from the participants' answers, plus ``transport``."""
    choices = result.choices
    schedules = {pid: np.asarray(c.schedule, dtype=np.float64) for pid, c in choices.items()}
    aggregate = np.sum(list(schedules.values()), axis=0)
    start = np.sum([np.asarray(c.initial, dtype=np.float64) for c in choices.values()], axis=0)
    agreed = all(c.agreed for c in choices.values())
    complete = set(result.candidate.ids) == set(choices)
    capped = any(c.capped for c in choices.values())
    status: Status = "max_iterations" if capped else ("converged" if agreed and complete else "failed")

    def distance(values: np.ndarray[Any, np.dtype[np.float64]]) -> float:
        return float((np.abs(target.values - values) * target.weights).sum())

    return RunReport(
        scenario=scenario.name,
        algorithm="cohda",
        status=status,
        objective=-rate(PERFORMANCES[scenario.performance], aggregate, target),
        iterations=max(c.decisions for c in choices.values()),
        messages=result.updates,
        wall_s=result.wall_s,
        aggregate=aggregate.tolist(),
        participants={pid: {"x": schedules[pid].tolist(), "index": c.index, "decisions": c.decisions}
                      for pid, c in choices.items()},
        extra={
            "target": target.values.tolist(),
            "weights": target.weights.tolist(),
            "distance": distance(aggregate),
            "start_distance": distance(start),
            "start_aggregate": start.tolist(),
            "chosen_index": {pid: c.index for pid, c in choices.items()},
            "agreed": agreed,
            "topology": scenario.topology.kind,
            "moves": sum(c.moves for c in choices.values()),
            "dropped_updates": sum(c.dropped for c in choices.values()),
            "transport": {**transport, "received": {pid: c.received for pid, c in choices.items()}},
        },
    )
