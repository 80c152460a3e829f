"""Running a consensus protocol on a network that can tell when it is quiescent (a simulation).

The runner builds one participant per graph node, subscribes each to its in-neighbours, sends the
start message to ``start`` (default: the first node; the others wake up when the first value reaches
them), and waits until no message is in flight. Every participant then knows the run ended (the final
flag reached it); one that did not finish means the protocol stalled (a lost message, a node nobody
reaches), reported as :class:`RunTimeout` naming it and the round it waits in.

The convergence detection needs a bound on the hops between participants: the runner uses the graph's
diameter (a simulation knows the graph; a deployment without that knowledge would use N - 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.consensus.averaging import AveragingParticipant, AveragingSettings, ConsensusActor
from edge_agent.algorithms.consensus.costs import LocalCost, check_feasible_demand
from edge_agent.algorithms.consensus.diffusion import DiffusionParticipant, DiffusionSettings
from edge_agent.algorithms.consensus.messages import ConsensusStart, StopReason
from edge_agent.algorithms.consensus.primal_dual import PrimalDualParticipant, PrimalDualSettings
from edge_agent.algorithms.consensus.rounds import RoundParticipant
from edge_agent.carrier.base import Carrier, Participant
from edge_agent.errors import ConfigError, RunTimeout
from edge_agent.messages import Envelope, Message
from edge_agent.topology import Graph

__all__ = [
    "LAUNCHER_ID",
    "AveragingResult",
    "DiffusionResult",
    "PrimalDualResult",
    "PrimalDualStatus",
    "QuiescentNetwork",
    "run_rounds",
    "simulate_averaging",
    "simulate_diffusion",
    "simulate_primal_dual",
]

Array = NDArray[np.float64]
LAUNCHER_ID = "consensus-launcher"


class QuiescentNetwork(Protocol):
    """What the runner needs of a network (the in-process one provides it)."""

    def add(self, participant: Participant) -> Carrier: ...

    async def quiescent(self) -> None: ...


class _Launcher:
    """Sends the start messages; takes no part in the rounds."""

    id = LAUNCHER_ID

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        return None


async def run_rounds(
    network: QuiescentNetwork, participants: Sequence[RoundParticipant[Any]], start: Sequence[str]
) -> StopReason:
    """Run to quiescence; return why the run ended (the same reason reached every participant)."""
    ids = {p.id for p in participants}
    if LAUNCHER_ID in ids:
        raise ConfigError(f"participant id {LAUNCHER_ID!r} is reserved for the run's launcher")
    unknown = [s for s in start if s not in ids]
    if unknown or not start:
        raise ConfigError(f"start must name participants (known: {sorted(ids)[:10]}), got {list(start)}")
    launcher = network.add(_Launcher())
    for participant in participants:
        participant.join(network.add(participant))
    for pid in start:
        launcher.send(ConsensusStart(), pid)
    await network.quiescent()
    stalled = [p for p in participants if not p.finished]
    if stalled:
        first = min(stalled, key=lambda p: p.round)
        raise RunTimeout(
            f"the run stalled: {len(stalled)} participant(s) never finished, e.g. {first.id!r} waits in round "
            f"{first.round} for its in-neighbours {list(first.in_neighbours)}",
            participants=tuple(p.id for p in stalled),
            round=first.round,
        )
    reasons = {p.stop_reason for p in participants}
    if "diverged" in reasons:
        return "diverged"
    return "converged" if reasons == {"converged"} else "max_iterations"


@dataclass(frozen=True)
class AveragingResult:
    status: StopReason
    iterations: int  # rounds computed by the participant that went furthest
    lam: dict[str, Array]
    history: dict[str, list[Array]]  # lam_i(k), k = 0 .. its last round


async def simulate_averaging(
    network: QuiescentNetwork,
    graph: Graph,
    initial: Mapping[str, Sequence[float] | Array],
    *,
    settings: AveragingSettings | None = None,
    actors: Mapping[str, ConsensusActor] | None = None,
    start: Sequence[str] | None = None,
) -> AveragingResult:
    settings = settings or AveragingSettings()
    _same_nodes(graph, initial, "initial values")
    termination = settings.termination(graph.diameter())  # diameter() checks strong connectivity
    participants = [
        AveragingParticipant(node, graph.in_neighbours(node), initial=initial[node], settings=settings,
                             termination=termination, actor=(actors or {}).get(node))
        for node in graph.nodes
    ]
    status = await run_rounds(network, participants, start or graph.nodes[:1])
    return AveragingResult(
        status=status,
        iterations=max(p.round for p in participants),
        lam={p.id: p.lam for p in participants},
        history={p.id: p.history for p in participants},
    )


PrimalDualStatus = Literal["converged", "max_iterations", "diverged", "infeasible_result"]


@dataclass(frozen=True)
class PrimalDualResult:
    """``status`` is ``converged`` only if every agent passed its test *and* the exact balance residual
    ``|sum_i x_i - demand|`` is within ``tol_balance`` (else ``infeasible_result``)."""

    status: PrimalDualStatus
    iterations: int  # rounds computed by the participant that went furthest
    x: dict[str, float]
    lam: dict[str, float]
    residual: float  # sum_i x_i - demand, computed by the simulation from the final outputs
    residual_estimates: dict[str, float]  # each agent's own tracked estimate of it
    objective: float
    x_history: dict[str, list[float]]
    lam_history: dict[str, list[float]]
    z_min: float = 1.0  # smallest Perron estimate z_ii(t) any agent divided by
    tol_balance: float = 0.0  # the tolerance the status was decided with


async def simulate_primal_dual(
    network: QuiescentNetwork,
    graph: Graph,
    costs: Mapping[str, LocalCost],
    demand: float,
    *,
    settings: PrimalDualSettings | None = None,
    start: Sequence[str] | None = None,
) -> PrimalDualResult:
    """Validate up front (strongly connected graph, feasible demand), then run the agents to the end."""
    settings = settings or PrimalDualSettings()
    _same_nodes(graph, costs, "costs")
    graph.require_strongly_connected()
    check_feasible_demand(costs.values(), demand)
    m = len(graph)
    termination = settings.termination(graph.diameter())
    agents = [
        PrimalDualParticipant(node, graph.in_neighbours(node), index=i, agents=m, cost=costs[node],
                              demand=demand, settings=settings, termination=termination)
        for i, node in enumerate(graph.nodes)
    ]
    reason = await run_rounds(network, agents, start or graph.nodes[:1])
    residual = sum(a.x for a in agents) - demand
    status: PrimalDualStatus = reason
    if reason == "converged" and not abs(residual) <= settings.tol_balance:
        status = "infeasible_result"
    return PrimalDualResult(
        status=status,
        iterations=max(a.round for a in agents),
        x={a.id: a.x for a in agents},
        lam={a.id: a.lam for a in agents},
        residual=residual,
        residual_estimates={a.id: a.w for a in agents},
        objective=sum(a.cost.value(a.x) for a in agents),
        x_history={a.id: a.x_history for a in agents},
        lam_history={a.id: a.lam_history for a in agents},
        z_min=min(a.z_min for a in agents),
        tol_balance=settings.tol_balance,
    )


@dataclass(frozen=True)
class DiffusionResult:
    """``status`` is ``converged`` only if every agent passed its test *and* ``max_t |sum_i x_it - demand_t|``
    is within ``tol_balance`` (else ``infeasible_result``)."""

    status: PrimalDualStatus
    iterations: int
    x: dict[str, Array]  # per agent, one output per slot
    lam: dict[str, Array]
    residual: float  # max over slots of |sum_i x_i - demand|
    objective: float
    x_history: dict[str, list[Array]]
    lam_history: dict[str, list[Array]]


async def simulate_diffusion(
    network: QuiescentNetwork,
    graph: Graph,
    costs: Mapping[str, LocalCost],
    demand: float | Sequence[float],
    *,
    settings: DiffusionSettings | None = None,
    tol_balance: float = 1e-2,
    start: Sequence[str] | None = None,
) -> DiffusionResult:
    """Validate (strongly connected; symmetric for Metropolis weights; feasible demand in every slot), run."""
    settings = settings or DiffusionSettings()
    _same_nodes(graph, costs, "costs")
    graph.require_strongly_connected()
    if settings.weights == "metropolis" and not all(
            set(graph.in_neighbours(n)) == set(graph.out_neighbours(n)) for n in graph.nodes):
        raise ConfigError("Metropolis weights need an undirected graph (every link both ways); use uniform weights")
    slots = np.atleast_1d(np.array(demand, dtype=np.float64))
    for value in slots:
        check_feasible_demand(costs.values(), float(value))
    termination = settings.termination(graph.diameter())
    agents = [DiffusionParticipant(node, graph.in_neighbours(node), cost=costs[node], demand=slots, agents=len(graph),
                                   settings=settings, termination=termination) for node in graph.nodes]
    reason = await run_rounds(network, agents, start or graph.nodes[:1])
    residual = float(np.max(np.abs(np.sum([a.x for a in agents], axis=0) - slots)))
    status: PrimalDualStatus = reason
    if reason == "converged" and not residual <= tol_balance:
        status = "infeasible_result"
    return DiffusionResult(
        status=status,
        iterations=max(a.round for a in agents),
        x={a.id: a.x for a in agents},
        lam={a.id: a.lam for a in agents},
        residual=residual,
        objective=float(sum(a.cost.value(float(v)) for a in agents for v in a.x)),
        x_history={a.id: a.x_history for a in agents},
        lam_history={a.id: a.lam_history for a in agents},
    )


def _same_nodes(graph: Graph, given: Mapping[str, object], what: str) -> None:
    nodes = set(graph.nodes)
    missing, extra = sorted(nodes - given.keys()), sorted(given.keys() - nodes)
    if missing or extra:
        raise ConfigError(
            f"{what} must be given for exactly the graph's nodes: missing {missing[:10]}, not in the graph {extra[:10]}"
        )
