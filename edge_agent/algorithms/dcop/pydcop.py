"""Reading DCOPs in pyDCOP's YAML format (the files DCOP users already have).

What is read, as pyDCOP documents it:

* ``name``, ``objective`` (``min`` or ``max``), ``description`` (ignored);
* ``domains``: ``name: {values: [...], type: ...}`` (a list, or a range written ``[a .. b]``; ``type``, which
  pyDCOP requires, is ignored);
* ``variables``: ``name: {domain: d}``, with an optional unary ``cost_function`` expression (a unary
  constraint ``<name>_cost``) and ``initial_value`` (ignored: each algorithm draws its own start);
* ``constraints``: ``type: intention`` with ``function`` (an expression; its scope is the variables it reads,
  in order of first appearance), or ``type: extensional`` with ``variables`` (one name or a list), optional
  ``default`` and ``values``: ``cost: "tuple | tuple | ..."`` (a tuple is the scope's values, space separated;
  for one variable, just its value);
* ``agents``: a mapping (pyDCOP's form; a plain list is accepted too) whose ``capacity`` and other properties
  are ignored, as are ``routes`` and ``hosting_costs``;
* ``distribution_hints: {must_host: {agent: [variables]}}`` places variables (constraint names in it, which
  pyDCOP places as factor computations, and ``host_with`` are ignored). Any other variable goes to the
  first agent (in file order) that hosts nothing yet, then round-robin over all agents; without agents each
  variable is its own agent.

Expressions are evaluated safely (:mod:`.expressions`), never with ``eval``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.algorithms.dcop.expressions import parse_expression
from edge_agent.algorithms.dcop.model import Constraint, Dcop, DomainValue, Variable
from edge_agent.config import load_yaml
from edge_agent.errors import ConfigError

__all__ = ["load_pydcop", "parse_pydcop"]

MAX_TABLE = 10_000_000


def load_pydcop(path: Path) -> Dcop:
    try:
        data = load_yaml(path)
    except OSError as error:
        raise ConfigError(f"cannot read pyDCOP file: {error}", source=str(path)) from None
    try:
        return parse_pydcop(data)
    except ConfigError as error:
        raise ConfigError(str(error), source=str(path)) from None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _domain_values(spec: Any, name: str) -> tuple[DomainValue, ...]:
    values = spec.get("values") if isinstance(spec, Mapping) else spec
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str) and ".." in values[0]:
        values = values[0]  # pyDCOP writes a range as a one-element list: [1 .. 4]
    if isinstance(values, str) and ".." in values:
        low, high = (part.strip() for part in values.split("..", 1))
        try:
            return tuple(range(int(low), int(high) + 1))
        except ValueError:
            raise ConfigError(f"domain {name!r}: range {values!r} needs integers, as '0 .. 9'") from None
    if not isinstance(values, list):
        raise ConfigError(f"domain {name!r}: values must be a list or a range 'a .. b', got {values!r}")
    for value in values:
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            raise ConfigError(f"domain {name!r}: value {value!r} is not a number or a string")
    return tuple(values)


def parse_pydcop(data: Any) -> Dcop:
    """A :class:`Dcop` from the parsed YAML of a pyDCOP file."""
    top = _mapping(data, "a pyDCOP file")
    known = {"name", "objective", "description", "domains", "variables", "constraints", "agents",
             "distribution_hints", "external_variables", "routes", "hosting_costs"}
    unknown = sorted(set(top) - known)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; a pyDCOP file has {sorted(known)}")
    if top.get("external_variables"):
        raise ConfigError("external_variables (dynamic DCOPs) are not supported")
    name = str(top.get("name", "pydcop"))
    objective = top.get("objective", "min")
    if objective not in ("min", "max"):
        raise ConfigError(f"objective must be 'min' or 'max', got {objective!r}")
    domains = {str(d): _domain_values(spec, str(d)) for d, spec in _mapping(top.get("domains"), "domains").items()}
    variables: list[Variable] = []
    unary: list[Constraint] = []
    specs = _mapping(top.get("variables"), "variables")
    for var, spec in specs.items():
        fields = _mapping(spec, f"variable {var!r}")
        domain = fields.get("domain")
        if domain not in domains:
            raise ConfigError(f"variable {var!r} names unknown domain {domain!r}; known: {sorted(domains)}")
        variables.append(Variable(str(var), domains[domain]))
    by_name = {v.name: v for v in variables}
    for var, spec in specs.items():
        if isinstance(spec, Mapping) and spec.get("cost_function") is not None:
            unary.append(_intention(f"{var}_cost", str(spec["cost_function"]), by_name, only={str(var)}))
    constraints = [*unary]
    for cname, spec in _mapping(top.get("constraints"), "constraints").items():
        fields = _mapping(spec, f"constraint {cname!r}")
        kind = fields.get("type")
        if kind in ("intention", "intentional"):
            constraints.append(_intention(str(cname), str(fields.get("function", "")), by_name))
        elif kind in ("extensional", "extension"):
            constraints.append(_extensional(str(cname), fields, by_name))
        else:
            raise ConfigError(f"constraint {cname!r}: type {kind!r} is not 'intention' or 'extensional'")
    agents = _agents(top, [v.name for v in variables])
    return Dcop(name, tuple(variables), tuple(constraints), agents, objective)


def _table(name: str, scope: tuple[str, ...], by_name: Mapping[str, Variable]) -> tuple[int, ...]:
    shape = tuple(by_name[v].size for v in scope)
    if math.prod(shape) > MAX_TABLE:
        raise ConfigError(f"constraint {name!r}: a table of {math.prod(shape)} entries exceeds {MAX_TABLE}")
    return shape


def _intention(name: str, text: str, by_name: Mapping[str, Variable], only: set[str] | None = None) -> Constraint:
    expression = parse_expression(text, frozenset(only if only is not None else by_name), f"constraint {name!r}")
    scope = expression.names or tuple(sorted(only or ()))
    if not scope:
        raise ConfigError(f"constraint {name!r}: expression {text!r} reads no variable")
    table = np.zeros(_table(name, scope, by_name))
    for index in itertools.product(*(range(n) for n in table.shape)):
        values = {v: by_name[v].domain[k] for v, k in zip(scope, index, strict=True)}
        result = expression(values)
        if isinstance(result, str) or result is None:
            raise ConfigError(f"constraint {name!r}: expression {text!r} gives {result!r} at {values}, not a number")
        table[index] = float(result)
    return Constraint(name, scope, table)


def _extensional(name: str, fields: Mapping[str, Any], by_name: Mapping[str, Variable]) -> Constraint:
    raw = fields.get("variables")
    scope = (str(raw),) if isinstance(raw, str) else tuple(str(v) for v in raw or ())
    unknown = [v for v in scope if v not in by_name]
    if not scope or unknown:
        raise ConfigError(f"constraint {name!r}: variables {list(scope)} must name known variables "
                          f"(unknown: {unknown})")
    default = fields.get("default")
    table = np.full(_table(name, scope, by_name), np.nan if default is None else float(default))
    lookup = [{str(value): k for k, value in enumerate(by_name[v].domain)} for v in scope]
    for cost, tuples in _mapping(fields.get("values"), f"constraint {name!r}: values").items():
        for entry in str(tuples).split("|"):
            tokens = entry.split()
            if len(tokens) != len(scope):
                raise ConfigError(f"constraint {name!r}: {entry.strip()!r} gives {len(tokens)} values for "
                                  f"{len(scope)} variables {list(scope)}")
            try:
                index = tuple(lookup[k][token] for k, token in enumerate(tokens))
            except KeyError as missing:
                raise ConfigError(f"constraint {name!r}: value {missing} is not in the domain of its variable "
                                  f"in {entry.strip()!r}") from None
            table[index] = float(cost)
    if np.isnan(table).any():
        first = tuple(int(k) for k in np.argwhere(np.isnan(table))[0])
        values = [by_name[v].domain[k] for v, k in zip(scope, first, strict=True)]
        raise ConfigError(f"constraint {name!r}: no cost for {values} and no default")
    return Constraint(name, scope, table)


def _agents(top: Mapping[str, Any], variables: list[str]) -> dict[str, tuple[str, ...]]:
    raw = top.get("agents")
    names = [str(a) for a in (raw if isinstance(raw, list) else _mapping(raw, "agents"))]
    if not names:
        return {}
    hints = _mapping(_mapping(top.get("distribution_hints"), "distribution_hints").get("must_host"),
                     "distribution_hints.must_host")
    hosted: dict[str, list[str]] = {a: [] for a in names}
    placed: set[str] = set()
    for agent, owned in hints.items():
        if agent not in hosted:
            raise ConfigError(f"distribution_hints.must_host names unknown agent {agent!r}; known: {names}")
        for var in [owned] if isinstance(owned, str) else owned:
            if var not in variables:
                continue  # pyDCOP also places constraints (factor-graph computations): hosted with a variable here
            if var in placed:
                raise ConfigError(f"distribution_hints.must_host places variable {var!r} twice")
            hosted[agent].append(var)
            placed.add(var)
    idle = [a for a in names if not hosted[a]]
    cycle = itertools.cycle(names)
    for var in variables:
        if var not in placed:
            hosted[idle.pop(0) if idle else next(cycle)].append(var)
    return {a: tuple(vs) for a, vs in hosted.items() if vs}
