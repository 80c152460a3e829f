"""Local generator costs for the primal-dual dispatch: each agent's private ``f_i`` on ``[lower, upper]``.

The algorithm only asks a cost for its *response* to a multiplier,
``x~(lam) = argmin_{lower <= x <= upper} f(x) + lam * x``: in closed form for quadratic costs
(:class:`QuadraticCost`), by a bounded scalar minimisation for any other convex callable
(:class:`ConvexCost`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Protocol

from edge_agent.errors import ConfigError, SolverError

__all__ = ["ConvexCost", "LocalCost", "QuadraticCost", "check_feasible_demand"]


class LocalCost(Protocol):
    lower: float
    upper: float

    def response(self, lam: float) -> float:
        """``argmin_{lower <= x <= upper} f(x) + lam * x`` (must be unique: ``f`` strictly convex)."""
        ...

    def value(self, x: float) -> float:
        """``f(x)``."""
        ...


def _check_bounds(owner: str, lower: float, upper: float) -> None:
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise ConfigError(f"generator {owner!r}: bounds must be finite numbers, got [{lower}, {upper}]")
    if lower > upper:
        raise ConfigError(f"generator {owner!r}: lower bound {lower:g} exceeds upper bound {upper:g}")


class QuadraticCost:
    """``f(x) = a x + b x^2`` with ``b > 0`` on ``[lower, upper]``; ``x~(lam) = clip((-lam - a) / 2b)``."""

    __slots__ = ("_half_inv_b", "a", "b", "lower", "upper")

    def __init__(self, a: float, b: float, lower: float, upper: float, owner: str = "?") -> None:
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ConfigError(f"generator {owner!r}: cost coefficients must be finite numbers, got a={a}, b={b}")
        if b <= 0:
            raise ConfigError(
                f"generator {owner!r}: the quadratic coefficient must be > 0 (strictly convex cost, so the "
                f"response to a price is unique), got b={b}"
            )
        _check_bounds(owner, lower, upper)
        self.a, self.b, self.lower, self.upper = a, b, lower, upper
        self._half_inv_b = 0.5 / b

    def response(self, lam: float) -> float:
        return min(max((-lam - self.a) * self._half_inv_b, self.lower), self.upper)

    def value(self, x: float) -> float:
        return self.a * x + self.b * x * x


class ConvexCost:
    """Any strictly convex ``f`` given as a callable; responses by bounded Brent search
    (scipy's ``minimize_scalar``: accurate to about ``1.5e-8 |x| + xtol``)."""

    def __init__(
        self, f: Callable[[float], float], lower: float, upper: float, owner: str = "?", xtol: float = 1e-10
    ) -> None:
        _check_bounds(owner, lower, upper)
        for x in (lower, upper):
            try:
                value = float(f(x))
            except (ArithmeticError, ValueError) as error:
                msg = f"generator {owner!r}: the cost cannot be evaluated at the bound x={x:g}: {error}"
                raise ConfigError(msg) from None
            if not math.isfinite(value):
                raise ConfigError(f"generator {owner!r}: the cost is not finite at the bound x={x:g}")
        self.f, self.lower, self.upper, self.owner, self.xtol = f, lower, upper, owner, xtol

    def response(self, lam: float) -> float:
        if self.lower == self.upper:
            return self.lower
        # scipy.optimize costs a device process ~25 MB and 0.2 s to import: only generic costs need it.
        from scipy.optimize import minimize_scalar  # noqa: PLC0415

        result = minimize_scalar(
            lambda x: self.f(x) + lam * x, bounds=(self.lower, self.upper), method="bounded",
            options={"xatol": self.xtol},
        )
        if not result.success:
            raise SolverError(f"local response to lam={lam:g} failed: {result.message}", participant=self.owner)
        x = float(result.x)
        # Brent never evaluates the bounds themselves: take a bound when it is at least as good.
        best = self.f(x) + lam * x
        for bound in (self.lower, self.upper):
            value = self.f(bound) + lam * bound
            if value <= best:
                x, best = bound, value
        return x

    def value(self, x: float) -> float:
        return float(self.f(x))


def check_feasible_demand(costs: Iterable[LocalCost], demand: float) -> None:
    """Reject a demand no dispatch can meet: outside ``[sum lower, sum upper]``, or not finite."""
    items = list(costs)
    low, high = sum(c.lower for c in items), sum(c.upper for c in items)
    if not math.isfinite(demand):
        raise ConfigError(f"demand must be a finite number, got {demand}")
    if not low <= demand <= high:
        raise ConfigError(
            f"demand {demand:g} is infeasible: the {len(items)} generators together deliver between "
            f"{low:g} and {high:g}"
        )
