"""COHDA among agent processes: one per participant, gossip on the topology, and a launcher that listens to
every participant's gossip and declares the end (``docs/cohda.md``, "Over MQTT").

A participant's device model plays no part yet (the join carries its schedule set), so every agent process
runs a placeholder one-variable model.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from edge_agent.algorithms.cohda.launcher import CohdaLauncher, CohdaLaunchResult
from edge_agent.algorithms.cohda.performance import PERFORMANCES, Target, rate
from edge_agent.algorithms.cohda.scenario import CohdaScenario
from edge_agent.carrier.base import Host
from edge_agent.devices import AgentDevice, join_carried
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport, Status

__all__ = ["CohdaPlan", "cohda_launch_report", "cohda_plan"]

log = structlog.get_logger("edge_agent.cohda")


@dataclass(frozen=True)
class CohdaPlan:
    """``quiet_s``: how long the launcher hears no change before it declares the end; ``run_s``: the whole run."""

    scenario: CohdaScenario
    options: RunOptions = field(default_factory=lambda: RunOptions(run_id="cohda"))
    quiet_s: float = 2.0
    run_s: float = 600.0
    hosting: str = "one process per participant"

    def agents(self) -> Sequence[AgentDevice]:
        return join_carried(p.id for p in self.scenario.participants)

    async def launch(self, host: Host) -> RunReport:
        scenario = self.scenario
        run = f"{scenario.name[:40]}-{secrets.token_hex(4)}"
        joins = scenario.joins(run, self.options)
        launcher = CohdaLauncher(f"cohda-{secrets.token_hex(4)}")
        result = await launcher.run(host.add(launcher), run, joins, settle=host.settled, quiet_s=self.quiet_s,
                                    run_s=self.run_s)
        log.info("cohda.mqtt_run_done", run=run, updates=result.updates, wall_s=round(result.wall_s, 3))
        report = cohda_launch_report(scenario, result, Target.from_wire(next(iter(joins.values())).target))
        report.extra["transport"] |= {"run": run, "quiet_s": self.quiet_s}
        return report


def cohda_plan(scenario: ScenarioModel, options: RunOptions) -> CohdaPlan:
    if not isinstance(scenario, CohdaScenario):
        raise ConfigError(f"a COHDA plan takes a COHDA scenario, not {scenario.algorithm!r}")
    if scenario.settings.restarts:
        raise ConfigError(
            f"scenario {scenario.name!r}: settings.restarts ({scenario.settings.restarts}) runs in process only; "
            "set it to 0 for --carrier mqtt, or solve in process"
        )
    return CohdaPlan(scenario, options)


def cohda_launch_report(
    scenario: CohdaScenario, result: CohdaLaunchResult, target: Target
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
            "status_basis": {
                "feasibility": "selection: every participant's schedule is one of its own (no coupling residual)",
                "optimality": "local: agreed, complete candidate no participant or offered pair improves",
                "agreed": agreed, "complete": complete, "capped": capped, "distance": distance(aggregate),
            },
            "transport": {"received": {pid: c.received for pid, c in choices.items()}},
        },
    )
