"""The dispatch figure: two readable panels from a report's history; clear errors without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.algorithms.consensus.figure import plot_dispatch_history
from edge_agent.config import load_yaml
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.registry import load_scenario, parse_scenario
from edge_agent.runtime.inproc import solve

SCENARIOS = Path(__file__).parents[2] / "scenarios"


async def test_dispatch_history_figures(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    data = load_yaml(SCENARIOS / "ieee14_dispatch_primal_dual.yaml")
    data["settings"]["max_iter"] = 300  # enough for the figure's shape, and for the symlog axis
    for scenario in (parse_scenario(data), load_scenario(SCENARIOS / "ieee14_dispatch_consensus.yaml")):
        report = (await solve(scenario, RunOptions(run_id="plot"))).to_json()
        path = plot_dispatch_history(report, tmp_path / "figures" / f"{report['algorithm']}.png")
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 600
        assert image.shape[1] > 600
        assert path.read_bytes().startswith(b"\x89PNG")


def test_a_report_without_history_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no dispatch 'history'"):
        plot_dispatch_history({"scenario": "x", "history": [{"round": 0}]}, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="no per-participant 'lam' series"):
        plot_dispatch_history({"history": {"iteration": [0], "x": {"a": [1.0]}}}, tmp_path / "x.png")
