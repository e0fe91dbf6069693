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
        handler = _VISITORS.get(type(node))
        value = handler(self, node) if handler is not None else _NOT_ALLOWED
        if value is _NOT_ALLOWED:
            raise self.fail(f"{type(node).__name__} is not allowed in a spec expression")
        return value

    def constant(self, node: ast.Constant) -> Any:
        return node.value

    def name(self, node: ast.Name) -> Any:
        if node.id in self.env:
            return self.env[node.id]
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        names = ", ".join(sorted(k for k in self.env if not k.startswith("_")))
        raise self.fail(f"unknown name {node.id!r}", expected=f"one of: {names}")

    def binop(self, node: ast.BinOp) -> Any:
        if type(node.op) not in _BINOPS:
            return _NOT_ALLOWED
        left, right = self.visit(node.left), self.visit(node.right)
        try:
            return _BINOPS[type(node.op)](left, right)
        except (TypeError, ZeroDivisionError, OverflowError) as exc:
            raise self.fail(str(exc)) from None

    def unaryop(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        op = _UNARYOPS.get(type(node.op))
        return _NOT_ALLOWED if op is None else op(value)

    def boolop(self, node: ast.BoolOp) -> Any:
        values = (self.visit(v) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)

    def compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comp)
            if type(op) not in _CMPOPS or not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True

    def ifexp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def sequence(self, node: ast.List | ast.Tuple) -> Any:
        return [self.visit(e) for e in node.elts]

    def subscript(self, node: ast.Subscript) -> Any:
        seq, index = self.visit(node.value), self.visit(node.slice)
        try:
            return seq[index]
        except (IndexError, KeyError, TypeError) as exc:
            raise self.fail(f"cannot index {seq!r} with {index!r} ({exc})") from None

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.keywords:
            return _NOT_ALLOWED
        func = FUNCTIONS.get(node.func.id)
        if func is None:
            raise self.fail(f"unknown function {node.func.id!r}", expected="one of: " + ", ".join(sorted(FUNCTIONS)))
        args = [self.visit(a) for a in node.args]
        try:
            return func(*args)
        except (TypeError, ValueError) as exc:
            raise self.fail(str(exc)) from None


_NOT_ALLOWED = object()
_UNARYOPS: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_VISITORS: dict[type, Callable[[_Eval, Any], Any]] = {
    ast.Constant: _Eval.constant, ast.Name: _Eval.name, ast.BinOp: _Eval.binop, ast.UnaryOp: _Eval.unaryop,
    ast.BoolOp: _Eval.boolop, ast.Compare: _Eval.compare, ast.IfExp: _Eval.ifexp, ast.List: _Eval.sequence,
    ast.Tuple: _Eval.sequence, ast.Subscript: _Eval.subscript, ast.Call: _Eval.call,
}
"""The node types the language has, each with its evaluator; anything else is refused."""
