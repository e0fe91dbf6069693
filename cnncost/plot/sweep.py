"""A sweep's variants as points on two of their figures, the Pareto front highlighted.

The points are ``cnncost sweep``'s rows (``cnncost.analysis.sweep``), the front its ``pareto``: nothing is
recomputed here. Byte figures are drawn in the binary unit that fits them, counts with ``10M``-style ticks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.sweep import metric
from cnncost.errors import SpecError
from cnncost.plot.base import Axes, Figure, byte_unit, color, count_axis, freeze_layout, marker, new_figure, ops_label
from cnncost.plot.labels import Point, place_labels

LABELS = {
    "params": "params (weights + biases)",
    "activations": "forward activations (elements)",
    "peak_inference_bytes": "peak live activations, inference",
    "inference_total_bytes": "inference memory (params + buffers + peak)",
    "training_total_bytes": "training memory, one step",
    "depth": "depth (conv + linear layers)",
    "rf": "receptive field (pixels, larger side)",
    "input": "input (H×W pixels)",
    "batch": "batch",
}

MAX_LABELS = 40
"""Front points labelled with their variant number (more would crowd the chart)."""


def _axis(ax: Axes, which: str, name: str, values: list[float]) -> float:
    """Label one axis for ``name`` (its unit, its convention); returns the scale its values are drawn at."""
    set_label = ax.set_xlabel if which == "x" else ax.set_ylabel
    if name.endswith("_bytes"):
        unit, size = byte_unit(max(values, default=1))
        set_label(f"{LABELS[name]} ({unit})")
        return size
    set_label(ops_label(name) if name in CONVENTIONS else LABELS.get(name, name))
    if name in ("params", "activations", "input", *CONVENTIONS):
        count_axis(ax, which)
    return 1


def sweep_figure(rows: Sequence[Mapping[str, Any]], x: str, y: str, front: Sequence[int], title: str = "") -> Figure:
    """Every variant with both figures as a point (``y`` against ``x``); the rows at ``front`` (indices
    into ``rows``) drawn larger, joined in order of ``x`` and labelled with their variant number."""
    points = [(i, metric(r, x), metric(r, y)) for i, r in enumerate(rows)]
    drawn = [(i, px, py) for i, px, py in points if px is not None and py is not None]
    if not drawn:
        raise SpecError(f"no variant has both {x} and {y} to plot", expected="metrics every variant has")
    fig = new_figure(8, 5.5, f"sweep: {len(drawn)} variants, {len(front)} on the front")
    ax = fig.subplots()
    sx = _axis(ax, "x", x, [float(p) for _, p, _ in drawn])
    sy = _axis(ax, "y", y, [float(p) for _, _, p in drawn])
    on = set(front)
    rest = [(px / sx, py / sy) for i, px, py in drawn if i not in on]
    best = sorted((px / sx, py / sy, rows[i]["variant"]) for i, px, py in drawn if i in on)
    if rest:
        rx, ry = zip(*rest, strict=True)
        ax.scatter(rx, ry, s=18, color="0.6", marker=marker(0), label="variant", zorder=2)
    if best:
        xs, ys, _ = zip(*best, strict=True)
        ax.plot(xs, ys, color=color(1), linewidth=0.8, zorder=3)
        ax.scatter(xs, ys, s=40, color=color(1), marker=marker(1), edgecolors="black", linewidths=0.5, zorder=4,
                   label="Pareto front")  # fmt: skip
    ax.grid(alpha=0.3)
    if best:
        ax.legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    if best and len(best) <= MAX_LABELS:
        freeze_layout(fig)
        place_labels(ax, [Point(f"#{v}", px, py, 4.0) for px, py, v in best])
    return fig
