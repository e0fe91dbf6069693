"""Per-layer profile: params, operations and activation memory of each row ``cnncost table`` prints.

The lecture's VGG-16 picture: the memory sits in the early convs (conv1_2: 224·224·64 elements),
the parameters in the first fully connected layer (fc6: 25088·4096 + 4096 = 102,764,544).
"""

from __future__ import annotations

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.cost import Analysis
from cnncost.plot.base import Figure, byte_unit, color, count_axis, dtype_name, hatch, new_figure, ops_label, setting
from cnncost.report.numbers import human, human_bytes

MAX_TICKS = 60
"""More rows than this: every n-th name is written (all bars are drawn)."""


def layers_figure(a: Analysis, depth: int | None = None, convention: str = "macs", dtype_bytes: int = 4) -> Figure:
    """Three stacked bar charts sharing the x axis (the rows of ``a.collapsed(depth)``, input included)."""
    rows = a.collapsed(depth)
    activation_bytes = [r.activations * dtype_bytes for r in rows]
    unit, size = byte_unit(max(activation_bytes, default=0))
    series = [
        ("params (weights + biases)", [r.params for r in rows], True),
        (ops_label(convention), [r.count(convention) for r in rows], True),
        (f"activations ({unit}, {dtype_name(dtype_bytes)})", [b / size for b in activation_bytes], False),
    ]
    width = min(4 + 0.22 * len(rows), 18)
    fig = new_figure(width, 7.5, f"layers: {len(rows)} bars per axis")
    axes = fig.subplots(3, 1, sharex=True)
    xs = list(range(len(rows)))
    for i, (ax, (label, values, counts)) in enumerate(zip(axes, series, strict=True)):
        ax.bar(xs, values, color=color(i), hatch=hatch(i + 1), edgecolor="black", linewidth=0.4, label=label)
        ax.set_ylabel(label.replace(": ", ":\n", 1) if ": " in label else label.replace(" (", "\n(", 1), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        if counts:
            count_axis(ax)
    step = -(-len(rows) // MAX_TICKS)
    axes[-1].set_xticks(xs[::step], [r.name for r in rows][::step], rotation=90, fontsize=7)
    axes[-1].set_xlabel("layer" if not depth else f"layer group (path depth {depth})")
    axes[-1].set_xlim(-0.6, len(rows) - 0.4)
    t = a.totals
    fig.suptitle(
        f"{a.model.name} — {setting(a)}: per layer (totals: params {human(t.params)}, "
        f"{CONVENTIONS[convention].header} {human(t.count(convention))}, "
        f"activations {human_bytes(t.activations * dtype_bytes)})",
        fontsize=10,
    )
    return fig
