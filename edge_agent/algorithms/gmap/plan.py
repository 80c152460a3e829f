"""DisLRP among agent processes: one per GMAP agent, cycle gossip only between agents sharing a good, and a
launcher that joins, starts, waits for every agent's end and collects the histories (``launcher``); the
bounds are then computed here exactly as in process (``runner.bounds``).

A GMAP agent's device model plays no part (its data comes in its join), so every agent process runs a
placeholder one-variable model.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog

from edge_agent.algorithms.gmap.agent import Step
from edge_agent.algorithms.gmap.launcher import GmapLauncher, GmapLaunchResult
from edge_agent.algorithms.gmap.messages import DisLrpJoin, DisLrpOutcome, DisLrpSettingsWire
from edge_agent.algorithms.gmap.model import Gmap
from edge_agent.algorithms.gmap.runner import DisLrpOutcome as Outcome
from edge_agent.algorithms.gmap.runner import dislrp_report, local_problems
from edge_agent.algorithms.gmap.scenario import GmapScenario
from edge_agent.carrier.base import Host
from edge_agent.devices import AgentDevice, join_carried
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport

__all__ = ["GmapPlan", "gmap_joins", "gmap_launch_report", "gmap_plan", "histories"]

log = structlog.get_logger("edge_agent.gmap")


def gmap_joins(scenario: GmapScenario, run: str) -> dict[str, DisLrpJoin]:
    """What each agent is told to join run ``run``: its own row of the problem and the settings."""
    s = scenario.settings()
    settings = DisLrpSettingsWire(max_cycles=s.max_cycles, hops=s.hops, initial_step=s.initial_step, grow=s.grow,
                                  shrink=s.shrink)
    return {local.agent: DisLrpJoin(run=run, in_neighbours=local.neighbours, settings=settings, gain=local.gain,
                                    weight=tuple(int(w) for w in local.weight), capacity=local.capacity,
                                    goods=tuple(int(j) for j in local.goods), scale=local.scale)
            for local in local_problems(scenario.problem())}


def histories(problem: Gmap, outcomes: dict[str, DisLrpOutcome]) -> list[list[Step]]:
    """Each agent's history (in the problem's agent order) rebuilt from its outcome."""
    n = len(problem.goods)
    found = []
    for i, agent in enumerate(problem.agents):
        outcome = outcomes[agent]
        goods = np.flatnonzero(problem.eligible[i])
        prices = np.zeros((len(outcome.values), len(goods))) if outcome.prices is None else np.asarray(outcome.prices)
        if prices.shape != (len(outcome.values), len(goods)):
            raise ConfigError(f"agent {agent!r} reported prices of shape {list(prices.shape)}; expected "
                              f"{[len(outcome.values), len(goods)]}")
        steps: list[Step] = []
        for chosen, value, row in zip(outcome.chosen, outcome.values, prices, strict=True):
            choice = np.zeros(n, dtype=bool)
            choice[[j for j in chosen if j < n]] = True
            price = np.zeros(n)
            price[goods] = row
            steps.append((choice, value, price))
        found.append(steps)
    return found


@dataclass(frozen=True)
class GmapPlan:
    scenario: GmapScenario
    options: RunOptions = field(default_factory=lambda: RunOptions(run_id="gmap"))
    run_s: float = 600.0
    hosting: str = "one process per GMAP agent"

    def agents(self) -> Sequence[AgentDevice]:
        return join_carried(self.scenario.problem().agents)

    async def launch(self, host: Host) -> RunReport:
        scenario, problem = self.scenario, self.scenario.problem()
        reason = problem.infeasibility()
        if reason is not None:
            return dislrp_report(problem, scenario.name, None, reason)
        run = f"{scenario.name[:40]}-{secrets.token_hex(4)}"
        launcher = GmapLauncher(f"gmap-{secrets.token_hex(4)}")
        result = await launcher.run(host.add(launcher), run, gmap_joins(scenario, run), run_s=self.run_s)
        log.info("gmap.mqtt_run_done", run=run, wall_s=round(result.wall_s, 3))
        report = gmap_launch_report(problem, scenario.name, result)
        report.extra.update(scenario.optimum_extra())
        report.extra["transport"] = {"run": run, "launcher_sent": host.sent}
        return report


def gmap_launch_report(problem: Gmap, scenario: str, result: GmapLaunchResult) -> RunReport:
    """The same report as an in-process run, from the agents' collected histories."""
    outcomes = result.outcomes
    outcome = Outcome(histories(problem, outcomes), [o.stop for o in outcomes.values()],
                      sum(o.received for o in outcomes.values()), result.wall_s)
    return dislrp_report(problem, scenario, outcome)


def gmap_plan(scenario: ScenarioModel, options: RunOptions) -> GmapPlan:
    if not isinstance(scenario, GmapScenario):
        raise ConfigError(f"a GMAP plan takes a GMAP scenario, not {scenario.algorithm!r}")
    return GmapPlan(scenario, options)
