"""Pooling: windowed max/average (with Caffe's ``ceil_mode``) and adaptive/global pooling."""

from __future__ import annotations

from typing import ClassVar

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
    saves_input,
)
from cnncost.ops.conv import Pad, padded_copy, resolve_padding, symmetric, window_out
from cnncost.ops.window import Window, adaptive, sliding, spatial

INDEX_BYTES = 8  # max-pool indices are int64


class WindowPool(Op):
    op_class = "pool"
    k: tuple[int, int]
    stride: tuple[int, int] | None
    pad: Pad
    ceil_mode: bool

    @property
    def window_stride(self) -> tuple[int, int]:
        """``stride`` defaults to the kernel, as in torch."""
        return self.stride or self.k

    @property
    def window_dilation(self) -> tuple[int, int]:
        return (1, 1)

    def padding(self, shape: Shape) -> tuple[int, int, int, int]:
        """The padding this pool applies to a C×H×W input (``same`` depends on the size)."""
        return resolve_padding(self.pad, (shape[1], shape[2]), self.k, self.window_stride, self.window_dilation)

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        k = self.k
        padding = self.padding(ins[0])
        t, b, left, r = padding
        if max(t, b) > k[0] // 2 or max(left, r) > k[1] // 2:
            raise SpecError(
                f"{self.kind}: padding {padding} is more than half the kernel {k}",
                expected="pad <= k // 2 (torch rejects larger pooling padding)",
            )
        if not symmetric(padding):
            self.check_uneven(padding)
        ho, wo = window_out(
            self.kind, (h, w), k, self.window_stride, padding, self.window_dilation, self.ceil_mode, warn
        )
        return (c, ho, wo)

    def check_uneven(self, padding: tuple[int, int, int, int]) -> None:
        """Uneven padding (``same`` with a stride, [t, b, l, r]) is an ``F.pad`` before the pool in torch:
        with ``ceil_mode``, torch's rule that drops a last window starting in the padding would no longer
        see the padding, and a window of padding alone could survive (torch's own output is not defined)."""
        if self.ceil_mode:
            raise SpecError(
                f"{self.kind}: ceil_mode with uneven padding {list(padding)}",
                expected="symmetric padding with ceil_mode, or no ceil_mode "
                "(torch pools have no uneven padding; padded first, a window of padding alone could remain)",
            )

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        """One op per window element per output: k·k comparisons (max) or additions (avg)."""
        kh, kw = self.k
        return numel(out) * kh * kw

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """The conv rule, channel for channel (``ceil_mode`` adds a last window read by the same rule;
        max-pooling's gradient picks one element, its geometry is the whole window)."""
        t, _, left, _ = self.padding(ins[0])
        (kh, kw), (sh, sw), (dh, dw) = self.k, self.window_stride, self.window_dilation
        return spatial(sliding(kh, sh, t, dh), sliding(kw, sw, left, dw), mixes_channels=False)

    def describe(self) -> str:
        kh, kw = self.k
        return f"{self.kind} {kh}×{kw}/{self.window_stride[0]}"


_WINDOW_FIELDS = {
    "k": Field("pair", required=True, aliases=("kernel", "kernel_size"), doc="window: int or [h, w]", min=1),
    "stride": Field("pair", None, aliases=("s",), doc="defaults to the kernel size, as in torch", min=1),
    "pad": Field("pad", (0, 0, 0, 0), aliases=("padding", "p"), min=0),
    "ceil_mode": Field("bool", False, doc="Caffe/GoogLeNet rounding"),
}


@register
class MaxPool(WindowPool):
    kind = "maxpool"
    aliases = ("max_pool",)
    fields = {**_WINDOW_FIELDS, "dilation": Field("pair", (1, 1), min=1)}
    fvcore = "0: fvcore has no max-pool handle"
    fvcore_skips = {
        "aten::max_pool2d": "max-pool: fvcore has no handle (cnncost `all` counts k·k per output)",
        "aten::pad": "the -inf F.pad before an asymmetrically padded pool: moves data",
    }
    examples = (
        Example((3, 9, 9), "[maxpool: {k: 3, stride: 2, ceil_mode: true}]"),
        Example((2, 8, 7), "[maxpool: {k: 3, stride: 2, pad: same, dilation: 1}]"),
        Example((2, 9, 9), "[maxpool: {k: 3, stride: 1, pad: 1, dilation: 2}]"),
    )
    dilation: tuple[int, int]

    @property
    def window_dilation(self) -> tuple[int, int]:
        return self.dilation

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input (the ``F.pad`` copy when padded asymmetrically) and the int64 argmax indices."""
        pad = self.padding(ins[0])
        inp = saves_input() if symmetric(pad) else (padded_copy(*require_chw(self.kind, ins[0]), pad),)
        return (*inp, Saved("new", elements=numel(out), tag="indices", itemsize=INDEX_BYTES))


@register
class AvgPool(WindowPool):
    kind = "avgpool"
    aliases = ("avg_pool",)
    fields = {**_WINDOW_FIELDS, "count_include_pad": Field("bool", True)}
    fvcore = "0: fvcore has no window average-pool handle"
    fvcore_skips = {"aten::avg_pool2d": "window average pool: fvcore has no handle"}
    examples = (
        Example((3, 8, 8), "[avgpool: {k: 2}]"),
        Example((2, 7, 7), "[avgpool: {k: 3, stride: 2, pad: 1, ceil_mode: true, count_include_pad: false}]"),
    )
    count_include_pad: bool

    def check_uneven(self, padding: tuple[int, int, int, int]) -> None:
        """torch's ``AvgPool2d`` pads evenly, and ``F.pad`` first would average the padding zeros as data."""
        raise SpecError(
            f"{self.kind}: uneven padding {list(padding)} (top, bottom, left, right)",
            expected="symmetric padding (torch's AvgPool2d has no uneven padding, and padding first would "
            "count the zeros as data)",
        )

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input."""
        return saves_input()


class AdaptivePool(Op):
    """Adaptive pooling to a fixed output grid; cost 1 op per input element (fvcore's rule)."""

    op_class = "pool"
    fields = {"out": Field("pair", (1, 1), aliases=("output_size",), min=1)}
    out: tuple[int, int]

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, _, _ = require_chw(self.kind, ins[0])
        oh, ow = self.out
        return (c, oh, ow)

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0])

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """torch's adaptive bins ``floor(o·n/m) .. ceil((o+1)·n/m) − 1``; an output of 1 along an axis
        (global pooling) reads all of it."""
        (_, h, w), (_, oh, ow) = ins[0], out
        return spatial(adaptive(h, oh) if oh > 1 else None, adaptive(w, ow) if ow > 1 else None, mixes_channels=False)


@register
class AdaptiveAvgPool(AdaptivePool):
    kind = "adaptive_avgpool"
    fvcore = "aten::adaptive_avg_pool2d: 1 per input element"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((3, 7, 7), "[adaptive_avgpool: {out: 3}]"),
        Example((2, 6, 5), "[adaptive_avgpool]"),
        Example((3, 7, 5), "[adaptive_avgpool: {out: [3, 2]}]"),
        Example((2, 3, 2), "[adaptive_avgpool: {out: [5, 4]}]"),
    )

    fvcore_flops = AdaptivePool.other_ops

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing when pooling to 1×1 (torch computes a mean); the input for other sizes."""
        return SAVES_NOTHING if out[1:] == (1, 1) else saves_input()


@register
class AdaptiveMaxPool(AdaptivePool):
    kind = "adaptive_maxpool"
    fvcore = "0: fvcore has no adaptive max-pool handle"
    fvcore_skips = {"aten::adaptive_max_pool2d": "adaptive max-pool: fvcore has no handle"}
    examples = (
        Example((3, 7, 7), "[adaptive_maxpool: {out: 2}]"),
        Example((2, 5, 5), "[adaptive_maxpool]"),
        Example((3, 7, 5), "[adaptive_maxpool: {out: [3, 2]}]"),
        Example((2, 3, 2), "[adaptive_maxpool: {out: [5, 4]}]"),
    )

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input and the int64 argmax indices."""
        return (*saves_input(), Saved("new", elements=numel(out), tag="indices", itemsize=INDEX_BYTES))


@register
class GlobalAvgPool(AdaptiveAvgPool):
    """Average over the whole map to C×1×1 (torch ``AdaptiveAvgPool2d(1)``)."""

    kind = "global_avgpool"
    aliases: ClassVar[tuple[str, ...]] = ("gap",)
    fields = {}
    examples = (Example((5, 4, 3), "[global_avgpool]"),)

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
    fvcore = "0: fvcore has no aten::mean handle"
    fvcore_skips = {"aten::mean": "x.mean: fvcore has no handle"}
    examples = (Example((5, 4, 3), "[mean]"),)

    def fvcore_flops(self, ins: list[Shape], out: Shape) -> int:
        return 0
