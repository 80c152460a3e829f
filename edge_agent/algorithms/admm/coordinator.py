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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import structlog
from numpy.typing import NDArray
from pydantic import Field, model_validator

from edge_agent.algorithms.admm.anderson import Anderson
from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmFailure, AdmmRequest
from edge_agent.algorithms.admm.settle import Settle
from edge_agent.carrier.base import Carrier
from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError, ProtocolError, RunTimeout, SolverError
from edge_agent.messages import Envelope, Message

__all__ = ["AdmmCoordinator", "AdmmResult", "AdmmSettings", "AdmmStatus", "AdmmVariant", "RoundRecord"]

Array = NDArray[np.float64]
log = structlog.get_logger("edge_agent.admm")

PROGRESS_EVERY_S = 2.0
MAX_PENALTY = 1e8  # the largest rho an AdmmRequest carries


class AdmmSettings(StrictModel):
    """How an ADMM run goes: the one settings class of scenario files, jobs and code.

    Tolerances are 100x (abs) and 1000x (rel) tighter than the seed's 1e-4 / 1e-3, which stop 1-7 % short of
    the optimum; these reach the central objective to about 1e-4 in a few dozen more rounds
    (``bench/results/admm.md``). Built in code, a bad value raises pydantic's ``ValidationError`` naming the
    field; read from a file, a :class:`ConfigError` naming the file and the field.
    """

    rho: float = Field(1.0, gt=0, description="ADMM penalty")
    max_iters: int = Field(1000, ge=1)
    min_iters: int = Field(
        1, ge=1, description="rounds before the stopping test may end the run (= max_iters: a fixed number of rounds)"
    )
    abs_tol: float = Field(1e-6, gt=0)
    rel_tol: float = Field(1e-6, gt=0)
    round_timeout_s: float = Field(30.0, gt=0, description="deadline for every participant's answer, per round")
    on_silent: Literal["fail", "continue"] = Field(
        "fail", description="a participant silent past the deadline ends the run (fail) or is dropped (continue)"
    )
    # Residual balancing (Boyd et al. 2011, 3.4.1, on normalised residuals): every ``adapt_every`` rounds,
    # rho is multiplied (divided) by ``adapt_factor`` when the normalised primal residual exceeds the dual one
    # ``adapt_ratio`` times (or the reverse), within [rho_min, rho_max]; "fixed" keeps the seed's constant rho.
    # "settle" (settle.py): from round ``settle_start`` on, participants whose answers did not move over the last
    # ``settle_window`` rounds get the penalty ``settle_factor * rho`` for ``settle_hold`` rounds, then all go
    # back to rho for ``settle_window`` rounds and the set is measured again (docs/admm.md, LP-like fleets);
    # while participants are held, rho is balanced every ``adapt_every`` rounds, downwards only.
    rho_update: Literal["fixed", "balance", "settle"] = Field(
        "fixed", description="balance: residual balancing of rho every adapt_every rounds; settle: hold the "
        "participants whose answers stopped moving with a large penalty (docs/admm.md)"
    )
    adapt_every: int = Field(5, ge=1)
    adapt_ratio: float = Field(5.0, gt=1)
    adapt_factor: float = Field(2.0, gt=1)
    rho_min: float = Field(1e-6, gt=0)
    rho_max: float = Field(1e6, gt=0)
    settle_start: int = Field(100, ge=1)
    settle_window: int = Field(20, ge=2)
    settle_hold: int = Field(80, ge=1)
    settle_factor: float = Field(1e4, gt=1)
    settle_tol: float = Field(1e-6, gt=0, description="an answer moved less than this (relative) has not moved")
    relaxation: float = Field(1.0, gt=0, lt=2, description="over-relaxation alpha (1: none)")
    # Type-II Anderson acceleration of the coordinator's state (Z, U) with ``anderson_memory`` past rounds,
    # safeguarded: a round whose fixed-point residual grew more than ``anderson_guard`` times is discarded
    # and the plain step taken instead (the memory restarts; also when rho changes or someone drops out).
    acceleration: Literal["none", "anderson"] = Field("none", description="anderson: safeguarded acceleration")
    anderson_memory: int = Field(5, ge=1)
    anderson_guard: float = Field(1.0, ge=1)
    feasibility_tol: float = Field(
        1e-3, gt=0, description="converged needs max_j |sum_i (x_ij - z_ij)| within this (absolute)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> AdmmSettings:
        if not self.rho_min <= self.rho <= self.rho_max:
            msg = f"ADMM settings need rho_min <= rho <= rho_max, got {self.rho_min}, {self.rho}, {self.rho_max}"
            raise ValueError(msg)
        if self.min_iters > self.max_iters:
            msg = f"ADMM settings need min_iters <= max_iters, got {self.min_iters} > {self.max_iters}"
            raise ValueError(msg)
        if self.rho_update == "settle" and self.rho * self.settle_factor > MAX_PENALTY:
            msg = (f"settling multiplies rho by settle_factor: rho * settle_factor must be <= {MAX_PENALTY:g}, "
                   f"got {self.rho:g} * {self.settle_factor:g}")
            raise ValueError(msg)
        return self


class AdmmVariant(Protocol):
    """The coupling part of the problem: its z-update and its value."""

    def z_update(self, X: Array, U: Array, rho: float | Array) -> Array:
        """``argmin_Z G(Z) + rho/2 ||Z - (X + U)||^2`` for stacked ``X``, ``U`` of shape (N, m); ``rho`` of
        shape (N,) gives every participant its own penalty."""
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
    rho: float = 0.0  # the penalty this round's local solves used
    coupling: float = 0.0  # max_j |sum_i (x_ij - z_ij)|: delivered aggregate against the agreed one


AdmmStatus = Literal["converged", "max_iterations", "infeasible_result", "diverged"]


def _record(
    k: int, X: Array, Z: Array, Z_prev: Array, U: Array, *, rho: float, cfg: AdmmSettings, scale: Array | None = None
) -> RoundRecord:
    """This round's residuals and the tolerances they are tested against (module docstring); ``scale``: the
    participants' penalties relative to ``rho`` (settling), which weigh their rows of the dual residual."""
    n, m = X.shape
    mismatch = (X - Z).sum(axis=0)
    weights = np.ones((n, 1)) if scale is None else scale[:, None]
    return RoundRecord(
        round=k,
        r_primal=float(np.linalg.norm(mismatch)),
        r_dual=float(rho * np.linalg.norm(weights * (Z - Z_prev))),
        eps_primal=float(np.sqrt(m)) * cfg.abs_tol
        + cfg.rel_tol * float(max(np.linalg.norm(X.sum(axis=0)), np.linalg.norm(Z.sum(axis=0)))),
        eps_dual=float(np.sqrt(n * m)) * cfg.abs_tol + cfg.rel_tol * rho * float(np.linalg.norm(weights * U)),
        rho=rho,
        coupling=float(np.abs(mismatch).max()),
    )


def _verdict(record: RoundRecord, cfg: AdmmSettings) -> AdmmStatus | None:
    """The run's status if it ends after this round: NaN residuals, or both residual tests passed
    (``converged`` only if the delivered aggregate also matches the agreed one within ``feasibility_tol``)."""
    if not (np.isfinite(record.r_primal) and np.isfinite(record.r_dual)):
        return "diverged"
    if record.r_primal <= record.eps_primal and record.r_dual <= record.eps_dual:
        return "converged" if record.coupling <= cfg.feasibility_tol else "infeasible_result"
    return None


def _balanced_rho(record: RoundRecord, cfg: AdmmSettings, rho_max: float) -> float:
    """Residual balancing on the residuals normalised by their own tolerances."""
    primal = record.r_primal / record.eps_primal
    dual = record.r_dual / record.eps_dual
    rho = record.rho
    if primal > cfg.adapt_ratio * dual:
        rho = min(rho * cfg.adapt_factor, rho_max)
    elif dual > cfg.adapt_ratio * primal:
        rho = max(rho / cfg.adapt_factor, cfg.rho_min)
    return rho


def _adapt_penalties(
    record: RoundRecord, X: Array, U: Array, *, cfg: AdmmSettings, settle: Settle | None, anderson: Anderson
) -> tuple[Array, float]:
    """After round ``record.round``: the scaled duals and rho for the next round (residual balancing, or
    settling, which also balances rho while it holds participants); the unscaled duals ``rho_i u_i`` carry over
    and the Anderson memory restarts on a change."""
    rho = record.rho
    balancing = cfg.rho_update == "balance" or (settle is not None and settle.holding)
    if balancing and (record.round + 1) % cfg.adapt_every == 0:
        new_rho = _balanced_rho(record, cfg, cfg.rho_max if settle is None else rho)
        if new_rho != rho:
            U = U * (rho / new_rho)
            rho = new_rho
            anderson.reset()
    if settle is not None:
        old = settle.scale
        if settle.after_round(record.round + 1, X):
            U = U * (old / settle.scale)[:, None]
            anderson.reset()
            log.debug("admm.settle", round=record.round, held=int(np.sum(settle.scale != 1.0)))
    return U, rho


@dataclass
class AdmmResult:
    status: AdmmStatus
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
        # observer of every round: (its record, participants still answering); a host's progress publisher
        self.on_round: Callable[[RoundRecord, int], None] = lambda record, present: None

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
        X, Z, U = np.zeros((n, m)), np.zeros((n, m)), np.zeros((n, m))
        costs = np.zeros(n)
        history: list[RoundRecord] = []
        bound = log.bind(run=carrier.run_id, participants=n)
        bound.debug("admm.start", size=m, rho=cfg.rho, max_iters=cfg.max_iters)
        next_progress = carrier.clock.now() + PROGRESS_EVERY_S
        status: AdmmStatus = "max_iterations"
        rho = cfg.rho
        relax = cfg.relaxation
        messages = 0
        anderson = Anderson(cfg.anderson_memory, cfg.anderson_guard)
        settle = None if cfg.rho_update != "settle" else Settle(
            n, start=cfg.settle_start, window=cfg.settle_window, hold=cfg.settle_hold, factor=cfg.settle_factor,
            tol=cfg.settle_tol)
        for k in range(cfg.max_iters):
            scale = settle.scale if settle is not None else None
            X, costs, silent = await self._round(
                carrier, participants, k, Z - U, rho * (scale if scale is not None else np.ones(len(participants))))
            messages += 2 * len(participants) - len(silent)
            if silent:
                keep = [i for i, pid in enumerate(participants) if pid not in silent]
                dropped.update(dict.fromkeys(silent, k))
                bound.warning("admm.participants_dropped", round=k, dropped=sorted(silent), remaining=len(keep))
                participants = [participants[i] for i in keep]
                X, costs, Z, U = X[keep], costs[keep], Z[keep], U[keep]
                anderson.reset()
                if settle is not None:
                    settle.drop(keep)
            Z_prev, U_prev = Z, U
            X_hat = X if relax == 1.0 else relax * X + (1.0 - relax) * Z_prev
            scale = settle.scale if settle is not None else None  # after a drop: the kept rows
            Z = self.variant.z_update(X_hat, U_prev, rho if scale is None else rho * scale)
            U = U_prev + X_hat - Z
            record = _record(k, X, Z, Z_prev, U, rho=rho, cfg=cfg, scale=scale)
            history.append(record)
            self.on_round(record, len(participants))
            bound.debug("admm.round", round=k, r_primal=record.r_primal, r_dual=record.r_dual,
                        eps_primal=record.eps_primal, eps_dual=record.eps_dual, rho=rho)
            if carrier.clock.now() >= next_progress:
                next_progress = carrier.clock.now() + PROGRESS_EVERY_S
                bound.info("admm.progress", round=k, of=cfg.max_iters, r_primal=record.r_primal,
                           r_dual=record.r_dual, rho=rho)
            verdict = _verdict(record, cfg)
            if verdict is not None and (verdict == "diverged" or k + 1 >= cfg.min_iters):
                status = verdict
                break
            if cfg.acceleration == "anderson":
                Z, U = anderson.step(Z_prev, U_prev, Z, U)
            U, rho = _adapt_penalties(record, X, U, cfg=cfg, settle=settle, anderson=anderson)
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
        self, carrier: Carrier, participants: list[str], k: int, references: Array, rhos: Array
    ) -> tuple[Array, Array, set[str]]:
        """One request to every participant; the answers stacked, and who stayed silent (if tolerated)."""
        timeout = self.settings.round_timeout_s
        futures = [
            carrier.request(AdmmRequest(round=k, rho=float(rhos[i]), reference=references[i]), pid, timeout)
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
