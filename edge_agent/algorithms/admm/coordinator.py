"""The generic ADMM coordinator: one request/answer round per iteration, variant-specific z-update.

State is kept stacked, one row per participant: ``X`` (answers), ``Z`` (the coordinator's copies) and
``U`` (scaled duals). Each round every participant ``i`` solves ``min f_i(x) + rho/2 ||x - (z_i - u_i)||^2``;
the variant computes ``Z = argmin G(Z) + rho/2 ||Z - (X + U)||^2``; then ``U += X - Z``.

Stopping rule (Boyd et al. 2011, section 3.3): dual residual ``s = rho ||Z - Z_prev||`` (stacked) against
``eps_dual = sqrt(Nm) abs_tol + rel_tol rho ||U||``; the primal residual is measured on the aggregate,
``r = ||sum_i (x_i - z_i)||`` against ``eps_pri = sqrt(m) abs_tol + rel_tol max(||sum X||, ||sum Z||)``, so the
delivered total does not drift from the agreed one as N grows (the stacked norm would hide a sqrt(N) factor).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import structlog
from numpy.typing import NDArray

from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmFailure, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError, ProtocolError, RunTimeout, SolverError
from edge_agent.messages import Envelope, Message

__all__ = ["AdmmCoordinator", "AdmmResult", "AdmmSettings", "AdmmVariant", "RoundRecord"]

Array = NDArray[np.float64]
log = structlog.get_logger("edge_agent.admm")

PROGRESS_EVERY_S = 2.0


@dataclass(frozen=True)
class AdmmSettings:
    """Tolerances are 100x (abs) and 1000x (rel) tighter than the seed's 1e-4 / 1e-3, which stop 1-7 % short
    of the optimum; these reach the central objective to about 1e-4 in a few dozen more rounds
    (``bench/results/admm.md``)."""

    rho: float = 1.0
    max_iters: int = 1000
    abs_tol: float = 1e-6
    rel_tol: float = 1e-6
    round_timeout_s: float = 30.0
    on_silent: Literal["fail", "continue"] = "fail"  # a participant silent past its deadline: end or drop it

    def __post_init__(self) -> None:
        for name in ("rho", "abs_tol", "rel_tol", "round_timeout_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"ADMM setting {name} must be a finite number > 0, got {value}")
        if self.max_iters < 1:
            raise ConfigError(f"ADMM setting max_iters must be >= 1, got {self.max_iters}")
        if self.on_silent not in ("fail", "continue"):
            raise ConfigError(f"ADMM setting on_silent must be 'fail' or 'continue', got {self.on_silent!r}")


class AdmmVariant(Protocol):
    """The coupling part of the problem: its z-update and its value."""

    def z_update(self, X: Array, U: Array, rho: float) -> Array:
        """``argmin_Z G(Z) + rho/2 ||Z - (X + U)||^2`` for stacked ``X``, ``U`` of shape (N, m)."""
        ...

    def coupling_cost(self, aggregate: Array) -> float:
        """The coupling term of the objective at ``aggregate = sum_i x_i``."""
        ...


@dataclass(frozen=True)
class RoundRecord:
    round: int
    r_primal: float
    r_dual: float
    eps_primal: float
    eps_dual: float


@dataclass
class AdmmResult:
    status: Literal["converged", "max_iterations"]
    iterations: int
    x: dict[str, Array]
    local_costs: dict[str, float]
    objective: float
    history: list[RoundRecord] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # participant -> round it fell silent in
    messages: int = 0  # requests sent plus answers received

    @property
    def aggregate(self) -> Array:
        return np.asarray(np.sum(list(self.x.values()), axis=0), dtype=np.float64)


class AdmmCoordinator:
    """Drives an ADMM run over ``participants``; run it with :meth:`run` on the coordinator's carrier."""

    def __init__(
        self,
        variant: AdmmVariant,
        participants: Sequence[str],
        size: int,
        settings: AdmmSettings | None = None,
        id: str = "coordinator",
    ) -> None:
        if not participants:
            raise ConfigError("an ADMM run needs at least one participant, got none")
        if len(set(participants)) != len(participants):
            dupes = sorted({p for p in participants if list(participants).count(p) > 1})
            raise ConfigError(f"participant ids must be unique; repeated: {dupes}")
        self._id = id
        self.variant = variant
        self.participants = list(participants)
        self.size = size
        self.settings = settings or AdmmSettings()

    @property
    def id(self) -> str:
        return self._id

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        log.warning("admm.unexpected_message", participant=self.id, kind=message.kind, sender=envelope.sender)

    async def run(self, carrier: Carrier) -> AdmmResult:
        cfg = self.settings
        participants = list(self.participants)
        dropped: dict[str, int] = {}
        n, m = len(participants), self.size
        X = np.zeros((n, m))
        Z = np.zeros((n, m))
        U = np.zeros((n, m))
        costs = np.zeros(n)
        history: list[RoundRecord] = []
        bound = log.bind(run=carrier.run_id, participants=n)
        bound.debug("admm.start", size=m, rho=cfg.rho, max_iters=cfg.max_iters)
        next_progress = carrier.clock.now() + PROGRESS_EVERY_S
        sqrt_nm, sqrt_m = float(np.sqrt(n * m)), float(np.sqrt(m))
        status: Literal["converged", "max_iterations"] = "max_iterations"
        rho = cfg.rho
        messages = 0
        for k in range(cfg.max_iters):
            X, costs, silent = await self._round(carrier, participants, k, Z - U, rho)
            messages += 2 * len(participants) - len(silent)
            if silent:
                keep = [i for i, pid in enumerate(participants) if pid not in silent]
                dropped.update(dict.fromkeys(silent, k))
                bound.warning("admm.participants_dropped", round=k, dropped=sorted(silent), remaining=len(keep))
                participants = [participants[i] for i in keep]
                X, costs, Z, U = X[keep], costs[keep], Z[keep], U[keep]
                sqrt_nm = float(np.sqrt(len(participants) * m))
            Z_prev = Z
            Z = self.variant.z_update(X, U, rho)
            U = U + X - Z
            record = RoundRecord(
                round=k,
                r_primal=float(np.linalg.norm((X - Z).sum(axis=0))),
                r_dual=float(rho * np.linalg.norm(Z - Z_prev)),
                eps_primal=sqrt_m * cfg.abs_tol
                + cfg.rel_tol * float(max(np.linalg.norm(X.sum(axis=0)), np.linalg.norm(Z.sum(axis=0)))),
                eps_dual=sqrt_nm * cfg.abs_tol + cfg.rel_tol * rho * float(np.linalg.norm(U)),
            )
            history.append(record)
            bound.debug("admm.round", round=k, r_primal=record.r_primal, r_dual=record.r_dual,
                        eps_primal=record.eps_primal, eps_dual=record.eps_dual)
            if carrier.clock.now() >= next_progress:
                next_progress = carrier.clock.now() + PROGRESS_EVERY_S
                bound.info("admm.progress", round=k, of=cfg.max_iters, r_primal=record.r_primal,
                           r_dual=record.r_dual)
            if record.r_primal <= record.eps_primal and record.r_dual <= record.eps_dual:
                status = "converged"
                break
        aggregate = X.sum(axis=0)
        objective = float(costs.sum()) + self.variant.coupling_cost(aggregate)
        bound.debug("admm.finished", status=status, iterations=len(history), objective=objective)
        return AdmmResult(
            status=status,
            iterations=len(history),
            x={pid: X[i].copy() for i, pid in enumerate(participants)},
            local_costs={pid: float(costs[i]) for i, pid in enumerate(participants)},
            objective=objective,
            history=history,
            dropped=dropped,
            messages=messages,
        )

    async def _round(
        self, carrier: Carrier, participants: list[str], k: int, references: Array, rho: float
    ) -> tuple[Array, Array, set[str]]:
        """One request to every participant; the answers stacked, and who stayed silent (if tolerated)."""
        timeout = self.settings.round_timeout_s
        futures = [
            carrier.request(AdmmRequest(round=k, rho=rho, reference=references[i]), pid, timeout)
            for i, pid in enumerate(participants)
        ]
        answers = await asyncio.gather(*futures, return_exceptions=True)
        silent = {pid for pid, a in zip(participants, answers, strict=True) if isinstance(a, RunTimeout)}
        if silent and (self.settings.on_silent == "fail" or len(silent) == len(participants)):
            names = ", ".join(p for p in participants if p in silent)
            raise RunTimeout(
                f"ADMM round {k}: no answer within {timeout:g} s from {names}",
                participants=tuple(p for p in participants if p in silent), round=k,
            )
        X = np.zeros((len(answers), self.size))
        costs = np.zeros(len(answers))
        for i, (pid, answer) in enumerate(zip(participants, answers, strict=True)):
            if pid in silent:
                continue
            if isinstance(answer, BaseException):
                raise answer
            if isinstance(answer, AdmmFailure):
                raise SolverError(f"round {k}: {answer.reason}", participant=pid)
            if not isinstance(answer, AdmmAnswer) or answer.round != k:
                raise ProtocolError(f"expected admm.answer for round {k}, got {answer!r:.120}", sender=pid)
            if answer.x.shape != (self.size,):
                raise ProtocolError(
                    f"answer has {answer.x.size} values but the problem has {self.size} per participant",
                    sender=pid,
                )
            X[i] = answer.x
            costs[i] = answer.cost
        return X, costs, silent
