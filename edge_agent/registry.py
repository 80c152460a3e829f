"""The registered algorithm families, and everything derived from them.

Adding a family is one line in :data:`FAMILIES` (the module that defines its ``FAMILY``, the prefixes of its
message kinds, the device kinds whose agents take part from the start) plus its own package
(``docs/adding-a-family.md``). :func:`families` imports every family; a device agent process imports none
until a message of one of its kinds arrives (:func:`lazy_codec`, :func:`family_of_kind`,
``docs/lean-agents.md``), so an idle agent loads no algorithm, no numpy and no solver.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union, cast, get_args

from pydantic import BaseModel, Field, TypeAdapter

from edge_agent.codec import Codec
from edge_agent.config import load_yaml, parse
from edge_agent.errors import ConfigError
from edge_agent.family import Family, ScenarioModel
from edge_agent.messages import Message, Refusal

__all__ = [
    "FAMILIES",
    "Registered",
    "algorithms",
    "codec",
    "families",
    "family_of",
    "family_of_kind",
    "family_running",
    "lazy_codec",
    "load_scenario",
    "parse_scenario",
    "preload",
    "scenario_schema",
    "starting_families",
]


@dataclass(frozen=True)
class Registered:
    """What the registry knows of a family before importing it: ``kinds``, the prefixes of its message kinds
    (each kind of the family starts with one, no other family's does); ``devices``, the device kinds whose
    agents take part from the start (their role is made when the agent starts, not on a first message)."""

    kinds: tuple[str, ...]
    devices: tuple[str, ...] = ()


FAMILIES: dict[str, Registered] = {
    "edge_agent.algorithms.admm.family": Registered(kinds=("admm.",)),
    "edge_agent.algorithms.consensus.family": Registered(kinds=("consensus.", "primal_dual.")),
    "edge_agent.algorithms.cohda.family": Registered(kinds=("cohda.",)),
    "edge_agent.algorithms.scheduling.family": Registered(kinds=("sched.",), devices=("compute-node",)),
    "edge_agent.algorithms.dcop.family": Registered(kinds=("dcop.", "dpop.")),
    "edge_agent.algorithms.rcdcop.family": Registered(kinds=("rcdcop.",)),
    "edge_agent.algorithms.gmap.family": Registered(kinds=("gmap.",)),
}


@cache
def _family(module: str) -> Family:
    family: Family = importlib.import_module(module).FAMILY
    return family


@cache
def families() -> tuple[Family, ...]:
    loaded = tuple(_family(module) for module in FAMILIES)
    names = [family.name for family in loaded]
    if len(set(names)) != len(names):
        raise ConfigError(f"two registered families share a name: {names}")
    return loaded


def family_of_kind(kind: str) -> Family | None:  # not cached: a growing codec asks with any kind a peer sent
    """The family whose message kinds start as ``kind`` does (imported now if it was not), or None."""
    for module, registered in FAMILIES.items():
        if kind.startswith(registered.kinds):
            return _family(module)
    return None


def starting_families(device_kind: str) -> list[Family]:
    """The families a device of ``device_kind`` takes part in from the start (imported now)."""
    return [_family(module) for module, registered in FAMILIES.items() if device_kind in registered.devices]


def _kinds_of(kind: str) -> tuple[type[Message], ...]:
    family = family_of_kind(kind)
    return () if family is None else family.messages


def _messages() -> list[type[Message]]:
    """Every message class of every registered family (importing them all)."""
    return [message for family in families() for message in family.messages]


@cache
def codec() -> Codec:
    """The wire codec: the core kinds (:class:`Refusal`) and every message kind of every registered family."""
    return Codec((Refusal, *_messages()))


@cache
def lazy_codec() -> Codec:
    """The wire codec a device agent process decodes with: it starts with the core kinds and adds a family's
    kinds when the first of them arrives (importing the family then). One per process, shared by every
    connection in it (the devices ``edge-agent host`` runs, each on its own connection, grow it once)."""
    return Codec((Refusal,), load=_kinds_of)


def preload() -> None:
    """Import every family and teach :func:`lazy_codec` all their kinds now: what the fork server does before it
    forks agents, which then share these modules and the codec's validators (their pages stay the server's)
    instead of each importing a family and building its validators on its first message."""
    lazy_codec().extend(_messages())


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
