"""Where a timed step sits on the device's roofline: the arithmetic of ``cnncost bench``, without torch.

Kept apart from the timing so that the figures a run reports follow from the analysis alone. Method: docs/bench.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.analysis.conventions import DTYPES
from cnncost.analysis.cost import Analysis, analyze_graph
from cnncost.analysis.memory import memory

TRAIN_MAC_FACTOR = 3
"""A training step ≈ 3 × the forward MACs: forward, gradient w.r.t. inputs, gradient w.r.t. weights."""


@dataclass(frozen=True)
class Roof:
    """The device's peak FLOP/s and memory bandwidth for this dtype, and where they come from."""

    flops: float | None
    flops_kind: str
    flops_source: str
    bandwidth: float | None
    bandwidth_source: str

    @property
    def ridge(self) -> float | None:
        """FLOP per byte above which a kernel is compute-bound."""
        return ridge_point(self.flops, self.bandwidth)


def ridge_point(flops: float | None, bandwidth: float | None) -> float | None:
    """Peak FLOP/s / bandwidth (FLOP per byte); None when either is unknown."""
    return flops / bandwidth if flops and bandwidth else None


def bound(intensity: float, ridge: float | None) -> str | None:
    """``compute-bound`` at or above the ridge, ``memory-bound`` below; None without a ridge."""
    if not ridge:
        return None
    return "compute-bound" if intensity >= ridge else "memory-bound"


def macs_per_step(macs_per_sample: int, batch: int, mode: str) -> int:
    """MACs of one timed call: forward × batch, × ``TRAIN_MAC_FACTOR`` for a training step."""
    return macs_per_sample * batch * (TRAIN_MAC_FACTOR if mode == "training" else 1)


@dataclass(frozen=True)
class StepCost:
    """What the engine says one timed call computes and moves; field names are ``BenchResult``'s."""

    macs_per_sample: int
    macs_per_step: int
    params: int
    activations_per_sample: int
    dtype_bytes: int
    bytes_moved: int
    """params × dtype bytes + activations × dtype bytes × batch (forward pass)."""
    arithmetic_intensity: float
    """forward FLOPs / bytes_moved."""
    activation_bytes: int
    ridge_point: float | None
    bound: str | None


def step_cost(a: Analysis, batch: int, dtype: str, mode: str, ridge: float | None) -> StepCost:
    """The roofline figures of one step of ``a`` (analysed at batch 1) at ``batch``, against ``ridge``."""
    b = DTYPES[dtype]
    macs1, params, acts1 = a.totals.macs, a.totals.params, a.totals.activations
    moved = params * b + acts1 * b * batch
    intensity = 2 * macs1 * batch / moved if moved else 0.0
    return StepCost(
        macs_per_sample=macs1,
        macs_per_step=macs_per_step(macs1, batch, mode),
        params=params,
        activations_per_sample=acts1,
        dtype_bytes=b,
        bytes_moved=moved,
        arithmetic_intensity=intensity,
        activation_bytes=acts1 * b * batch,
        ridge_point=ridge,
        bound=bound(intensity, ridge),
    )


@dataclass(frozen=True)
class Achieved:
    """Rates of a step that took ``seconds`` (the median), and their share of the peak."""

    macs_per_s: float
    flops_per_s: float
    peak_fraction: float | None


def achieved(macs: int, seconds: float, peak_flops: float | None) -> Achieved:
    """MAC/s = ``macs`` / ``seconds``; FLOP/s = 2 × MAC/s; fraction of ``peak_flops`` (None if unknown)."""
    macs_s = macs / seconds
    flops_s = 2 * macs_s
    return Achieved(macs_s, flops_s, flops_s / peak_flops if peak_flops else None)


def predicted_memory(a: Analysis, batch: int, dtype: str, mode: str, cuda: bool) -> tuple[int, str]:
    """What ``cnncost memory`` predicts for this step, and what that figure contains.

    Inference: weights + buffers + the liveness peak of the activations (on CPU with the modelled
    oneDNN conv workspace); training: weights + buffers + gradients + SGD momentum +
    saved-for-backward. A lower bound on CUDA: cuDNN's workspaces, the caching allocator's block
    rounding and backward's transients are not modelled."""
    m = memory(analyze_graph(a.graph, batch), dtype_bytes=DTYPES[dtype], optimizer="momentum")
    fixed = m.param_bytes + m.buffer_bytes
    if mode == "training":
        return m.training_total_bytes, (
            "params + buffers + gradients + SGD momentum + saved-for-backward "
            "activations (cnncost memory); backward transients not modelled"
        )
    if cuda:
        return fixed + m.peak_inference_bytes, (
            "params + buffers + liveness peak of the activations at "
            f"{m.peak_at} (cnncost memory); cuDNN workspaces not modelled"
        )
    return fixed + m.peak_cpu_bytes, (
        "params + buffers + liveness peak with torch's CPU (oneDNN) conv workspace (cnncost memory)"
    )
