"""The economic-dispatch actor of the averaging consensus (seed 000).

Generator cost ``c P + eps P^2`` with ``P in [p_min, p_max]``. For the current price ``lam`` the actor
produces ``P = clip((lam - c) / (2 eps), p_min, p_max)`` (marginal cost = price) and returns the
gradient correction ``rho * (P_target / n - P)``: the price rises while this generator delivers less
than its share of the demand.

The seed's trap: it divides the target by ``n_guess = 10`` whatever the fleet size, so the total
supply converges to ``N / n_guess`` times the target. Here ``n`` has no default: pass the true number
of participants (the scenario does).

The correction is per participant, so at the fixed point the gradient terms only cancel *on average*
(weighted by the graph's Perron vector): the multipliers do not agree exactly and the dispatch is an
approximation of the optimum, exact in total supply only on a regular (balanced) graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import ConfigError

__all__ = ["EconomicDispatchActor"]

Array = NDArray[np.float64]


class EconomicDispatchActor:
    """Implements :class:`~edge_agent.algorithms.consensus.averaging.ConsensusActor` for one generator."""

    def __init__(
        self,
        *,
        cost: float,
        p_max: float,
        p_target: float | Sequence[float],
        n: int,
        p_min: float = 0.0,
        rho: float = 0.05,
        epsilon: float = 0.1,
    ) -> None:
        target = np.array(p_target, dtype=np.float64)
        numbers = {"cost": cost, "p_max": p_max, "p_min": p_min, "rho": rho, "epsilon": epsilon}
        bad = [name for name, value in numbers.items() if not np.isfinite(value)]
        if bad or not np.isfinite(target).all():
            raise ConfigError(f"economic dispatch: {', '.join(bad) or 'p_target'} must be finite numbers")
        if p_min > p_max:
            raise ConfigError(f"economic dispatch: p_min = {p_min:g} exceeds p_max = {p_max:g}")
        if epsilon <= 0 or rho <= 0:
            raise ConfigError(f"economic dispatch: epsilon and rho must be > 0, got {epsilon:g} and {rho:g}")
        if n < 1:
            raise ConfigError(f"economic dispatch: n (number of participants) must be >= 1, got {n}")
        self.cost = cost
        self.p_min = p_min
        self.p_max = p_max
        self.rho = rho
        self.epsilon = epsilon
        self.share = target / n
        self.P: Array = np.zeros(target.shape)

    def power(self, lam: Array) -> Array:
        """The output that minimises ``cost(P) - lam P`` within the limits."""
        return np.clip((lam - self.cost) / (2.0 * self.epsilon), self.p_min, self.p_max)

    def gradient_term(self, lam: Array) -> Array:
        self.P = self.power(lam)
        return self.rho * (self.share - self.P)

    def generation_cost(self, P: Array) -> float:
        return float(np.sum(self.cost * P + self.epsilon * P * P))
