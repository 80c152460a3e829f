"""Run the tree DP in one process and turn its outcome into a :class:`RunReport`.

The status is ``converged`` only when every node chose, the chosen amounts balance within every link's
capacity, and their aggregated cost equals the optimum the root computed; ``infeasible`` when the root proved
that no choice balances; ``infeasible_result`` if a delivered choice breaks a constraint (a bug, never expected).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.algorithms.rcdcop.agent import RcAgent, RcSettings
from edge_agent.algorithms.rcdcop.model import RcTree, aggregate
from edge_agent.carrier.base import Network
from edge_agent.errors import ProtocolError
from edge_agent.results import RunReport, Status

__all__ = ["RcOutcome", "rc_agents", "rc_report", "run_rcdcop"]


@dataclass(frozen=True)
class RcOutcome:
    infeasible: bool
    amounts: dict[str, int]
    optimum: float | None  # what the root computed
    messages: int
    wall_s: float
    entries: int
    steps: int
    distinct: int
    sent_bytes: int
    largest_bytes: int
    truncated: int  # nodes whose center choice compared only the first candidate_limit candidates


def rc_agents(tree: RcTree, settings: RcSettings) -> list[RcAgent]:
    return [RcAgent(tree.nodes[name], {c: tree.nodes[c].capacity for c in tree.children[name]}, settings)
            for name in tree.order]


def outcome_of(agents: Sequence[RcAgent], messages: int, wall_s: float) -> RcOutcome:
    unfinished = [a.id for a in agents if not a.finished]
    if unfinished:
        raise ProtocolError(f"the tree DP ended with nodes {unfinished[:5]} still undecided")
    root = next(a for a in agents if a.node.parent is None)
    amounts = {a.id: a.amount for a in agents if a.amount is not None}
    return RcOutcome(
        infeasible=root.infeasible, amounts=amounts,
        optimum=None if root.choice is None else root.choice.cost, messages=messages, wall_s=wall_s,
        entries=sum(a.entries for a in agents), distinct=sum(a.distinct for a in agents),
        steps=sum(a.choice.steps for a in agents if a.choice),
        sent_bytes=sum(a.sent_bytes for a in agents), largest_bytes=max(a.largest_bytes for a in agents),
        truncated=sum(1 for a in agents if a.choice and a.choice.truncated))


async def run_rcdcop(tree: RcTree, settings: RcSettings, network: Network) -> RcOutcome:
    agents = rc_agents(tree, settings)
    async with network:
        carriers = [network.add(agent) for agent in agents]
        started = time.perf_counter()
        for agent, carrier in zip(agents, carriers, strict=True):
            agent.start(carrier)
        await network.quiescent()
        wall_s = time.perf_counter() - started
    return outcome_of(agents, network.stats.sent, wall_s)


def cost_summary(costs: Mapping[str, float]) -> dict[str, float]:
    values = np.array(list(costs.values()), dtype=np.float64)
    return {"max": float(values.max()), "mean": float(values.mean()), "variance": float(values.var()),
            "sum": float(values.sum())}


def rc_report(tree: RcTree, settings: RcSettings, outcome: RcOutcome, *, extra: Mapping[str, object] | None = None,
              ) -> RunReport:
    common = {"aggregation": settings.aggregation, "tie_break": settings.tie_break, "nodes": len(tree.nodes),
              "effort": {"entries": outcome.entries, "steps": outcome.steps,
                         "distinct_util_costs": outcome.distinct, "message_bytes": outcome.sent_bytes,
                         "largest_message_bytes": outcome.largest_bytes, "center_truncated": outcome.truncated},
              **(extra or {})}
    algorithm = "rcdcop"
    if outcome.infeasible:
        return RunReport(tree.name, algorithm, "infeasible", 0.0, 2, outcome.messages, outcome.wall_s,
                         [], {}, {**common, "reason": "no choice of amounts balances the tree within the link "
                                  "capacities"})
    costs = tree.cost(outcome.amounts)
    flows = tree.flows(outcome.amounts)
    objective = aggregate(list(costs.values()), settings.aggregation)
    violations = tree.violations(outcome.amounts)
    status: Status = "converged"
    if violations or outcome.optimum is None or abs(objective - outcome.optimum) > 1e-9 * max(1.0, objective):
        status = "infeasible_result"
    participants = {name: {"x": [float(outcome.amounts[name])], "cost": costs[name],
                           "flow": flows[name] if name != tree.root else 0} for name in tree.order}
    return RunReport(tree.name, algorithm, status, objective, 2, outcome.messages, outcome.wall_s,
                     [float(flows[tree.root])], participants,
                     {**common, "optimal": status == "converged", "costs": cost_summary(costs),
                      "violations": violations})
