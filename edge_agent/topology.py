"""Communication graphs: who hears whom.

A :class:`Graph` is immutable and directed: an edge ``(u, v)`` means ``v`` hears ``u`` (``u`` is an
in-neighbour of ``v``, ``v`` an out-neighbour of ``u``), as in ``(j, i) in E`` of the consensus
literature. Undirected graphs are stored with both directions. Node order is kept as given and every
neighbour tuple follows it, so runs are reproducible.

Random graphs draw only from an injected ``numpy.random.Generator``. Scenario files describe a graph
with a :data:`TopologySpec` (``kind: complete | ring | directed-ring-chords | random-strongly-connected |
small-world | edges``) whose ``build(nodes)`` makes the :class:`Graph`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from edge_agent.config import StrictModel
from edge_agent.errors import ConfigError

__all__ = [
    "CompleteTopology",
    "DirectedRingChordsTopology",
    "EdgesTopology",
    "Graph",
    "RandomStronglyConnectedTopology",
    "RingTopology",
    "SmallWorldTopology",
    "TopologySpec",
]

Edge = tuple[str, str]
_SMALL_WORLD_TRIES = 100


class Graph:
    """An immutable directed graph on named nodes (no self loops, no parallel edges)."""

    __slots__ = ("_edges", "_in", "_nodes", "_out")

    def __init__(self, nodes: Sequence[str], edges: Iterable[Edge]) -> None:
        """Prefer the constructors (:meth:`from_edges`, :meth:`ring`, ...); this one trusts ``edges``
        to be unique, loop-free and between known nodes, and only checks the node ids."""
        self._nodes = _check_nodes(nodes)
        order = {node: i for i, node in enumerate(self._nodes)}
        self._edges = tuple(sorted(set(edges), key=lambda e: (order[e[0]], order[e[1]])))
        incoming: dict[str, list[str]] = {node: [] for node in self._nodes}
        outgoing: dict[str, list[str]] = {node: [] for node in self._nodes}
        for u, v in self._edges:
            outgoing[u].append(v)
            incoming[v].append(u)
        self._in = {node: tuple(sorted(incoming[node], key=order.__getitem__)) for node in self._nodes}
        self._out = {node: tuple(outgoing[node]) for node in self._nodes}

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_edges(cls, nodes: Sequence[str], edges: Iterable[Sequence[str]], directed: bool = True) -> Graph:
        """A graph from explicit edges ``(u, v)`` (``v`` hears ``u``; both ways if not ``directed``).

        Unknown nodes, self loops and an edge listed twice are :class:`ConfigError`.
        """
        known = set(_check_nodes(nodes))
        seen: set[Edge] = set()
        result: list[Edge] = []
        for edge in edges:
            if len(edge) != 2:
                raise ConfigError(f"an edge is a pair [from, to], got {list(edge)!r}")
            u, v = str(edge[0]), str(edge[1])
            for node in (u, v):
                if node not in known:
                    raise ConfigError(f"edge [{u}, {v}] names unknown node {node!r}; known nodes: {sorted(known)}")
            if u == v:
                raise ConfigError(f"edge [{u}, {v}] is a self loop; a node always hears itself, leave it out")
            pair: Edge = (u, v)
            key = pair if directed else (min(u, v), max(u, v))
            if key in seen:
                raise ConfigError(f"edge [{u}, {v}] is listed twice")
            seen.add(key)
            result.append(pair)
            if not directed:
                result.append((v, u))
        return cls(nodes, result)

    @classmethod
    def complete(cls, nodes: Sequence[str]) -> Graph:
        """Everyone hears everyone."""
        return cls(nodes, [(u, v) for u in nodes for v in nodes if u != v])

    @classmethod
    def ring(cls, nodes: Sequence[str], directed: bool = False) -> Graph:
        """``nodes[i] -> nodes[i+1]`` (cyclically), and back unless ``directed``."""
        n = len(nodes)
        edges = [(nodes[i], nodes[(i + 1) % n]) for i in range(n)] if n > 1 else []
        if not directed:
            edges += [(v, u) for u, v in edges]
        return cls(nodes, edges)

    @classmethod
    def directed_ring_with_chords(cls, nodes: Sequence[str], chords: int, rng: np.random.Generator) -> Graph:
        """A directed ring plus ``chords`` distinct extra directed edges chosen uniformly at random.

        Strongly connected (the ring is), and unbalanced in general: in- and out-degrees differ.
        """
        n = len(_check_nodes(nodes))
        ring = {(i, (i + 1) % n) for i in range(n)} if n > 1 else set()
        free = [(i, j) for i in range(n) for j in range(n) if i != j and (i, j) not in ring]
        if not 0 <= chords <= len(free):
            raise ConfigError(f"chords must be between 0 and {len(free)} for {n} nodes, got {chords}")
        picked = [int(k) for k in rng.choice(len(free), size=chords, replace=False)] if chords else []
        edges = [*sorted(ring), *(free[k] for k in picked)]
        return cls(nodes, [(nodes[i], nodes[j]) for i, j in edges])

    @classmethod
    def random_strongly_connected(cls, nodes: Sequence[str], p: float, rng: np.random.Generator) -> Graph:
        """A directed cycle through a random permutation of the nodes (so strongly connected), plus
        every other directed edge independently with probability ``p``."""
        n = len(_check_nodes(nodes))
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"p must be a probability in [0, 1], got {p}")
        order = [int(i) for i in rng.permutation(n)]
        cycle = {(order[k], order[(k + 1) % n]) for k in range(n)} if n > 1 else set()
        extra = rng.random((n, n)) < p
        edges = cycle | {(i, j) for i in range(n) for j in range(n) if i != j and extra[i, j]}
        return cls(nodes, [(nodes[i], nodes[j]) for i, j in edges])

    @classmethod
    def small_world(cls, nodes: Sequence[str], k: int, p: float, rng: np.random.Generator) -> Graph:
        """Watts-Strogatz: a ring lattice joining each node to its ``k`` nearest neighbours (``k/2``
        each side, ``k`` even), each lattice edge rewired with probability ``p`` to a uniformly chosen
        new end. Undirected. Draws again (up to 100 times) until the result is connected."""
        n = len(_check_nodes(nodes))
        if k % 2 or not 2 <= k < n:
            raise ConfigError(f"small-world k must be even with 2 <= k < {n} (number of nodes), got {k}")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"p must be a probability in [0, 1], got {p}")
        for _ in range(_SMALL_WORLD_TRIES):
            graph = cls(nodes, _watts_strogatz(n, k, p, rng, nodes))
            if graph.is_strongly_connected():
                return graph
        raise ConfigError(
            f"no connected small-world graph in {_SMALL_WORLD_TRIES} draws with n={n}, k={k}, p={p}; "
            "use a larger k or a smaller p"
        )

    # -- queries ---------------------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[str, ...]:
        return self._nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Every directed edge ``(u, v)`` (``v`` hears ``u``), sorted by node order."""
        return self._edges

    def in_neighbours(self, node: str) -> tuple[str, ...]:
        """The nodes ``node`` hears."""
        return self._in[self._known(node)]

    def out_neighbours(self, node: str) -> tuple[str, ...]:
        """The nodes that hear ``node``."""
        return self._out[self._known(node)]

    def is_balanced(self) -> bool:
        """Whether every node has as many in- as out-neighbours."""
        return all(len(self._in[node]) == len(self._out[node]) for node in self._nodes)

    def is_strongly_connected(self) -> bool:
        return self._disconnection() is None

    def diameter(self) -> int:
        """The most hops any node needs to reach another (0 for a single node); the graph must be
        strongly connected."""
        self.require_strongly_connected()
        longest = 0
        for root in self._nodes:
            seen, frontier, depth = {root}, [root], -1
            while frontier:  # breadth-first: one layer per hop
                depth += 1
                layer = []
                for node in frontier:
                    for nxt in self._out[node]:
                        if nxt not in seen:
                            seen.add(nxt)
                            layer.append(nxt)
                frontier = layer
            longest = max(longest, depth)
        return longest

    def require_strongly_connected(self) -> None:
        """Raise :class:`ConfigError` naming a node that cannot be reached, or cannot reach the others."""
        problem = self._disconnection()
        if problem is not None:
            raise ConfigError(f"the communication graph is not strongly connected: {problem}")

    def __len__(self) -> int:
        return len(self._nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self._nodes == other._nodes and self._edges == other._edges

    def __hash__(self) -> int:
        return hash((self._nodes, self._edges))

    def __repr__(self) -> str:
        return f"Graph(nodes={len(self._nodes)}, edges={len(self._edges)})"

    def _known(self, node: str) -> str:
        if node not in self._in:
            raise ConfigError(f"unknown node {node!r}; known nodes: {list(self._nodes)[:20]}")
        return node

    def _disconnection(self) -> str | None:
        if not self._nodes:
            return None
        root = self._nodes[0]
        for links, what in ((self._out, "cannot be reached from"), (self._in, "cannot reach")):
            reached = _reach(root, links)
            for node in self._nodes:
                if node not in reached:
                    return f"node {node!r} {what} {root!r}"
        return None


def _check_nodes(nodes: Sequence[str]) -> tuple[str, ...]:
    result = tuple(nodes)
    seen: set[str] = set()
    for node in result:
        if not isinstance(node, str) or not node:
            raise ConfigError(f"node ids must be non-empty strings, got {node!r}")
        if node in seen:
            raise ConfigError(f"node id {node!r} is used twice; ids must be unique")
        seen.add(node)
    return result


def _reach(root: str, links: dict[str, tuple[str, ...]]) -> set[str]:
    reached, stack = {root}, [root]
    while stack:
        for nxt in links[stack.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                stack.append(nxt)
    return reached


def _watts_strogatz(n: int, k: int, p: float, rng: np.random.Generator, nodes: Sequence[str]) -> list[Edge]:
    adjacency: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        for step in range(1, k // 2 + 1):
            j = (i + step) % n
            adjacency[i].add(j)
            adjacency[j].add(i)
    for step in range(1, k // 2 + 1):
        for i in range(n):
            j = (i + step) % n
            if j not in adjacency[i] or rng.random() >= p:
                continue
            choices = [w for w in range(n) if w != i and w not in adjacency[i]]
            if not choices:
                continue
            w = choices[int(rng.integers(len(choices)))]
            adjacency[i].discard(j)
            adjacency[j].discard(i)
            adjacency[i].add(w)
            adjacency[w].add(i)
    return [(nodes[i], nodes[j]) for i in range(n) for j in adjacency[i]]


# -- scenario-file descriptions --------------------------------------------------------------------
class _Spec(StrictModel):
    def build(self, nodes: Sequence[str]) -> Graph:
        raise NotImplementedError


class CompleteTopology(_Spec):
    """Everyone hears everyone."""

    kind: Literal["complete"]

    def build(self, nodes: Sequence[str]) -> Graph:
        return Graph.complete(nodes)


class RingTopology(_Spec):
    """Participants in file order, each hearing its predecessor (and successor unless ``directed``)."""

    kind: Literal["ring"]
    directed: bool = False

    def build(self, nodes: Sequence[str]) -> Graph:
        return Graph.ring(nodes, directed=self.directed)


class DirectedRingChordsTopology(_Spec):
    """A directed ring plus ``chords`` random extra edges (strongly connected, usually unbalanced)."""

    kind: Literal["directed-ring-chords"]
    chords: int = Field(ge=0)
    seed: int = 0

    def build(self, nodes: Sequence[str]) -> Graph:
        return Graph.directed_ring_with_chords(nodes, self.chords, np.random.default_rng(self.seed))


class RandomStronglyConnectedTopology(_Spec):
    """A random directed cycle plus every other edge with probability ``p``."""

    kind: Literal["random-strongly-connected"]
    p: float = Field(ge=0, le=1)
    seed: int = 0

    def build(self, nodes: Sequence[str]) -> Graph:
        return Graph.random_strongly_connected(nodes, self.p, np.random.default_rng(self.seed))


class SmallWorldTopology(_Spec):
    """Watts-Strogatz small world (undirected, connected)."""

    kind: Literal["small-world"]
    k: int = Field(2, ge=2, description="lattice degree (even)")
    p: float = Field(0.1, ge=0, le=1, description="rewiring probability")
    seed: int = 0

    def build(self, nodes: Sequence[str]) -> Graph:
        return Graph.small_world(nodes, self.k, self.p, np.random.default_rng(self.seed))


class EdgesTopology(_Spec):
    """Explicit edges ``[from, to]``: ``to`` hears ``from`` (both ways unless ``directed``)."""

    kind: Literal["edges"]
    edges: list[tuple[str, str]] = Field(min_length=1)
    directed: bool = True

    def build(self, nodes: Sequence[str]) -> Graph:
        return Graph.from_edges(nodes, self.edges, directed=self.directed)


TopologySpec = Annotated[
    CompleteTopology
    | RingTopology
    | DirectedRingChordsTopology
    | RandomStronglyConnectedTopology
    | SmallWorldTopology
    | EdgesTopology,
    Field(discriminator="kind"),
]
