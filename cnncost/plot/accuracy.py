"""Accuracy against cost, from the published ImageNet errors the specs record (``accuracy:``).

``style="canziani"`` (Canziani et al. 2016, Fig. 2): top-1 accuracy against operations per image
(log x), bubble area ∝ params. ``style="densenet"`` (Huang et al. 2017, Fig. 3): top-1 error
against params and against operations, one line per family. A model without a published top-1 is
left out with a warning, never drawn at 0.
"""

from __future__ import annotations

import math
import warnings

from cnncost.analysis.cost import Analysis
from cnncost.errors import SpecError, check_choice
from cnncost.ops.base import fmt_shape
from cnncost.plot.base import (
    Axes,
    Figure,
    PathCollection,
    color,
    count_axis,
    freeze_layout,
    marker,
    new_figure,
    ops_label,
)
from cnncost.plot.labels import Point, place_labels

STYLES = ("canziani", "densenet")

AREA_PER_MPARAM = 6.0
"""Bubble area in points² per million parameters, the same in every chart (VGG-16: 830 pt²)."""

CROWD = 30
"""Up to this many models the chart has its base size; it grows (and its labels shrink) up to 3× as many."""

LINE_MARKER_PT = 4.0
"""Radius of the DenseNet-style chart's markers (matplotlib's default marker size is 6 pt)."""

SIZE_KEY = (5_000_000, 25_000_000, 100_000_000)
"""The bubbles of the size legend."""


def top1(a: Analysis) -> float | None:
    """The published top-1 error (%), or None."""
    value = a.model.accuracy.get("top1_error")
    return None if value is None else float(value)


def published_models() -> list[str]:
    """Every zoo model (canonical names) that records a published top-1 error."""
    from cnncost.spec.catalog import families

    return [name for _, fam in families() for name in fam.model_names if "top1_error" in fam.model(name).accuracy]


def with_accuracy(analyses: list[Analysis]) -> list[Analysis]:
    """The analyses with a published top-1; a warning names the others (left out, not drawn at 0)."""
    kept = [a for a in analyses if top1(a) is not None]
    missing = [a.model.name for a in analyses if top1(a) is None]
    if not kept:
        raise SpecError(
            f"no published top-1 accuracy for {', '.join(missing) or 'any model'}",
            expected="models whose spec records accuracy: {top1_error: ...} (cnncost plot accuracy with no "
            "model plots every one)",
        )
    if missing:
        warnings.warn(
            f"no published top-1 accuracy for {', '.join(missing)}: left out of the accuracy chart",
            UserWarning,
            stacklevel=3,
        )
    return kept


def per_image_ops(a: Analysis, convention: str) -> int:
    """Operations for one image (every count scales exactly with the batch)."""
    return a.totals.count(convention) // a.batch


def bubble_area(params: int) -> float:
    return params / 1e6 * AREA_PER_MPARAM


def _families(analyses: list[Analysis]) -> dict[str, int]:
    return {f: i for i, f in enumerate(dict.fromkeys(a.model.family for a in analyses))}


def accuracy_figure(analyses: list[Analysis], convention: str = "macs", style: str = "canziani") -> Figure:
    """The chart of ``style`` for the models with a published top-1 (see the module docstring)."""
    check_choice(style, STYLES, "style")
    ops_label(convention)  # an unknown convention is an error before anything is drawn
    kept = with_accuracy(analyses)
    crowd = min(max(len(kept) - CROWD, 0) / CROWD, 2) / 2  # 0 up to CROWD models, 1 from 3·CROWD
    width, height = (9.5, 6.5) if style == "canziani" else (12, 5.5)
    fig = new_figure(width + 4 * crowd, height + 2 * crowd, "")
    labelled = _canziani(fig, kept, convention) if style == "canziani" else _densenet(fig, kept, convention)
    fig.set_label(f"accuracy: {len(kept)} points" + (" per axis" if style == "densenet" else ""))
    inputs = sorted({fmt_shape(a.input_shape) for a in kept})
    where = f"input {' / '.join(inputs)}" if len(inputs) <= 3 else "each at its declared input"
    fig.suptitle(
        f"{len(kept)} models, published ImageNet top-1 (their papers' protocols) — {where}, per image",
        fontsize=10,
    )
    freeze_layout(fig)
    for ax, points in labelled:
        place_labels(ax, points, fontsize=8 - crowd)
    return fig


Labelled = list[tuple[Axes, list[Point]]]
"""Each axes with the points its labels name (placed once the layout is frozen)."""


def _canziani(fig: Figure, kept: list[Analysis], convention: str) -> Labelled:
    ax = fig.subplots()
    fams = _families(kept)
    points: list[Point] = []
    for fam, i in fams.items():
        group = [a for a in kept if a.model.family == fam]
        xs = [per_image_ops(a, convention) for a in group]
        ys = [100 - (top1(a) or 0) for a in group]
        sizes = [bubble_area(a.totals.params) for a in group]
        ax.scatter(
            xs, ys, s=sizes, color=color(i), marker=marker(i), alpha=0.55, edgecolors="black", linewidths=0.6, label=fam
        )
        points += [
            Point(a.model.name, x, y, math.sqrt(s / math.pi)) for a, x, y, s in zip(group, xs, ys, sizes, strict=True)
        ]
    ax.set_xscale("log")
    ax.set_xlabel(ops_label(convention, "per image") + ", log scale")
    ax.set_ylabel("top-1 accuracy (%), published")
    _pad_limits(ax, points, log_x=True)
    lo, hi = ax.get_xlim()
    count_axis(ax, "x", minor=hi / lo < 30)  # 2×, 3×, ... labels only where a decade or so is shown
    ax.grid(alpha=0.3, which="both")
    _family_legend(fig)
    handles = [
        ax.scatter([], [], s=bubble_area(p), color="white", edgecolors="black", linewidths=0.6) for p in SIZE_KEY
    ]
    ax.legend(
        handles,
        [f"{p // 1_000_000}M params" for p in SIZE_KEY],
        title="area ∝ params",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        labelspacing=1.6,
        borderpad=1.0,
    )
    return [(ax, points)]


def _densenet(fig: Figure, kept: list[Analysis], convention: str) -> Labelled:
    params_ax, ops_ax = fig.subplots(1, 2, sharey=True)
    fams = _families(kept)
    labelled: Labelled = []
    for ax, x_of, label in (
        (params_ax, lambda a: a.totals.params, "params (weights + biases)"),
        (ops_ax, lambda a: per_image_ops(a, convention), ops_label(convention, "per image")),
    ):
        points: list[Point] = []
        for fam, i in fams.items():
            group = sorted((a for a in kept if a.model.family == fam), key=x_of)
            xs = [x_of(a) for a in group]
            ys = [top1(a) or 0 for a in group]
            ax.plot(xs, ys, color=color(i), marker=marker(i), linestyle="-", label=fam)
            points += [Point(a.model.name, x, y, LINE_MARKER_PT) for a, x, y in zip(group, xs, ys, strict=True)]
        ax.set_xlabel(label)
        count_axis(ax, "x")
        _pad_limits(ax, points, log_x=False)
        ax.grid(alpha=0.3)
        labelled.append((ax, points))
    params_ax.set_ylabel("top-1 error (%), published")
    _family_legend(fig)
    return labelled


def _family_legend(fig: Figure) -> None:
    """One entry per family, below the axes (never over a point), markers of one size."""
    handles, labels = fig.axes[0].get_legend_handles_labels()
    legend = fig.legend(
        handles,
        labels,
        title="family",
        fontsize=8,
        title_fontsize=8,
        loc="outside lower center",
        ncol=min(len(labels), 7),
    )
    for handle in legend.legend_handles:
        if isinstance(handle, PathCollection):
            handle.set_sizes([40])


def _pad_limits(ax: Axes, points: list[Point], log_x: bool) -> None:
    """Room around the points for their labels (fixed now: the labels are placed in these limits)."""
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    if log_x:
        lo, hi = math.log10(min(xs)), math.log10(max(xs))
        pad = max(hi - lo, 0.5) * 0.25
        ax.set_xlim(10 ** (lo - pad), 10 ** (hi + pad))
    else:
        lo, hi = min(xs), max(xs)
        pad = max(hi - lo, hi * 0.2) * 0.2
        ax.set_xlim(max(lo - pad, 0), hi + pad)
    lo, hi = min(ys), max(ys)
    pad = max(hi - lo, 2.0) * 0.3
    ax.set_ylim(lo - pad, hi + pad)
