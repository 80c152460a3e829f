"""DPOP's pseudo-tree: a depth-first search tree of the constraint graph, so that every constraint lies on
one path from the root (its variables are ancestors and descendants of each other).

Each component is searched from its most constrained variable (ties: the first name), neighbours in order of
decreasing degree, then name. A constraint is handled by the deepest variable of its scope. The separator of
a variable (the ancestors its subtree is constrained with) fixes the size of its UTIL message; the largest
separator is the tree's induced width. :func:`check_memory` refuses, before anything runs, a tree whose
largest table (a variable's join: its domain times its separator's) would exceed the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.errors import ConfigError

__all__ = ["PseudoTree", "TreeNode", "check_memory", "pseudo_tree"]

BYTES_PER_ENTRY = 8  # float64


@dataclass(frozen=True)
class TreeNode:
    parent: str | None
    pseudo_parents: tuple[str, ...]
    children: tuple[str, ...]
    separator: tuple[str, ...]  # sorted by name
    depth: int
    constraints: tuple[int, ...]  # the constraints this variable handles (by position in the DCOP)


@dataclass(frozen=True)
class PseudoTree:
    nodes: dict[str, TreeNode]
    roots: tuple[str, ...]

    @property
    def induced_width(self) -> int:
        return max(len(node.separator) for node in self.nodes.values())

    @property
    def height(self) -> int:
        return 1 + max(node.depth for node in self.nodes.values())

    def util_entries(self, dcop: Dcop, name: str) -> int:
        """Entries of the UTIL message ``name`` sends (1 for a root)."""
        return math.prod(dcop.variable(s).size for s in self.nodes[name].separator)

    def join_entries(self, dcop: Dcop, name: str) -> int:
        """Entries of the table ``name`` builds before it minimises itself out."""
        return dcop.variable(name).size * self.util_entries(dcop, name)

    def largest_util(self, dcop: Dcop) -> tuple[str, int]:
        """The variable sending the largest UTIL message, and its entries."""
        return max(((name, self.util_entries(dcop, name)) for name in self.nodes if self.nodes[name].parent),
                   key=lambda item: item[1], default=("", 0))


def pseudo_tree(dcop: Dcop) -> PseudoTree:
    near = dcop.neighbours
    degree = {name: len(others) for name, others in near.items()}
    rank = {name: (-degree[name], name) for name in near}
    parent: dict[str, str | None] = {}
    depth: dict[str, int] = {}
    pseudo: dict[str, tuple[str, ...]] = {}
    order: list[str] = []
    roots = []
    for root in sorted(near, key=rank.__getitem__):
        if root in parent:
            continue
        roots.append(root)
        parent[root], depth[root], pseudo[root] = None, 0, ()
        order.append(root)
        stack = [(root, iter(sorted(near[root], key=rank.__getitem__)))]
        while stack:
            node, pending = stack[-1]
            following = next((other for other in pending if other not in parent), None)
            if following is None:
                stack.pop()
                continue
            parent[following], depth[following] = node, depth[node] + 1
            pseudo[following] = tuple(sorted(o for o in near[following] if o in parent and o != node))
            order.append(following)
            stack.append((following, iter(sorted(near[following], key=rank.__getitem__))))
    children: dict[str, list[str]] = {name: [] for name in near}
    for name in order:
        p = parent[name]
        if p is not None:
            children[p].append(name)
    separator: dict[str, set[str]] = {}
    for name in reversed(order):  # children before parents
        sep = set(pseudo[name])
        p = parent[name]
        if p is not None:
            sep.add(p)
        for child in children[name]:
            sep.update(separator[child])
        sep.discard(name)
        separator[name] = sep
    handled: dict[str, list[int]] = {name: [] for name in near}
    for k, c in enumerate(dcop.constraints):
        handled[max(c.scope, key=depth.__getitem__)].append(k)
    nodes = {name: TreeNode(parent[name], pseudo[name], tuple(children[name]), tuple(sorted(separator[name])),
                            depth[name], tuple(handled[name])) for name in order}
    return PseudoTree(nodes, tuple(roots))


def check_memory(dcop: Dcop, tree: PseudoTree, limit_bytes: float) -> None:
    """:class:`ConfigError` naming the first variable whose join table would exceed ``limit_bytes``."""
    for name in tree.nodes:
        size = tree.join_entries(dcop, name) * BYTES_PER_ENTRY
        if size > limit_bytes:
            node = tree.nodes[name]
            raise ConfigError(
                f"DPOP refuses {dcop.name!r}: variable {name!r} would build a table of {size / 1e6:.1f} MB "
                f"(its domain of {dcop.variable(name).size} times separator {list(node.separator)[:8]} of "
                f"{len(node.separator)} variables; induced width {tree.induced_width}), above the memory limit "
                f"of {limit_bytes / 1e6:.1f} MB; raise memory_limit_mb or use a local search")
