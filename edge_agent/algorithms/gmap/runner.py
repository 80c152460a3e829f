"""DisLRP in process: one :class:`DisLrpAgent` per GMAP agent on a network, then the bounds per cycle.

The agents exchange only their choices and knapsack optima. The bounds are computed by the observer (this
module) from what the agents recorded, cycle by cycle: the **upper bound** ``sum_i z_i(mu) + sum_j mu_j``
(the Lagrangian dual value, a bound on the optimum at any prices; rounded down when every profit is an
integer), and the **lower bound**, the value of the Lagrangian heuristic's repair of that cycle's choices
(:mod:`heuristic`), checked feasible. The best of each so far is kept. ``status`` is ``converged`` (and
``optimal`` true) only when the best lower bound meets the best upper bound; a proven infeasible instance
ends as ``infeasible`` (exit 7) with its reason; otherwise ``max_iterations`` (no proof).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.gmap.agent import DisLrpAgent, DisLrpSettings, LocalGmap, Step
from edge_agent.algorithms.gmap.heuristic import repair
from edge_agent.algorithms.gmap.model import Gmap
from edge_agent.carrier.base import Network
from edge_agent.errors import SolverError
from edge_agent.results import RunReport, Status

__all__ = ["Bounds", "DisLrpOutcome", "bounds", "dislrp_report", "hops", "local_problems", "run_dislrp"]

TOLERANCE = 1e-6


def hops(problem: Gmap) -> int:
    """The largest distance between two agents of the sharing graph (its diameter; components apart)."""
    m = len(problem.agents)
    near = [problem.neighbours(i) for i in range(m)]
    best = 0
    for start in range(m):
        depth = {start: 0}
        frontier = [start]
        while frontier:
            following = []
            for i in frontier:
                for k in near[i]:
                    if k not in depth:
                        depth[k] = depth[i] + 1
                        following.append(k)
            frontier = following
        best = max(best, *depth.values())
    return best


def local_problems(problem: Gmap) -> list[LocalGmap]:
    gain, eligible = problem.gain, problem.eligible
    scale = np.where(eligible, np.abs(gain), 0.0).max(axis=0)
    return [LocalGmap(agent=agent, gain=gain[i], weight=problem.weight[i], capacity=int(problem.capacity[i]),
                      goods=np.flatnonzero(eligible[i]), scale=scale[eligible[i]],
                      neighbours=tuple(problem.agents[k] for k in problem.neighbours(i)))
            for i, agent in enumerate(problem.agents)]


@dataclass
class Bounds:
    """Per cycle: the upper bound, the lower bound (None: the repair failed) and the best of each so far."""

    upper: list[float] = field(default_factory=list)
    lower: list[float | None] = field(default_factory=list)
    best_upper: float = math.inf
    best_lower: float | None = None
    best_owner: NDArray[np.int64] | None = None


def bounds(problem: Gmap, histories: list[list[Step]]) -> Bounds:
    """The bounds per cycle from each agent's history (in agent order), over the cycles every agent has."""
    cycles = min(len(h) for h in histories)
    holder = np.argmax(problem.eligible, axis=0)  # an agent that holds each good's price
    found = Bounds()
    repaired: dict[bytes, NDArray[np.int64] | None] = {}
    for t in range(cycles):
        chosen = np.array([h[t][0] for h in histories])
        price = np.array([histories[holder[j]][t][2][j] for j in range(len(problem.goods))])
        upper = sum(h[t][1] for h in histories) + float(price.sum())
        if problem.integral:
            upper = math.floor(upper + TOLERANCE)
        key = np.packbits(chosen).tobytes()
        if key not in repaired:
            repaired[key] = repair(problem, chosen)
        owner = repaired[key]
        lower = None
        if owner is not None:
            if problem.violation(owner) is not None:
                raise SolverError(f"the repair returned an infeasible assignment: {problem.violation(owner)}")
            lower = problem.value(owner)
            if found.best_lower is None or lower > found.best_lower + TOLERANCE:
                found.best_lower, found.best_owner = lower, owner
        found.upper.append(float(upper))
        found.lower.append(lower)
        found.best_upper = min(found.best_upper, float(upper))
    return found


@dataclass(frozen=True)
class DisLrpOutcome:
    histories: list[list[Step]]  # per agent, in the problem's order
    stops: list[str | None]
    messages: int
    wall_s: float


async def run_dislrp(problem: Gmap, settings: DisLrpSettings, network: Network) -> DisLrpOutcome:
    agents = [DisLrpAgent(local, settings) for local in local_problems(problem)]
    async with network:
        carriers = [network.add(agent) for agent in agents]
        for agent, carrier in zip(agents, carriers, strict=True):
            agent.join(carrier)
        started = time.perf_counter()
        for agent, carrier in zip(agents, carriers, strict=True):
            agent.start(carrier)
        await network.quiescent()
        wall_s = time.perf_counter() - started
    return DisLrpOutcome([a.history for a in agents], [a.stop for a in agents], network.stats.sent, wall_s)


def dislrp_report(problem: Gmap, scenario: str, outcome: DisLrpOutcome | None, reason: str | None = None,
                  extra: dict[str, Any] | None = None) -> RunReport:
    """The report of a run (``outcome`` None: not run, the instance is infeasible for ``reason``)."""
    common = {"sense": problem.sense, "agents": len(problem.agents), "goods": len(problem.goods), **(extra or {})}
    if outcome is None:
        return RunReport(scenario=scenario, algorithm="dislrp", status="infeasible", objective=math.nan, iterations=0,
                         messages=0, wall_s=0.0, aggregate=[], participants={},
                         extra={**common, "infeasible": True, "reason": reason, "optimal": False,
                                "lower_bound": None, "upper_bound": None})
    found = bounds(problem, outcome.histories)
    lower, upper = found.best_lower, found.best_upper
    optimal = lower is not None and lower >= upper - TOLERANCE
    status: Status = "converged" if optimal else "max_iterations"
    if lower is None:
        status = "failed"
    owner = found.best_owner
    participants: dict[str, dict[str, Any]] = {}
    for i, agent in enumerate(problem.agents):
        taken = [] if owner is None else [j for j in range(len(problem.goods)) if owner[j] == i]
        participants[agent] = {"x": [float(j) for j in taken], "goods": [problem.goods[j] for j in taken]}
    sense = problem.objective
    gap = None if lower is None else (upper - lower) / max(abs(upper), 1e-12)
    feasible = None if lower is None else sense(lower)
    dual = sense(upper)
    low, high = (feasible, dual) if problem.sense == "max" else (dual, feasible)
    return RunReport(
        scenario=scenario, algorithm="dislrp", status=status,
        objective=math.nan if feasible is None else feasible,
        iterations=len(found.upper), messages=outcome.messages, wall_s=outcome.wall_s, aggregate=[],
        participants=participants,
        extra={**common, "optimal": optimal, "infeasible": False,
               "feasible_objective": feasible, "dual_bound": dual, "lower_bound": low, "upper_bound": high,
               "bound_note": ("in the user's sense: the feasible (checked) assignment's objective and the "
                              "Lagrangian dual bound; maximising, lower_bound is the feasible value and "
                              "upper_bound the dual bound, minimising the other way round"),
               "relative_gap": gap,
               "stop": sorted({str(stop) for stop in outcome.stops}),
               "dual_history": [sense(u) for u in found.upper],
               "feasible_history": [None if v is None else sense(v) for v in found.lower]},
    )
