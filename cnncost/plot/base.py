"""What every chart shares: a headless figure, grayscale-safe styles, axis units, and saving.

Figures are ``matplotlib.figure.Figure`` objects on an Agg canvas, never pyplot's global state, so
they draw headless and in threads. This is the one module that imports matplotlib (the others take
its names from here): without matplotlib, importing it is a ``SpecError``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.cost import Analysis
from cnncost.errors import SpecError, check_choice
from cnncost.ops.base import fmt_shape
from cnncost.report.numbers import human

try:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure
    from matplotlib.text import Annotation
    from matplotlib.ticker import FuncFormatter, NullLocator
    from matplotlib.transforms import blended_transform_factory
except ImportError:  # the [plot] extra is optional; everything but plotting works without it
    raise SpecError("cnncost plot needs matplotlib", expected="pip install 'cnncost[plot]'") from None

__all__ = [
    "Annotation",
    "Axes",
    "Figure",
    "FuncFormatter",
    "NullLocator",
    "PathCollection",
    "blended_transform_factory",
]
"""Every matplotlib name the charts use, imported here only: a missing matplotlib is one ``SpecError``,
whichever chart module is imported first."""

FORMATS = ("png", "svg", "pdf")

DPI = 90
"""Small PNGs for the docs (≈ 60–120 KB) that stay readable."""

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*")
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
LINESTYLES = ("-", "--", ":", "-.")
"""Colour is never the only cue: the i-th series also gets the i-th marker, hatch or line style."""

BYTE_UNITS = (("B", 1), ("KiB", 2**10), ("MiB", 2**20), ("GiB", 2**30), ("TiB", 2**40))

DTYPE_NAMES = {8: "fp64", 4: "fp32", 2: "16-bit", 1: "8-bit"}


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def hatch(i: int) -> str:
    return HATCHES[i % len(HATCHES)]


def linestyle(i: int) -> str:
    return LINESTYLES[i % len(LINESTYLES)]


def new_figure(width: float, height: float, label: str = "") -> Figure:
    """A figure on its own Agg canvas (so text extents can be measured before saving), laid out by
    constrained layout. ``label`` says what it shows (``"layers: 40 bars per axis"``), for the CLI."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.set_label(label)
    return fig


def freeze_layout(fig: Figure) -> None:
    """Lay the figure out once and keep it: positions measured after this stay true when saved."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def ops_label(convention: str, per: str = "") -> str:
    """``operations per image: MACs (conv+linear)``: the counting convention is in every axis label."""
    check_choice(convention, list(CONVENTIONS), "convention")
    return f"operations{' ' + per if per else ''}: {CONVENTIONS[convention].header}"


def byte_unit(largest: int | float) -> tuple[str, int]:
    """The binary unit that shows ``largest`` bytes as a number ≥ 1: (``"MiB"``, 2²⁰)."""
    name, size = BYTE_UNITS[0]
    for unit in BYTE_UNITS:
        if largest >= unit[1]:
            name, size = unit
    return name, size


def dtype_name(dtype_bytes: int) -> str:
    return DTYPE_NAMES.get(dtype_bytes, f"{dtype_bytes}-byte")


def count_axis(ax: Axes, which: str = "y", minor: bool = False) -> None:
    """Tick labels as ``10M``, ``1.5G`` (the values plotted stay exact counts); ``minor``: on a log
    axis, the 2×, 3×, ... ticks too."""
    fmt = FuncFormatter(lambda v, _pos: human(round(v, 6)) if v >= 0 else "−" + human(-v))
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(fmt)
    if minor:
        axis.set_minor_formatter(fmt)


def setting(a: Analysis) -> str:
    """``input 3×224×224, batch 1``: what every single-model title says besides the model."""
    return f"input {fmt_shape(a.input_shape)}, batch {a.batch}"


def check_output(path: str | Path) -> str:
    """The format named by ``path``'s suffix, or a ``SpecError`` (checked before any work is done)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise SpecError(
            f"cannot tell the image format of {str(path)!r}" if not suffix else f"unknown image format .{suffix}",
            expected="FILE.png, FILE.svg or FILE.pdf",
        )
    return suffix


def save(fig: Figure, path: str | Path) -> None:
    """Write ``fig`` as PNG, SVG or PDF, by ``path``'s suffix; an unwritable path is a ``SpecError``."""
    fmt = check_output(path)
    try:
        _print(fig, lambda **kw: fig.savefig(path, **kw), fmt)
    except OSError as exc:
        raise SpecError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def svg(fig: Figure) -> str:
    """The figure as inline SVG text for the HTML report: glyphs as paths, no external references."""
    buf = io.BytesIO()
    _print(fig, lambda **kw: fig.savefig(buf, **kw), "svg")
    return buf.getvalue().decode("utf-8")


def _print(fig: Figure, write: Callable[..., object], fmt: str) -> None:
    """No creation date in SVG or PDF metadata (rcParams are left alone: figures are built in threads)."""
    metadata = {"Date": None} if fmt in ("svg", "pdf") else {}
    write(format=fmt, dpi=fig.dpi, metadata=metadata)
