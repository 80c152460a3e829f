"""Wire messages of the GMAP family: DisLRP's one message per cycle, and the control messages a launcher
exchanges with device agents (join, joined, start, collect, outcome, leave).

Goods travel as indices into the problem's goods (every agent of a run is given the same count); sizes are
bounded and numbers finite so that a malformed message is refused where its bytes arrive.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent.algorithms.gossip_runs import InNeighbours, RunId
from edge_agent.messages import FloatMatrix, FloatVector, Message

__all__ = ["MAX_CYCLES", "MAX_GOODS", "DisLrpCollect", "DisLrpCycle", "DisLrpJoin", "DisLrpJoined", "DisLrpLeave",
           "DisLrpOutcome", "DisLrpSettingsWire", "DisLrpStart", "StopReason"]

MAX_GOODS = 100_000
MAX_CYCLES = 100_000
StopReason = Literal["converged", "max_iterations"]
Good = Annotated[int, Field(ge=0, lt=MAX_GOODS)]


class DisLrpCycle(Message):
    """The sender's knapsack choice at cycle ``cycle`` (under that cycle's prices) and its local optimum
    ``value``. ``quiet`` counts consecutive cycles in which every good of the sender's neighbourhood was taken
    exactly once; ``final`` is set on the sender's last message."""

    kind: Literal["gmap.dislrp_cycle"] = "gmap.dislrp_cycle"
    cycle: int = Field(ge=0)
    chosen: tuple[Good, ...] = Field(max_length=MAX_GOODS)
    value: float = Field(allow_inf_nan=False)
    quiet: int = Field(0, ge=0)
    final: StopReason | None = None


class DisLrpSettingsWire(BaseModel):
    """DisLRP's settings as a join carries them."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_cycles: int = Field(ge=1, le=MAX_CYCLES)
    hops: int = Field(ge=0, le=10_000)
    initial_step: float = Field(gt=0, allow_inf_nan=False)
    grow: float = Field(ge=1, le=10)
    shrink: float = Field(gt=0, lt=1)


class DisLrpJoin(Message):
    """Request: take part in DisLRP run ``run`` as one agent: its gain and weight for each of the run's goods,
    its capacity, the goods it can take (``goods``) and each one's first-step scale."""

    kind: Literal["gmap.dislrp_join"] = "gmap.dislrp_join"
    run: RunId
    in_neighbours: InNeighbours
    settings: DisLrpSettingsWire
    gain: FloatVector
    weight: tuple[Annotated[int, Field(ge=0)], ...] = Field(max_length=MAX_GOODS)
    capacity: int = Field(ge=0)
    goods: tuple[Good, ...] = Field(max_length=MAX_GOODS)
    scale: FloatVector

    @model_validator(mode="after")
    def _fits(self) -> DisLrpJoin:
        n = len(self.gain)
        if len(self.weight) != n or n > MAX_GOODS:
            msg = f"gain lists {n} goods and weight {len(self.weight)}; they must match (at most {MAX_GOODS})"
            raise ValueError(msg)
        if len(self.scale) != len(self.goods) or any(j >= n for j in self.goods) or len(set(self.goods)) != len(
                self.goods):
            msg = "goods must be distinct indices below the number of goods, with one scale each"
            raise ValueError(msg)
        return self


class DisLrpJoined(Message):
    """Reply to :class:`DisLrpJoin`: subscribed and ready (``reason`` set: cannot take part, and why)."""

    kind: Literal["gmap.dislrp_joined"] = "gmap.dislrp_joined"
    run: RunId
    reason: str | None = None


class DisLrpStart(Message):
    """Kick-off: the receiver publishes its cycle-0 choice."""

    kind: Literal["gmap.dislrp_start"] = "gmap.dislrp_start"


class DisLrpCollect(Message):
    """Request: the agent's part of the outcome of run ``run``."""

    kind: Literal["gmap.dislrp_collect"] = "gmap.dislrp_collect"
    run: RunId


class DisLrpOutcome(Message):
    """An agent's part of the outcome: per cycle its chosen goods, its knapsack optimum and the prices of the
    goods it can take (rows: cycles, columns: its goods in join order). Sent unsolicited once the agent
    stopped (without the history), and in full as the answer to :class:`DisLrpCollect`."""

    kind: Literal["gmap.dislrp_outcome"] = "gmap.dislrp_outcome"
    run: RunId
    reason: str | None = Field(None, description="set if the agent cannot answer (unknown run, failure)")
    finished: bool = False
    stop: StopReason | None = None
    chosen: tuple[Annotated[tuple[Good, ...], Field(max_length=MAX_GOODS)], ...] = Field((), max_length=MAX_CYCLES + 2)
    values: tuple[Annotated[float, Field(allow_inf_nan=False)], ...] = Field((), max_length=MAX_CYCLES + 2)
    prices: FloatMatrix | None = None
    received: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _rows(self) -> DisLrpOutcome:
        rows = 0 if self.prices is None else np.asarray(self.prices).shape[0]
        if not len(self.chosen) == len(self.values) == (rows if self.prices is not None else len(self.values)):
            msg = "chosen, values and prices need one row per cycle"
            raise ValueError(msg)
        return self


class DisLrpLeave(Message):
    """Forget run ``run`` and the subscriptions only it needed. No answer."""

    kind: Literal["gmap.dislrp_leave"] = "gmap.dislrp_leave"
    run: RunId
