"""Wire messages of the resource-constrained DCOP on a tree: UTIL up (child -> parent), VALUE down
(parent -> child), and a start signal. Every field is bounded so that a malformed message is refused where its
bytes arrive; a table's length is further checked against the link's capacity by the receiver.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge_agent.ids import AgentId
from edge_agent.messages import Message

__all__ = ["MAX_TABLE", "RcStart", "RcUtil", "RcValue"]

MAX_TABLE = 200_001  # entries of one UTIL table: a link of capacity 100 000
Cost = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class RcStart(Message):
    """Kick-off: a leaf that receives it sends its UTIL table (other nodes wait for their children)."""

    kind: Literal["rcdcop.start"] = "rcdcop.start"


class RcUtil(Message):
    """``child`` -> ``parent``: the best aggregated cost of the child's subtree for every flow ``l`` on their
    link, ``l = -capacity .. capacity`` in order; ``None`` where no choice of the subtree gives that flow."""

    kind: Literal["rcdcop.util"] = "rcdcop.util"
    child: AgentId
    parent: AgentId
    capacity: int = Field(ge=0, le=(MAX_TABLE - 1) // 2)
    costs: tuple[Cost | None, ...] = Field(min_length=1, max_length=MAX_TABLE)


class RcValue(Message):
    """``parent`` -> ``child``: the flow fixed on their link (positive: toward the child), or ``None`` when the
    instance has no feasible choice at all (the root found ``g(0)`` impossible)."""

    kind: Literal["rcdcop.value"] = "rcdcop.value"
    parent: AgentId
    child: AgentId
    flow: int | None = Field(ge=-(MAX_TABLE // 2), le=MAX_TABLE // 2)
