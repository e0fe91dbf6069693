"""Layers that move or drop data without arithmetic: flatten, dropout, identity, zero padding."""

from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.ops.base import Field, Op, Shape, Warn, numel, register, require_chw


@register
class Flatten(Op):
    """Flatten C×H×W to C·H·W. A view in torch: no new tensor."""

    kind = "flatten"
    op_class = "shape"

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        return (numel(ins[0]),)

    def new_tensor(self) -> bool:
        return False


@register
class Dropout(Op):
    """Dropout: the identity at inference, so no new tensor and no cost in the analysis."""

    kind = "dropout"
    op_class = "shape"
    fields = {"p": Field("float", 0.5), "inplace": Field("bool", False)}

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if not 0.0 <= self.v["p"] <= 1.0:
            raise SpecError(f"dropout: p={self.v['p']}", expected="a probability in [0, 1]")
        return ins[0]

    def new_tensor(self) -> bool:
        return False


@register
class Identity(Op):
    kind = "identity"
    op_class = "shape"

    def new_tensor(self) -> bool:
        return False


@register
class ZeroPad(Op):
    """Explicit zero padding (TF-ported nets): int, [h, w] or [top, bottom, left, right]."""

    kind = "zeropad"
    aliases = ("zero_pad",)
    op_class = "shape"
    fields = {"pad": Field("pad", required=True, aliases=("padding", "p"))}

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        if isinstance(self.v["pad"], str):
            raise SpecError("zeropad: pad must be numbers", expected="int, [h, w] or [t, b, l, r]")
        t, b, left, r = self.v["pad"]
        return (c, h + t + b, w + left + r)


@register
class Scale(Op):
    """Multiply by a constant (Inception-ResNet's residual scaling, ``out * 0.17``): 1 op per element."""

    kind = "scale"
    op_class = "elementwise"
    fields = {"value": Field("float", required=True, aliases=("factor",)), "inplace": Field("bool", False)}

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def new_tensor(self) -> bool:
        return not self.v["inplace"]


@register
class ChannelPad(Op):
    """Zero channels appended (the ResNet paper's option-A shortcut): ``F.pad`` over channels."""

    kind = "chanpad"
    op_class = "shape"
    fields = {"out": Field("int", required=True, doc="output channels (≥ input channels)")}

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if self.v["out"] < ins[0][0]:
            raise SpecError(f"chanpad: out={self.v['out']} < {ins[0][0]} input channels",
                            expected="at least the input channels")
        return (self.v["out"], *ins[0][1:])


@register
class ChannelSlice(Op):
    """Channels ``start:stop`` of the input (DPN's split of residual and dense paths): a view."""

    kind = "slice"
    op_class = "shape"
    fields = {"start": Field("int", 0), "stop": Field("int", required=True)}

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        start, stop, c = self.v["start"], self.v["stop"], ins[0][0]
        if not 0 <= start < stop <= c:
            raise SpecError(f"slice: channels {start}:{stop} of {c}", expected="0 <= start < stop <= channels")
        return (stop - start, *ins[0][1:])

    def new_tensor(self) -> bool:
        return False
