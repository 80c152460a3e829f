"""The registered algorithm families, and everything derived from them.

Adding a family is one line in :data:`FAMILIES` (the module that defines its ``FAMILY``) plus its own package
(``docs/adding-a-family.md``). A family's module is imported when something first asks for the families.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union, cast, get_args

from pydantic import BaseModel, Field, TypeAdapter

from edge_agent.codec import Codec
from edge_agent.config import load_yaml, parse
from edge_agent.errors import ConfigError
from edge_agent.family import Family, ScenarioModel
from edge_agent.messages import Refusal

__all__ = [
    "FAMILIES",
    "algorithms",
    "codec",
    "families",
    "family_of",
    "family_running",
    "load_scenario",
    "parse_scenario",
    "scenario_schema",
]

FAMILIES: tuple[str, ...] = (
    "edge_agent.algorithms.admm.family",
    "edge_agent.algorithms.consensus.family",
    "edge_agent.algorithms.cohda.family",
    "edge_agent.algorithms.scheduling.family",
    "edge_agent.algorithms.dcop.family",
    "edge_agent.algorithms.rcdcop.family",
    "edge_agent.algorithms.gmap.family",
)


@cache
def families() -> tuple[Family, ...]:
    loaded = tuple(importlib.import_module(module).FAMILY for module in FAMILIES)
    names = [family.name for family in loaded]
    if len(set(names)) != len(names):
        raise ConfigError(f"two registered families share a name: {names}")
    return loaded


@cache
def codec() -> Codec:
    """The wire codec: the core kinds (:class:`Refusal`) and every message kind of every registered family."""
    return Codec((Refusal, *(kind for family in families() for kind in family.messages)))


def family_of(scenario: ScenarioModel) -> Family:
    for family in families():
        if isinstance(scenario, family.scenarios):
            return family
    raise ConfigError(f"no registered family runs {type(scenario).__name__}")


def algorithms(family: Family) -> list[str]:
    """The ``algorithm`` names of a family's scenarios (what its reports carry)."""
    models = [cast(type[BaseModel], model) for model in family.scenarios]  # scenario models are pydantic models
    return [name for model in models for name in get_args(model.model_fields["algorithm"].annotation)]


def family_running(algorithm: str) -> Family:
    """The family whose scenarios name ``algorithm``."""
    for family in families():
        if algorithm in algorithms(family):
            return family
    raise ConfigError(f"no registered family runs algorithm {algorithm!r}")


@cache
def _scenarios() -> TypeAdapter[ScenarioModel]:
    models = tuple(model for family in families() for model in family.scenarios)
    union: Any = Annotated[Union[models], Field(discriminator="algorithm")]  # noqa: UP007
    return TypeAdapter(union)


def parse_scenario(data: Any, source: str = "<scenario>") -> ScenarioModel:
    return parse(_scenarios(), data, source)


def load_scenario(path: Path) -> ScenarioModel:
    return parse_scenario(load_yaml(path), str(path))


def scenario_schema() -> dict[str, Any]:
    schema = _scenarios().json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edge-agent scenario"
    return schema
