"""DCOP among agent processes: one per DCOP agent, messages only between constraint-graph neighbours (DSA,
MGM) or pseudo-tree neighbours (DPOP), and a launcher that joins, starts, waits for every agent's end and
collects (``launcher``).

A DCOP agent's device model plays no part (its variables and constraints come in its join, cut from the
scenario), so every agent process runs a placeholder one-variable model. The run's seed is drawn from the
run options as in process, so a seed gives the same run on both carriers.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from edge_agent.algorithms.dcop.dpop import dpop_report
from edge_agent.algorithms.dcop.launcher import DcopLauncher, DcopLaunchResult
from edge_agent.algorithms.dcop.local import LocalProblem
from edge_agent.algorithms.dcop.messages import DcopConstraintWire, DcopJoin, DcopSettingsWire, DcopVariableWire
from edge_agent.algorithms.dcop.pseudo_tree import check_memory, pseudo_tree
from edge_agent.algorithms.dcop.runner import local_search_report
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.carrier.base import Host
from edge_agent.devices import AgentDevice, join_carried
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions, ScenarioModel
from edge_agent.results import RunReport, Status

__all__ = ["DcopPlan", "dcop_joins", "dcop_launch_report", "dcop_plan"]

log = structlog.get_logger("edge_agent.dcop")


def dcop_joins(scenario: DcopScenario, run: str, seed: int) -> dict[str, DcopJoin]:
    """What each agent is told to join run ``run`` (its variables, the constraints it needs, the settings)."""
    dcop = scenario.problem()
    settings = DcopSettingsWire(algorithm=scenario.algorithm, variant=scenario.variant, p=scenario.p,
                                max_cycles=scenario.max_cycles, quiet_cycles=scenario.quiet_cycles,
                                hops=dcop.diameter_bound(), seed=seed, memory_limit_mb=scenario.memory_limit_mb,
                                damping=scenario.damping, tolerance=scenario.tolerance,
                                offer_probability=scenario.offer_probability)
    joins = {}
    if scenario.algorithm != "dpop":
        for agent in dcop.agents:
            domains, constraints = LocalProblem.of(dcop, agent).wire()
            joins[agent] = DcopJoin(run=run, in_neighbours=dcop.agent_neighbours[agent], settings=settings,
                                    own=dcop.agents[agent], domains=domains, constraints=constraints)
        return joins
    tree = pseudo_tree(dcop)
    check_memory(dcop, tree, scenario.memory_limit_mb * 1e6)
    tables = dcop.cost_tables
    for agent, own in dcop.agents.items():
        handled = [k for name in own for k in tree.nodes[name].constraints]
        names = dict.fromkeys([*own, *(n for k in handled for n in dcop.constraints[k].scope)])
        places, owners = {}, {}
        for name in own:
            node = tree.nodes[name]
            places[name] = (node.parent, node.pseudo_parents, node.children,
                            tuple(dcop.constraints[k].name for k in node.constraints))
            for other in (*([node.parent] if node.parent else []), *node.children):
                owners[other] = dcop.owner[other]
        joins[agent] = DcopJoin(
            run=run, in_neighbours=(), settings=settings, own=own,
            domains=tuple(DcopVariableWire(name=n, size=dcop.variable(n).size) for n in names),
            constraints=tuple(DcopConstraintWire(name=dcop.constraints[k].name, scope=dcop.constraints[k].scope,
                                                 shape=tables[k].shape, table=tables[k].ravel()) for k in handled),
            tree=places, owners=owners)
    return joins


@dataclass(frozen=True)
class DcopPlan:
    scenario: DcopScenario
    options: RunOptions = field(default_factory=lambda: RunOptions(run_id="dcop"))
    run_s: float = 600.0
    hosting: str = "one process per DCOP agent"

    def agents(self) -> Sequence[AgentDevice]:
        return join_carried(self.scenario.problem().agents)

    async def launch(self, host: Host) -> RunReport:
        scenario = self.scenario
        run = f"{scenario.name[:40]}-{secrets.token_hex(4)}"
        seed = scenario.seed(self.options)
        joins = dcop_joins(scenario, run, seed)
        launcher = DcopLauncher(f"dcop-{secrets.token_hex(4)}")
        result = await launcher.run(host.add(launcher), run, joins, run_s=self.run_s)
        log.info("dcop.mqtt_run_done", run=run, wall_s=round(result.wall_s, 3))
        report = dcop_launch_report(scenario, result, seed)
        report.extra["transport"] = {"run": run, "launcher_sent": host.sent}
        return report


def dcop_plan(scenario: ScenarioModel, options: RunOptions) -> DcopPlan:
    if not isinstance(scenario, DcopScenario):
        raise ConfigError(f"a DCOP plan takes a DCOP scenario, not {scenario.algorithm!r}")
    if scenario.algorithm == "deqed":
        raise ConfigError("DeQED runs in process only (a synchronous simulation); use --carrier inproc")
    return DcopPlan(scenario, options)


def dcop_launch_report(scenario: DcopScenario, result: DcopLaunchResult, seed: int) -> RunReport:
    """The same report as an in-process run (same keys), from the agents' outcomes."""
    dcop = scenario.problem()
    outcomes = result.outcomes
    messages = sum(o.received for o in outcomes.values())
    sent_bytes = sum(o.sent_bytes for o in outcomes.values())
    if scenario.algorithm == "dpop":
        assignment = {name: value for o in outcomes.values() for name, value in o.values.items()}
        return dpop_report(dcop, scenario.name, pseudo_tree(dcop), assignment, messages=messages,
                           wall_s=result.wall_s, extra={"messages_by_kind": {}, "message_bytes": sent_bytes})
    stops = {o.stop for o in outcomes.values()}
    status: Status = "converged" if stops == {"converged"} else ("failed" if None in stops else "max_iterations")
    return local_search_report(
        dcop, scenario.name, scenario.algorithm, status,
        changes=[change for o in outcomes.values() for change in o.changes],
        cycles=max(o.step for o in outcomes.values()), messages=messages, wall_s=result.wall_s,
        extra={"seed": seed, "stop": sorted({str(s) for s in stops}), "messages_by_kind": {},
               "message_bytes": sent_bytes})
