"""Normalisation layers: batch norm (trainable affine + running-stat buffers) and AlexNet's LRN."""

from __future__ import annotations

from cnncost.ops.base import Field, Op, ParamCount, Shape, numel, register


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

    def params(self, ins: list[Shape]) -> ParamCount:
        c = ins[0][0]
        affine = c if self.v["affine"] else 0
        track = self.v["track_running_stats"]
        return ParamCount(affine, affine, 2 * c + 1 if track else 0, 1 if track else 0)

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        c = ins[0][0]
        return (((c,), (c,)) if self.v["affine"] else ()) + (((c,), (c,), ()) if self.v["track_running_stats"] else ())

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        """Inference BN is a per-channel scale and shift: 2 ops per element (1 without affine)."""
        return numel(out) * (2 if self.v["affine"] else 1)

    fvcore_flops = other_ops


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

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        """Per element: square (1), window sum (size), scale and shift (2), power (1), divide (1)."""
        return numel(out) * (self.v["size"] + 5)
