"""One tree node's side of the exact DP (UTIL up, VALUE down), on the carrier interface.

UTIL: a leaf sends ``g(l) = f(l)`` for ``l`` in ``[-c, c]``; an inner node, once every child's table is in,
combines its own cost table with theirs (:func:`~edge_agent.algorithms.rcdcop.tables.combine`) and sends its
``g`` to its parent. The root checks ``g(0)``: impossible means the instance is infeasible, and it tells every
node so (a VALUE without flow). VALUE: a node that knows the flow ``l`` on its parent link picks its amount and
the flow to each child among the optimal candidates (greedy or center) and sends each child its flow.
Messages go only between parent and child; the sender of a UTIL or VALUE must be the node it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edge_agent.algorithms.rcdcop.messages import RcStart, RcUtil, RcValue
from edge_agent.algorithms.rcdcop.model import Aggregation, RcNode, TieBreak
from edge_agent.algorithms.rcdcop.tables import INF, Choice, Table, choose, combine, crop, own_table
from edge_agent.carrier.base import Carrier
from edge_agent.errors import ProtocolError
from edge_agent.messages import Envelope, Message

__all__ = ["RcAgent", "RcSettings"]


@dataclass(frozen=True)
class RcSettings:
    aggregation: Aggregation = "sum"
    tie_break: TieBreak = "greedy"
    candidate_limit: int = 10_000  # center: at most this many optimal candidates are compared


class RcAgent:
    """A node's participant. ``children`` maps each child to the capacity of the link to it."""

    def __init__(self, node: RcNode, children: Mapping[str, int], settings: RcSettings) -> None:
        self.node = node
        self._children = dict(children)
        self._settings = settings
        self._tables: dict[str, Table] = {}
        self._started = False
        self.infeasible = False
        self.amount: int | None = None
        self.flow: int | None = None  # on the link from the parent (0 at the root)
        self.choice: Choice | None = None
        self.entries = 0  # finite pairs combined, UTIL and VALUE phases
        self.distinct = 0  # distinct finite costs in the UTIL table sent (the size of the "cost space")
        self.sent = 0
        self.sent_bytes = 0
        self.largest_bytes = 0

    @property
    def id(self) -> str:
        return self.node.id

    @property
    def finished(self) -> bool:
        return self.infeasible or self.amount is not None

    def start(self, carrier: Carrier) -> None:
        if not self._started:
            self._started = True
            if not self._children:
                self._util(carrier)

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, RcStart):
            self.start(carrier)
        elif isinstance(message, RcUtil):
            self._receive_util(carrier, message, envelope.sender)
        elif isinstance(message, RcValue):
            self._receive_value(carrier, message, envelope.sender)

    def _receive_util(self, carrier: Carrier, message: RcUtil, sender: str) -> None:
        capacity = self._children.get(message.child)
        if message.parent != self.id or sender != message.child or capacity is None:
            raise ProtocolError(f"node {self.id!r}: UTIL from {sender!r} naming {message.child!r} -> "
                                f"{message.parent!r} does not come from one of its children")
        if message.capacity != capacity or len(message.costs) != 2 * capacity + 1:
            raise ProtocolError(f"node {self.id!r}: UTIL of {message.child!r} has {len(message.costs)} entries; "
                                f"the link's capacity {capacity} needs {2 * capacity + 1}")
        if message.child in self._tables:
            raise ProtocolError(f"node {self.id!r}: a second UTIL from {message.child!r}")
        costs = np.array([INF if c is None else c for c in message.costs], dtype=np.float64)
        self._tables[message.child] = Table(-capacity, costs)
        self._started = True
        if len(self._tables) == len(self._children):
            self._util(carrier)

    def _util(self, carrier: Carrier) -> None:
        how = self._settings.aggregation
        cap = self.node.capacity
        remaining = sum(self._children.values())
        table = crop(own_table(self.node.costs), -cap - remaining, cap + remaining)
        for child, child_cap in self._children.items():
            remaining -= child_cap
            table, entries = combine(table, self._tables[child], how)
            self.entries += entries
            table = crop(table, -cap - remaining, cap + remaining)
        table = crop(table, -cap, cap, pad=True)
        if self.node.parent is None:
            if table.at(0) == INF:
                self.infeasible = True
                self._tell_children(carrier, None)
            else:
                self._decide(carrier, 0)
            return
        costs = tuple(None if c == INF else float(c) for c in table.costs)
        self.distinct = len({c for c in costs if c is not None})
        self._send(carrier, RcUtil(child=self.id, parent=self.node.parent, capacity=cap, costs=costs),
                   self.node.parent)

    def _receive_value(self, carrier: Carrier, message: RcValue, sender: str) -> None:
        if sender != self.node.parent or message.parent != sender or message.child != self.id:
            raise ProtocolError(f"node {self.id!r}: VALUE from {sender!r} naming {message.parent!r} -> "
                                f"{message.child!r}; only its parent {self.node.parent!r} sends it one")
        if self.finished:
            raise ProtocolError(f"node {self.id!r}: a second VALUE from {sender!r}")
        if message.flow is None:
            self.infeasible = True
            self._tell_children(carrier, None)
            return
        if abs(message.flow) > self.node.capacity or len(self._tables) < len(self._children):
            raise ProtocolError(f"node {self.id!r}: VALUE flow {message.flow} before its UTIL was sent or "
                                f"beyond the link's capacity {self.node.capacity}")
        self._decide(carrier, message.flow)

    def _decide(self, carrier: Carrier, flow: int) -> None:
        how = self._settings.aggregation
        parts_tables = [own_table(self.node.costs), *(self._tables[c] for c in self._children)]
        suffix = [Table(0, np.zeros(1))]
        for table in reversed(parts_tables[1:]):
            combined, entries = combine(table, suffix[0], how)
            self.entries += entries
            suffix.insert(0, combined)
        own, entries = combine(parts_tables[0], suffix[0], how)
        self.entries += entries
        suffix.insert(0, own)
        parts = [list(self.node.costs.items()), *(list(t.items()) for t in parts_tables[1:])]
        choice = choose(parts, suffix, flow, how=how, tie=self._settings.tie_break,
                        limit=self._settings.candidate_limit)
        if choice is None:
            raise ProtocolError(f"node {self.id!r}: flow {flow} from its parent is impossible for its subtree")
        self.choice = choice
        self.flow = flow
        self.amount = choice.values[0]
        for child, child_flow in zip(self._children, choice.values[1:], strict=True):
            self._send(carrier, RcValue(parent=self.id, child=child, flow=child_flow), child)

    def _tell_children(self, carrier: Carrier, flow: int | None) -> None:
        for child in self._children:
            self._send(carrier, RcValue(parent=self.id, child=child, flow=flow), child)

    def _send(self, carrier: Carrier, message: RcUtil | RcValue, receiver: str) -> None:
        size = len(message.model_dump_json())
        self.sent += 1
        self.sent_bytes += size
        self.largest_bytes = max(self.largest_bytes, size)
        carrier.send(message, receiver)
