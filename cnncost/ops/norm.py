"""Normalisation layers: batch norm (trainable affine + running-stat buffers) and AlexNet's LRN."""

from __future__ import annotations

from cnncost.ops.base import Example, Field, Op, ParamCount, Saved, Shape, numel, register, require_chw, saves_input


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
    fvcore = ("aten::batch_norm: with running stats 2 per element with affine (scale and shift), 1 without; "
              "without them (batch statistics) fvcore's estimate, 5 per element with affine, 4 without")
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

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input, and the batch's mean and inverse std per channel (fp32, whatever the batch)."""
        c = out[0]
        return (*saves_input(), Saved("new", elements=c, tag="mean", itemsize=4, per_sample=False),
                Saved("new", elements=c, tag="invstd", itemsize=4, per_sample=False))


@register
class LocalResponseNorm(Op):
    """AlexNet/GoogLeNet local response normalisation across ``size`` neighbouring channels."""

    kind = "lrn"
    aliases = ("local_response_norm",)
    op_class = "norm"
    fields = {
        "size": Field("int", 5, aliases=("n",)),
        "alpha": Field("float", 1e-4),
        "beta": Field("float", 0.75),
        "k": Field("float", 1.0),
    }
    fvcore = "0: torch composes it of mul, avg_pool3d, add, pow and div, which fvcore does not count"
    fvcore_skips = {"aten::avg_pool3d": "LRN's window sum across channels: not counted by fvcore",
                    "aten::div": "LRN's divide: not counted by fvcore",
                    "aten::mul": "LRN's squares and scale: not counted by fvcore",
                    "aten::add": "LRN's shift: not counted by fvcore",
                    "aten::pow": "LRN's power: not counted by fvcore"}
    examples = (Example((7, 6, 5), "[lrn: {size: 3}]"),)
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
        return (*saves_input(), Saved("new", elements=(c + self.size - 1) * h * w, tag="padded"),
                Saved("new", elements=c * h * w, tag="div"), Saved("new", elements=c * h * w, tag="pow"))
