"""Layers that move or drop data without arithmetic: flatten, dropout, identity, padding, slicing."""

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
    numel,
    register,
    require_chw,
)

_MOVES = "0: moves data"


@register
class Flatten(Op):
    """Flatten C×H×W to C·H·W. A view in torch: no new tensor."""

    kind = "flatten"
    op_class = "shape"
    fvcore = "0: a view"
    examples = (Example((3, 2, 4), "[flatten, linear: {out: 2}]"),)

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        return (numel(ins[0]),)

    def new_tensor(self, training: bool = False) -> bool:
        return False

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing (a view)."""
        return SAVES_NOTHING


@register
class Dropout(Op):
    """Dropout: the identity at inference, so no new tensor and no cost in the analysis."""

    kind = "dropout"
    op_class = "shape"
    fields = {"p": Field("float", 0.5), "inplace": Field("bool", False)}
    fvcore = "0: the identity at inference"
    fvcore_skips = {"aten::dropout_": "in-place dropout: identity at inference"}
    examples = (Example((10,), "[dropout: {p: 0.3}]"), Example((3, 4, 4), "[dropout: {p: 0.2, inplace: true}]"),
                Example((5,), "[dropout: {p: 0}]"))
    p: float
    inplace: bool

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if not 0.0 <= self.p <= 1.0:
            raise SpecError(f"dropout: p={self.p}", expected="a probability in [0, 1]")
        return ins[0]

    def new_tensor(self, training: bool = False) -> bool:
        """At inference, none; in training, the masked output (unless in place or p = 0)."""
        return training and self.p > 0 and not self.inplace

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The mask (in the activation dtype), when p > 0."""
        return (Saved("new", elements=numel(out), tag="mask"),) if self.p > 0 else SAVES_NOTHING


@register
class Identity(Op):
    """The input, unchanged (a placeholder a block can switch to)."""

    kind = "identity"
    op_class = "shape"
    fvcore = "0: no op"
    examples = (Example((3, 4, 4), "[identity, conv: {out: 2, k: 1}]"),)

    def new_tensor(self, training: bool = False) -> bool:
        return False

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing."""
        return SAVES_NOTHING


@register
class ZeroPad(Op):
    """Explicit zero padding (TF-ported nets): int, [h, w] or [top, bottom, left, right]."""

    kind = "zeropad"
    aliases = ("zero_pad",)
    op_class = "shape"
    fields = {"pad": Field("pad", required=True, aliases=("padding", "p"))}
    fvcore = _MOVES
    examples = (Example((2, 5, 6), "[zeropad: {pad: [0, 1, 2, 1]}]"), Example((2, 3, 3), "[zeropad: {pad: 1}]"))
    pad: str | tuple[int, int, int, int]

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        if isinstance(self.pad, str):
            raise SpecError("zeropad: pad must be numbers", expected="int, [h, w] or [t, b, l, r]")
        t, b, left, r = self.pad
        return (c, h + t + b, w + left + r)

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the gradient is a slice."""
        return SAVES_NOTHING


@register
class Scale(Op):
    """Multiply by a constant (Inception-ResNet's residual scaling, ``out * 0.17``): 1 op per element."""

    kind = "scale"
    op_class = "elementwise"
    fields = {"value": Field("float", required=True, aliases=("factor",)), "inplace": Field("bool", False)}
    fvcore = "0: fvcore does not count element-wise products"
    fvcore_skips = {"aten::mul": "constant scaling: not counted by fvcore",
                    "aten::mul_": "in-place constant scaling: not counted by fvcore"}
    examples = (Example((3, 4, 4), "[scale: {value: 0.17}]"), Example((3, 4, 4), "[scale: {value: 2, inplace: true}]"))
    value: float
    inplace: bool

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def new_tensor(self, training: bool = False) -> bool:
        return not self.inplace

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the factor is a constant."""
        return SAVES_NOTHING


@register
class ChannelPad(Op):
    """Zero channels appended (the ResNet paper's option-A shortcut): ``F.pad`` over channels."""

    kind = "chanpad"
    op_class = "shape"
    fields = {"out": Field("int", required=True, doc="output channels (≥ input channels)")}
    fvcore = _MOVES
    examples = (Example((3, 4, 4), "[chanpad: {out: 5}]"),)
    out: int

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if self.out < ins[0][0]:
            raise SpecError(f"chanpad: out={self.out} < {ins[0][0]} input channels",
                            expected="at least the input channels")
        return (self.out, *ins[0][1:])

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the gradient is a slice."""
        return SAVES_NOTHING


@register
class ChannelSlice(Op):
    """Channels ``start:stop`` of the input (DPN's split of residual and dense paths): a view."""

    kind = "slice"
    op_class = "shape"
    fields = {"start": Field("int", 0), "stop": Field("int", required=True)}
    fvcore = "0: a view"
    examples = (Example((6, 3, 3), "[slice: {start: 1, stop: 4}]"),)
    start: int
    stop: int

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        start, stop, c = self.start, self.stop, ins[0][0]
        if not 0 <= start < stop <= c:
            raise SpecError(f"slice: channels {start}:{stop} of {c}", expected="0 <= start < stop <= channels")
        return (stop - start, *ins[0][1:])

    def new_tensor(self, training: bool = False) -> bool:
        return False

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing (a view)."""
        return SAVES_NOTHING
