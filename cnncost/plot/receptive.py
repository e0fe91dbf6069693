"""Receptive field against depth: how much of the input one output position of each layer sees.

The fields are ``cnncost.analysis.receptive``'s (``row_fields``): VGG-16 grows 3, 5, 6, 10, ... 212.
A layer that sees the whole input (global pooling, flatten, linear) has no finite field: it is marked
along the top of the chart, not drawn at a number.
"""

from __future__ import annotations

import math

from cnncost.analysis.cost import Analysis
from cnncost.analysis.receptive import row_fields
from cnncost.plot.base import Figure, blended_transform_factory, color, linestyle, marker, new_figure, setting

WHOLE_Y = 0.97
"""Where the whole-input marks sit, in axes coordinates (a fraction of the height, not a field size)."""


def rf_figure(a: Analysis) -> Figure:
    """Field size (rows; and columns where they differ) of every layer, in execution order."""
    rows = list(a.layers)
    fields = row_fields(a, rows)
    sizes = [f.size for f in fields]
    axes = [("h", 0, "rows (h)")]
    if any(h != w for h, w in sizes):
        axes.append(("w", 1, "columns (w)"))
    xs = list(range(len(rows)))
    fig = new_figure(9, 5, f"rf: {len(rows)} layers")
    ax = fig.subplots()
    shape = a.input_shape
    for i, (name, k, text) in enumerate(axes):
        ys = [math.nan if s[k] is None else float(s[k] or 0) for s in sizes]
        ax.plot(xs, ys, color=color(i), linestyle=linestyle(i), marker=marker(i), markersize=3, label=f"field: {text}")
        if len(shape) == 3:
            extent = shape[1 + k]
            ax.axhline(extent, color=color(i), linestyle=":", linewidth=1, label=f"input {name} = {extent}")
    whole = [x for x, f in zip(xs, fields, strict=True) if f.h is None or f.w is None]
    if whole:
        top = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            whole,
            [WHOLE_Y] * len(whole),
            transform=top,
            marker="v",
            linestyle="none",
            color="black",
            clip_on=False,
            label=f"whole input ({len(whole)} layers: global pooling, flatten, linear …)",
        )
    ax.set_ylim(0, max([s for pair in sizes for s in pair if s is not None] + list(shape[1:])) * 1.12)
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_xlabel(f"layer (execution order, input = 0; {a.depth} conv + linear layers in {len(rows) - 1} ops)")
    ax.set_ylabel("receptive field (input pixels)")
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncol=len(ax.get_lines()))
    fig.suptitle(f"{a.model.name} — {setting(a)}: receptive field per layer", fontsize=10)
    return fig
