"""Safe evaluation of the simple arithmetic pyDCOP allows in intentional constraints, e.g.
``10 if v1 == v2 else 0`` or ``abs(x - y) * 2``. The text is parsed with :mod:`ast` and only a whitelist of
nodes is evaluated by walking the tree: numbers, strings, names of the constraint's variables, arithmetic,
comparisons, ``and``/``or``/``not``, conditional expressions and the functions ``abs``, ``min``, ``max``,
``round``. Anything else (attributes, subscripts, calls to other names, lambdas, comprehensions) is refused
with a :class:`ConfigError` naming the constraint and the construct. Nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_agent.errors import ConfigError

__all__ = ["Expression", "parse_expression"]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max, "round": round}
MAX_EXPONENT = 64


@dataclass(frozen=True)
class Expression:
    text: str
    names: tuple[str, ...]  # the variables it reads, in order of first appearance
    tree: ast.expr
    where: str

    def __call__(self, values: Mapping[str, Any]) -> Any:
        return _evaluate(self.tree, values, self.where)


def parse_expression(text: str, variables: set[str] | frozenset[str], where: str) -> Expression:
    """Parse ``text``; ``variables`` are the names it may read (``where`` names the constraint in errors)."""
    try:
        tree = ast.parse(str(text).strip(), mode="eval").body
    except SyntaxError as error:
        raise ConfigError(f"{where}: cannot parse expression {text!r}: {error.msg}") from None
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS:
            if node.id not in variables:
                raise ConfigError(f"{where}: expression {text!r} reads {node.id!r}, which is not a variable")
            if node.id not in names:
                names.append(node.id)
        _check(node, text, where)
    ordered = sorted(names, key=lambda name: _first(tree, name))
    return Expression(str(text), tuple(ordered), tree, where)


def _first(tree: ast.expr, name: str) -> tuple[int, int]:
    return min((n.lineno, n.col_offset) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name)


_ALLOWED = (ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
            ast.Call, ast.And, ast.Or, *_BINARY, *_UNARY, *_COMPARE)


def _check(node: ast.AST, text: str, where: str) -> None:
    if not isinstance(node, _ALLOWED):
        raise ConfigError(f"{where}: expression {text!r} uses {type(node).__name__}, which is not allowed "
                          "(numbers, variables, + - * / // % **, comparisons, and/or/not, x if c else y, "
                          "abs/min/max/round)")
    if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS
                                       or node.keywords):
        raise ConfigError(f"{where}: expression {text!r} calls something other than abs, min, max or round")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool):
        raise ConfigError(f"{where}: expression {text!r} holds a constant of type {type(node.value).__name__}")


def _evaluate(node: ast.expr, values: Mapping[str, Any], where: str) -> Any:  # noqa: PLR0911  (one case per node)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values, where), _evaluate(node.right, values, where)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ConfigError(f"{where}: exponent {right} is too large (at most {MAX_EXPONENT})")
        try:
            return _BINARY[type(node.op)](left, right)
        except (ArithmeticError, TypeError) as error:
            raise ConfigError(f"{where}: {error} at {values}") from None
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values, where))
    if isinstance(node, ast.BoolOp):
        results = (_evaluate(v, values, where) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values, where)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, values, where)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        chosen = node.body if _evaluate(node.test, values, where) else node.orelse
        return _evaluate(chosen, values, where)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(_evaluate(a, values, where) for a in node.args))
    raise ConfigError(f"{where}: cannot evaluate {type(node).__name__}")
