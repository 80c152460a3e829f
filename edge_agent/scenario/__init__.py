"""Scenario files: what to solve (participants, algorithm, parameters), read from YAML.

Each algorithm family defines its scenario model in its own module; :data:`Scenario` is their union,
discriminated by the ``algorithm`` field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from edge_agent.config import load_yaml, parse
from edge_agent.scenario.admm import AdmmConsensusScenario, AdmmSharingScenario
from edge_agent.scenario.cohda import CohdaScenario
from edge_agent.scenario.consensus import AveragingScenario, ConsensusDispatchScenario, PrimalDualDispatchScenario
from edge_agent.scenario.options import RunOptions
from edge_agent.scenario.scheduling import SchedulingScenario

__all__ = ["RunOptions", "Scenario", "load_scenario", "parse_scenario", "scenario_schema"]

Scenario = Annotated[
    AdmmSharingScenario
    | AdmmConsensusScenario
    | AveragingScenario
    | ConsensusDispatchScenario
    | PrimalDualDispatchScenario
    | CohdaScenario
    | SchedulingScenario,
    Field(discriminator="algorithm"),
]
_ADAPTER: TypeAdapter[Scenario] = TypeAdapter(Scenario)


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    return parse(_ADAPTER, data, source)


def load_scenario(path: Path) -> Scenario:
    return parse_scenario(load_yaml(path), str(path))


def scenario_schema() -> dict[str, Any]:
    schema = _ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edge-agent scenario"
    return schema
