"""The ADMM participant: a device that solves its private convex problem each round.

:func:`create_admm_flex_actor_one_to_many` builds the seed's one-to-many conversion device: one input
of capacity ``in_capacity`` split into outputs ``tech_j = in_capacity * eta_j``; its feasible set is
the segment ``{s * tech : 0 <= s <= 1}``. Sign convention: ``P`` is a cost per unit of each output
(positive = penalised, negative = rewarded); the peer library's code treats positive ``P`` as a reward.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import structlog
from numpy.typing import NDArray

from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmFailure, AdmmRequest
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ConfigError, SolverError
from edge_agent.messages import Envelope, Message
from edge_agent.solvers.qp import ConvexQP, ProximalSolver

__all__ = ["AdmmFlexActor", "create_admm_flex_actor_one_to_many", "one_to_many_problem"]

log = structlog.get_logger("edge_agent.admm")


class AdmmFlexActor:
    """Answers :class:`AdmmRequest` with the minimiser of its local problem plus the ADMM penalty."""

    def __init__(self, problem: ConvexQP, rho: float = 1.0) -> None:
        self.problem = problem
        self._solver = ProximalSolver(problem, rho)
        self.x: NDArray[np.float64] = np.zeros(problem.size)

    @property
    def id(self) -> str:
        return self.problem.owner

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if not isinstance(message, AdmmRequest):
            log.warning("admm.unexpected_message", participant=self.id, kind=message.kind, sender=envelope.sender)
            return
        try:
            if self._solver.method == "closed form":  # microseconds: a hop to a worker thread costs more
                x = self._solver.solve(message.reference, message.rho)
            else:
                x = await carrier.run_blocking(self._solver.solve, message.reference, message.rho)
        except SolverError as error:
            log.warning("admm.local_solve_failed", participant=self.id, round=message.round, error=str(error))
            carrier.reply(AdmmFailure(round=message.round, reason=error.detail), envelope)
            return
        self.x = x
        carrier.reply(AdmmAnswer(round=message.round, x=x, cost=self.problem.cost(x)), envelope)


def one_to_many_problem(
    owner: str, in_capacity: float, eta: Sequence[float] | NDArray[np.float64], P: Sequence[float] | None = None
) -> ConvexQP:
    """The one-to-many device as a :class:`ConvexQP` (box bounds plus fixed output ratios).

    The ratio rows ``tech_k x_j - tech_j x_k = 0`` use the output ``k`` of largest ``|tech|``, so no
    division by an efficiency happens and outputs with ``eta_j = 0`` are simply pinned to zero.
    """
    eta_arr = np.array(eta, dtype=np.float64)
    if eta_arr.ndim != 1 or eta_arr.size == 0:
        raise ConfigError(f"participant {owner!r}: eta must be a non-empty list of numbers")
    if not np.isfinite(in_capacity) or in_capacity < 0:
        raise ConfigError(f"participant {owner!r}: in_capacity must be a finite number >= 0, got {in_capacity}")
    tech = in_capacity * eta_arr
    cost = np.zeros_like(tech) if P is None else np.array(P, dtype=np.float64)
    if cost.shape != tech.shape:
        raise ConfigError(f"participant {owner!r}: P has length {cost.size}, expected {tech.size} (one per output)")
    k = int(np.argmax(np.abs(tech)))
    rows = []
    for j in range(tech.size):
        if j != k and tech[j] != 0 and tech[k] != 0:
            row = np.zeros(tech.size)
            row[j], row[k] = tech[k], -tech[j]
            rows.append(row)
    A = np.array(rows) if rows else np.zeros((0, tech.size))
    return ConvexQP(
        owner=owner,
        lb=np.minimum(0.0, tech),
        ub=np.maximum(0.0, tech),
        c=cost,
        A=A,
        lo=np.zeros(len(rows)),
        hi=np.zeros(len(rows)),
    )


def create_admm_flex_actor_one_to_many(
    in_capacity: float,
    eta: Sequence[float] | NDArray[np.float64],
    P: Sequence[float] | None = None,
    *,
    id: str,
    rho: float = 1.0,
) -> AdmmFlexActor:
    """The seed's one-to-many flex device as an ADMM participant."""
    return AdmmFlexActor(one_to_many_problem(id, in_capacity, eta, P), rho)
