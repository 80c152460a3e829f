"""GMAP instances from files and seeds: the OR-Library GAP format, and Yagiura-style generators (types C, D, E).

OR-Library format: the number of problems P; then per problem ``m n``, the m x n profits (or costs), the m x n
resource use and the m capacities, as white-space separated numbers. Files gap1-gap12 maximise profit,
gapa-gapd minimise cost: the caller says which (``sense``). A defect names the file, the problem and what
was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_agent.algorithms.gmap.model import Gmap, Sense
from edge_agent.errors import ConfigError

__all__ = ["generate", "read_orlib"]


def read_orlib(path: Path, sense: Sense = "max") -> list[Gmap]:
    """Every problem of an OR-Library GAP file, in file order (named ``<stem>-<k>``, k from 1)."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the GAP file ({error.strerror})") from None
    try:
        numbers = [float(token) for token in text.split()]
    except ValueError as error:
        raise ConfigError(f"{path}: not an OR-Library GAP file ({error})") from None
    if not numbers or numbers[0] != int(numbers[0]) or numbers[0] < 1:
        raise ConfigError(f"{path}: the first number must be the count of problems (a positive integer)")
    problems, at = [], 1
    for k in range(1, int(numbers[0]) + 1):
        if at + 2 > len(numbers):
            raise ConfigError(f"{path}: problem {k}: the file ends before its size 'm n'")
        m, n = int(numbers[at]), int(numbers[at + 1])
        at += 2
        size = 2 * m * n + m
        if m < 1 or n < 1 or at + size > len(numbers):
            raise ConfigError(f"{path}: problem {k}: expected {size} numbers for {m} agents x {n} goods, "
                              f"found {max(0, len(numbers) - at)}")
        block = np.array(numbers[at:at + size])
        at += size
        problems.append(Gmap(f"{path.stem}-{k}", tuple(f"a{i + 1}" for i in range(m)),
                             tuple(f"g{j + 1}" for j in range(n)), block[:m * n].reshape(m, n),
                             block[m * n:2 * m * n].reshape(m, n), block[2 * m * n:], sense))
    return problems


def generate(kind: str, agents: int, goods: int, rng: np.random.Generator, *, name: str = "gap") -> Gmap:
    """A seeded GAP of Yagiura's types (costs to minimise; capacities 80 % of the mean total weight):
    ``C`` weights U[5, 25], costs U[10, 50]; ``D`` weights U[1, 100], costs 111 - w + U[-10, 10];
    ``E`` weights 1 - 10 ln U(0, 1] (rounded up), costs 1000 / w - 10 U[0, 1] (rounded)."""
    if agents < 1 or goods < 1:
        raise ConfigError(f"a generated GAP needs at least one agent and one good, got {agents} x {goods}")
    shape = (agents, goods)
    if kind == "C":
        weight = rng.integers(5, 26, size=shape)
        cost = rng.integers(10, 51, size=shape)
    elif kind == "D":
        weight = rng.integers(1, 101, size=shape)
        cost = 111 - weight + rng.integers(-10, 11, size=shape)
    elif kind == "E":
        weight = np.ceil(1 - 10 * np.log(1 - rng.random(size=shape))).astype(np.int64)
        cost = np.round(1000 / weight - 10 * rng.random(size=shape))
    else:
        raise ConfigError(f"unknown GAP type {kind!r}; known: C, D, E")
    capacity = np.floor(0.8 * weight.sum(axis=1) / agents)
    return Gmap(name, tuple(f"a{i + 1}" for i in range(agents)), tuple(f"g{j + 1}" for j in range(goods)),
                cost.astype(np.float64), weight, capacity, "min")
