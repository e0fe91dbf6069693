"""The op protocol, typed fields and the registry: one small class per layer type.

A layer in a spec is ``{kind: {field: value, ...}}``. The class registered under ``kind``
declares its fields (type, default, aliases); ``Op.resolve`` validates and evaluates them,
so each op validates itself. ``register`` refuses a class that does not say everything the
passes need (op class, saved tensors, window, fvcore rule, an example), so a new layer type can never
fall silently into an ``else`` or surface as a user error at run time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

from cnncost.errors import SpecError
from cnncost.ops.window import IDENTITY, Window
from cnncost.spec.expr import evaluate

Shape = tuple[int, ...]
Warn = Callable[[str], None]

PAD_WORDS = ("same", "valid")


@dataclass(frozen=True)
class Field:
    """A declared op field. ``type`` is one of ``_COERCERS``: int, pair, pad, bool, float, choice, ints
    (a list of integers, e.g. ``permute``'s axis order)."""

    type: str
    default: Any = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    doc: str = ""
    min: int | None = None
    """The smallest integer the field takes (every element of a pair or a padding): 1 for a kernel or a
    stride, 0 for a padding; None: any. Floats are always finite."""


@dataclass(frozen=True)
class ParamCount:
    """Trainable weights and biases apart, and non-trainable buffers (BN running stats)."""

    weights: int = 0
    biases: int = 0
    buffers: int = 0
    counters: int = 0
    """Of the buffers, scalar bookkeeping (torch's ``num_batches_tracked``), which Keras does not count."""


OP_CLASSES = ("conv", "linear", "bn", "norm", "act", "pool", "elementwise", "softmax")
"""Where an op's cost goes in the all-ops breakdown, in display order (conv/linear in FLOP, 2 per MAC)."""

MOVES_DATA = "shape"
"""The op class of ops that move, view or drop data (concat, flatten, dropout, ...): they count 0."""


class Saved(NamedTuple):
    """One tensor autograd keeps for an op's backward (torch 2.14, checked with ``saved_tensors_hooks``).

    ``source`` is ``input`` (the storage of input number ``arg``), ``output`` (the op's own output
    storage) or ``new`` (a tensor the op makes, ``elements`` per sample, named ``tag``).
    """

    source: str
    arg: int = 0
    elements: int = 0
    tag: str = ""
    itemsize: int = 0
    """Bytes per element; 0: the activation dtype (8: int64 pooling indices, 4: fp32 BN statistics)."""
    per_sample: bool = True
    """False for tensors that do not grow with the batch (BN's saved mean and inverse std)."""


def saves_input(arg: int = 0) -> tuple[Saved, ...]:
    return (Saved("input", arg),)


SAVES_OUTPUT = (Saved("output"),)
SAVES_NOTHING: tuple[Saved, ...] = ()


class Example(NamedTuple):
    """A tiny network that exercises an op, for the registry test (torch, fvcore, FlopCounterMode and
    autograd's saved tensors, exactly) and the docs: ``layers`` is a YAML flow list."""

    input: Shape
    layers: str


class Op:
    """One layer type: everything the engine, the memory pass and the docs know about it.

    Subclasses set ``kind``, ``fields`` (each also declared as a typed attribute), ``op_class``,
    ``fvcore``, ``examples`` and define ``saved`` and ``window``; ``register`` refuses a class that lacks one.
    Instances are immutable: the expander shares one between identical layers.
    """

    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[dict[str, Field]] = {}
    op_class: ClassVar[str] = ""
    """Which column of the all-ops breakdown this op's cost goes to (one of ``OP_CLASSES``)."""
    arity: ClassVar[int | None] = 1
    """Number of inputs; ``None`` for merges that take any number of branches."""
    weight_layer: ClassVar[bool] = False
    """Counts toward the papers' "depth" (conv and linear layers)."""
    fvcore: ClassVar[str] = ""
    """What fvcore's default handles count for this op, in words (``fvcore_flops`` is the number)."""
    fvcore_skips: ClassVar[dict[str, str]] = {}
    """aten ops fvcore reports as unsupported when it traces this op, and why counting 0 there is right."""
    examples: ClassVar[tuple[Example, ...]] = ()

    values: Mapping[str, Any]
    """The resolved fields, by name (also set as attributes)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "values", MappingProxyType(dict(values)))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable (set {name!r} through its fields)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.values)})"

    # -- construction --------------------------------------------------------------
    @classmethod
    def resolve(cls, args: Mapping[str, Any] | None, env: Mapping[str, Any]) -> Op:
        """Validate ``args`` against ``fields``, evaluate expressions, fill defaults."""
        args = args or {}
        lookup = _LOOKUPS.get(cls)
        if lookup is None:  # built once per class: field names and aliases → field
            lookup = {name: name for name in cls.fields}
            lookup.update({alias: name for name, f in cls.fields.items() for alias in f.aliases})
            _LOOKUPS[cls] = lookup
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
                    raise SpecError(f"{cls.kind}: missing required field {name!r}", expected=f.doc or f.type)
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
        """Non-MAC operations for the all-ops breakdown (see the counting conventions)."""
        return 0

    def fvcore_flops(self, ins: list[Shape], out: Shape) -> int:
        """What fvcore's default handles count for this op (one multiply-add = one flop)."""
        return 0

    def new_tensor(self, training: bool = False) -> bool:
        """Does this layer write a new activation tensor (not in-place, not a view)?"""
        return True

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """What autograd keeps for this op's backward (every concrete op defines it)."""
        raise NotImplementedError

    def cpu_workspace(self, ins: list[Shape], out: Shape, elem: int, batch: int) -> int:
        """Transient bytes torch's CPU kernel allocates besides the output while the op runs."""
        return 0

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Which positions of input ``arg`` each output position reads (``cnncost.ops.window``): what
        receptive fields are made of (every concrete op defines it; ``identity_window`` for the
        element-wise ones)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Short human label for tables, e.g. ``conv 3×3/2, 64``."""
        return self.kind


def identity_window(self: Op, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
    """The window of an op that keeps positions apart: output position ``o`` reads input position ``o``."""
    return IDENTITY


REGISTRY: dict[str, type[Op]] = {}
_LOOKUPS: dict[type[Op], dict[str, str]] = {}


class RegistrationError(TypeError):
    """An op class that does not say everything the engine needs: a bug in cnncost, not user input."""


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: make ``cls`` available under its ``kind`` and aliases, once it is complete."""
    missing = registration_problems(cls)
    if missing:
        raise RegistrationError(f"op class {cls.__name__} ({cls.kind!r}): " + "; ".join(missing))
    for name in (cls.kind, *cls.aliases):
        if name in REGISTRY:
            raise RegistrationError(f"op {name!r} registered twice")
        REGISTRY[name] = cls
    return cls


def registration_problems(cls: type[Op]) -> list[str]:
    """What ``cls`` lacks to be registered (empty when complete)."""
    out = []
    if not cls.kind:
        out.append("no kind")
    if cls.op_class not in (*OP_CLASSES, MOVES_DATA):
        out.append(f"op_class {cls.op_class!r} is not one of {', '.join((*OP_CLASSES, MOVES_DATA))}")
    if cls.saved is Op.saved:
        out.append("no saved() rule (what autograd keeps for backward)")
    if cls.window is Op.window:
        out.append("no window() rule (which input positions each output reads: receptive fields)")
    if not cls.fvcore:
        out.append("no fvcore text (what fvcore counts for it)")
    if not cls.examples:
        out.append("no examples")
    bad_types = [f"{name}: {f.type}" for name, f in cls.fields.items() if f.type not in _COERCERS]
    if bad_types:
        out.append("fields of unknown type: " + ", ".join(bad_types))
    annotated = {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}
    untyped = [name for name in cls.fields if name not in annotated]
    if untyped:
        out.append("fields without a typed attribute: " + ", ".join(untyped))
    return out


def op_classes() -> list[type[Op]]:
    """Each registered class once, in registration order (REGISTRY also holds the aliases)."""
    return list(dict.fromkeys(REGISTRY.values()))


def numel(shape: Shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def fmt_shape(shape: Shape) -> str:
    """``(64, 56, 56)`` → ``64×56×56``; a 0-d tensor (BN's ``num_batches_tracked``) is ``scalar``."""
    return "×".join(str(d) for d in shape) or "scalar"


def require_chw(kind: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise SpecError(
            f"{kind} needs a C×H×W input, got {fmt_shape(shape)}",
            expected="a feature map (did a flatten come too early?)",
        )
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
            raise SpecError(
                f"{kind}.{name}: {value} is not a whole number",
                expected="an integer (use int(), round() or make_divisible())",
            )
        value = int(value)
    return value


def _coerce(kind: str, name: str, f: Field, raw: Any, env: Mapping[str, Any]) -> Any:
    if f.type in ("pad", "choice") and isinstance(raw, str) and raw in (f.choices or PAD_WORDS):
        return raw
    value = _coerce_value(kind, name, f, raw, env)
    if f.min is not None and value is not None and not isinstance(value, str):
        low = min(value) if isinstance(value, tuple) else value
        if low < f.min:
            what = "a positive integer" if f.min == 1 else f"an integer ≥ {f.min}"
            raise SpecError(
                f"{kind}.{name}: got {_plain(value)}", expected=what + (" (each)" if isinstance(value, tuple) else "")
            )
    return value


def _plain(value: Any) -> str:
    return str(list(value)) if isinstance(value, tuple) else str(value)


def _coerce_value(kind: str, name: str, f: Field, raw: Any, env: Mapping[str, Any]) -> Any:
    if f.type == "choice" and isinstance(raw, str) and raw.isidentifier() and raw not in env:
        return _choice(kind, name, f, raw)  # a misspelt word, not an expression naming a variable
    return _COERCERS[f.type](kind, name, f, _value(kind, name, raw, env))


def _float(kind: str, name: str, f: Field, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{kind}.{name}: got {value!r}", expected="a number")
    try:
        number = float(value)
    except OverflowError:
        raise SpecError(
            f"{kind}.{name}: an integer of {int(value).bit_length():,} bits", expected="a finite number"
        ) from None
    if not math.isfinite(number):
        raise SpecError(f"{kind}.{name}: got {number}", expected="a finite number")
    return number


def _bool(kind: str, name: str, f: Field, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{kind}.{name}: got {value!r}", expected="true or false")
    return value


def _choice(kind: str, name: str, f: Field, value: Any) -> Any:
    if value not in f.choices:
        raise SpecError(f"{kind}.{name}: got {value!r}", expected=" | ".join(f.choices))
    return value


def _pad(kind: str, name: str, f: Field, value: Any) -> str | tuple[int, int, int, int]:
    if isinstance(value, str):
        if value not in PAD_WORDS:
            raise SpecError(
                f"{kind}.{name}: got {value!r}",
                expected="an int, [h, w], [top, bottom, left, right], 'same' or 'valid'",
            )
        return value
    if isinstance(value, list) and len(value) == 4:
        t, b, left, r = (_int(kind, name, x) for x in value)
        return (t, b, left, r)
    h, w = _pair(kind, name, value)
    return (h, h, w, w)


def _ints(kind: str, name: str, f: Field, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise SpecError(f"{kind}.{name}: got {value!r}", expected="a list of integers, e.g. [1, 2, 0]")
    return tuple(_int(kind, name, v) for v in value)


_COERCERS: dict[str, Callable[[str, str, Field, Any], Any]] = {
    "int": lambda kind, name, f, value: _int(kind, name, value),
    "float": _float,
    "bool": _bool,
    "choice": _choice,
    "pair": lambda kind, name, f, value: _pair(kind, name, value),
    "pad": _pad,
    "ints": _ints,
}
"""Field type → the check that turns an evaluated value into the op's typed attribute."""


def _pair(kind: str, name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, list):
        if len(value) != 2:
            raise SpecError(f"{kind}.{name}: got {value!r}", expected="an int or [h, w]")
        return _int(kind, name, value[0]), _int(kind, name, value[1])
    v = _int(kind, name, value)
    return v, v
