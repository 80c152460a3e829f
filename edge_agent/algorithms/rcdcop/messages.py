"""Wire messages of the resource-constrained DCOP on a tree: UTIL up (child -> parent), VALUE down
(parent -> child), a start signal, and the control messages a launcher exchanges with node agents over MQTT
(join, joined, collect, outcome, leave). Every field is bounded so that a malformed message is refused where its
bytes arrive; a table's length is further checked against the link's capacity by the receiver.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.algorithms.gossip_runs import RunId
from edge_agent.algorithms.rcdcop.model import MAX_AMOUNTS, MAX_CAPACITY, Aggregation, TieBreak
from edge_agent.ids import AgentId
from edge_agent.messages import Message

__all__ = ["MAX_TABLE", "RcCollect", "RcJoin", "RcJoined", "RcLeave", "RcOutcome", "RcSettingsWire", "RcStart",
           "RcUtil", "RcValue"]

MAX_TABLE = 2 * MAX_CAPACITY + 1  # entries of one UTIL table
MAX_CHILDREN = 100_000
Cost = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Amount = Annotated[int, Field(ge=-10 * MAX_CAPACITY, le=10 * MAX_CAPACITY)]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RcStart(Message):
    """Kick-off: a leaf that receives it sends its UTIL table (other nodes wait for their children)."""

    kind: Literal["rcdcop.start"] = "rcdcop.start"


class RcUtil(Message):
    """``child`` -> ``parent``: the best aggregated cost of the child's subtree for every flow ``l`` on their
    link, ``l = -capacity .. capacity`` in order; ``None`` where no choice of the subtree gives that flow."""

    kind: Literal["rcdcop.util"] = "rcdcop.util"
    child: AgentId
    parent: AgentId
    capacity: int = Field(ge=0, le=MAX_CAPACITY)
    costs: tuple[Cost | None, ...] = Field(min_length=1, max_length=MAX_TABLE)


class RcValue(Message):
    """``parent`` -> ``child``: the flow fixed on their link (positive: toward the child), or ``None`` when the
    instance has no feasible choice at all (the root found ``g(0)`` impossible)."""

    kind: Literal["rcdcop.value"] = "rcdcop.value"
    parent: AgentId
    child: AgentId
    flow: int | None = Field(ge=-MAX_CAPACITY, le=MAX_CAPACITY)


class RcSettingsWire(_Part):
    aggregation: Aggregation = "sum"
    tie_break: TieBreak = "greedy"
    candidate_limit: int = Field(10_000, ge=1, le=1_000_000)


class RcJoin(Message):
    """Launcher -> node: take part in run ``run`` as this tree node (its parent, the capacity of the link to its
    parent, its amounts with costs in greedy order, its children with their links' capacities)."""

    kind: Literal["rcdcop.join"] = "rcdcop.join"
    run: RunId
    settings: RcSettingsWire
    parent: AgentId | None
    capacity: int = Field(ge=0, le=MAX_CAPACITY)
    costs: tuple[tuple[Amount, Cost], ...] = Field(min_length=1, max_length=MAX_AMOUNTS)
    children: dict[AgentId, Annotated[int, Field(ge=0, le=MAX_CAPACITY)]] = Field(max_length=MAX_CHILDREN)

    @property
    def in_neighbours(self) -> tuple[str, ...]:
        return ()  # no gossip: UTIL and VALUE are addressed to one node


class RcJoined(Message):
    """Node -> launcher, in reply to :class:`RcJoin`: ready (``reason`` set: cannot take part, and why)."""

    kind: Literal["rcdcop.joined"] = "rcdcop.joined"
    run: RunId
    reason: str | None = Field(None, max_length=2000)


class RcCollect(Message):
    """Launcher -> node: its part of the outcome of run ``run``."""

    kind: Literal["rcdcop.collect"] = "rcdcop.collect"
    run: RunId


class RcOutcome(Message):
    """Node -> launcher: its choice (amount, flow on its parent link) or that the instance is infeasible, and
    its effort. Sent unasked once it decided, and as the answer to :class:`RcCollect`."""

    kind: Literal["rcdcop.outcome"] = "rcdcop.outcome"
    run: RunId
    reason: str | None = Field(None, max_length=2000, description="set if the node cannot answer")
    finished: bool = False
    infeasible: bool = False
    amount: Amount | None = None
    flow: int | None = Field(None, ge=-MAX_CAPACITY, le=MAX_CAPACITY)
    optimum: Cost | None = Field(None, description="the root: the optimal aggregated cost it computed")
    entries: int = Field(0, ge=0)
    steps: int = Field(0, ge=0)
    distinct: int = Field(0, ge=0)
    truncated: bool = False
    sent_bytes: int = Field(0, ge=0)
    largest_bytes: int = Field(0, ge=0)
    sent: int = Field(0, ge=0, description="UTIL and VALUE messages it sent")


class RcLeave(Message):
    """Launcher -> node: forget run ``run``. No answer."""

    kind: Literal["rcdcop.leave"] = "rcdcop.leave"
    run: RunId
