"""Wire messages of the GMAP family: DisLRP's one message per cycle.

Goods travel as indices into the problem's goods (every agent of a run is given the same list); sizes are
bounded and numbers finite so that a malformed message is refused where its bytes arrive.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge_agent.messages import Message

__all__ = ["MAX_GOODS", "DisLrpCycle", "StopReason"]

MAX_GOODS = 100_000
StopReason = Literal["converged", "max_iterations"]


class DisLrpCycle(Message):
    """The sender's knapsack choice at cycle ``cycle`` (under that cycle's prices) and its local optimum
    ``value``. ``quiet`` counts consecutive cycles in which every good of the sender's neighbourhood was taken
    exactly once; ``final`` is set on the sender's last message."""

    kind: Literal["gmap.dislrp_cycle"] = "gmap.dislrp_cycle"
    cycle: int = Field(ge=0)
    chosen: tuple[Annotated[int, Field(ge=0, lt=MAX_GOODS)], ...] = Field(max_length=MAX_GOODS)
    value: float = Field(allow_inf_nan=False)
    quiet: int = Field(0, ge=0)
    final: StopReason | None = None
