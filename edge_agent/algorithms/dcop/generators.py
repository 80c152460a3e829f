"""Seeded DCOP instances: random graphs, scale-free (Barabási-Albert) graphs, grids and graph colouring.

Every generator takes a ``numpy.random.Generator``; the same seed gives the same instance. Variables are
``v000``, ``v001``, ... (zero-padded to the width of ``n``), each owned by its own agent of the same name;
binary constraints ``c_<u>_<v>`` draw integer costs uniformly from ``costs`` (both ends included), except
colouring, which charges ``conflict`` when the two ends take the same colour (plus an optional small random
preference, so that optima are rarely tied).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_agent.algorithms.dcop.model import Constraint, Dcop, Variable
from edge_agent.errors import ConfigError

__all__ = ["colouring", "from_edges", "grid", "random_edges", "random_graph", "scale_free", "scale_free_edges"]

Edge = tuple[int, int]


def _names(n: int) -> list[str]:
    width = max(3, len(str(n - 1)))
    return [f"v{i:0{width}d}" for i in range(n)]


def from_edges(name: str, n: int, edges: Sequence[Edge], *, domain: int, costs: tuple[int, int],
               rng: np.random.Generator) -> Dcop:
    """A binary DCOP on ``edges`` over ``n`` variables of domain ``0..domain-1`` with random integer costs."""
    low, high = costs
    if domain < 1:
        raise ConfigError(f"domain must be >= 1 value, got {domain}")
    if low > high:
        raise ConfigError(f"cost range [{low}, {high}] is empty")
    names = _names(n)
    variables = tuple(Variable(v, tuple(range(domain))) for v in names)
    constraints = tuple(
        Constraint(f"c_{names[u]}_{names[v]}", (names[u], names[v]),
                   rng.integers(low, high, size=(domain, domain), endpoint=True).astype(np.float64))
        for u, v in edges
    )
    return Dcop(name, variables, constraints)


def random_edges(n: int, rng: np.random.Generator, *, density: float | None = None,
                 edges: int | None = None) -> list[Edge]:
    """``edges`` distinct pairs drawn uniformly (G(n, m)), or each pair with probability ``density`` (G(n, p))."""
    pairs = n * (n - 1) // 2
    if (density is None) == (edges is None):
        raise ConfigError("give exactly one of density (edge probability) and edges (their number)")
    if density is not None:
        if not 0 <= density <= 1:
            raise ConfigError(f"density is an edge probability in [0, 1], got {density}")
        count = int(rng.binomial(pairs, density))
    else:
        assert edges is not None
        if not 0 <= edges <= pairs:
            raise ConfigError(f"{n} variables allow 0..{pairs} binary constraints, got {edges}")
        count = edges
    chosen = np.sort(rng.choice(pairs, size=count, replace=False)) if count else np.zeros(0, dtype=np.int64)
    return [_pair(int(k), n) for k in chosen]


def _pair(k: int, n: int) -> Edge:
    """The k-th pair (u < v) in row-major order of the upper triangle."""
    u = 0
    while k >= n - 1 - u:
        k -= n - 1 - u
        u += 1
    return u, u + 1 + k


def scale_free_edges(n: int, m: int, rng: np.random.Generator) -> list[Edge]:
    """Barabási-Albert: start from ``m + 1`` variables in a clique; each new one links to ``m`` distinct
    earlier variables chosen with probability proportional to their degree."""
    if m < 1 or n < m + 1:
        raise ConfigError(f"a scale-free graph needs m >= 1 and n >= m + 1, got n={n}, m={m}")
    edges = [(u, v) for u in range(m + 1) for v in range(u + 1, m + 1)]
    ends = [end for edge in edges for end in edge]  # each variable once per incident edge
    for new in range(m + 1, n):
        targets: set[int] = set()
        while len(targets) < m:
            targets.add(ends[int(rng.integers(len(ends)))])
        for t in sorted(targets):
            edges.append((t, new))
            ends.extend((t, new))
    return edges


def random_graph(n: int, rng: np.random.Generator, *, density: float | None = None, edges: int | None = None,
                 domain: int = 3, costs: tuple[int, int] = (0, 100), name: str = "random") -> Dcop:
    return from_edges(name, n, random_edges(n, rng, density=density, edges=edges), domain=domain, costs=costs, rng=rng)


def scale_free(n: int, rng: np.random.Generator, *, m: int = 2, domain: int = 3,
               costs: tuple[int, int] = (0, 100), name: str = "scale-free") -> Dcop:
    return from_edges(name, n, scale_free_edges(n, m, rng), domain=domain, costs=costs, rng=rng)


def grid(rows: int, columns: int, rng: np.random.Generator, *, domain: int = 3,
         costs: tuple[int, int] = (0, 100), name: str = "grid") -> Dcop:
    """A ``rows x columns`` grid, each variable constrained with its right and lower neighbours."""
    if rows < 1 or columns < 1:
        raise ConfigError(f"a grid needs rows >= 1 and columns >= 1, got {rows} x {columns}")
    edges = []
    for r in range(rows):
        for c in range(columns):
            k = r * columns + c
            if c + 1 < columns:
                edges.append((k, k + 1))
            if r + 1 < rows:
                edges.append((k, k + columns))
    return from_edges(name, rows * columns, edges, domain=domain, costs=costs, rng=rng)


def colouring(n: int, rng: np.random.Generator, *, colours: int = 3, density: float | None = None,
              edges: int | None = None, conflict: float = 100.0, preference: int = 0,
              name: str = "colouring") -> Dcop:
    """Graph colouring on a random graph: ``conflict`` for neighbours of one colour, plus a random integer
    preference in ``0..preference`` per pair of colours."""
    if colours < 1:
        raise ConfigError(f"colouring needs >= 1 colour, got {colours}")
    names = _names(n)
    variables = tuple(Variable(v, tuple(range(colours))) for v in names)
    constraints = []
    for u, v in random_edges(n, rng, density=density, edges=edges):
        table = conflict * np.eye(colours)
        if preference:
            table = table + rng.integers(0, preference, size=(colours, colours), endpoint=True)
        constraints.append(Constraint(f"c_{names[u]}_{names[v]}", (names[u], names[v]), table))
    return Dcop(name, variables, tuple(constraints))
