"""Device models: physical parameters in, a private convex local problem out.

Sign convention for every device: ``x[t] > 0`` is power *delivered* to the shared system in slot ``t``
(a generator producing, a battery discharging), ``x[t] < 0`` is power *drawn* (a load consuming, a battery
charging). A target is the net power the fleet must deliver per slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError
from edge_agent.ids import AgentId

if TYPE_CHECKING:
    from edge_agent.solvers.qp import ConvexQP

# numpy and the local problems load with the first ADMM step, not with the configuration: an idle agent
# process stays small (docs/lean-agents.md); hence the imports inside ``local_problem``.

__all__ = ["AgentDevice", "Battery", "ComputeNode", "DeviceSpec", "FlexibleLoad", "Generator", "GenericQP", "OneToMany",
           "join_carried"]

class _Device(StrictModel):
    id: AgentId
    max_slots: int = Field(
        1024, ge=1, le=100_000, description="the longest horizon the device takes part in (bounds memory, solve time)"
    )

    def fixed_size(self) -> int | None:
        """The number of decision variables if the device fixes it, else None (it follows the horizon)."""
        return None


class Generator(_Device):
    """Dispatchable generator with fuel cost ``cost_linear * P + cost_quadratic * P^2`` per slot."""

    kind: Literal["generator"]
    p_min: float = Field(0.0, description="minimum output per slot (MW or kW)")
    p_max: float = Field(description="maximum output per slot")
    cost_linear: float = 0.0
    cost_quadratic: float = Field(0.0, ge=0, description="must be >= 0 (convex cost)")

    def local_problem(self, horizon: int) -> ConvexQP:
        import numpy as np  # noqa: PLC0415  (see the module's imports)

        from edge_agent.solvers.qp import ConvexQP  # noqa: PLC0415

        return ConvexQP(
            owner=self.id,
            lb=np.full(horizon, self.p_min),
            ub=np.full(horizon, self.p_max),
            c=np.full(horizon, self.cost_linear),
            Q=np.eye(horizon) * 2.0 * self.cost_quadratic,
        )


class Battery(_Device):
    """Storage: ``|x[t]| <= power_max``; stored energy ``e0 - dt * cumsum(x)`` stays in ``[e_min, e_max]``.

    ``wear_cost`` adds ``wear_cost * x[t]^2`` per slot (cycling wear), which also makes the choice unique.
    """

    kind: Literal["battery"]
    power_max: float = Field(gt=0)
    energy_max: float = Field(gt=0, description="usable capacity (kWh)")
    energy_min: float = Field(0.0, ge=0)
    energy_initial: float = Field(ge=0)
    energy_final_min: float | None = Field(None, description="energy required at the end of the horizon")
    slot_hours: float = Field(1.0, gt=0)
    wear_cost: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _energy_range(self) -> Battery:
        if not self.energy_min <= self.energy_initial <= self.energy_max:
            msg = "energy_initial must lie within [energy_min, energy_max]"
            raise ValueError(msg)
        return self

    def local_problem(self, horizon: int) -> ConvexQP:
        import numpy as np  # noqa: PLC0415  (see the module's imports)

        from edge_agent.solvers.qp import ConvexQP  # noqa: PLC0415

        cumulative = np.tril(np.ones((horizon, horizon))) * self.slot_hours
        lo = np.full(horizon, self.energy_initial - self.energy_max)
        hi = np.full(horizon, self.energy_initial - self.energy_min)
        if self.energy_final_min is not None:
            hi[-1] = min(hi[-1], self.energy_initial - self.energy_final_min)
        return ConvexQP(
            owner=self.id,
            lb=np.full(horizon, -self.power_max),
            ub=np.full(horizon, self.power_max),
            Q=np.eye(horizon) * 2.0 * self.wear_cost,
            A=cumulative,
            lo=lo,
            hi=hi,
        )


class FlexibleLoad(_Device):
    """A load that must draw ``energy`` over the horizon, between ``p_min`` and ``p_max`` per slot."""

    kind: Literal["flexible-load"]
    p_min: float = Field(0.0, ge=0)
    p_max: float = Field(gt=0)
    energy: float = Field(ge=0, description="total energy to draw over the horizon (kWh)")
    slot_hours: float = Field(1.0, gt=0)
    discomfort_cost: float = Field(0.0, ge=0, description="adds discomfort_cost * p[t]^2 per slot")

    def local_problem(self, horizon: int) -> ConvexQP:
        import numpy as np  # noqa: PLC0415  (see the module's imports)

        from edge_agent.solvers.qp import ConvexQP  # noqa: PLC0415

        return ConvexQP(
            owner=self.id,
            lb=np.full(horizon, -self.p_max),
            ub=np.full(horizon, -self.p_min),
            Q=np.eye(horizon) * 2.0 * self.discomfort_cost,
            A=np.full((1, horizon), self.slot_hours),
            lo=np.array([-self.energy]),
            hi=np.array([-self.energy]),
        )


class OneToMany(_Device):
    """The seed's one-to-many conversion device (``create_admm_flex_actor_one_to_many``)."""

    kind: Literal["one-to-many"]
    capacity: float = Field(ge=0)
    eta: list[float] = Field(min_length=1)
    penalty: list[float] | None = Field(None, description="cost per unit of each output; positive = penalised")

    def fixed_size(self) -> int:
        return len(self.eta)

    def local_problem(self, horizon: int) -> ConvexQP:
        from edge_agent.algorithms.admm.flex_actor import one_to_many_problem  # noqa: PLC0415  (as numpy above)

        return one_to_many_problem(self.id, self.capacity, self.eta, self.penalty)


class GenericQP(_Device):
    """Any convex QP: ``min 1/2 x'Qx + c'x  s.t.  lb <= x <= ub,  lo <= A x <= hi``."""

    kind: Literal["qp"]
    lb: list[float] = Field(min_length=1)
    ub: list[float] = Field(min_length=1)
    c: list[float] | None = None
    Q: list[list[float]] | None = None
    A: list[list[float]] | None = None
    lo: list[float] | None = None
    hi: list[float] | None = None

    def fixed_size(self) -> int:
        return len(self.lb)

    def local_problem(self, horizon: int) -> ConvexQP:
        import numpy as np  # noqa: PLC0415  (see the module's imports)

        from edge_agent.solvers.qp import ConvexQP  # noqa: PLC0415

        empty = np.zeros(0)
        return ConvexQP(
            owner=self.id,
            lb=np.array(self.lb),
            ub=np.array(self.ub),
            c=np.array(self.c) if self.c is not None else empty,
            Q=np.array(self.Q) if self.Q is not None else np.zeros((0, 0)),
            A=np.array(self.A) if self.A is not None else np.zeros((0, 0)),
            lo=np.array(self.lo) if self.lo is not None else empty,
            hi=np.array(self.hi) if self.hi is not None else empty,
        )


DeviceSpec = Annotated[Generator | Battery | FlexibleLoad | OneToMany | GenericQP, Field(discriminator="kind")]


class ComputeNode(_Device):
    """A compute node that runs tasks one at a time; its agent keeps the node's schedule over
    ``[0, horizon_h]`` hours and serves the scheduling negotiation (``docs/scheduling.md``)."""

    kind: Literal["compute-node"]
    horizon_h: float = Field(24.0, gt=0, allow_inf_nan=False, description="the schedule covers [0, horizon_h] hours")

    def local_problem(self, horizon: int) -> ConvexQP:
        msg = f"device {self.id!r} is a compute node: it takes part in scheduling only, not in ADMM"
        raise ConfigError(msg)


# What an agent process may run: an energy device (ADMM, consensus, COHDA) or a compute node (scheduling).
AgentDevice = Annotated[
    Generator | Battery | FlexibleLoad | OneToMany | GenericQP | ComputeNode, Field(discriminator="kind")
]


def join_carried(ids: Iterable[str]) -> list[AgentDevice]:
    """Agent processes for runs whose joins carry each agent's whole part (COHDA, DCOP, RCDCOP, DisLRP): the
    device model is never asked, so each is the smallest one there is."""
    return [GenericQP(id=agent, kind="qp", lb=[0.0], ub=[0.0]) for agent in ids]
