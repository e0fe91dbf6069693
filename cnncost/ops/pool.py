"""Pooling: windowed max/average (with Caffe's ``ceil_mode``) and adaptive/global pooling."""

from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.ops.base import Field, Op, Shape, Warn, numel, register, require_chw
from cnncost.ops.conv import resolve_padding, window_out


class WindowPool(Op):
    op_class = "pool"

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        k = self.v["k"]
        s = self.v["stride"] or k
        d = self.v.get("dilation") or (1, 1)
        self.padding = resolve_padding(self.v["pad"], (h, w), k, s, d)
        t, b, left, r = self.padding
        if max(t, b) > k[0] // 2 or max(left, r) > k[1] // 2:
            raise SpecError(f"{self.kind}: padding {self.padding} is more than half the kernel {k}",
                            expected="pad <= k // 2 (torch rejects larger pooling padding)")
        ho, wo = window_out(self.kind, (h, w), k, s, self.padding, d, self.v["ceil_mode"], warn)
        return (c, ho, wo)

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        """One op per window element per output: k·k comparisons (max) or additions (avg)."""
        kh, kw = self.v["k"]
        return numel(out) * kh * kw

    def describe(self) -> str:
        kh, kw = self.v["k"]
        s = (self.v["stride"] or self.v["k"])[0]
        return f"{self.kind} {kh}×{kw}/{s}"


_WINDOW_FIELDS = {
    "k": Field("pair", required=True, aliases=("kernel", "kernel_size"), doc="window: int or [h, w]"),
    "stride": Field("pair", None, aliases=("s",), doc="defaults to the kernel size, as in torch"),
    "pad": Field("pad", (0, 0, 0, 0), aliases=("padding", "p")),
    "ceil_mode": Field("bool", False),
}


@register
class MaxPool(WindowPool):
    kind = "maxpool"
    aliases = ("max_pool",)
    fields = {**_WINDOW_FIELDS, "dilation": Field("pair", (1, 1))}


@register
class AvgPool(WindowPool):
    kind = "avgpool"
    aliases = ("avg_pool",)
    fields = {**_WINDOW_FIELDS, "count_include_pad": Field("bool", True)}


class AdaptivePool(Op):
    """Adaptive pooling to a fixed output grid; cost 1 op per input element (fvcore's rule)."""

    op_class = "pool"
    fields = {"out": Field("pair", (1, 1), aliases=("output_size",))}

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, _, _ = require_chw(self.kind, ins[0])
        oh, ow = self.v["out"]
        return (c, oh, ow)

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0])


@register
class AdaptiveAvgPool(AdaptivePool):
    kind = "adaptive_avgpool"

    fvcore_flops = AdaptivePool.other_ops


@register
class AdaptiveMaxPool(AdaptivePool):
    kind = "adaptive_maxpool"


@register
class GlobalAvgPool(AdaptiveAvgPool):
    """Average over the whole map to C×1×1 (torch ``AdaptiveAvgPool2d(1)``)."""

    kind = "global_avgpool"
    aliases = ("gap",)
    fields = {}

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, _, _ = require_chw(self.kind, ins[0])
        return (c, 1, 1)


@register
class Mean(GlobalAvgPool):
    """``x.mean((2, 3), keepdim=True)``: the same values as ``global_avgpool``, written as timm's SE
    modules write their squeeze. fvcore has no handle for ``aten::mean``, so it counts 0 there
    (``global_avgpool``'s ``adaptive_avg_pool2d`` counts one per input element); autograd saves nothing."""

    kind = "mean"
    aliases = ()

    def fvcore_flops(self, ins: list[Shape], out: Shape) -> int:
        return 0
