"""In-process runs of the DCOP algorithms on a :class:`~edge_agent.carrier.base.Network`, and their reports.

Local search: one :class:`LocalSearchAgent` per DCOP agent, each subscribed to the agents it shares a
constraint with; every agent is started, the run ends when the network is quiescent (every agent stopped).
The report's cost is recomputed from the assignment it names (the best one seen, see ``history``), and a
local search never calls its result optimal: ``status`` is ``converged`` only if the stop rule "no change
for ``quiet_cycles`` cycles" ended the run, else ``max_iterations``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edge_agent.algorithms.dcop.history import trajectory
from edge_agent.algorithms.dcop.local import LocalProblem
from edge_agent.algorithms.dcop.local_search import LocalSearchAgent, LocalSearchSettings
from edge_agent.algorithms.dcop.maxsum import MaxSumAgent
from edge_agent.algorithms.dcop.messages import StopReason
from edge_agent.algorithms.dcop.mgm2 import Mgm2Agent
from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.carrier.base import Network
from edge_agent.results import RunReport, Status

__all__ = ["LocalSearchOutcome", "cycle_agent", "dcop_report", "local_search_report", "run_local_search"]


@dataclass(frozen=True)
class LocalSearchOutcome:
    stops: dict[str, StopReason | None]  # per agent
    changes: list[tuple[int, str, int]]
    cycles: int
    messages: int
    wall_s: float
    by_kind: dict[str, int]
    sent_bytes: int

    @property
    def status(self) -> Status:
        stops = set(self.stops.values())
        if stops == {"converged"}:
            return "converged"
        return "max_iterations" if None not in stops else "failed"


def cycle_agent(problem: LocalProblem, neighbours: tuple[str, ...], settings: LocalSearchSettings) -> LocalSearchAgent:
    """The participant of a cycle-based algorithm (DSA, MGM, MGM-2, Max-Sum) for one agent."""
    kinds: dict[str, type[LocalSearchAgent]] = {"maxsum": MaxSumAgent, "mgm2": Mgm2Agent}
    return kinds.get(settings.algorithm, LocalSearchAgent)(problem, neighbours, settings)


async def run_local_search(dcop: Dcop, settings: LocalSearchSettings, network: Network) -> LocalSearchOutcome:
    neighbours = dcop.agent_neighbours
    agents = [cycle_agent(LocalProblem.of(dcop, agent), neighbours[agent], settings) for agent in dcop.agents]
    async with network:
        carriers = [network.add(agent) for agent in agents]
        for agent, carrier in zip(agents, carriers, strict=True):
            agent.join(carrier)
        started = time.perf_counter()
        for agent, carrier in zip(agents, carriers, strict=True):
            agent.start(carrier)
        await network.quiescent()
        wall_s = time.perf_counter() - started
    return LocalSearchOutcome(
        stops={a.id: a.stop for a in agents},
        changes=[change for a in agents for change in a.changes],
        cycles=max(a.cycle for a in agents),
        messages=network.stats.sent,
        wall_s=wall_s,
        by_kind=dict(network.stats.by_kind),
        sent_bytes=sum(a.sent_bytes for a in agents),
    )


def local_search_report(
    dcop: Dcop, scenario: str, algorithm: str, status: Status, *, changes: Iterable[tuple[int, str, int]],
    cycles: int, messages: int, wall_s: float, extra: dict[str, Any] | None = None,
) -> RunReport:
    path = trajectory(dcop, changes, cycles)
    return dcop_report(dcop, scenario, algorithm, status, path.best, iterations=cycles, messages=messages,
                       wall_s=wall_s, extra={
                           "optimal": False,
                           "best_cycle": path.best_cycle,
                           "final_objective": _sense(dcop, path.final_cost),
                           "cost_history": [_sense(dcop, c) for c in path.costs],
                           **(extra or {}),
                       })


def _sense(dcop: Dcop, cost: float) -> float:
    return -cost if dcop.maximise else cost


def dcop_report(
    dcop: Dcop, scenario: str, algorithm: str, status: Status, assignment: dict[str, int], *, iterations: int,
    messages: int, wall_s: float, extra: dict[str, Any],
) -> RunReport:
    """The report of any DCOP run: ``objective`` recomputed from ``assignment`` (in the user's sense)."""
    objective = dcop.objective_value(assignment)
    values = dcop.values(assignment)
    return RunReport(
        scenario=scenario,
        algorithm=algorithm,
        status=status,
        objective=objective,
        iterations=iterations,
        messages=messages,
        wall_s=wall_s,
        aggregate=[],
        participants={agent: {"x": [float(assignment[name]) for name in owned],  # value indices
                              "values": {name: values[name] for name in owned}}
                      for agent, owned in dcop.agents.items()},
        extra={
            "sense": dcop.objective,
            "assignment": values,
            "variables": len(dcop.variables),
            "constraints": len(dcop.constraints),
            "agents": len(dcop.agents),
            **extra,
        },
    )
