"""Piecewise-linear functions against brute-force sampling on random functions."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.algorithms.scheduling import PiecewiseLinear, constant, triangle
from edge_agent.errors import ConfigError

SEEDS = range(40)


def random_pwl(rng: np.random.Generator) -> PiecewiseLinear:
    n = int(rng.integers(1, 7))
    xs = np.sort(rng.choice(np.arange(-20, 21), size=n, replace=False).astype(float) + rng.uniform(0, 0.5, n))
    return PiecewiseLinear(xs, rng.uniform(-3, 3, n))


def reference(f: PiecewiseLinear, t: np.ndarray) -> np.ndarray:
    """Straightforward evaluation: constant outside, linear between the enclosing breakpoints."""
    out = np.empty_like(t)
    for i, x in enumerate(t):
        if x <= f.xs[0]:
            out[i] = f.ys[0]
        elif x >= f.xs[-1]:
            out[i] = f.ys[-1]
        else:
            k = int(np.searchsorted(f.xs, x, side="right")) - 1
            w = (x - f.xs[k]) / (f.xs[k + 1] - f.xs[k])
            out[i] = (1 - w) * f.ys[k] + w * f.ys[k + 1]
    return out


GRID = np.linspace(-40, 40, 4001)


@pytest.mark.parametrize("seed", SEEDS)
def test_operations_match_sampling(seed: int) -> None:
    rng = np.random.default_rng(seed)
    f, g = random_pwl(rng), random_pwl(rng)
    d = float(rng.uniform(-10, 10))
    lo, hi = np.sort(rng.uniform(-25, 25, 2))
    c = float(rng.uniform(-2, 2))
    fv, gv = reference(f, GRID), reference(g, GRID)
    np.testing.assert_allclose(f.values(GRID), fv, atol=1e-12)
    np.testing.assert_allclose([f(float(t)) for t in GRID[::50]], fv[::50], atol=1e-12)
    np.testing.assert_allclose((f + g).values(GRID), fv + gv, atol=1e-12)
    np.testing.assert_allclose((f - g).values(GRID), fv - gv, atol=1e-12)
    np.testing.assert_allclose((f + c).values(GRID), fv + c, atol=1e-12)
    np.testing.assert_allclose(f.shift(d).values(GRID), reference(f, GRID - d), atol=1e-12)
    np.testing.assert_allclose(f.clip(lo, hi).values(GRID), reference(f, np.clip(GRID, lo, hi)), atol=1e-12)
    np.testing.assert_allclose(f.clip(-np.inf, hi).values(GRID), reference(f, np.minimum(GRID, hi)), atol=1e-12)
    np.testing.assert_allclose(f.clip(lo, np.inf).values(GRID), reference(f, np.maximum(GRID, lo)), atol=1e-12)
    np.testing.assert_allclose(f.maximum(g).values(GRID), np.maximum(fv, gv), atol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_argmax_matches_sampling(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    f = random_pwl(rng) + random_pwl(rng).shift(float(rng.uniform(-5, 5)))
    lo, hi = np.sort(rng.uniform(-25, 25, 2))
    t, value = f.argmax(lo, hi)
    assert lo <= t <= hi
    assert value == pytest.approx(f(t), abs=1e-12)
    grid = np.linspace(lo, hi, 20001)
    sampled = reference(f, grid).max()
    assert value >= sampled - 1e-12
    # the grid plus every breakpoint inside contains the true maximiser, so this bound is exact
    inner = f.xs[(f.xs >= lo) & (f.xs <= hi)]
    assert value == pytest.approx(reference(f, np.concatenate([grid, inner])).max(), abs=1e-12)


def test_argmax_degenerate_interval_and_ties() -> None:
    f = triangle(5.0, 4.0)
    assert f.argmax(5.0, 5.0) == (5.0, 1.0)
    assert constant(2.0).argmax(-1.0, 3.0) == (-1.0, 2.0)  # ties: smallest t


def test_triangle_shape() -> None:
    f = triangle(10.0, 6.0)
    assert f(10.0) == 1.0
    assert f(7.0) == 0.0
    assert f(13.0) == 0.0
    assert f(8.5) == pytest.approx(0.5)
    assert f(-100.0) == 0.0
    assert f(100.0) == 0.0


def test_arrays_are_read_only() -> None:
    f = PiecewiseLinear(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="read-only"):
        f.xs[0] = 5.0
    source = np.array([0.0, 1.0])
    g = PiecewiseLinear(source, source)
    source[0] = -1.0  # the function keeps its own copy
    assert g.xs[0] == 0.0


@pytest.mark.parametrize(
    ("xs", "ys", "match"),
    [
        ([1.0, 0.0], [0.0, 1.0], "strictly increasing"),
        ([0.0, 0.0], [0.0, 1.0], "strictly increasing"),
        ([0.0, 1.0], [0.0], "one value per breakpoint"),
        ([0.0, np.nan], [0.0, 1.0], "finite"),
        ([0.0, 1.0], [np.inf, 1.0], "finite"),
        ([], [], "non-empty"),
    ],
)
def test_invalid_functions(xs: list[float], ys: list[float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PiecewiseLinear(np.array(xs), np.array(ys))


def test_invalid_arguments() -> None:
    f = triangle(0.0, 2.0)
    with pytest.raises(ConfigError, match="lo <= hi"):
        f.clip(2.0, 1.0)
    with pytest.raises(ConfigError, match="finite interval"):
        f.argmax(2.0, 1.0)
    with pytest.raises(ConfigError, match="width"):
        triangle(0.0, 0.0)
