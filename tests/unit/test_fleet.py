"""Fleet files: a fleet and the device files it names, loaded without starting anything."""

from __future__ import annotations

from pathlib import Path

from edge_agent.runtime.fleet import load_fleet

ROOT = Path(__file__).resolve().parents[2]


def test_example_fleet_file_loads_with_its_device_files() -> None:
    spec, devices = load_fleet(ROOT / "deploy/fleets/demo.yaml")
    assert [d.id for d in devices][:5] == [f"gen-{i}" for i in range(1, 6)]
    assert {job.name for job in spec.jobs} == {"ieee14-dispatch", "household-4h"}
