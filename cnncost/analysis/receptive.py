"""Receptive fields: for every node, the input pixels one output position sees, per axis.

The standard recurrence (rf += (k_eff − 1)·jump, jump ·= stride, start += ((k_eff − 1)/2 − pad)·jump)
is what this computes for chains of convs and pools, but exactly for every op, by composing each op's
``window`` (``cnncost.ops.window``): along an axis a field is the bounds ``[lo, hi]`` of the input
pixels output position ``o`` sees, periodic in ``o`` (period 1 after convs and pools; a stride-2
transposed conv or a ×2 upsample makes even and odd positions differ). Fields live on an unbounded
input (padding positions are positions): at the borders, the field is the reported one clipped to the
image. ``None`` along an axis: the whole input (global pooling, flatten, an SE gate).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from cnncost import memo
from cnncost.ops.window import IDENTITY, Reach, Taps, Window

if TYPE_CHECKING:
    from cnncost.analysis.cost import Analysis, LayerCost
    from cnncost.graph import Graph, Node, Segment

Bounds = tuple[int, int] | None
"""The first and last input pixel of one position's field; None: it sees no pixel (a transposed conv's
output that only gets the bias)."""

SPATIAL = ("h", "w")


@dataclass(frozen=True)
class AxisField:
    """The field along one axis: position ``o`` sees ``bounds[o % period]`` shifted by
    ``(o // period) · shift`` input pixels."""

    period: int
    shift: int
    bounds: tuple[Bounds, ...]

    def at(self, o: int) -> Bounds:
        q, r = divmod(o, self.period)
        b = self.bounds[r]
        return None if b is None else (b[0] + q * self.shift, b[1] + q * self.shift)

    @property
    def size(self) -> int:
        """The receptive field: the widest field of any position (they differ only after resampling)."""
        return max((b[1] - b[0] + 1 for b in self.bounds if b is not None), default=0)

    @property
    def jump(self) -> Fraction:
        """Input pixels between neighbouring positions' fields: the product of the strides."""
        return Fraction(self.shift, self.period)

    @property
    def start(self) -> Fraction:
        """The centre of position 0's field, in input pixels (pixel centres at 0, 1, ...; −0.5 and
        below: in the padding). A position that sees nothing is placed on the grid of the others."""
        for o, b in enumerate(self.bounds):
            if b is not None:
                return Fraction(b[0] + b[1], 2) - o * self.jump
        return Fraction(0)


PIXEL = AxisField(1, 1, ((0, 0),))
"""The network input: position o sees pixel o."""


@lru_cache(maxsize=8192)
def compose(field: AxisField, taps: Taps) -> AxisField:
    """The field of an op's output: position o sees the union of what its taps' positions see.

    Memoised: a pure function of two frozen values, and a sweep's variants share their first stages'.
    """
    if field.period == 1 and taps.period == 1:  # a conv or pool after convs and pools: one position
        b, reads, step = field.bounds[0], taps.taps[0], field.shift
        if b is None or not reads:
            return AxisField(1, taps.shift * step, (None,))
        lo, hi = min(reads) * step, max(reads) * step
        lo, hi = min(lo, hi), max(lo, hi)
        return AxisField(1, taps.shift * step, ((b[0] + lo, b[1] + hi),))
    # After m periods of the taps they have moved m·shift input positions: a whole number of the
    # input field's periods when m = period_in / gcd(period_in, shift).
    m = field.period // math.gcd(field.period, taps.shift)
    period = m * taps.period
    shift = m * taps.shift // field.period * field.shift
    bounds = tuple(_union(field.at(i) for i in taps.at(o)) for o in range(period))
    return _reduced(AxisField(period, shift, bounds))


def _union(fields: Any) -> Bounds:
    present = [b for b in fields if b is not None]
    if not present:
        return None
    return min(b[0] for b in present), max(b[1] for b in present)


def _reduced(f: AxisField) -> AxisField:
    """The same field with its shortest period (a ×2 upsample after a stride-2 conv has period 1)."""
    for p in range(1, f.period):
        if f.period % p or (f.shift * p) % f.period:
            continue
        step = f.shift * p // f.period
        moved = [None if b is None else (b[0] + step, b[1] + step) for b in f.bounds[: f.period - p]]
        if moved == list(f.bounds[p:]):
            return AxisField(p, step, f.bounds[:p])
    return f


def union(fields: list[AxisField], size: int) -> AxisField:
    """A merge's field: at each position, from the first pixel any input sees to the last.

    Inputs of a merge have one spatial size, so their jumps agree, except where sizes coincide (a map
    of one position) or a resize to an odd size: then the union is exact at each of the map's ``size``
    positions and the largest jump continues it past them."""
    return _union_of(tuple(fields), size)


@lru_cache(maxsize=8192)
def _union_of(fields: tuple[AxisField, ...], size: int) -> AxisField:
    """``union``, memoised (a pure function of frozen values: every residual add asks it)."""
    jumps = {f.jump for f in fields}
    base = math.lcm(*(f.period for f in fields))
    period = base if len(jumps) == 1 else base * -(-size // base)
    shift = period * max(jumps)
    assert shift.denominator == 1
    bounds = tuple(_union(f.at(o) for f in fields) for o in range(period))
    return _reduced(AxisField(period, int(shift), bounds))


class ReceptiveField(NamedTuple):
    """One node's field along H and W (None: the whole input along that axis), and which of its
    tensor's axes (batch excluded) hold H and W (``("h", "w", None)`` after ConvNeXt's permute)."""

    h: AxisField | None
    w: AxisField | None
    layout: tuple[str | None, ...]

    @property
    def whole(self) -> bool:
        """Does every output element see the whole input?"""
        return self.h is None and self.w is None

    def axis(self, name: str) -> AxisField | None:
        return self.h if name == "h" else self.w

    @property
    def size(self) -> tuple[int | None, int | None]:
        return (_get(self.h, "size"), _get(self.w, "size"))

    @property
    def jump(self) -> tuple[Fraction | None, Fraction | None]:
        return (_get(self.h, "jump"), _get(self.w, "jump"))

    @property
    def start(self) -> tuple[Fraction | None, Fraction | None]:
        return (_get(self.h, "start"), _get(self.w, "start"))

    def bounds(self, y: int, x: int) -> tuple[Bounds | str, Bounds | str]:
        """The pixels output position (y, x) sees, per axis, on an unbounded input ("whole": all)."""
        return (
            "whole" if self.h is None else self.h.at(y),
            "whole" if self.w is None else self.w.at(x),
        )

    def record(self) -> dict[str, Any]:
        """The JSON/DataFrame columns: ``receptive_field`` [h, w], ``jump`` [h, w], ``rf_start`` [h, w];
        null for the whole input (per axis, where only one axis is whole)."""
        if self.whole:
            return {"receptive_field": None, "jump": None, "rf_start": None}
        return {
            "receptive_field": list(self.size),
            "jump": [json_exact(j) for j in self.jump],
            "rf_start": [json_exact(s) for s in self.start],
        }


def _get(f: AxisField | None, attr: str) -> Any:
    return None if f is None else getattr(f, attr)


def json_exact(n: Fraction | None) -> int | float | str | None:
    """Exact in JSON: an integer, a binary fraction as the float it is exactly (−0.5), else ``"p/q"``."""
    if n is None:
        return None
    if n.denominator == 1:
        return int(n)
    if n.denominator & (n.denominator - 1) == 0:
        return float(n)
    return f"{n.numerator}/{n.denominator}"


WHOLE = ReceptiveField(None, None, ())


_WINDOWS: dict[tuple[Any, ...], Window] = {}
memo.register(_WINDOWS)


def _windows() -> dict[tuple[Any, ...], Window]:
    """Each (op, shapes, input)'s window, kept across calls (a pure function of them), bounded."""
    if len(_WINDOWS) > 65_536:
        _WINDOWS.clear()
    return _WINDOWS


def receptive_fields(graph: Graph) -> tuple[ReceptiveField, ...]:
    """The field of every node, in node order (node 0, the input, sees its own pixel)."""
    first = graph.nodes[0]
    if len(first.out_shape) == 3:
        out = [ReceptiveField(PIXEL, PIXEL, (None, "h", "w"))]
    else:  # no H×W to speak of (a flat input): every element is the whole input
        out = [WHOLE._replace(layout=(None,) * len(first.out_shape))]
    windows = _windows()  # identical layers (equal ops, same shapes) ask once, across calls too
    nodes = graph.nodes
    starts = {s.start: s for s in graph.segments}
    i, n = 1, len(nodes)
    while i < n:
        seg = starts.get(i)
        if seg is None:
            node = nodes[i]
            out.append(_node_field(node, [out[j] for j in node.inputs], windows))
            i += 1
            continue
        # A copied block's fields are a function of its plan and its input's field: computed once.
        key = (id(seg.plan), out[seg.input])
        kept = _SEGMENT_FIELDS.get(key)
        if kept is not None and kept[0] is seg.plan:
            out.extend(kept[1])
        else:
            for node in nodes[seg.start : seg.end]:
                out.append(_node_field(node, [out[j] for j in node.inputs], windows))
            if len(_SEGMENT_FIELDS) >= SEGMENT_FIELDS_MAX:
                del _SEGMENT_FIELDS[next(iter(_SEGMENT_FIELDS))]
            _SEGMENT_FIELDS[key] = (seg.plan, tuple(out[seg.start : seg.end]))
        i = seg.end
    return tuple(out)


_SEGMENT_FIELDS: dict[tuple[int, ReceptiveField], tuple[Any, tuple[ReceptiveField, ...]]] = {}
SEGMENT_FIELDS_MAX = 4096
"""Fields of a copied block's nodes (``Graph.segments``), by plan (its id, the plan held in the entry so the
id names it) and the field of the block's input: everything they depend on (each node's op and shapes are
the plan's, its inputs the block's input or the block's own nodes). The oldest entries go first."""


UNIT = AxisField(1, 1, ((0, 0),))
"""The canonical period-1 input field of ``_affine``: position o sees pixel o."""


class _Affine(NamedTuple):
    """A copied block's fields from the canonical input (``UNIT`` on each of its input's finite axes):
    valid for any period-1 input with a positive shift where ``ok`` (every field of the block period 1 or
    None), and the last of its nodes (relative) finite along both axes, -1 if none."""

    plan: Any
    fields: tuple[ReceptiveField, ...]
    ok: bool
    last_finite: int


_AFFINE: dict[tuple[Any, ...], _Affine] = {}
memo.register(_AFFINE, _SEGMENT_FIELDS, compose, _union_of)


def _affine_ok(field: ReceptiveField) -> bool:
    """A block input ``_affine`` maps: each finite axis period 1, a positive shift, a field that sees pixels."""
    return all(f is None or (f.period == 1 and f.shift > 0 and f.bounds[0] is not None) for f in (field.h, field.w))


def _affine(graph: Graph, seg: Segment, field: ReceptiveField, windows: dict[tuple[Any, ...], Window]) -> _Affine:
    """A copied block's canonical fields, once per plan, input layout and which input axes are whole.

    Exact because along a period-1 chain every field is the input's moved: a conv or pool gives
    ``[lo + min·shift, hi + max·shift]`` and multiplies the shift, a merge takes the min of the ``lo``s and
    the max of the ``hi``s of fields all of the form ``[b0 + s·A, b1 + s·B]`` with one ``b0``, ``b1`` and
    ``s > 0``, so the same choices for any input: node j's field is ``[b0 + s·A_j, b1 + s·B_j]``, shift
    ``s·T_j``, with ``A_j, B_j, T_j`` its field from ``UNIT``; whole axes, layouts and None bounds do not
    depend on the input's bounds at all. A block where any field is not period 1 is computed as usual."""
    key = (id(seg.plan), field.layout, field.h is None, field.w is None)
    kept = _AFFINE.get(key)
    if kept is None or kept.plan is not seg.plan:
        unit = ReceptiveField(None if field.h is None else UNIT, None if field.w is None else UNIT, field.layout)
        local: dict[int, ReceptiveField] = {seg.input: unit}
        last = -1
        ok = True
        for j, node in enumerate(graph.span(seg)):
            f = local[node.id] = _node_field(node, [local[i] for i in node.inputs], windows)
            ok = ok and all(a is None or a.period == 1 for a in (f.h, f.w))
            if f.h is not None and f.w is not None:
                last = j
        if len(_AFFINE) >= SEGMENT_FIELDS_MAX:
            del _AFFINE[next(iter(_AFFINE))]
        kept = _AFFINE[key] = _Affine(seg.plan, tuple(local[i] for i in range(seg.start, seg.end)), ok, last)
    return kept


def _moved(unit: ReceptiveField, field: ReceptiveField) -> ReceptiveField:
    """A canonical field (``_affine``) for the block input ``field``: bounds ``b0 + s·A``, ``b1 + s·B``."""
    axes: list[AxisField | None] = []
    for name in SPATIAL:
        a = unit.axis(name)
        if a is None:
            axes.append(None)
            continue
        f = field.axis(name)
        assert f is not None and a.period == 1
        b, s = f.bounds[0], f.shift
        assert b is not None
        c = a.bounds[0]
        axes.append(AxisField(1, s * a.shift, (None if c is None else (b[0] + s * c[0], b[1] + s * c[1]),)))
    return ReceptiveField(axes[0], axes[1], unit.layout)


def last_finite_field(graph: Graph) -> tuple[int, ReceptiveField] | None:
    """The last node whose field is finite along H and W, and its field: ``receptive_fields``' answer to
    that question (a sweep row's), with each copied block mapped by its canonical fields (``_affine``)
    rather than field by field; blocks that are not period 1 (or inputs that are not) are computed."""
    nodes = graph.written  # read outside the copied blocks only
    n = len(nodes)
    first = graph.node(0)
    fields: list[ReceptiveField | None] = [None] * n
    fields[0] = (
        ReceptiveField(PIXEL, PIXEL, (None, "h", "w"))
        if len(first.out_shape) == 3
        else WHOLE._replace(layout=(None,) * len(first.out_shape))
    )
    windows = _windows()
    starts = {seg.start: seg for seg in graph.segments}
    mapped: dict[int, tuple[Segment, ReceptiveField, _Affine]] = {}  # by segment start: fields not yet made
    seg_starts = [seg.start for seg in graph.segments]

    def get(i: int) -> ReceptiveField:
        f = fields[i]
        if f is None:  # inside a mapped block: made when read
            seg, x_field, aff = mapped[seg_starts[bisect_right(seg_starts, i) - 1]]
            f = fields[i] = _moved(aff.fields[i - seg.start], x_field)
        return f

    last = 0 if fields[0] is not None and fields[0].h is not None and fields[0].w is not None else -1
    i = 1
    while i < n:
        seg = starts.get(i)
        if seg is None:
            node = nodes[i]
            assert node is not None
            f = fields[i] = _node_field(node, [get(j) for j in node.inputs], windows)
            if f.h is not None and f.w is not None:
                last = i
            i += 1
            continue
        x_field = get(seg.input)
        aff = _affine(graph, seg, x_field, windows) if _affine_ok(x_field) else None
        if aff is not None and aff.ok:
            mapped[seg.start] = (seg, x_field, aff)
            if aff.last_finite >= 0:
                last = seg.start + aff.last_finite
        else:
            for node in graph.span(seg):
                f = fields[node.id] = _node_field(node, [get(j) for j in node.inputs], windows)
                if f.h is not None and f.w is not None:
                    last = node.id
        i = seg.end
    return None if last < 0 else (last, get(last))


def _node_field(node: Node, ins: list[ReceptiveField], windows: dict[tuple[Any, ...], Window]) -> ReceptiveField:
    assert node.op is not None
    shapes = list(node.in_shapes)
    through = [_through(node, arg, f, windows) for arg, f in enumerate(ins)]
    if len(through) == 1:
        return through[0]
    layout = next((f.layout for f, s in zip(through, shapes, strict=True) if s == node.out_shape), through[0].layout)
    axes: dict[str, AxisField | None] = {}
    for name in SPATIAL:
        fields = [f.axis(name) for f in through]
        present = [f for f in fields if f is not None]
        size = node.out_shape[layout.index(name)] if name in layout else 1
        axes[name] = union(present, size) if len(present) == len(fields) else None
    return ReceptiveField(axes["h"], axes["w"], layout)


def _through(node: Node, arg: int, field: ReceptiveField, windows: dict[tuple[Any, ...], Window]) -> ReceptiveField:
    """Input ``arg``'s field carried through the node's window."""
    op = node.op
    assert op is not None
    key = (op, node.in_shapes, node.out_shape, arg)
    window = windows.get(key)
    if window is None:
        window = windows[key] = op.window(list(node.in_shapes), node.out_shape, arg)
    if window is IDENTITY:
        return field
    if isinstance(window, Reach):  # GLOBAL
        return WHOLE._replace(layout=(None,) * len(node.out_shape))
    axes: dict[str, AxisField | None] = {"h": None, "w": None}  # an axis no output axis keeps: reduced
    layout: list[str | None] = []
    for ax in window:
        name = field.layout[ax.source]
        layout.append(name)
        if name is not None:
            f = field.axis(name)
            axes[name] = None if f is None or ax.taps is None else compose(f, ax.taps)
    return ReceptiveField(axes["h"], axes["w"], tuple(layout))


def row_fields(a: Analysis, rows: list[LayerCost]) -> list[ReceptiveField]:
    """The field of each table row: its layer's, or for a collapsed group its last layer's (the
    group's output, as its output shape is)."""
    fields = a.receptive
    last: dict[tuple[str, ...], int] = {}
    for node in a.graph.nodes:
        for n in range(1, len(node.path) + 1):
            last[node.path[:n]] = node.id
    return [fields[last[r.path]] for r in rows]
