"""Convolution: the layer that carries nearly all of a CNN's multiply-adds."""

from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.ops.base import (
    Example,
    Field,
    Op,
    ParamCount,
    Saved,
    Shape,
    Warn,
    fmt_shape,
    numel,
    register,
    require_chw,
    saves_input,
)
from cnncost.ops.formulas import conv_out_len, same_padding, unread_tail
from cnncost.ops.window import GLOBAL, Window, along, sliding, spatial, transposed


def resolve_padding(
    pad: str | tuple[int, int, int, int],
    hw: tuple[int, int],
    k: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
) -> tuple[int, int, int, int]:
    """Turn a pad field (int pair already expanded, 'same', 'valid') into (top, bottom, left, right)."""
    if pad == "valid":
        return (0, 0, 0, 0)
    if pad == "same":
        return (*same_padding(hw[0], k[0], s[0], d[0]), *same_padding(hw[1], k[1], s[1], d[1]))
    assert isinstance(pad, tuple)
    return pad


def window_out(
    kind: str,
    hw: tuple[int, int],
    k: tuple[int, int],
    s: tuple[int, int],
    pad: tuple[int, int, int, int],
    d: tuple[int, int],
    ceil_mode: bool,
    warn: Warn,
) -> tuple[int, int]:
    """Spatial output of a sliding window, with the errors and warnings users need."""
    out, unread, spans = [], [], []
    for axis, name in ((0, "rows"), (1, "columns")):
        p = (pad[2 * axis], pad[2 * axis + 1])
        n, kk, ss, dd = hw[axis], k[axis], s[axis], d[axis]
        eff = dd * (kk - 1) + 1
        length = conv_out_len(n, kk, ss, p, dd, ceil_mode)
        if length < 1 and eff > n + p[0] + p[1]:
            raise SpecError(
                f"{kind}: kernel {eff} is larger than the padded input {n}+{p[0]}+{p[1]} = {n + p[0] + p[1]} ({name})",
                expected="a kernel that fits its padded input"
                + (f" (with ceil_mode, by at most stride - 1 = {ss - 1})" if ceil_mode else ""),
            )
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
        warn(
            f"stride {s[0] if s[0] == s[1] else s} does not tile the input: {', '.join(spans)}; "
            f"input {' and '.join(unread)} {'is' if len(unread) == 1 and '..' not in unread[0] else 'are'}"
            f" never read"
        )
    return out[0], out[1]


Pad = str | tuple[int, int, int, int]
"""A resolved ``pad`` field: (top, bottom, left, right), or ``same`` / ``valid`` until the input is known."""


def padded_copy(c: int, h: int, w: int, pad: tuple[int, int, int, int]) -> Saved:
    """The ``F.pad`` copy an asymmetrically padded window op works on (and saves)."""
    return Saved("new", elements=c * (h + pad[0] + pad[1]) * (w + pad[2] + pad[3]), tag="padded")


def symmetric(pad: tuple[int, int, int, int]) -> bool:
    return pad[0] == pad[1] and pad[2] == pad[3]


def check_groups(kind: str, c: int, out: int, g: int) -> None:
    """Conv and transposed conv alike: positive channels and groups, groups dividing both sides."""
    if out < 1 or g < 1:
        raise SpecError(f"{kind}: out={out}, groups={g}", expected="positive integers")
    if c % g or out % g:
        raise SpecError(f"{kind}: groups={g} must divide input channels {c} and output channels {out}")


def kernel_label(kind: str, k: tuple[int, int], s: tuple[int, int], groups: int, d: tuple[int, int]) -> str:
    """``conv 3×3/2 g32 d2``: kernel, stride, groups and dilation where they are not 1."""
    text = f"{kind} {k[0]}×{k[1]}" + (f"/{s[0]}" if s[0] == s[1] and s[0] > 1 else "")
    if s[0] != s[1]:
        text += f"/{s[0]}×{s[1]}"
    if groups > 1:
        text += f" g{groups}"
    if d != (1, 1):
        text += f" d{d[0]}" if d[0] == d[1] else f" d{d[0]}×{d[1]}"
    return text


_KERNEL_FIELDS = {
    "out": Field("int", required=True, aliases=("filters", "out_channels"), doc="output channels"),
    "k": Field("pair", required=True, aliases=("kernel", "kernel_size"), doc="kernel: int or [h, w]", min=1),
    "stride": Field("pair", (1, 1), aliases=("s",), min=1),
}
"""The fields a convolution and a transposed convolution share (and ``_DILATION``)."""
_DILATION = Field("pair", (1, 1), aliases=("d",), min=1)


@register
class Conv(Op):
    """2-D convolution; ``groups`` covers grouped (ResNeXt, AlexNet towers) and depthwise."""

    kind = "conv"
    aliases = ("conv2d",)
    op_class = "conv"
    weight_layer = True
    fields = {
        **_KERNEL_FIELDS,
        "pad": Field(
            "pad",
            (0, 0, 0, 0),
            aliases=("padding", "p"),
            doc="int, [h, w], [top, bottom, left, right], same or valid",
            min=0,
        ),
        "dilation": _DILATION,
        "groups": Field("int", 1, aliases=("g",), doc="groups: in_ch is depthwise"),
        "bias": Field("bool", True),
    }
    fvcore = "aten::_convolution: one per multiply-add (output elements × C_in/groups × kh × kw), no bias"
    fvcore_skips = {"aten::pad": "the F.pad before an asymmetrically padded conv (TF 'same'): moves data"}
    examples = (
        Example((4, 9, 11), "[conv: {out: 6, k: 3, pad: 1, groups: 2}]"),
        Example((3, 10, 9), "[conv: {out: 4, k: [3, 2], stride: 2, pad: same, dilation: [1, 2], bias: false}]"),
    )
    out: int
    k: tuple[int, int]
    stride: tuple[int, int]
    pad: Pad
    dilation: tuple[int, int]
    groups: int
    bias: bool

    def padding(self, shape: Shape) -> tuple[int, int, int, int]:
        """The padding this conv applies to a C×H×W input (``same`` depends on the size)."""
        return resolve_padding(self.pad, (shape[1], shape[2]), self.k, self.stride, self.dilation)

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        check_groups(self.kind, c, self.out, self.groups)
        ho, wo = window_out(self.kind, (h, w), self.k, self.stride, self.padding(ins[0]), self.dilation, False, warn)
        return (self.out, ho, wo)

    def params(self, ins: list[Shape]) -> ParamCount:
        kh, kw = self.k
        return ParamCount(self.out * (ins[0][0] // self.groups) * kh * kw, self.out if self.bias else 0)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        (kh, kw) = self.k
        return ((self.out, ins[0][0] // self.groups, kh, kw), *(((self.out,),) if self.bias else ()))

    def macs(self, ins: list[Shape], out: Shape) -> int:
        kh, kw = self.k
        return out[0] * out[1] * out[2] * (ins[0][0] // self.groups) * kh * kw

    fvcore_flops = macs

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input; with asymmetric padding (TF 'same' with stride) the ``F.pad`` copy instead."""
        pad = self.padding(ins[0])
        return saves_input() if symmetric(pad) else (padded_copy(*require_chw(self.kind, ins[0]), pad),)

    def cpu_workspace(self, ins: list[Shape], out: Shape, elem: int, batch: int) -> int:
        """Measured on torch 2.14 with the memory profiler: oneDNN reorders the input to a blocked
        layout (a full copy when it has ≥ 16 channels or groups), the weight, and the output back to
        the plain layout (a second output-sized buffer): transient ≈ max(input copy + weight, output).
        A strided 1×1 conv (ResNet's projection shortcuts) also holds a one-image scratch of its
        output's size (+128 bytes) for the whole call, whatever the batch."""
        in_bytes = numel(ins[0]) * elem * batch
        out_bytes = numel(out) * elem * batch
        copy = in_bytes if ins[0][0] >= 16 or self.groups > 1 else 0
        scratch = numel(out) * elem + 128 if self.k == (1, 1) and self.stride != (1, 1) else 0
        return scratch + max(copy + self.params(ins).weights * elem, out_bytes)

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Output (y, x) reads rows y·s − top + d·t (t < k), columns likewise; every channel of its group."""
        t, _, left, _ = self.padding(ins[0])
        (kh, kw), (sh, sw), (dh, dw) = self.k, self.stride, self.dilation
        return spatial(sliding(kh, sh, t, dh), sliding(kw, sw, left, dw))

    def describe(self) -> str:
        return kernel_label("conv", self.k, self.stride, self.groups, self.dilation)


@register
class Linear(Op):
    """Fully connected layer on a flat input (put a ``flatten`` before it), or with ``dims: last`` over
    the last dimension of any input: each position of a channels-last map (ConvNeXt's MLP after a
    ``permute``)."""

    kind = "linear"
    aliases = ("fc", "dense")
    op_class = "linear"
    weight_layer = True
    fields = {
        "out": Field("int", required=True, aliases=("out_features", "units"), doc="output features", min=1),
        "bias": Field("bool", True),
        "dims": Field(
            "choice",
            "flat",
            choices=("flat", "last"),
            doc="flat: a 1-D input only (a feature map is an error); last: the last dimension of any input",
        ),
    }
    fvcore = "aten::addmm / aten::linear: one per multiply-add (input elements / in features × in × out), no bias"
    examples = (
        Example((12,), "[linear: {out: 5}]"),
        Example((7,), "[linear: {out: 3, bias: false}]"),
        Example((4, 5, 6), "[linear: {out: 3, dims: last}]"),
        Example((3, 4, 5), "[linear: {out: 2, bias: false, dims: last}]"),
        Example((9,), "[linear: {out: 4, dims: last}]"),
    )
    out: int
    bias: bool
    dims: str

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if self.dims == "flat" and len(ins[0]) != 1:
            raise SpecError(
                f"linear needs a flat input, got {fmt_shape(ins[0])}",
                expected="a flatten (or global pool + flatten) before it, or dims: last to apply it "
                "over the last dimension (a channels-last map after a permute)",
            )
        return (*ins[0][:-1], self.out)

    def params(self, ins: list[Shape]) -> ParamCount:
        return ParamCount(ins[0][-1] * self.out, self.out if self.bias else 0)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        return ((self.out, ins[0][-1]), *(((self.out,),) if self.bias else ()))

    def macs(self, ins: list[Shape], out: Shape) -> int:
        """(input elements / in features) positions × in × out."""
        return numel(ins[0]) * self.out

    fvcore_flops = macs

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input (for the weight gradient)."""
        # Not modelled: on a non-contiguous input (dims: last straight after a permute) torch's matmul
        # saves a contiguous copy, a new tensor, instead. ConvNeXt's LayerNorm sits between the two.
        return saves_input()

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Flat: every input element. ``dims: last``: every position of the last axis, the others kept
        (after ConvNeXt's permute to H×W×C the last axis is the channels: positions stay apart)."""
        return GLOBAL if self.dims == "flat" else along(len(ins[0]), -1)

    def describe(self) -> str:
        return "linear"


@register
class ConvTranspose(Op):
    """Transposed 2-D convolution (``nn.ConvTranspose2d``: FCN/UNet up-sampling); output per axis
    (n − 1)·stride − 2·pad + dilation·(k − 1) + output_padding + 1."""

    kind = "conv_transpose"
    aliases = ("conv_transpose2d",)
    op_class = "conv"
    weight_layer = True
    fields = {
        **_KERNEL_FIELDS,
        "pad": Field("pair", (0, 0), aliases=("padding", "p"), doc="int or [h, w]: removed from each side", min=0),
        "output_padding": Field("pair", (0, 0), doc="added at the bottom and right; below stride or dilation", min=0),
        "groups": Field("int", 1, aliases=("g",)),
        "dilation": _DILATION,
        "bias": Field("bool", True),
    }
    fvcore = "aten::_convolution (transposed): one per multiply-add, input elements × C_out/groups × kh × kw, no bias"
    examples = (
        Example((6, 5, 7), "[conv_transpose: {out: 4, k: 3, stride: 2, pad: 1, output_padding: 1}]"),
        Example(
            (6, 4, 3),
            "[conv_transpose: {out: 4, k: [3, 2], stride: [2, 3], pad: [1, 0], output_padding: [1, 2], "
            "groups: 2, dilation: [1, 2], bias: false}]",
        ),
        Example((3, 4, 4), "[conv_transpose: {out: 5, k: 2, stride: 2}]"),
    )
    out: int
    k: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    output_padding: tuple[int, int]
    groups: int
    dilation: tuple[int, int]
    bias: bool

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        check_groups(self.kind, c, self.out, self.groups)
        if min(*self.k, *self.stride, *self.dilation) < 1 or min(*self.pad, *self.output_padding) < 0:
            raise SpecError(
                f"conv_transpose: k={list(self.k)}, stride={list(self.stride)}, "
                f"dilation={list(self.dilation)}, pad={list(self.pad)}, "
                f"output_padding={list(self.output_padding)}",
                expected="k, stride, dilation ≥ 1 and pad, output_padding ≥ 0",
            )
        sizes = []
        for n, k, s, p, op, d, name in zip(
            (h, w), self.k, self.stride, self.pad, self.output_padding, self.dilation, ("rows", "columns"), strict=True
        ):
            if op >= max(s, d):
                raise SpecError(
                    f"conv_transpose: output_padding {op} with stride {s} and dilation {d} ({name})",
                    expected="output_padding below the stride or the dilation (torch's rule)",
                )
            length = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            if length < 1:
                raise SpecError(
                    f"conv_transpose: output size {length} below 1 ({name}): "
                    f"({n}-1)·{s} - 2·{p} + {d}·({k}-1) + {op} + 1",
                    expected="less padding",
                )
            sizes.append(length)
        return (self.out, sizes[0], sizes[1])

    def params(self, ins: list[Shape]) -> ParamCount:
        kh, kw = self.k
        return ParamCount(ins[0][0] * (self.out // self.groups) * kh * kw, self.out if self.bias else 0)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        """torch's transposed weight: C_in × C_out/groups × kh × kw."""
        kh, kw = self.k
        return ((ins[0][0], self.out // self.groups, kh, kw), *(((self.out,),) if self.bias else ()))

    def macs(self, ins: list[Shape], out: Shape) -> int:
        """Each input element meets C_out/groups × kh × kw weights (fvcore's and FlopCounterMode's rule)."""
        kh, kw = self.k
        return numel(ins[0]) * (self.out // self.groups) * kh * kw

    fvcore_flops = macs

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input (for the weight gradient)."""
        return saves_input()

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Output o reads every input i with o + pad − d·t = i·stride: a tap set that repeats every
        ``stride`` outputs (the field's jump is the input's divided by the stride)."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.k, self.stride, self.pad, self.dilation
        return spatial(transposed(kh, sh, ph, dh), transposed(kw, sw, pw, dw))

    def describe(self) -> str:
        return kernel_label("conv_transpose", self.k, self.stride, self.groups, (1, 1))
