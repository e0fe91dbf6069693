"""Spec op → torch module, one small builder per op kind (the analytical ops stay torch-free)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cnncost import ops
from cnncost.errors import SpecError
from cnncost.ops.activation import ELU, GELU, Activation, LeakyReLU, Softmax
from cnncost.ops.base import Op, Shape, op_classes
from cnncost.ops.conv import Conv, ConvTranspose, Linear
from cnncost.ops.merge import Elementwise
from cnncost.ops.norm import BatchNorm, GroupNorm, LayerNorm, LocalResponseNorm
from cnncost.ops.pool import AvgPool, MaxPool
from cnncost.ops.resample import Upsample
from cnncost.ops.shape import ChannelShuffle, Dropout, LayerScale, Pad, Permute, ZeroPad

Builder = Callable[[Op, list[Shape], Shape], nn.Module]
BUILDERS: dict[str, Builder] = {}


def builds(*kinds: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        for k in kinds:
            BUILDERS[k] = fn
        return fn

    return deco


def to_module(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    """The torch module that runs ``op`` exactly as the analysis counts it."""
    builder = BUILDERS.get(op.kind)
    if builder is None:  # tests/test_registry.py makes this unreachable for registered ops
        raise AssertionError(f"no torch builder for op {op.kind!r}: register one with @builds")
    return builder(op, ins, out)


def missing_builders() -> list[str]:
    """Registered op kinds (not aliases) that have no torch builder: a bug, caught by the registry test."""
    return sorted(cls.kind for cls in op_classes() if cls.kind not in BUILDERS)


def _symmetric(pad: tuple[int, int, int, int]) -> tuple[int, int] | None:
    t, b, left, r = pad
    return (t, left) if t == b and left == r else None


class Padded(nn.Sequential):
    """Asymmetric ('same' with stride) padding before a window op, as TensorFlow pads."""

    def __init__(self, pad: tuple[int, int, int, int], inner: nn.Module, value: float = 0.0) -> None:
        super().__init__()
        self.pad = (pad[2], pad[3], pad[0], pad[1])
        self.value = value
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(F.pad(x, self.pad, value=self.value))


@builds("conv")
def _conv(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Conv)
    pad = op.padding(ins[0])
    sym = _symmetric(pad)
    conv = nn.Conv2d(ins[0][0], op.out, op.k, op.stride, sym or 0, op.dilation, op.groups, op.bias)
    return conv if sym is not None else Padded(pad, conv)


@builds("conv_transpose")
def _conv_transpose(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, ConvTranspose)
    return nn.ConvTranspose2d(
        ins[0][0], op.out, op.k, op.stride, op.pad, op.output_padding, op.groups, op.bias, op.dilation
    )


@builds("linear")
def _linear(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Linear)
    return nn.Linear(ins[0][-1], op.out, bias=op.bias)  # the last axis: flat, or dims: last


@builds("bn")
def _bn(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, BatchNorm)
    cls = nn.BatchNorm2d if len(ins[0]) == 3 else nn.BatchNorm1d
    return cls(
        ins[0][0], eps=op.eps, momentum=op.momentum, affine=op.affine, track_running_stats=op.track_running_stats
    )


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an N×C×H×W map, as torchvision's ConvNeXt writes it: permute to
    channels-last, ``F.layer_norm`` over C, permute back (the output keeps channels-last strides)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


@builds("layernorm")
def _layernorm(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, LayerNorm)
    if op.dims == "channels":
        return LayerNorm2d(ins[0][0], eps=op.eps, elementwise_affine=op.affine)
    return nn.LayerNorm(ins[0][-1], eps=op.eps, elementwise_affine=op.affine)


@builds("groupnorm")
def _groupnorm(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, GroupNorm)
    return nn.GroupNorm(op.groups, ins[0][0], eps=op.eps, affine=op.affine)


@builds("lrn")
def _lrn(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, LocalResponseNorm)
    return nn.LocalResponseNorm(op.size, op.alpha, op.beta, op.k)


_ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
}


@builds(*_ACTIVATIONS)
def _act(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Activation)
    return _ACTIVATIONS[op.kind](inplace=op.inplace)


@builds("leaky_relu")
def _leaky(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, LeakyReLU)
    return nn.LeakyReLU(op.negative_slope, inplace=op.inplace)


@builds("elu")
def _elu(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, ELU)
    return nn.ELU(op.alpha, inplace=op.inplace)


@builds("sigmoid", "tanh")
def _pure(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[op.kind]()


@builds("gelu")
def _gelu(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, GELU)
    return nn.GELU(approximate=op.approximate)


@builds("softmax")
def _softmax(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Softmax)
    return nn.Softmax(dim=op.dim + 1)


@builds("maxpool")
def _maxpool(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, MaxPool)
    pad = op.padding(ins[0])
    sym = _symmetric(pad)
    pool = nn.MaxPool2d(op.k, op.window_stride, sym or 0, op.dilation, ceil_mode=op.ceil_mode)
    return pool if sym is not None else Padded(pad, pool, float("-inf"))


@builds("avgpool")
def _avgpool(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, AvgPool)
    sym = _symmetric(op.padding(ins[0]))
    if sym is None:
        raise SpecError("avgpool: asymmetric padding has no torch equivalent", expected="symmetric padding")
    return nn.AvgPool2d(op.k, op.window_stride, sym, ceil_mode=op.ceil_mode, count_include_pad=op.count_include_pad)


@builds("adaptive_avgpool", "global_avgpool")
def _adaptive_avg(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return nn.AdaptiveAvgPool2d(out[1:])


class SpatialMean(nn.Module):
    """``x.mean((2, 3), keepdim=True)`` (timm's SE squeeze)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3), keepdim=True)


@builds("mean")
def _mean(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return SpatialMean()


@builds("adaptive_maxpool")
def _adaptive_max(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return nn.AdaptiveMaxPool2d(out[1:])


@builds("upsample")
def _upsample(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Upsample)
    corners = op.align_corners if op.mode == "bilinear" else None
    return nn.Upsample(size=op.size, scale_factor=op.scale, mode=op.mode, align_corners=corners)


@builds("flatten")
def _flatten(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return nn.Flatten(1)


@builds("dropout")
def _dropout(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Dropout)
    return nn.Dropout(op.p, inplace=op.inplace)


@builds("identity")
def _identity(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return nn.Identity()


class OpaqueModule(nn.Module):
    """Stands for a call cnncost cannot count: zeros of the shape torch computed for it."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((x.shape[0], *self.shape))


@builds("opaque")
def _opaque(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return OpaqueModule(out)


@builds("zeropad")
def _zeropad(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, ZeroPad) and not isinstance(op.pad, str)
    t, b, left, r = op.pad
    return nn.ZeroPad2d((left, r, t, b))


class Concat(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, 1)


class Fold(nn.Module):
    """``a ∘ b ∘ ...`` for an element-wise ``∘``; in place (``a += b``) where the spec says so,
    as torchvision's ResNet does."""

    def __init__(self, name: str, inplace: bool) -> None:
        super().__init__()
        self.op = getattr(torch.Tensor, name + "_" if inplace else name)

    def forward(self, first: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        out = first
        for x in rest:
            out = self.op(out, x)
        return out


class Sub(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b


class Scale(nn.Module):
    def __init__(self, value: float, inplace: bool) -> None:
        super().__init__()
        self.value = value
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul_(self.value) if self.inplace else x * self.value


@builds("sub")
def _sub(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return Sub()


@builds("scale")
def _scale(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, ops.shape.Scale)
    return Scale(op.value, op.inplace)


class ChannelPad(nn.Module):
    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class ChannelSlice(nn.Module):
    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start : self.stop]


@builds("chanpad")
def _chanpad(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return ChannelPad(out[0] - ins[0][0])


@builds("slice")
def _slice(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, ops.shape.ChannelSlice)
    return ChannelSlice(op.start, op.stop)


@builds("concat")
def _concat(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    return Concat()


@builds("add", "mul")
def _fold(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Elementwise)
    return Fold(op.kind, op.inplace)


class LayerScaleMul(nn.Module):
    """``γ * x`` with a learnable γ of shape C×1×1 (torchvision's CNBlock ``layer_scale``) or C (last axis)."""

    def __init__(self, shape: Shape, init: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x


@builds("layer_scale")
def _layer_scale(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, LayerScale)
    return LayerScaleMul(op.weight_shapes(ins)[0], op.init)


class PermuteAxes(nn.Module):
    """``x.permute(0, ...)``: the spec's order, batch axis first (torchvision's ``Permute``)."""

    def __init__(self, order: tuple[int, ...]) -> None:
        super().__init__()
        self.order = (0, *(i + 1 for i in order))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.order)


@builds("permute")
def _permute(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Permute)
    return PermuteAxes(op.order)


class Shuffle(nn.Module):
    """torchvision's ShuffleNetV2 ``channel_shuffle``: view, transpose, contiguous, view."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.size()
        x = x.view(n, self.groups, c // self.groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(n, c, h, w)


@builds("channel_shuffle")
def _channel_shuffle(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, ChannelShuffle)
    return Shuffle(op.groups)


class FPad(nn.Module):
    """``F.pad`` of the last two axes with a mode (and a fill for ``constant``)."""

    def __init__(self, pad: tuple[int, int, int, int], mode: str, value: float) -> None:
        super().__init__()
        t, b, left, r = pad
        self.pad, self.mode, self.value = (left, r, t, b), mode, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "constant":
            return F.pad(x, self.pad, value=self.value)
        return F.pad(x, self.pad, mode=self.mode)


@builds("pad")
def _pad(op: Op, ins: list[Shape], out: Shape) -> nn.Module:
    assert isinstance(op, Pad) and not isinstance(op.pad, str)
    return FPad(op.pad, op.mode, op.value)
