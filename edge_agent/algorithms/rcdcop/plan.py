"""RCDCOP among agent processes: one per tree node, UTIL and VALUE only between parent and child, and a launcher
that joins, starts, waits for every node's decision and collects (``launcher``).

A node agent's device model plays no part (its amounts, costs and links come in its join, cut from the
scenario), so every agent process runs a placeholder one-variable model. The report has the same keys as an
in-process run; ``messages`` counts the UTIL and VALUE messages the nodes sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from edge_agent.algorithms.rcdcop.launcher import RcLauncher, RcLaunchResult
from edge_agent.algorithms.rcdcop.messages import RcJoin, RcSettingsWire
from edge_agent.algorithms.rcdcop.runner import RcOutcome, rc_report
from edge_agent.algorithms.rcdcop.scenario import RcdcopScenario
from edge_agent.carrier.base import Host
from edge_agent.devices import AgentDevice, join_carried
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport

__all__ = ["RcPlan", "rc_joins", "rc_plan"]

log = structlog.get_logger("edge_agent.rcdcop")


def rc_joins(scenario: RcdcopScenario, run: str) -> dict[str, RcJoin]:
    """What each node is told to join run ``run``: its place in the tree, its links and its cost table."""
    tree = scenario.problem()
    s = scenario.settings()
    settings = RcSettingsWire(aggregation=s.aggregation, tie_break=s.tie_break, candidate_limit=s.candidate_limit)
    return {name: RcJoin(run=run, settings=settings, parent=tree.nodes[name].parent,
                         capacity=tree.nodes[name].capacity, costs=tuple(tree.nodes[name].costs.items()),
                         children={c: tree.nodes[c].capacity for c in tree.children[name]})
            for name in tree.order}


def launch_outcome(result: RcLaunchResult) -> RcOutcome:
    outcomes = result.outcomes.values()
    return RcOutcome(
        infeasible=any(o.infeasible for o in outcomes),
        amounts={pid: o.amount for pid, o in result.outcomes.items() if o.amount is not None},
        optimum=next((o.optimum for o in outcomes if o.optimum is not None), None),
         messages=sum(o.sent for o in outcomes), wall_s=result.wall_s,
        entries=sum(o.entries for o in outcomes), steps=sum(o.steps for o in outcomes),
        distinct=sum(o.distinct for o in outcomes), sent_bytes=sum(o.sent_bytes for o in outcomes),
        largest_bytes=max((o.largest_bytes for o in outcomes), default=0),
        truncated=sum(1 for o in outcomes if o.truncated))


@dataclass(frozen=True)
class RcPlan:
    scenario: RcdcopScenario
    options: RunOptions = field(default_factory=lambda: RunOptions(run_id="rcdcop"))
    run_s: float = 600.0
    hosting: str = "one process per tree node"

    def agents(self) -> Sequence[AgentDevice]:
        return join_carried(self.scenario.problem().order)

    async def launch(self, host: Host) -> RunReport:
        scenario = self.scenario
        run = f"{scenario.name[:40]}-{secrets.token_hex(4)}"
        launcher = RcLauncher(f"rcdcop-{secrets.token_hex(4)}")
        result = await launcher.run(host.add(launcher), run, rc_joins(scenario, run), run_s=self.run_s)
        log.info("rcdcop.mqtt_run_done", run=run, wall_s=round(result.wall_s, 3))
        report = rc_report(scenario.problem(), scenario.settings(), launch_outcome(result),
                           extra={"messages_by_kind": {}})
        report.extra["transport"] = {"run": run, "launcher_sent": host.sent}
        return report


def rc_plan(scenario: ScenarioModel, options: RunOptions) -> RcPlan:
    if not isinstance(scenario, RcdcopScenario):
        raise ConfigError(f"an RCDCOP plan takes an rcdcop scenario, not {scenario.algorithm!r}")
    return RcPlan(scenario, options)
