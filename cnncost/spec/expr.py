"""A small, safe expression language for spec fields: ``out: width * 4``.

Python's grammar is reused through ``ast.parse(mode="eval")``, but only a whitelist of
node types is interpreted here — no attribute access, no calls except the functions
below, no lambdas, no assignment — so a spec can never run code. Integer arithmetic stays exact.
List comprehensions (``[w0 + wa * j for j in range(d) if j % 2]``, several ``for`` and tuple
targets allowed) and what they build are bounded by named budgets (``cnncost.limits``): ``EXPR_LIST``
elements per list, ``EXPR_STEPS`` steps per evaluation, ``EXPR_INT_BITS`` bits per integer power.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cnncost.errors import SpecError, count, shown
from cnncost.limits import EXPR_INT_BITS, EXPR_LIST, EXPR_STEPS, Limit


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without losing more than 10%.

    The rule MobileNet/EfficientNet use (torchvision ``_make_divisible``), e.g. 32·1.1 → 32.
    """
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class _Limit(ValueError):
    """A budget exceeded inside a function or an operator, before the expression's text is known."""

    def __init__(self, limit: Limit, found: str) -> None:
        super().__init__(found)
        self.limit = limit
        self.found = found


def _bounded(n: int, what: str) -> None:
    if n > EXPR_LIST.value:
        raise _Limit(EXPR_LIST, f"{what} would have {count(n)} elements")


def bounded_range(*args: int) -> list[int]:
    """``list(range(...))``, at most ``EXPR_LIST`` long: ``bounded_range(3) == [0, 1, 2]``."""
    r = range(*args)
    sign = 1 if r.step > 0 else -1
    _bounded(max(0, (r.stop - r.start + r.step - sign) // r.step), f"range({', '.join(shown(a, 20) for a in args)})")
    return list(r)


def _zip(*seqs: Any) -> list[list[Any]]:
    """``zip`` as a list of lists (the language's tuples are lists): ``_zip([1, 2], [3, 4]) == [[1, 3], [2, 4]]``."""
    return [list(t) for t in zip(*seqs, strict=False)]


def _enumerate(seq: Any, start: int = 0) -> list[list[Any]]:
    """``enumerate`` as a list of ``[index, value]`` pairs."""
    return [[start + k, v] for k, v in enumerate(seq)]


def _sum(seq: Any, start: Any = 0) -> Any:
    """``sum``; concatenating lists (``sum(lists, [])``) only up to ``EXPR_LIST`` elements."""
    if isinstance(start, (list, tuple)):
        _bounded(len(start) + sum(len(x) if isinstance(x, (list, tuple)) else 1 for x in seq), "a sum of lists")
    return sum(seq, start)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "float": float,
    "round": round,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "len": len,
    "sum": _sum,
    "make_divisible": make_divisible,
    "str": str,
    "log": math.log,
    "exp": math.exp,
    "range": bounded_range,
    "zip": _zip,
    "enumerate": _enumerate,
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_SYMBOLS: dict[type, str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.USub: "-",
    ast.UAdd: "+",
}
_ERRORS = (TypeError, ValueError, ArithmeticError)
"""What an operator or a function may raise on values of the wrong kind or size (``OverflowError`` and
``ZeroDivisionError`` are ``ArithmeticError`` types): each becomes a ``SpecError`` naming the expression."""
_FLOAT_MAX = "a result within ±1.8e308 (integer arithmetic is exact: 10 ** 400 is fine, 10.0 ** 400 is not)"


@lru_cache(maxsize=4096)
def _parse(text: str) -> ast.expr:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: a NUL character ("\0" in a quoted YAML string)
        raise SpecError(
            f"cannot parse expression {text!r}", expected="arithmetic such as 'width * 4' or 'a if cond else b'"
        ) from None
    except (RecursionError, MemoryError):  # the parser's own stack: 100,000 nested minus signs
        raise SpecError(f"expression {text!r} is nested too deeply", expected="a simpler expression") from None


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
    tree = _parse(text)
    try:
        return _Eval(env, text).visit(tree)
    except RecursionError:  # 5,000 terms parse, but nest deeper than the interpreter may recurse
        raise SpecError(f"expression {text!r} is nested too deeply", expected="a simpler expression") from None


class _Eval:
    def __init__(self, env: Mapping[str, Any], text: str) -> None:
        self.env = env
        self.text = text
        self.steps = 0

    def fail(self, message: str, expected: str | None = None) -> SpecError:
        return SpecError(f"in expression {self.text!r}: {message}", expected=expected)

    def broke(self, node: ast.expr, exc: Exception) -> SpecError:
        """What an operator or a function raised (``exc``), as one message naming the part that failed."""
        part = self.part(node)
        text = str(exc)
        if isinstance(exc, OverflowError) and ("float" in text or "range" in text):
            detail = "" if text.startswith("(") else f" ({text})"  # not errno's "(34, 'Numerical result ...')"
            return self.fail(f"{part}too large for a float{detail}", expected=_FLOAT_MAX)
        if isinstance(exc, ZeroDivisionError):
            return self.fail(part + text, expected="a non-zero divisor")
        return self.fail(part + text)

    def part(self, node: ast.expr) -> str:
        """``'x * 10: '``: the sub-expression ``node`` as a message's lead, or nothing when it is the whole."""
        text = ast.unparse(node)
        return "" if text == ast.unparse(_parse(self.text)) else f"{text if len(text) <= 80 else text[:77] + '...'}: "

    def number(self, node: ast.expr, value: Any) -> Any:
        """``value``, unless it is a number no field can take: an overflowed float (``inf``), ``nan``, a complex."""
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value):
                raise self.fail(f"{self.part(node)}gives nan", expected="a number")
            raise self.fail(f"{self.part(node)}too large for a float (gives {value})", expected=_FLOAT_MAX)
        if isinstance(value, complex):
            raise self.fail(
                f"{self.part(node)}gives the complex number {value}",
                expected="a real number (a fractional power of a negative number is not one)",
            )
        return value

    def over(self, limit: Limit, found: str) -> SpecError:
        """A budget of ``cnncost.limits`` exceeded: what was found, the budget, how to raise it."""
        return limit.exceeded(f"in expression {self.text!r}: {found}")

    def visit(self, node: ast.expr) -> Any:
        handler = _VISITORS.get(type(node))
        value = handler(self, node) if handler is not None else _NOT_ALLOWED
        if value is _NOT_ALLOWED:
            raise self.fail(f"{type(node).__name__} is not allowed in a spec expression")
        return value

    def constant(self, node: ast.Constant) -> Any:
        return self.number(node, node.value)  # 1e400 is inf, 3j a complex

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
            _check_size(node.op, left, right)
            value = self.number(node, _BINOPS[type(node.op)](left, right))
        except _Limit as exc:
            raise self.over(exc.limit, exc.found) from None
        except _ERRORS as exc:
            raise self.broke(node, exc) from None
        return self.built(value)

    def unaryop(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        op = _UNARYOPS.get(type(node.op))
        if op is None:
            return _NOT_ALLOWED
        if isinstance(node.op, ast.Not) or isinstance(value, (int, float)):
            return op(value)
        raise self.fail(f"cannot apply {_SYMBOLS[type(node.op)]} to {shown(value)}", expected="a number")

    def boolop(self, node: ast.BoolOp) -> Any:
        values = (self.visit(v) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)

    def compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _CMPOPS:  # `is`, `is not`
                raise self.fail(
                    f"{type(op).__name__} is not allowed in a spec expression", expected="== or != to compare values"
                )
            right = self.visit(comp)
            try:
                holds = _CMPOPS[type(op)](left, right)
            except TypeError:
                symbol = _SYMBOLS[type(op)]
                if isinstance(op, (ast.In, ast.NotIn)):
                    raise self.fail(
                        f"cannot look for {shown(left)} {symbol} {shown(right)}", expected="a list or a text after in"
                    ) from None
                raise self.fail(
                    f"cannot compare {shown(left)} {symbol} {shown(right)}",
                    expected="two numbers, two texts or two lists",
                ) from None
            if not holds:
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

    def slicing(self, node: ast.Slice) -> Any:
        """``seq[a:b:c]`` (a subscript's slice only: the parser allows it nowhere else)."""
        return slice(*(None if part is None else self.visit(part) for part in (node.lower, node.upper, node.step)))

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.keywords:
            return _NOT_ALLOWED
        func = FUNCTIONS.get(node.func.id)
        if func is None:
            raise self.fail(f"unknown function {node.func.id!r}", expected="one of: " + ", ".join(sorted(FUNCTIONS)))
        args = [self.visit(a) for a in node.args]
        try:
            value = self.number(node, func(*args))
        except _Limit as exc:
            raise self.over(exc.limit, exc.found) from None
        except _ERRORS as exc:
            raise self.broke(node, exc) from None
        return self.built(value)

    def comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> Any:
        """``[elt for target in seq if cond ...]``, the targets bound in a scope of their own.

        A generator expression (``sum(d for d in depths)``) is evaluated the same way, to a list.
        """
        out: list[Any] = []
        self.generate(node.generators, node.elt, out)
        return out

    def generate(self, generators: list[ast.comprehension], elt: ast.expr, out: list[Any]) -> None:
        """The first ``for`` clause of ``generators``, with the others nested inside it."""
        gen, rest = generators[0], generators[1:]
        if gen.is_async:
            raise self.fail("async comprehensions are not allowed in a spec expression")
        seq = self.visit(gen.iter)
        if not isinstance(seq, (list, tuple, str, dict)):
            raise self.fail(f"cannot iterate over {seq!r}", expected="a list, e.g. range(n)")
        outer = self.env
        try:
            for value in seq:
                self.step()
                self.env = ChainMap(self.bind(gen.target, value, {}), outer)  # type: ignore[arg-type]  # only read
                if not all(self.visit(cond) for cond in gen.ifs):
                    continue
                if rest:
                    self.generate(rest, elt, out)
                    continue
                out.append(self.visit(elt))
                if len(out) > EXPR_LIST.value:
                    raise self.over(EXPR_LIST, f"a comprehension builds {len(out):,} elements and counting")
        finally:
            self.env = outer

    def step(self, n: int = 1) -> None:
        """Count ``n`` units of work (a loop iteration, an element built) against ``EXPR_STEPS``."""
        self.steps += n
        if self.steps > EXPR_STEPS.value:
            raise self.over(EXPR_STEPS, f"{self.steps:,} steps and counting")

    def built(self, value: Any) -> Any:
        """``value``, its length counted as work if it is a list or a string."""
        if isinstance(value, (list, tuple, str)):
            self.step(len(value))
        return value

    def bind(self, target: ast.expr, value: Any, into: dict[str, Any]) -> dict[str, Any]:
        """The names a ``for`` target binds: ``j``, or ``w, g`` unpacking a pair (nested tuples too)."""
        if isinstance(target, ast.Name):
            into[target.id] = value
            return into
        if not isinstance(target, (ast.Tuple, ast.List)):
            raise self.fail(
                f"cannot assign to {type(target).__name__} in a comprehension",
                expected="a name or a tuple of names: for w, g in zip(ws, gs)",
            )
        if not isinstance(value, (list, tuple)) or len(value) != len(target.elts):
            raise self.fail(f"cannot unpack {value!r} into {len(target.elts)} names")
        for t, v in zip(target.elts, value, strict=True):
            self.bind(t, v, into)
        return into


_FORMAT_SIZES = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d*))?")
"""The width and precision of each ``%`` conversion of a format string: ``'%9999999s'`` is 10 MB of text."""


def _check_size(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse, before computing it, a repetition, concatenation or ``%`` formatting past ``EXPR_LIST``, a
    power or product past ``EXPR_INT_BITS``."""
    sequences = (list, tuple, str)
    if isinstance(op, ast.Mult):
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, sequences) and isinstance(n, int):
                _bounded(len(seq) * n, "a repetition")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > EXPR_INT_BITS.value
        ):
            raise _Limit(EXPR_INT_BITS, f"a product of {left.bit_length():,} and {right.bit_length():,} bits")
    elif isinstance(op, ast.Add) and isinstance(left, sequences) and isinstance(right, sequences):
        _bounded(len(left) + len(right), "a concatenation")
    elif isinstance(op, ast.Mod) and isinstance(left, str):
        sizes = [int(n) for m in _FORMAT_SIZES.finditer(left) for n in m.groups() if n and n.isdigit()]
        _bounded(len(left) + sum(sizes), "a % formatting")
    elif isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
        bits = right * math.log2(abs(left))
        if bits > EXPR_INT_BITS.value:
            raise _Limit(EXPR_INT_BITS, f"{left} ** {right} would have {bits:,.0f} bits")


_NOT_ALLOWED = object()
_UNARYOPS: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_VISITORS: dict[type, Callable[[_Eval, Any], Any]] = {
    ast.Constant: _Eval.constant,
    ast.Name: _Eval.name,
    ast.BinOp: _Eval.binop,
    ast.UnaryOp: _Eval.unaryop,
    ast.BoolOp: _Eval.boolop,
    ast.Compare: _Eval.compare,
    ast.IfExp: _Eval.ifexp,
    ast.List: _Eval.sequence,
    ast.Tuple: _Eval.sequence,
    ast.Subscript: _Eval.subscript,
    ast.Call: _Eval.call,
    ast.ListComp: _Eval.comprehension,
    ast.GeneratorExp: _Eval.comprehension,
    ast.Slice: _Eval.slicing,
}
"""The node types the language has, each with its evaluator; anything else is refused."""
