"""Reading configuration files (scenarios, devices, fleets): YAML -> validated model, with errors that
name the file, the field and what is accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from edge_agent.errors import ConfigError

__all__ = ["StrictModel", "describe_validation_error", "load_yaml", "parse"]

T = TypeVar("T")


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys and NaN/inf are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", source=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML{where}: {problem}", source=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", source=str(path))
    return data


def parse(adapter: TypeAdapter[T], data: Any, source: str, what: str = "scenario") -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, what), source=source) from None


def describe_validation_error(exc: ValidationError, what: str, limit: int = 8) -> str:
    """One line per problem: dotted field path (list items by index), pydantic's message, the bad input."""
    lines = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        shown = repr(err.get("input"))
        detail = f" (got {shown[:60]})" if err["type"] not in {"missing", "extra_forbidden"} else ""
        lines.append(f"{loc}: {err['msg']}{detail}")
    more = len(exc.errors()) - limit
    if more > 0:
        lines.append(f"... and {more} more problem(s)")
    return f"invalid {what}:\n  " + "\n  ".join(lines)
