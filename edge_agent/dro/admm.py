"""The seed's ADMM API over this project's ADMM engine (:mod:`edge_agent.algorithms.admm`).

:class:`ADMMGenericCoordinator` runs :class:`~edge_agent.algorithms.admm.AdmmCoordinator` with the engine's
:class:`~edge_agent.algorithms.admm.SharingVariant` or :class:`~edge_agent.algorithms.admm.ConsensusVariant`
(chosen by the global actor); :class:`ADMMFlexActor` runs the engine's
:class:`~edge_agent.algorithms.admm.AdmmFlexActor`. The seed-level methods of the global actors
(``z_update``, ``u_update``, ...) compute with the same engine variants, for users who call them directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_agent.algorithms.admm import (
    AdmmCoordinator,
    AdmmFlexActor,
    AdmmResult,
    AdmmSettings,
    ConsensusVariant,
    SharingVariant,
    one_to_many_problem,
)
from edge_agent.dro._bridge import EngineCarrier, Named, Wire
from edge_agent.dro.carrier import Carrier
from edge_agent.dro.core import Coordinator, DistributedAlgorithm
from edge_agent.errors import ConfigError
from edge_agent.solvers.qp import ConvexQP, ProximalSolver

__all__ = [
    "ADMMAnswer",
    "ADMMConsensusGlobalActor",
    "ADMMFlexActor",
    "ADMMGenericCoordinator",
    "ADMMGlobalActor",
    "ADMMGlobalObjective",
    "ADMMMessage",
    "ADMMSharingData",
    "ADMMSharingGlobalActor",
    "ADMMStart",
    "ADMMTargetDistanceObjective",
    "create_admm_flex_actor_one_to_many",
    "create_admm_sharing_data",
    "create_admm_start",
    "create_admm_start_consensus",
    "create_consensus_target_reach_admm_coordinator",
    "create_sharing_admm_coordinator",
    "create_sharing_target_distance_admm_coordinator",
]

Array = NDArray[np.float64]


@dataclass
class ADMMStart:
    """Sent to the coordinator to begin a run: the variant's data and the length of every ``x_i``."""

    data: Any
    solution_length: int


@dataclass
class ADMMMessage:
    """Coordinator -> participant: ``v`` (the local problem is ``min (rho/2)||x + v||^2 + S^T x``) and ``rho``."""

    v: Array
    rho: float


@dataclass
class ADMMAnswer:
    """Participant -> coordinator: the local solution ``x``."""

    x: Array
    aux: Any = None


@dataclass
class ADMMSharingData:
    """Sharing input: the target sum and the priorities in penalty form (negated, as the seed stores them)."""

    target: Array
    priorities: Array


class ADMMGlobalObjective(ABC):  # noqa: B024 (informational in the seed: nothing to implement)
    """Optional global objective (informational only)."""


class ADMMTargetDistanceObjective(ADMMGlobalObjective):
    """The target-distance objective of the sharing variant (informational)."""


class ADMMGlobalActor(ABC):
    """The coordinator-side update of an ADMM variant (the seed's interface)."""

    @abstractmethod
    def z_update(self, input_data: Any, x: list[Array], u: Any, z: Any, rho: float, n: int) -> Any: ...

    @abstractmethod
    def u_update(self, x: list[Array], u: Any, z: Any, rho: float, n: int) -> Any: ...

    @abstractmethod
    def init_z(self, n: int, m: int) -> Any: ...

    @abstractmethod
    def init_u(self, n: int, m: int) -> Any: ...

    @abstractmethod
    def actor_correction(self, x: list[Array], z: Any, u: Any, i: int) -> Array: ...

    @abstractmethod
    def primal_residual(self, x: list[Array], z: Any) -> float: ...

    def dual_residual(self, z: Any, z_old: Any, rho: float) -> float:
        """``rho * max_i ||z_i - z_old_i||``."""
        diff = np.atleast_2d(np.asarray(z, dtype=np.float64) - np.asarray(z_old, dtype=np.float64))
        return float(rho * np.max(np.linalg.norm(diff, axis=1)))


class ADMMConsensusGlobalActor(ADMMGlobalActor):
    """Consensus variant: ``z``, ``u`` one vector per participant. A larger ``alpha`` pulls *less* toward the
    target (``beta = rho^2 / alpha``, the engine's :class:`ConsensusVariant`)."""

    def __init__(self, alpha: int = 100) -> None:
        self.alpha = alpha

    def variant(self, data: Any, rho: float) -> ConsensusVariant:
        return ConsensusVariant(np.asarray(data, dtype=np.float64), alpha=float(self.alpha), rho=rho)

    def z_update(self, input_data: Any, x: list[Array], u: list[Array], z: list[Array], rho: float,
                 n: int) -> list[Array]:
        Z = self.variant(input_data, rho).z_update(np.array(x), np.array(u), rho)
        return list(Z)

    def u_update(self, x: list[Array], u: list[Array], z: list[Array], rho: float, n: int) -> list[Array]:
        return [ui + xi - zi for xi, ui, zi in zip(x, u, z, strict=True)]

    def init_z(self, n: int, m: int) -> list[Array]:
        return [np.zeros(m) for _ in range(n)]

    def init_u(self, n: int, m: int) -> list[Array]:
        return [np.zeros(m) for _ in range(n)]

    def actor_correction(self, x: list[Array], z: list[Array], u: list[Array], i: int) -> Array:
        return np.asarray(z[i] - u[i], dtype=np.float64)

    def primal_residual(self, x: list[Array], z: list[Array]) -> float:
        return float(np.linalg.norm(np.sum(np.array(x) - np.array(z), axis=0)))


class ADMMSharingGlobalActor(ADMMGlobalActor):
    """Sharing variant: ``z`` (the agreed average) and ``u`` are single vectors shared by everyone."""

    def __init__(self, global_objective: ADMMGlobalObjective) -> None:
        self.global_objective = global_objective

    @staticmethod
    def variant(data: ADMMSharingData) -> SharingVariant:
        return SharingVariant(data.target, data.priorities)  # the engine takes |priorities|

    def z_update(self, input_data: ADMMSharingData, x: list[Array], u: Array, z: Array, rho: float,
                 n: int) -> Array:
        X = np.array(x)
        Z = self.variant(input_data).z_update(X, np.tile(u, (X.shape[0], 1)), rho)
        return np.asarray(Z.mean(axis=0), dtype=np.float64)

    def u_update(self, x: list[Array], u: Array, z: Array, rho: float, n: int) -> Array:
        return np.asarray(u + np.mean(x, axis=0) - z, dtype=np.float64)

    def init_z(self, n: int, m: int) -> Array:
        return np.zeros(m)

    def init_u(self, n: int, m: int) -> Array:
        return np.zeros(m)

    def actor_correction(self, x: list[Array], z: Array, u: Array, i: int) -> Array:
        return np.asarray(x[i] - np.mean(x, axis=0) + z - u, dtype=np.float64)

    def primal_residual(self, x: list[Array], z: Array) -> float:
        return float(len(x) * np.linalg.norm(np.mean(x, axis=0) - z))


class ADMMGenericCoordinator(Coordinator):
    """The seed's coordinator, running the engine's :class:`AdmmCoordinator`.

    ``abs_tol`` and ``rel_tol`` are the engine's residual tolerances (module docs, "Deviations": the primal
    residual is measured on the aggregate). ``last_result`` keeps the engine's result of the last run
    (status, iterations, objective, messages).
    """

    def __init__(self, global_actor: ADMMGlobalActor, rho: float = 1.0, max_iters: int = 1000,
                 abs_tol: float = 0.0001, rel_tol: float = 0.001) -> None:
        self.global_actor = global_actor
        self.settings = AdmmSettings(rho=rho, max_iters=max_iters, abs_tol=abs_tol, rel_tol=rel_tol)
        self.last_result: AdmmResult | None = None

    def _variant(self, data: Any) -> SharingVariant | ConsensusVariant:
        actor = self.global_actor
        if isinstance(actor, ADMMSharingGlobalActor):
            if not isinstance(data, ADMMSharingData):
                raise ConfigError(f"a sharing run starts with ADMMSharingData, got {type(data).__name__}")
            return actor.variant(data)
        if isinstance(actor, ADMMConsensusGlobalActor):
            return actor.variant(data, self.settings.rho)
        msg = (f"ADMMGenericCoordinator runs ADMMSharingGlobalActor and ADMMConsensusGlobalActor; "
               f"{type(actor).__name__} is not supported (edge_agent.dro docs, deviations)")
        raise ConfigError(msg)

    async def start_optimization(self, carrier: Carrier, message_data: ADMMStart, meta: Any) -> list[Array]:
        if not isinstance(message_data, ADMMStart):
            raise ConfigError(f"an ADMM run starts with ADMMStart, got {type(message_data).__name__}")
        addresses = carrier.others("coordinator")
        ids = [str(a) for a in addresses]
        engine = AdmmCoordinator(self._variant(message_data.data), ids, message_data.solution_length,
                                 self.settings, id="coordinator")
        bridge = EngineCarrier(carrier, engine, "coordinator")
        self.last_result = result = await engine.run(bridge)
        return [result.x[i] for i in ids]


class ADMMFlexActor(DistributedAlgorithm):
    """Local participant: ``min (rho/2)||x + v||^2 + S^T x`` s.t. ``lb <= x <= u``, ``C x <= d``."""

    def __init__(self, lb: Array, u: Array, C: Array, d: Array, S: Array) -> None:
        C = np.atleast_2d(np.asarray(C, dtype=np.float64))
        self._init(ConvexQP(owner="flex", lb=np.asarray(lb, dtype=np.float64), ub=np.asarray(u, dtype=np.float64),
                            c=np.asarray(S, dtype=np.float64), A=C if C.size else np.zeros((0, np.size(lb))),
                            hi=np.asarray(d, dtype=np.float64)))

    def _init(self, problem: ConvexQP) -> None:
        self.problem = problem
        self.lb, self.u, self.S = problem.lb, problem.ub, problem.c
        self.x: Array = np.zeros(problem.size)
        self._engine = AdmmFlexActor(problem)
        self._bridges: dict[int, EngineCarrier] = {}
        self._solver: ProximalSolver | None = None

    @classmethod
    def of_problem(cls, problem: ConvexQP) -> ADMMFlexActor:
        actor = cls.__new__(cls)
        actor._init(problem)
        return actor

    async def on_exchange_message(self, carrier: Carrier, message_data: Any, meta: Any) -> None:
        if isinstance(message_data, ADMMMessage):  # a seed-style coordinator: answer in kind
            if self._solver is None:
                self._solver = ProximalSolver(self.problem, float(message_data.rho))
            self.x = self._solver.solve(-np.asarray(message_data.v, dtype=np.float64), float(message_data.rho))
            carrier.reply_to_other(ADMMAnswer(self.x.copy()), meta)
            return
        if not isinstance(message_data, Wire):
            raise ConfigError(f"ADMMFlexActor handles ADMMMessage, got {type(message_data).__name__}")
        bridge = self._bridges.get(id(carrier))
        if bridge is None:
            own = message_data.envelope.receiver
            bridge = self._bridges[id(carrier)] = EngineCarrier(carrier, Named(own, self._engine), own)
        handler = bridge.deliver(message_data, meta)
        if handler is not None:
            await handler
        self.x = self._engine.x


def create_admm_flex_actor_one_to_many(in_capacity: float, eta: list[float] | Array,
                                       P: list[float] | Array | None = None) -> ADMMFlexActor:
    """One input of ``in_capacity`` split into outputs ``in_capacity * eta``; ``P`` a cost per unit of each
    output (positive = penalised, as the seed documents; the seed's code rewards it)."""
    return ADMMFlexActor.of_problem(one_to_many_problem("flex", in_capacity, np.asarray(eta, dtype=np.float64),
                                                        None if P is None else list(np.asarray(P, dtype=float))))


def create_admm_sharing_data(target: list[float] | Array,
                             priorities: list[float] | Array | None = None) -> ADMMSharingData:
    """``priorities`` default to ones; stored negated (penalty form), as in the seed."""
    t = np.asarray(target, dtype=np.float64)
    p = np.ones_like(t) if priorities is None else np.asarray(priorities, dtype=np.float64)
    return ADMMSharingData(t, -p)


def create_admm_start(data: Any, length: int | None = None) -> ADMMStart:
    """Length inferred from ``data.solution_length`` or ``len(data.target)`` when omitted."""
    if length is None:
        if hasattr(data, "solution_length"):
            length = int(data.solution_length)
        elif hasattr(data, "target"):
            length = len(data.target)
        else:
            raise ConfigError("create_admm_start: give length, or data with a target or a solution_length")
    return ADMMStart(data, length)


def create_admm_start_consensus(target: list[float] | Array) -> ADMMStart:
    t = np.asarray(target, dtype=np.float64)
    return ADMMStart(t, t.size)


def create_consensus_target_reach_admm_coordinator() -> ADMMGenericCoordinator:
    return ADMMGenericCoordinator(ADMMConsensusGlobalActor())


def create_sharing_admm_coordinator(objective: ADMMGlobalObjective) -> ADMMGenericCoordinator:
    return ADMMGenericCoordinator(ADMMSharingGlobalActor(objective))


def create_sharing_target_distance_admm_coordinator() -> ADMMGenericCoordinator:
    return create_sharing_admm_coordinator(ADMMTargetDistanceObjective())


