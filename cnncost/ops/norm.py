"""Normalisation layers: batch norm (trainable affine + running-stat buffers), AlexNet's LRN, and the
normalisations without running statistics: layer norm (ConvNeXt) and group norm."""

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
    identity_window,
    numel,
    register,
    require_chw,
    saves_input,
)
from cnncost.ops.window import GLOBAL, IDENTITY, Window, along


@register
class BatchNorm(Op):
    """Batch norm over channels. Buffers as torch keeps them: mean, var, num_batches_tracked."""

    kind = "bn"
    aliases = ("batchnorm", "batch_norm")
    op_class = "bn"
    fields = {
        "affine": Field("bool", True),
        "eps": Field("float", 1e-5),
        "momentum": Field("float", 0.1),
        "track_running_stats": Field("bool", True),
    }
    fvcore = (
        "aten::batch_norm: with running stats 2 per element with affine (scale and shift), 1 without; "
        "without them (batch statistics) fvcore's estimate, 5 per element with affine, 4 without"
    )
    examples = (
        Example((6, 5, 7), "[bn]"),
        Example((4, 3, 3), "[bn: {affine: false}]"),
        Example((10,), "[bn]"),
        Example((3, 4, 4), "[bn: {track_running_stats: false}]"),
    )
    affine: bool
    eps: float
    momentum: float
    track_running_stats: bool

    def params(self, ins: list[Shape]) -> ParamCount:
        c = ins[0][0]
        affine = c if self.affine else 0
        track = self.track_running_stats
        return ParamCount(affine, affine, 2 * c + 1 if track else 0, 1 if track else 0)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        c = ins[0][0]
        return (((c,), (c,)) if self.affine else ()) + (((c,), (c,), ()) if self.track_running_stats else ())

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        """Inference BN is a per-channel scale and shift: 2 ops per element (1 without affine). Without
        running stats it normalises with the batch's own statistics: fvcore's estimate, 5 (4) per element."""
        if not self.track_running_stats:
            return numel(out) * (5 if self.affine else 4)
        return numel(out) * (2 if self.affine else 1)

    fvcore_flops = other_ops

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """With running statistics (inference), a per-channel scale and shift; without, it normalises
        with the batch's statistics, which every position enters."""
        return IDENTITY if self.track_running_stats else GLOBAL

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input, and the batch's mean and inverse std per channel (fp32, whatever the batch)."""
        c = out[0]
        return (
            *saves_input(),
            Saved("new", elements=c, tag="mean", itemsize=4, per_sample=False),
            Saved("new", elements=c, tag="invstd", itemsize=4, per_sample=False),
        )


@register
class LocalResponseNorm(Op):
    """AlexNet/GoogLeNet local response normalisation across ``size`` neighbouring channels."""

    kind = "lrn"
    aliases = ("local_response_norm",)
    op_class = "norm"
    fields = {
        "size": Field("int", 5, aliases=("n",), min=1),
        "alpha": Field("float", 1e-4),
        "beta": Field("float", 0.75),
        "k": Field("float", 1.0),
    }
    fvcore = "0: torch composes it of mul, avg_pool3d, add, pow and div, which fvcore does not count"
    fvcore_skips = {
        "aten::avg_pool3d": "LRN's window sum across channels: not counted by fvcore",
        "aten::div": "LRN's divide: not counted by fvcore",
        "aten::mul": "LRN's squares and scale: not counted by fvcore",
        "aten::add": "LRN's shift: not counted by fvcore",
        "aten::pow": "LRN's power: not counted by fvcore",
    }
    examples = (Example((7, 6, 5), "[lrn: {size: 3}]"),)
    window = identity_window  # across neighbouring channels only
    size: int
    alpha: float
    beta: float
    k: float

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        """Per element: square (1), window sum (size), scale and shift (2), power (1), divide (1)."""
        return numel(out) * (self.size + 5)

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """torch's LRN is composed: it saves the input, the channel-padded squares and two maps."""
        c, h, w = require_chw(self.kind, ins[0])
        return (
            *saves_input(),
            Saved("new", elements=(c + self.size - 1) * h * w, tag="padded"),
            Saved("new", elements=c * h * w, tag="div"),
            Saved("new", elements=c * h * w, tag="pow"),
        )


STAT_BYTES = 4
"""Layer and group norm keep their per-row mean and 1/std in fp32 (torch's accumulate type on CUDA)."""


class StatNorm(Op):
    """A norm that computes its statistics from the sample itself (no buffers): layer and group norm.

    fvcore's ``norm_flop_counter(2)``: 5 ops per input element with an affine weight, 4 without;
    the ``all`` count uses the same estimate.
    """

    op_class = "norm"
    eps: float
    affine: bool

    def channels(self, ins: list[Shape]) -> int:
        """The size of the affine weight and bias."""
        raise NotImplementedError

    def rows(self, ins: list[Shape]) -> int:
        """How many means (and 1/stds) torch keeps per sample."""
        raise NotImplementedError

    def params(self, ins: list[Shape]) -> ParamCount:
        c = self.channels(ins) if self.affine else 0
        return ParamCount(c, c)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        c = self.channels(ins)
        return ((c,), (c,)) if self.affine else ()

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(ins[0]) * (5 if self.affine else 4)

    fvcore_flops = other_ops

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input, and the mean and 1/std of every normalised row (fp32): H·W of each per sample
        for ``layernorm`` over channels, one per vector over the last axis, ``groups`` for ``groupnorm``."""
        rows = self.rows(ins)
        return (
            *saves_input(),
            Saved("new", elements=rows, tag="mean", itemsize=STAT_BYTES),
            Saved("new", elements=rows, tag="rstd", itemsize=STAT_BYTES),
        )


@register
class LayerNorm(StatNorm):
    """Layer norm over channels (ConvNeXt's ``LayerNorm2d``: permute to channels-last, ``F.layer_norm``
    over C, permute back) or over the last axis (``nn.LayerNorm`` after a ``permute``, or on a vector).

    Normalises each position's C values with their own mean and variance; with ``affine``, a weight
    and a bias of size C (2·C params), no buffers.
    """

    kind = "layernorm"
    aliases = ("layer_norm",)
    fields = {
        "dims": Field(
            "choice",
            "channels",
            choices=("channels", "last"),
            doc="channels: over C of a C×H×W map; last: over the last axis",
        ),
        "eps": Field("float", 1e-5, doc="torch's default; ConvNeXt uses 1e-6"),
        "affine": Field("bool", True, aliases=("elementwise_affine",), doc="a weight and a bias per channel"),
    }
    fvcore = "aten::layer_norm: 5 per input element with affine, 4 without (fvcore's estimate)"
    examples = (
        Example((6, 5, 7), "[layernorm: {eps: 1e-6}]"),
        Example((3, 1, 1), "[layernorm: {affine: false}]"),
        Example((7,), "[layernorm: {dims: last}]"),
        Example(
            (5, 3, 7),
            "[permute: {order: [1, 2, 0]}, layernorm: {dims: last, affine: false}, permute: {order: [2, 0, 1]}]",
        ),
    )
    dims: str
    eps: float
    affine: bool

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if self.dims == "channels" and len(ins[0]) != 3:
            raise SpecError(
                f"layernorm over channels needs a C×H×W input, got {fmt_shape(ins[0])}",
                expected="a feature map, or dims: last for a vector",
            )
        return ins[0]

    def channels(self, ins: list[Shape]) -> int:
        return ins[0][0] if self.dims == "channels" else ins[0][-1]

    def rows(self, ins: list[Shape]) -> int:
        return numel(ins[0]) // self.channels(ins)

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Each position's own statistics over channels: positions stay apart. Over the last axis, that
        axis is read whole (the channels after a permute to H×W×C; W on a C×H×W map)."""
        return IDENTITY if self.dims == "channels" else along(len(ins[0]), -1)

    def describe(self) -> str:
        return "layernorm" + (" (last axis)" if self.dims == "last" else "")


@register
class GroupNorm(StatNorm):
    """Group norm (``nn.GroupNorm``): the channels in ``groups`` groups, each normalised over its
    channels and positions; with ``affine`` a weight and a bias per channel (2·C params), no buffers."""

    kind = "groupnorm"
    aliases = ("group_norm",)
    fields = {
        "groups": Field("int", required=True, aliases=("num_groups", "g"), doc="must divide the channels"),
        "eps": Field("float", 1e-5),
        "affine": Field("bool", True),
    }
    fvcore = "aten::group_norm: 5 per input element with affine, 4 without (fvcore's estimate)"
    examples = (
        Example((6, 5, 7), "[groupnorm: {groups: 3}]"),
        Example((4, 3, 3), "[groupnorm: {groups: 4, affine: false}]"),
        Example((6,), "[groupnorm: {groups: 2}]"),
    )
    groups: int
    eps: float
    affine: bool

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c = ins[0][0]
        if self.groups < 1 or c % self.groups:
            raise SpecError(
                f"groupnorm: groups={self.groups} does not divide the {c} channels",
                expected="a positive divisor of the channels",
            )
        return ins[0]

    def channels(self, ins: list[Shape]) -> int:
        return ins[0][0]

    def rows(self, ins: list[Shape]) -> int:
        return self.groups

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Each group's statistics take every position."""
        return GLOBAL

    def describe(self) -> str:
        return f"groupnorm g{self.groups}"
