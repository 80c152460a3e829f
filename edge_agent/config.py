"""Reading configuration files (scenarios, devices, fleets): YAML -> validated model, with errors that
name the file, the field and what is accepted."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from edge_agent.errors import ConfigError

__all__ = ["StrictModel", "describe_validation_error", "load_yaml", "parse", "require_unique", "validation_problems"]

T = TypeVar("T")


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys and NaN/inf are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def require_unique(ids: Iterable[str], what: str = "participant id") -> None:
    """``ValueError`` (reported by pydantic with the field's location) naming the first repeated id."""
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            msg = f"{what} {value!r} is used twice; ids must be unique"
            raise ValueError(msg)
        seen.add(value)


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
        raise ConfigError(describe_validation_error(exc, data, what), source=source) from None


_TAG_FIELDS = ("kind", "algorithm")


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """``participants[1] (id 'g1').p_max`` from pydantic's ``('participants', 1, 'generator', 'p_max')``.

    Union tags that pydantic inserts into the path (the value of ``kind``/``algorithm``) are dropped, and
    list items that have an ``id`` are named by it.
    """
    text = ""
    for part in loc:
        if isinstance(data, dict) and part not in data and any(data.get(f) == part for f in _TAG_FIELDS):
            continue
        if isinstance(part, int):
            text += f"[{part}]"
            data = data[part] if isinstance(data, list) and part < len(data) else None
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                text += f" (id {data['id']!r})"
        else:
            text += f".{part}" if text else str(part)
            data = data.get(part) if isinstance(data, dict) else None
    return text or "(top level)"


def describe_validation_error(exc: ValidationError, data: Any, what: str) -> str:
    return f"invalid {what}:\n  " + "\n  ".join(validation_problems(exc, data))


def validation_problems(exc: ValidationError, data: Any, limit: int = 8) -> list[str]:
    """One line per problem: where (field path), pydantic's message (which names what is accepted), the bad value."""
    lines = []
    for err in exc.errors()[:limit]:
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) or err["type"] in {"missing", "extra_forbidden"} else (
            f" (got {value!r:.60})"
        )
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{_location(err['loc'], data)}: {message}{shown}")
    more = len(exc.errors()) - limit
    if more > 0:
        lines.append(f"... and {more} more problem(s)")
    return lines
