"""Merges of parallel branches: channel concat (Inception, DenseNet), add (residual), mul (SE)."""

from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.ops.base import (
    SAVES_NOTHING,
    Example,
    Field,
    Op,
    Saved,
    Shape,
    Warn,
    fmt_shape,
    identity_window,
    numel,
    register,
)
from cnncost.ops.window import BROADCAST, STEP, Axis, Window


@register
class Concat(Op):
    """Concatenate along channels; every other dimension must agree."""

    kind = "concat"
    aliases = ("cat",)
    op_class = "shape"
    arity = None
    fvcore = "0: aten::cat moves data"
    examples = (
        Example((3, 5, 4), "[concat: [identity, [conv: {out: 2, k: 1}], [maxpool: {k: 3, stride: 1, pad: 1}]]]"),
    )

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        first = ins[0]
        for i, s in enumerate(ins[1:], 1):
            if len(s) != len(first) or s[1:] != first[1:]:
                shapes = ", ".join(fmt_shape(x) for x in ins)
                raise SpecError(
                    f"concat: branch {i} is {fmt_shape(s)} but branch 0 is {fmt_shape(first)} ({shapes})",
                    expected="the same spatial size in every branch",
                )
        return (sum(s[0] for s in ins), *first[1:])

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the gradient is split by sizes alone."""
        return SAVES_NOTHING

    window = identity_window


class Elementwise(Op):
    """Element-wise merges: ``n-1`` ops per output element for ``n`` inputs."""

    op_class = "elementwise"
    arity = None
    fields = {"inplace": Field("bool", False, doc="torchvision's ResNet does out += identity")}
    inplace: bool

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * (len(ins) - 1)

    def new_tensor(self, training: bool = False) -> bool:
        return not self.inplace

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the gradient of a sum or difference is the incoming gradient."""
        return SAVES_NOTHING

    window = identity_window


@register
class Add(Elementwise):
    """Residual sum: every input must have the same shape."""

    kind = "add"
    fvcore = "0: fvcore does not count element-wise adds"
    fvcore_skips = {
        "aten::add": "element-wise adds (residual sums): not counted by fvcore",
        "aten::add_": "in-place residual adds: not counted by fvcore",
    }
    examples = (
        Example((4, 6, 6), "[add: [identity, [conv: {out: 4, k: 3, pad: 1}]]]"),
        Example(
            (4, 5, 5),
            "[conv: {out: 4, k: 1}, add: [identity, [conv: {out: 4, k: 1}], [relu: {inplace: false}]], "
            "{add: [[conv: {out: 4, k: 1}], identity], inplace: true}]",
        ),
    )

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        first = ins[0]
        for s in ins[1:]:
            if s != first:
                if len(s) == len(first) == 3 and s[1:] == first[1:]:
                    raise SpecError(
                        f"channels {first[0]} and {s[0]} cannot be added",
                        expected="a projection shortcut to match channels",
                    )
                raise SpecError(
                    f"shapes {fmt_shape(first)} and {fmt_shape(s)} cannot be added",
                    expected="equal shapes (a strided projection shortcut?)",
                )
        return first


@register
class Mul(Elementwise):
    """Element-wise product with broadcasting of C×1×1 gates (squeeze-and-excitation)."""

    kind = "mul"
    fvcore = "0: fvcore does not count element-wise products"
    fvcore_skips = {"aten::mul": "element-wise products (SE gates): not counted by fvcore"}
    examples = (Example((6, 5, 5), "[mul: [identity, [global_avgpool, conv: {out: 6, k: 1}, sigmoid]]]"),)

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        out = max(ins, key=numel)
        for s in ins:
            ok = len(s) == len(out) and all(a in (b, 1) for a, b in zip(s, out, strict=True))
            if not ok:
                raise SpecError(
                    f"shapes {fmt_shape(s)} and {fmt_shape(out)} cannot be multiplied",
                    expected="equal shapes or a C×1×1 gate",
                )
        return out

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Position for position, but a size-1 axis (an SE gate's C×1×1) is broadcast: every output
        position reads its one position (the gate's field, which global pooling made the whole input)."""
        shape = ins[arg]
        return tuple(
            Axis(j, BROADCAST if n == 1 < m else STEP) for j, (n, m) in enumerate(zip(shape, out, strict=True))
        )

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Every input: each one's gradient is the product of the others."""
        return tuple(Saved("input", i) for i in range(len(ins)))


@register
class Sub(Elementwise):
    """``a - b`` (highway gates: x·(1 − T) = x − x·T)."""

    kind = "sub"
    fvcore = "0: fvcore does not count element-wise differences"
    fvcore_skips = {"aten::sub": "element-wise differences (highway gates): not counted by fvcore"}
    examples = (Example((3, 4, 4), "[sub: [identity, [conv: {out: 3, k: 1}]]]"),)

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if len(ins) != 2 or ins[0] != ins[1]:
            raise SpecError(
                "sub needs two branches of equal shape", expected=", ".join(fmt_shape(s) for s in ins) + " to be equal"
            )
        return ins[0]
