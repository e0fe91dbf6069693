"""Convolution: the layer that carries nearly all of a CNN's multiply-adds."""

from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.ops.base import Field, Op, ParamCount, Shape, Warn, fmt_shape, register, require_chw
from cnncost.ops.formulas import conv_out_len, same_padding, unread_tail


def resolve_padding(pad: object, hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
                    d: tuple[int, int]) -> tuple[int, int, int, int]:
    """Turn a pad field (int pair already expanded, 'same', 'valid') into (top, bottom, left, right)."""
    if pad == "valid":
        return (0, 0, 0, 0)
    if pad == "same":
        return (*same_padding(hw[0], k[0], s[0], d[0]), *same_padding(hw[1], k[1], s[1], d[1]))
    assert isinstance(pad, tuple)
    return pad  # type: ignore[return-value]


def window_out(kind: str, hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
               pad: tuple[int, int, int, int], d: tuple[int, int], ceil_mode: bool,
               warn: Warn) -> tuple[int, int]:
    """Spatial output of a sliding window, with the errors and warnings users need."""
    out, unread, spans = [], [], []
    for axis, name in ((0, "rows"), (1, "columns")):
        p = (pad[2 * axis], pad[2 * axis + 1])
        n, kk, ss, dd = hw[axis], k[axis], s[axis], d[axis]
        eff = dd * (kk - 1) + 1
        if eff > n + p[0] + p[1]:
            raise SpecError(
                f"{kind}: kernel {eff} is larger than the padded input {n}+{p[0]}+{p[1]} = "
                f"{n + p[0] + p[1]} ({name})", expected="a kernel that fits its padded input")
        length = conv_out_len(n, kk, ss, p, dd, ceil_mode)
        if length < 1:
            raise SpecError(f"{kind}: output size {length} below 1 ({name})")
        tail = 0 if ceil_mode or kk < ss else unread_tail(n, kk, ss, p, dd)
        if tail:
            first = n - tail
            unread.append(f"{name} {first}" + (f"..{n - 1}" if tail > 1 else ""))
            span = f"({n}+{p[0] + p[1]}-{eff})/{ss}+1 = {(n + p[0] + p[1] - eff) / ss + 1:.2f}"
            if span not in spans:
                spans.append(span)
        out.append(length)
    if unread:
        warn(f"stride {s[0] if s[0] == s[1] else s} does not tile the input: {', '.join(spans)}; "
             f"input {' and '.join(unread)} {'is' if len(unread) == 1 and '..' not in unread[0] else 'are'}"
             f" never read")
    return out[0], out[1]


@register
class Conv(Op):
    """2-D convolution; ``groups`` covers grouped (ResNeXt, AlexNet towers) and depthwise."""

    kind = "conv"
    aliases = ("conv2d",)
    op_class = "conv"
    fields = {
        "out": Field("int", required=True, aliases=("filters", "out_channels"), doc="output channels"),
        "k": Field("pair", required=True, aliases=("kernel", "kernel_size"), doc="kernel: int or [h, w]"),
        "stride": Field("pair", (1, 1), aliases=("s",)),
        "pad": Field("pad", (0, 0, 0, 0), aliases=("padding", "p")),
        "dilation": Field("pair", (1, 1), aliases=("d",)),
        "groups": Field("int", 1, aliases=("g",)),
        "bias": Field("bool", True),
    }

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        g, out = self.v["groups"], self.v["out"]
        if out < 1 or g < 1:
            raise SpecError(f"conv: out={out}, groups={g}", expected="positive integers")
        if c % g or out % g:
            raise SpecError(f"conv: groups={g} must divide input channels {c} and output channels {out}")
        k, s, d = self.v["k"], self.v["stride"], self.v["dilation"]
        self.padding = resolve_padding(self.v["pad"], (h, w), k, s, d)
        ho, wo = window_out(self.kind, (h, w), k, s, self.padding, d, False, warn)
        return (out, ho, wo)

    def params(self, ins: list[Shape]) -> ParamCount:
        c = ins[0][0]
        kh, kw = self.v["k"]
        weights = self.v["out"] * (c // self.v["groups"]) * kh * kw
        return ParamCount(weights, self.v["out"] if self.v["bias"] else 0)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        out, (kh, kw) = self.v["out"], self.v["k"]
        return ((out, ins[0][0] // self.v["groups"], kh, kw), *(((out,),) if self.v["bias"] else ()))

    def macs(self, ins: list[Shape], out: Shape) -> int:
        kh, kw = self.v["k"]
        return out[0] * out[1] * out[2] * (ins[0][0] // self.v["groups"]) * kh * kw

    fvcore_flops = macs

    def describe(self) -> str:
        kh, kw = self.v["k"]
        s = self.v["stride"]
        text = f"conv {kh}×{kw}" + (f"/{s[0]}" if s == (s[0], s[0]) and s[0] > 1 else "")
        if s[0] != s[1]:
            text += f"/{s[0]}×{s[1]}"
        if self.v["groups"] > 1:
            text += f" g{self.v['groups']}"
        return text


@register
class Linear(Op):
    """Fully connected layer on a flat input (put a ``flatten`` before it)."""

    kind = "linear"
    aliases = ("fc", "dense")
    op_class = "linear"
    fields = {
        "out": Field("int", required=True, aliases=("out_features", "units"), doc="output features"),
        "bias": Field("bool", True),
    }

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if len(ins[0]) != 1:
            raise SpecError(f"linear needs a flat input, got {fmt_shape(ins[0])}",
                            expected="a flatten (or global pool + flatten) before it")
        return (self.v["out"],)

    def params(self, ins: list[Shape]) -> ParamCount:
        return ParamCount(ins[0][0] * self.v["out"], self.v["out"] if self.v["bias"] else 0)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        out = self.v["out"]
        return ((out, ins[0][0]), *(((out,),) if self.v["bias"] else ()))

    def macs(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] * self.v["out"]

    fvcore_flops = macs

    def describe(self) -> str:
        return "linear"
