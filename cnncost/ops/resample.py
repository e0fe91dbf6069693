"""Resampling a feature map to another size: ``upsample`` (torch ``nn.Upsample`` / ``F.interpolate``)."""

from __future__ import annotations

import math
from fractions import Fraction

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
    numel,
    register,
    require_chw,
)
from cnncost.ops.window import Taps, Window, bilinear, nearest, spatial

FVCORE_PER_OUTPUT = {"nearest": 1, "bilinear": 4}
"""fvcore's ``upsample_nearest2d`` / ``upsample_bilinear2d`` handles: ops per output element."""


@register
class Upsample(Op):
    """Nearest or bilinear interpolation to ``size`` or by ``scale`` (FCN/DeepLab heads, FPNs, UNets).

    With ``scale`` the output is ``floor(n · scale)`` per axis, as torch computes it (in double
    precision): 7 × 1.5 → 10. Counted as fvcore counts it: 1 op per output element (nearest),
    4 (bilinear); no MACs; autograd saves nothing (the backward needs only the sizes).
    """

    kind = "upsample"
    aliases = ("interpolate",)
    op_class = "elementwise"
    fields = {
        "scale": Field("float", None, aliases=("scale_factor",), doc="output = floor(input × scale)"),
        "size": Field("pair", None, doc="output H×W: int or [h, w]", min=1),
        "mode": Field("choice", "nearest", choices=("nearest", "bilinear")),
        "align_corners": Field("bool", False, doc="bilinear only: corners of input and output coincide"),
    }
    fvcore = "aten::upsample_nearest2d: 1 per output element; aten::upsample_bilinear2d: 4 per output element"
    examples = (
        Example((3, 5, 7), "[upsample: {scale: 2}]"),
        Example((2, 7, 5), "[upsample: {scale: 1.5, mode: bilinear}]"),
        Example((2, 6, 6), "[upsample: {size: [11, 4], mode: bilinear, align_corners: true}]"),
    )
    scale: float | None
    size: tuple[int, int] | None
    mode: str
    align_corners: bool

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        if (self.scale is None) == (self.size is None):
            raise SpecError(
                "upsample needs exactly one of 'scale' or 'size'",
                expected="{upsample: {scale: 2}} or {upsample: {size: [h, w]}}",
            )
        if self.align_corners and self.mode == "nearest":
            raise SpecError(
                "upsample: align_corners applies to mode bilinear only", expected="mode: bilinear, or no align_corners"
            )
        if self.size is not None:
            oh, ow = self.size
        else:
            assert self.scale is not None
            if not self.scale > 0:
                raise SpecError(f"upsample: scale {self.scale}", expected="a positive factor")
            fh, fw = float(h) * self.scale, float(w) * self.scale
            if not (math.isfinite(fh) and math.isfinite(fw)):
                raise SpecError(
                    f"upsample: scale {self.scale:g} of {h}×{w} is past the largest float",
                    expected="a smaller factor",
                )
            oh, ow = int(fh), int(fw)
        if oh < 1 or ow < 1:
            raise SpecError(f"upsample: output {oh}×{ow} from {h}×{w}", expected="an output of at least 1×1")
        return (c, oh, ow)

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out) * FVCORE_PER_OUTPUT[self.mode]

    fvcore_flops = other_ops

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the backward needs only the input and output sizes."""
        return SAVES_NOTHING

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """torch's source coordinate per axis: ``o · ratio`` with ratio input/output size, or 1/scale when
        the scale is given (torch's rule; the scale as the small fraction it was meant to be); bilinear
        reads the two neighbours of ``(o + ½)·ratio − ½`` (``o·(n − 1)/(m − 1)`` with align_corners).
        The jump of the field is the input's times the ratio."""
        (_, h, w), (_, oh, ow) = ins[0], out
        return spatial(self._taps(h, oh), self._taps(w, ow), mixes_channels=False)

    def _taps(self, n: int, m: int) -> Taps:
        if self.mode == "bilinear" and self.align_corners:
            return bilinear(Fraction(n - 1, m - 1) if m > 1 else Fraction(0), align_corners=True)
        if self.scale is not None and n != m:
            ratio = 1 / Fraction(self.scale).limit_denominator(10**6)
        else:
            ratio = Fraction(n, m)
        return nearest(ratio) if self.mode == "nearest" else bilinear(ratio, align_corners=False)

    def describe(self) -> str:
        how = f"×{self.scale:g}" if self.scale is not None else "to " + fmt_shape(self.size or ())
        return f"upsample {self.mode} {how}"
