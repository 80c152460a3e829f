"""Consensus scenarios, fully distributed over a communication graph (no coordinator).

* ``averaging``: participants agree on the (graph-weighted) average of their initial values (seed 000);
* ``consensus-dispatch``: averaging consensus with the seed's economic-dispatch actor; fast, but only
  approximately optimal (the per-generator gradient terms leave the multipliers slightly apart);
* ``primal-dual-dispatch``: the primal-dual subgradient algorithm for unbalanced directed networks
  (seed 001), which converges to the exact optimum.

Dispatch scenarios list generators (``kind: generator``, cost ``cost_linear P + cost_quadratic P^2``) and
the ``demand`` they must meet together. Their reports add ``power`` and ``multipliers`` per generator,
the ``balance_residual`` ``sum P - demand`` (computed by the simulation from the final outputs) and a
``history`` of ``x_i(t)``, ``lam_i(t)`` (at most ``history_points`` evenly spaced rounds) for plotting.
Multipliers follow each algorithm's convention: a price for ``consensus-dispatch``, minus the marginal
cost for ``primal-dual-dispatch`` (the paper's ``lam* = -7.2992`` for IEEE 14-bus).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from edge_agent.algorithms.consensus import (
    AveragingDispatchMethod,
    AveragingSettings,
    ConsensusJoin,
    DispatchMethod,
    EconomicDispatchActor,
    LaunchResult,
    PrimalDualMethod,
    PrimalDualSettings,
    QuadraticCost,
    StepSize,
    check_feasible_demand,
    sample_rounds,
    simulate_averaging,
    simulate_diffusion,
    simulate_primal_dual,
)
from edge_agent.algorithms.consensus.diffusion import DiffusionSettings
from edge_agent.algorithms.consensus.job import DiffusionMethod
from edge_agent.carrier.base import Network
from edge_agent.config import StrictModel, require_unique
from edge_agent.devices import Generator
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.ids import AgentId
from edge_agent.results import RunReport, Status
from edge_agent.topology import CompleteTopology, Graph, TopologySpec

__all__ = [
    "AveragingMember",
    "AveragingScenario",
    "AveragingSettings",
    "ConsensusDispatchScenario",
    "DiffusionDispatchScenario",
    "PrimalDualDispatchScenario",
    "PrimalDualSettings",
    "StepSize",
]

BALANCE_TOL = 0.01  # MW: the averaging dispatch reports converged only within this of the demand


def _graph(topology: TopologySpec, ids: Sequence[str]) -> Graph:
    try:
        graph = topology.build(ids)
        graph.require_strongly_connected()
    except ConfigError as error:
        raise ValueError(f"topology: {error}") from None
    return graph


class _DispatchScenario(StrictModel):
    name: str = "unnamed"
    description: str = ""
    demand: float = Field(description="power the generators must deliver together")
    topology: TopologySpec = CompleteTopology(kind="complete")
    history_points: int = Field(1000, ge=2, description="most rounds kept in the report's history")
    participants: list[Generator] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> _DispatchScenario:
        require_unique([g.id for g in self.participants])
        for g in self.participants:
            if g.cost_quadratic <= 0:
                msg = f"generator {g.id!r}: cost_quadratic must be > 0 (strictly convex cost), got {g.cost_quadratic}"
                raise ValueError(msg)
            if g.p_min > g.p_max:
                msg = f"generator {g.id!r}: p_min = {g.p_min:g} exceeds p_max = {g.p_max:g}"
                raise ValueError(msg)
        try:
            check_feasible_demand(self.costs().values(), self.demand)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        _graph(self.topology, self.ids())
        return self

    def ids(self) -> list[str]:
        return [g.id for g in self.participants]

    def graph(self) -> Graph:
        return _graph(self.topology, self.ids())

    def costs(self) -> dict[str, QuadraticCost]:
        return {g.id: QuadraticCost(g.cost_linear, g.cost_quadratic, g.p_min, g.p_max, g.id) for g in self.participants}

    def method(self) -> DispatchMethod:
        """The algorithm and its settings, as the devices are told over MQTT."""
        raise NotImplementedError

    def joins(self, run: str) -> dict[str, ConsensusJoin]:
        """What each generator is told to join run ``run`` (everything but its cost), in participant order."""
        graph = self.graph()
        method, hops = self.method(), graph.diameter()
        return {
            node: ConsensusJoin(run=run, method=method, in_neighbours=graph.in_neighbours(node), index=i,
                                agents=len(graph), hops=hops, demand=self.demand)
            for i, node in enumerate(graph.nodes)
        }

    def _extra(self, residual_estimates: Mapping[str, float | None]) -> dict[str, Any]:
        raise NotImplementedError

    def balance_tolerance(self) -> float:
        """``converged`` needs ``|sum x - demand|`` within this (MW)."""
        return BALANCE_TOL

    def launch_report(self, result: LaunchResult, *, wall_s: float) -> RunReport:
        """The report of a run among device agents, from their outcomes: the same keys as in process, plus
        ``transport`` (how it ran, what each participant received and dropped). ``messages`` counts the
        round messages delivered to the participants, as the in-process count does."""
        outcomes = result.outcomes
        return self.dispatch_report(
            graph=self.graph(),
            algorithm=self.method().algorithm,
            status=result.status,
            iterations=result.iterations,
            messages=result.deliveries,
            wall_s=wall_s,
            power={pid: o.x for pid, o in outcomes.items()},
            multipliers={pid: o.lam for pid, o in outcomes.items()},
            local_costs={pid: o.cost for pid, o in outcomes.items()},
            x_history={pid: o.x_history.tolist() for pid, o in outcomes.items()},
            lam_history={pid: o.lam_history.tolist() for pid, o in outcomes.items()},
            rounds=result.rounds,
            extra={
                **self._extra({pid: o.residual_estimate for pid, o in outcomes.items()}),
                "transport": {
                    "run": result.run,
                    "control_messages": result.control,
                    "polls": result.polls,
                    "received": {pid: o.received for pid, o in outcomes.items()},
                    "dropped": {pid: o.dropped for pid, o in outcomes.items()},
                },
            },
        )

    def dispatch_report(
        self,
        *,
        graph: Graph,
        algorithm: str,
        status: Status,
        iterations: int,
        messages: int,
        wall_s: float,
        power: Mapping[str, float],
        multipliers: Mapping[str, float],
        x_history: Mapping[str, Sequence[float]],
        lam_history: Mapping[str, Sequence[float]],
        extra: Mapping[str, Any],
        local_costs: Mapping[str, float] | None = None,
        rounds: Sequence[int] | None = None,
    ) -> RunReport:
        """``x_history`` / ``lam_history`` hold every round, or only ``rounds`` when those are given;
        ``local_costs`` (each generator's cost at its output) default to the scenario's cost functions."""
        if local_costs is None:
            costs = self.costs()
            local = {pid: costs[pid].value(p) for pid, p in power.items()}
        else:
            local = {pid: float(local_costs[pid]) for pid in power}
        total = float(sum(power.values()))
        tolerance = self.balance_tolerance()
        if status == "converged" and not abs(total - self.demand) <= tolerance:  # honest status: issue 12
            status = "infeasible_result"
        if rounds is None:
            rounds = sample_rounds(iterations, self.history_points)
            x_history = {pid: _pick(series, rounds) for pid, series in x_history.items()}
            lam_history = {pid: _pick(series, rounds) for pid, series in lam_history.items()}
        return RunReport(
            scenario=self.name,
            algorithm=algorithm,
            status=status,
            objective=float(sum(local.values())),
            iterations=iterations,
            messages=messages,
            wall_s=wall_s,
            aggregate=[total],
            participants={
                pid: {"x": [float(power[pid])], "lam": float(multipliers[pid]), "cost": local[pid]} for pid in power
            },
            extra={
                "demand": self.demand,
                "power": {pid: float(p) for pid, p in power.items()},
                "multipliers": {pid: float(v) for pid, v in multipliers.items()},
                "balance_residual": total - self.demand,
                "status_basis": {"balance_residual": total - self.demand, "balance_tolerance": tolerance},
                "graph": {"edges": [list(e) for e in graph.edges], "balanced": graph.is_balanced()},
                "history": {
                    "iteration": list(rounds),
                    "x": {pid: [float(v) for v in series] for pid, series in x_history.items()},
                    "lam": {pid: [float(v) for v in series] for pid, series in lam_history.items()},
                },
                **extra,
            },
        )


class PrimalDualDispatchScenario(_DispatchScenario):
    """Exact economic dispatch over a strongly connected (possibly unbalanced) directed graph."""

    algorithm: Literal["primal-dual-dispatch"]
    settings: PrimalDualSettings = PrimalDualSettings()

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        graph = self.graph()
        started = time.perf_counter()
        async with network:
            result = await simulate_primal_dual(network, graph, self.costs(), self.demand,
                                                settings=self.settings)
        return self.dispatch_report(
            graph=graph,
            algorithm=self.algorithm,
            status=result.status,
            iterations=result.iterations,
            messages=network.stats.sent,
            wall_s=time.perf_counter() - started,
            power=result.x,
            multipliers=result.lam,
            x_history=result.x_history,
            lam_history=result.lam_history,
            extra=self._extra(result.residual_estimates),
        )

    def method(self) -> PrimalDualMethod:
        return PrimalDualMethod(settings=self.settings)

    def balance_tolerance(self) -> float:
        return self.settings.tol_balance

    def _extra(self, residual_estimates: Mapping[str, float | None]) -> dict[str, Any]:
        return {
            "multiplier_convention": "lam = -marginal cost (Lagrangian sum f_i + lam (sum x_i - demand))",
            "residual_estimates": {pid: float(w or 0.0) for pid, w in residual_estimates.items()},
        }


class DiffusionDispatchScenario(_DispatchScenario):
    """Diffusion (adapt-then-combine) dispatch; Metropolis weights need an undirected topology."""

    algorithm: Literal["diffusion-dispatch"]
    settings: DiffusionSettings = DiffusionSettings()

    @model_validator(mode="after")
    def _undirected_for_metropolis(self) -> DiffusionDispatchScenario:
        graph = self.graph()
        if self.settings.weights == "metropolis" and any(
                set(graph.in_neighbours(n)) != set(graph.out_neighbours(n)) for n in graph.nodes):
            msg = "topology: Metropolis weights need an undirected topology (every link both ways); or weights: uniform"
            raise ValueError(msg)
        return self

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        graph = self.graph()
        started = time.perf_counter()
        async with network:
            result = await simulate_diffusion(network, graph, self.costs(), self.demand, settings=self.settings,
                                              tol_balance=BALANCE_TOL)
        return self.dispatch_report(
            graph=graph,
            algorithm=self.algorithm,
            status=result.status,
            iterations=result.iterations,
            messages=network.stats.sent,
            wall_s=time.perf_counter() - started,
            power={pid: float(x[0]) for pid, x in result.x.items()},
            multipliers={pid: float(lam[0]) for pid, lam in result.lam.items()},
            x_history={pid: [float(x[0]) for x in series] for pid, series in result.x_history.items()},
            lam_history={pid: [float(lam[0]) for lam in series] for pid, series in result.lam_history.items()},
            extra=self._extra({}),
        )

    def method(self) -> DiffusionMethod:
        return DiffusionMethod(settings=self.settings)

    def _extra(self, residual_estimates: Mapping[str, float | None]) -> dict[str, Any]:
        return {"multiplier_convention": "lam = marginal cost (price)", "weights": self.settings.weights}


class ConsensusDispatchScenario(_DispatchScenario):
    """The seed's averaging consensus with an economic-dispatch actor per generator."""

    algorithm: Literal["consensus-dispatch"]
    settings: AveragingSettings = AveragingSettings()
    initial_lam: float = 10.0
    rho: float = Field(0.05, gt=0, description="gradient step of the actors")
    n: int | None = Field(
        None, ge=1,
        description="divisor of the demand share; default the number of generators (the seed's n_guess=10 "
        "makes the supply converge to N/10 times the demand)",
    )

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        n = self.n or len(self.participants)
        actors = {
            g.id: EconomicDispatchActor(cost=g.cost_linear, p_max=g.p_max, p_min=g.p_min, p_target=[self.demand],
                                        n=n, rho=self.rho, epsilon=g.cost_quadratic)
            for g in self.participants
        }
        graph = self.graph()
        started = time.perf_counter()
        async with network:
            result = await simulate_averaging(network, graph, {pid: [self.initial_lam] for pid in actors},
                                              settings=self.settings, actors=actors)
        lam_history = {pid: [float(v[0]) for v in series] for pid, series in result.history.items()}
        return self.dispatch_report(
            graph=graph,
            algorithm=self.algorithm,
            status=result.status,
            iterations=result.iterations,
            messages=network.stats.sent,
            wall_s=time.perf_counter() - started,
            power={pid: float(actors[pid].power(lam)[0]) for pid, lam in result.lam.items()},
            multipliers={pid: float(lam[0]) for pid, lam in result.lam.items()},
            x_history={
                pid: [float(p) for p in actors[pid].power(np.array(series))] for pid, series in lam_history.items()
            },
            lam_history=lam_history,
            extra=self._extra({}),
        )

    def method(self) -> AveragingDispatchMethod:
        return AveragingDispatchMethod(settings=self.settings, initial_lam=self.initial_lam, rho=self.rho,
                                       share_divisor=self.n or len(self.participants))

    def _extra(self, residual_estimates: Mapping[str, float | None]) -> dict[str, Any]:
        return {"multiplier_convention": "lam = price (marginal cost)",
                "share_divisor": self.n or len(self.participants)}


class AveragingMember(StrictModel):
    id: AgentId
    initial: float | list[float] = Field(10.0, description="starting value (a number or a vector)")

    def vector(self) -> list[float]:
        return self.initial if isinstance(self.initial, list) else [self.initial]


class AveragingScenario(StrictModel):
    """Plain averaging consensus. ``objective`` reports the remaining disagreement
    ``max_i ||lam_i - mean||_inf``; ``aggregate`` the mean of the final values."""

    algorithm: Literal["averaging"]
    name: str = "unnamed"
    description: str = ""
    topology: TopologySpec = CompleteTopology(kind="complete")
    settings: AveragingSettings = AveragingSettings()
    history_points: int = Field(1000, ge=2, description="most rounds kept in the report's history")
    participants: list[AveragingMember] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> AveragingScenario:
        require_unique([p.id for p in self.participants])
        sizes = {len(p.vector()) for p in self.participants}
        if len(sizes) > 1 or 0 in sizes:
            msg = f"every initial value must have the same non-zero length, got lengths {sorted(sizes)}"
            raise ValueError(msg)
        _graph(self.topology, [p.id for p in self.participants])
        return self

    async def run(self, options: RunOptions, network: Network) -> RunReport:
        graph = _graph(self.topology, [p.id for p in self.participants])
        started = time.perf_counter()
        async with network:
            result = await simulate_averaging(network, graph, {p.id: p.vector() for p in self.participants},
                                              settings=self.settings)
        final = np.array([result.lam[p.id] for p in self.participants])
        mean = final.mean(axis=0)
        rounds = sample_rounds(result.iterations, self.history_points)
        return RunReport(
            scenario=self.name,
            algorithm=self.algorithm,
            status=result.status,
            objective=float(np.max(np.abs(final - mean))),
            iterations=result.iterations,
            messages=network.stats.sent,
            wall_s=time.perf_counter() - started,
            aggregate=mean.tolist(),
            participants={pid: {"x": lam.tolist()} for pid, lam in result.lam.items()},
            extra={
                "initial_mean": np.mean([p.vector() for p in self.participants], axis=0).tolist(),
                "graph": {"edges": [list(e) for e in graph.edges], "balanced": graph.is_balanced()},
                "history": {
                    "iteration": rounds,
                    "lam": {pid: [series[min(k, len(series) - 1)].tolist() for k in rounds]
                            for pid, series in result.history.items()},
                },
            },
        )


def _pick(series: Sequence[float], rounds: Sequence[int]) -> list[float]:
    """``series[k]`` for each round; a participant that stopped early holds its last value."""
    last = len(series) - 1
    return [float(series[min(k, last)]) for k in rounds]
