"""The resource-constrained DCOP on a feeder tree (Matsui & Matsuo; ``docs/rcdcop.md``).

Node ``i`` picks an amount ``r_i`` from its finite set (negative: supply, positive: demand) at cost
``f_i(r_i) >= 0``. The link from a node's parent to it carries an integer flow ``l_i`` in ``[-c_i, c_i]``,
positive away from the root. Balance at every node: ``r_i = l_i - sum_{j child of i} l_j``, so ``l_i`` is the
net demand of ``i``'s subtree and the whole tree balances (the root has no link: its ``l`` is 0).
Agent costs are aggregated by ``sum`` (total cost) or ``max`` (the worst agent's cost, the fairness objective).

:class:`RcTree` is checked when built: one root, every parent known, no cycle, capacities ``>= 0``, amount
sets not empty, costs finite and ``>= 0``; a :class:`ConfigError` names the node and what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from edge_agent.errors import ConfigError
from edge_agent.ids import validate_id

__all__ = ["Aggregation", "RcNode", "RcTree", "TieBreak", "aggregate"]

Aggregation = Literal["sum", "max"]
TieBreak = Literal["greedy", "center"]
MAX_CAPACITY = 100_000
MAX_AMOUNTS = 10_000


def aggregate(costs: Sequence[float], how: Aggregation) -> float:
    if not costs:
        return 0.0
    return float(sum(costs)) if how == "sum" else float(max(costs))


@dataclass(frozen=True)
class RcNode:
    """One agent: its parent (None for the root), the capacity of the link to its parent, and its cost table
    ``costs`` (amount -> cost, in the order a greedy choice tries them)."""

    id: str
    parent: str | None
    capacity: int
    costs: Mapping[int, float]

    def __post_init__(self) -> None:
        validate_id(self.id, "node id")
        if self.parent is None and self.capacity != 0:
            raise ConfigError(f"node {self.id!r} is the root: it has no link, so its capacity must be 0")
        if not 0 <= self.capacity <= MAX_CAPACITY:
            raise ConfigError(f"node {self.id!r}: link capacity {self.capacity} is not accepted; "
                              f"use an integer from 0 to {MAX_CAPACITY}")
        if not self.costs:
            raise ConfigError(f"node {self.id!r}: its set of amounts is empty; give at least one amount with its cost")
        if len(self.costs) > MAX_AMOUNTS:
            raise ConfigError(f"node {self.id!r}: {len(self.costs)} amounts, at most {MAX_AMOUNTS} are accepted")
        for amount, cost in self.costs.items():
            if not isinstance(amount, int) or abs(amount) > MAX_CAPACITY * 10:
                raise ConfigError(f"node {self.id!r}: amount {amount!r} is not an integer within "
                                  f"+-{MAX_CAPACITY * 10}")
            if not (cost >= 0 and cost < float("inf")):
                raise ConfigError(f"node {self.id!r}: cost {cost!r} of amount {amount} must be finite and >= 0")

    @property
    def amounts(self) -> tuple[int, ...]:
        return tuple(self.costs)


@dataclass(frozen=True)
class RcTree:
    """A feeder tree of :class:`RcNode` (checked on construction, see the module)."""

    name: str
    nodes: Mapping[str, RcNode]
    root: str = field(init=False)
    children: Mapping[str, tuple[str, ...]] = field(init=False)
    order: tuple[str, ...] = field(init=False)  # root first, every parent before its children

    def __post_init__(self) -> None:
        roots = [n.id for n in self.nodes.values() if n.parent is None]
        if len(roots) != 1:
            raise ConfigError(f"tree {self.name!r} needs exactly one root (a node without parent), found "
                              f"{len(roots)}: {roots[:5]}")
        children: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            if node.parent is not None:
                if node.parent not in self.nodes:
                    raise ConfigError(f"node {node.id!r} names parent {node.parent!r}, which is not a node, so it has "
                                      f"no path to the root {roots[0]!r}")
                if node.parent == node.id:
                    raise ConfigError(f"node {node.id!r} is its own parent (a cycle)")
                children[node.parent].append(node.id)
        order = [roots[0]]
        for name in order:  # breadth-first from the root
            order.extend(children[name])
        unreached = [name for name in self.nodes if name not in set(order)]
        if unreached:
            raise ConfigError(f"nodes {unreached[:5]} have no path to the root {roots[0]!r}: their parents form a "
                              f"cycle ({self._cycle(unreached[0])})")
        object.__setattr__(self, "root", roots[0])
        object.__setattr__(self, "children", {k: tuple(v) for k, v in children.items()})
        object.__setattr__(self, "order", tuple(order))

    def _cycle(self, start: str) -> str:
        seen: list[str] = []
        name: str | None = start
        while name is not None and name not in seen:
            seen.append(name)
            name = self.nodes[name].parent
        loop = seen[seen.index(name):] if name is not None else seen
        return " -> ".join([*loop, loop[0]])

    def cost(self, amounts: Mapping[str, int]) -> dict[str, float]:
        """Each node's cost for the chosen amounts (``ConfigError`` for an amount outside a node's set)."""
        found = {}
        for name, node in self.nodes.items():
            if amounts[name] not in node.costs:
                raise ConfigError(f"node {name!r}: amount {amounts[name]} is not one of {list(node.costs)[:10]}")
            found[name] = float(node.costs[amounts[name]])
        return found

    def flows(self, amounts: Mapping[str, int]) -> dict[str, int]:
        """The link flows the amounts imply (``l_i`` = net demand of ``i``'s subtree; the root's is the total)."""
        flow: dict[str, int] = {}
        for name in reversed(self.order):
            flow[name] = amounts[name] + sum(flow[c] for c in self.children[name])
        return flow

    def violations(self, amounts: Mapping[str, int]) -> list[str]:
        """What the amounts break: a link above its capacity, or a tree that does not balance."""
        flow = self.flows(amounts)
        found = [f"link to {n!r} carries {flow[n]}, capacity {self.nodes[n].capacity}"
                 for n in self.order[1:] if abs(flow[n]) > self.nodes[n].capacity]
        if flow[self.root] != 0:
            found.append(f"supply and demand do not balance: net demand {flow[self.root]}")
        return found
