"""A small, safe expression language for spec fields: ``out: width * 4``.

Python's grammar is reused through ``ast.parse(mode="eval")``, but only a whitelist of
node types is interpreted here — no attribute access, no calls except the functions
below, no comprehensions — so a spec can never run code. Integer arithmetic stays exact.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cnncost.errors import SpecError


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without losing more than 10%.

    The rule MobileNet/EfficientNet use (torchvision ``_make_divisible``), e.g. 32·1.1 → 32.
    """
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": abs, "int": int, "float": float, "round": round,
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "len": len, "sum": sum,
    "make_divisible": make_divisible, "str": str,
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


@lru_cache(maxsize=4096)
def _parse(text: str) -> ast.expr:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise SpecError(f"cannot parse expression {text!r}",
                        expected="arithmetic such as 'width * 4' or 'a if cond else b'") from None


@lru_cache(maxsize=4096)
def names_in(text: str) -> frozenset[str]:
    """Variables an expression reads: ``names_in('planes * 4') == {'planes'}``."""
    return frozenset(n.id for n in ast.walk(_parse(text)) if isinstance(n, ast.Name))


def is_expression(text: str) -> bool:
    """True when ``text`` parses as an expression (``'1x1'`` does not, ``'width*4'`` does).

    A dotted layer path (``'f1.f.conv'``) parses as attribute access, which the language does
    not have: it is text, so a block argument can name a layer without quotes.
    """
    try:
        tree = _parse(text)
    except SpecError:
        return False
    return not _is_path(tree)


def _is_path(node: ast.expr) -> bool:
    if not isinstance(node, ast.Attribute):
        return False
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` with the variables in ``env``; e.g. ``evaluate('w * 4', {'w': 16}) == 64``."""
    return _Eval(env, text).visit(_parse(text))


class _Eval:
    def __init__(self, env: Mapping[str, Any], text: str) -> None:
        self.env = env
        self.text = text

    def fail(self, message: str, expected: str | None = None) -> SpecError:
        return SpecError(f"in expression {self.text!r}: {message}", expected=expected)

    def visit(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            if node.id in ("true", "True"):
                return True
            if node.id in ("false", "False"):
                return False
            names = ", ".join(sorted(k for k in self.env if not k.startswith("_")))
            raise self.fail(f"unknown name {node.id!r}", expected=f"one of: {names}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.visit(node.left), self.visit(node.right)
            try:
                return _BINOPS[type(node.op)](left, right)
            except (TypeError, ZeroDivisionError, OverflowError) as exc:
                raise self.fail(str(exc)) from None
        if isinstance(node, ast.UnaryOp):
            value = self.visit(node.operand)
            if isinstance(node.op, ast.USub):
                return -value
            if isinstance(node.op, ast.UAdd):
                return +value
            if isinstance(node.op, ast.Not):
                return not value
        if isinstance(node, ast.BoolOp):
            values = (self.visit(v) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self.visit(comp)
                if type(op) not in _CMPOPS or not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.visit(e) for e in node.elts]
        if isinstance(node, ast.Subscript):
            seq, index = self.visit(node.value), self.visit(node.slice)
            try:
                return seq[index]
            except (IndexError, KeyError, TypeError) as exc:
                raise self.fail(f"cannot index {seq!r} with {index!r} ({exc})") from None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            func = FUNCTIONS.get(node.func.id)
            if func is None:
                raise self.fail(f"unknown function {node.func.id!r}",
                                expected="one of: " + ", ".join(sorted(FUNCTIONS)))
            args = [self.visit(a) for a in node.args]
            try:
                return func(*args)
            except (TypeError, ValueError) as exc:
                raise self.fail(str(exc)) from None
        raise self.fail(f"{type(node).__name__} is not allowed in a spec expression")
