"""Point labels that do not collide: each label goes to the first free spot around its point.

Greedy placement in display space (the figure's layout is frozen first, so what is measured here is
what is saved): candidate spots on growing rings around the point, in a fixed order of directions;
a spot is free when the label stays inside the axes and touches no label placed before it, no legend
and no other point. A far label gets a leader line.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from cnncost.plot.base import Annotation, Axes

FONT_SIZE = 8
GAP_PT = 1.5
"""Points of space kept between two labels, or a label and an obstacle."""

RINGS_PT = (1, 4, 8, 13, 19, 26, 34, 44, 56, 70, 86, 105, 130, 160, 200, 250, 320)
"""Distances from the point's edge to the label's edge tried, in points."""

DIRECTIONS = 16
"""Directions tried on each ring: right first, then up-right, down-right, up, ..."""

LEADER_PT = 10.0
"""A label farther than this from its point's edge gets a thin line to it."""

CORE_PT = 4.0
"""The part of another point's marker a label must not cover (a large bubble may be overlapped)."""


class Point(NamedTuple):
    """A labelled point: its name, data coordinates and marker radius in points."""

    name: str
    x: float
    y: float
    radius_pt: float


Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in display pixels."""


def _hits(a: Box, b: Box, gap: float) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _angles() -> list[float]:
    order = [0.0]
    for k in range(1, DIRECTIONS // 2):
        order += [k * 2 * math.pi / DIRECTIONS, -k * 2 * math.pi / DIRECTIONS]
    return [*order, math.pi]


def place_labels(ax: Axes, points: list[Point], fontsize: float = FONT_SIZE) -> list[Annotation]:
    """One annotation per point, placed where it overlaps nothing (see the module docstring)."""
    fig = ax.get_figure()
    assert fig is not None
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    px = fig.dpi / 72
    frame = ax.get_window_extent(renderer)
    bounds: Box = (frame.x0, frame.y0, frame.x1, frame.y1)
    legends = [child.get_window_extent(renderer) for child in ax.get_children() if child.__class__.__name__ == "Legend"]
    obstacles: list[Box] = [(b.x0, b.y0, b.x1, b.y1) for b in legends]
    anchors = [tuple(ax.transData.transform((p.x, p.y))) for p in points]
    core = CORE_PT * px
    cores: list[Box] = [(x - core, y - core, x + core, y + core) for x, y in anchors]
    placed: list[Box] = []
    out = []
    for i in sorted(range(len(points)), key=lambda i: (-anchors[i][1], anchors[i][0])):  # top to bottom
        p, (x, y) = points[i], anchors[i]
        probe = ax.annotate(p.name, (p.x, p.y), ha="center", va="center", fontsize=fontsize)
        ext = probe.get_window_extent(renderer)
        probe.remove()
        w, h = ext.width, ext.height
        others = [c for j, c in enumerate(cores) if j != i]
        cx, cy = _spot(x, y, w, h, p.radius_pt * px, px, bounds, placed, [*obstacles, *others])
        placed.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        dx, dy = (cx - x) / px, (cy - y) / px
        far = math.hypot(dx, dy) > p.radius_pt + LEADER_PT + max(w, h) / px / 2
        ann = ax.annotate(
            p.name,
            (p.x, p.y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=fontsize,
            arrowprops={"arrowstyle": "-", "linewidth": 0.5, "color": "0.35", "shrinkA": 1, "shrinkB": 2}
            if far
            else None,
        )
        out.append(ann)
    return out


def _spot(
    x: float,
    y: float,
    w: float,
    h: float,
    own: float,
    px: float,
    bounds: Box,
    placed: list[Box],
    obstacles: list[Box],
) -> tuple[float, float]:
    """The centre of the first free spot for a w×h label around (x, y); where every spot touches a
    legend or a point, the first one that touches no label (labels never overlap each other)."""
    gap = GAP_PT * px
    fallback: tuple[float, float] | None = None
    for ring in RINGS_PT:
        for angle in _angles():
            c, s = math.cos(angle), math.sin(angle)
            cx = x + c * (own + ring * px + w / 2)
            cy = y + s * (own + ring * px + h / 2)
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            inside = box[0] >= bounds[0] and box[1] >= bounds[1] and box[2] <= bounds[2] and box[3] <= bounds[3]
            if not inside or any(_hits(box, b, gap) for b in placed):
                continue
            if not any(_hits(box, b, gap) for b in obstacles):
                return cx, cy
            fallback = fallback or (cx, cy)
    return fallback or (x, y)
