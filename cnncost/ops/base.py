"""The op protocol, typed fields and the registry: one small class per layer type.

A layer in a spec is ``{kind: {field: value, ...}}``. The class registered under ``kind``
declares its fields (type, default, aliases); ``Op.resolve`` validates and evaluates them,
so each op validates itself and a new layer type can never fall silently into an ``else``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cnncost.errors import SpecError
from cnncost.spec.expr import evaluate

Shape = tuple[int, ...]
Warn = Callable[[str], None]

PAD_WORDS = ("same", "valid")


@dataclass(frozen=True)
class Field:
    """A declared op field. ``type`` is one of: int, pair, pad, bool, float, choice."""

    type: str
    default: Any = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class ParamCount:
    """Trainable weights and biases apart, and non-trainable buffers (BN running stats)."""

    weights: int = 0
    biases: int = 0
    buffers: int = 0
    counters: int = 0
    """Of the buffers, scalar bookkeeping (torch's ``num_batches_tracked``), which Keras does not count."""


class Op:
    """One layer type. Subclasses set ``kind``, ``fields``, ``op_class`` and override the hooks."""

    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[dict[str, Field]] = {}
    op_class: ClassVar[str] = ""
    """Which column of the all-ops breakdown this op's cost goes to (conv, linear, bn, ...)."""
    arity: ClassVar[int | None] = 1
    """Number of inputs; ``None`` for merges that take any number of branches."""
    doc: ClassVar[str] = ""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.v: dict[str, Any] = dict(values)

    # -- construction --------------------------------------------------------------
    @classmethod
    def resolve(cls, args: Mapping[str, Any] | None, env: Mapping[str, Any]) -> Op:
        """Validate ``args`` against ``fields``, evaluate expressions, fill defaults."""
        args = args or {}
        lookup = cls.__dict__.get("_lookup")
        if lookup is None:  # built once per class: field names and aliases → field
            lookup = {name: name for name in cls.fields}
            lookup.update({alias: name for name, f in cls.fields.items() for alias in f.aliases})
            cls._lookup = lookup  # type: ignore[attr-defined]
        values: dict[str, Any] = {}
        for key, raw in args.items():
            if key not in lookup:
                allowed = ", ".join(cls.fields) or "no fields"
                raise SpecError(f"{cls.kind}: unknown field {key!r}", expected=allowed)
            name = lookup[key]
            if name in values:
                raise SpecError(f"{cls.kind}: field {name!r} given twice (as {key!r})")
            values[name] = _coerce(cls.kind, name, cls.fields[name], raw, env)
        for name, f in cls.fields.items():
            if name not in values:
                if f.required:
                    raise SpecError(f"{cls.kind}: missing required field {name!r}",
                                    expected=f.doc or f.type)
                values[name] = f.default
        return cls(values)

    # -- analysis hooks ------------------------------------------------------------
    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        """Output shape (without batch) from input shapes; raise ``SpecError`` if impossible."""
        return ins[0]

    def params(self, ins: list[Shape]) -> ParamCount:
        return ParamCount()

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        """Shapes of the parameter and buffer tensors, in torch's order: what ``share:`` must match."""
        return ()

    def macs(self, ins: list[Shape], out: Shape) -> int:
        """Multiply-accumulates of conv and linear layers: the papers' "FLOPs"."""
        return 0

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        """Non-MAC operations for the all-ops breakdown (see README: counting conventions)."""
        return 0

    def fvcore_flops(self, ins: list[Shape], out: Shape) -> int:
        """What fvcore's default handles count for this op (one multiply-add = one flop)."""
        return 0

    def new_tensor(self) -> bool:
        """Does this layer write a new activation tensor (not in-place, not a view)?"""
        return True

    def describe(self) -> str:
        """Short human label for tables, e.g. ``conv 3×3/2, 64``."""
        return self.kind


REGISTRY: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: make ``cls`` available under its ``kind`` and aliases."""
    for name in (cls.kind, *cls.aliases):
        if name in REGISTRY:
            raise RuntimeError(f"op {name!r} registered twice")
        REGISTRY[name] = cls
    return cls


def numel(shape: Shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def fmt_shape(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def require_chw(kind: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise SpecError(f"{kind} needs a C×H×W input, got {fmt_shape(shape)}",
                        expected="a feature map (did a flatten come too early?)")
    return shape[0], shape[1], shape[2]


# -- field coercion -----------------------------------------------------------------
def _value(kind: str, name: str, raw: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(raw, str):
        try:
            return evaluate(raw, env)
        except SpecError as exc:
            exc.message = f"{kind}.{name}: {exc.message}"
            raise
    if isinstance(raw, list):
        return [_value(kind, name, r, env) for r in raw]
    return raw


def _int(kind: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{kind}.{name}: got {value!r}", expected="an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise SpecError(f"{kind}.{name}: {value} is not a whole number",
                            expected="an integer (use int(), round() or make_divisible())")
        value = int(value)
    return value


def _coerce(kind: str, name: str, f: Field, raw: Any, env: Mapping[str, Any]) -> Any:
    if f.type in ("pad", "choice") and isinstance(raw, str) and raw in (f.choices or PAD_WORDS):
        return raw
    value = _value(kind, name, raw, env)
    if f.type == "int":
        return _int(kind, name, value)
    if f.type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{kind}.{name}: got {value!r}", expected="a number")
        return float(value)
    if f.type == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{kind}.{name}: got {value!r}", expected="true or false")
        return value
    if f.type == "choice":
        if value not in f.choices:
            raise SpecError(f"{kind}.{name}: got {value!r}", expected=" | ".join(f.choices))
        return value
    if f.type == "pair":
        return _pair(kind, name, value)
    if f.type == "pad":
        if isinstance(value, str):
            if value not in PAD_WORDS:
                raise SpecError(f"{kind}.{name}: got {value!r}",
                                expected="an int, [h, w], [top, bottom, left, right], 'same' or 'valid'")
            return value
        if isinstance(value, list) and len(value) == 4:
            t, b, left, r = (_int(kind, name, x) for x in value)
            return (t, b, left, r)
        h, w = _pair(kind, name, value)
        return (h, h, w, w)
    raise AssertionError(f"unknown field type {f.type}")


def _pair(kind: str, name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, list):
        if len(value) != 2:
            raise SpecError(f"{kind}.{name}: got {value!r}", expected="an int or [h, w]")
        return _int(kind, name, value[0]), _int(kind, name, value[1])
    v = _int(kind, name, value)
    return v, v
