"""The cost pass: one exact ``LayerCost`` per node, and totals, all as Python ints.

Example (VGG-16 conv1_1 on 3×224×224): weights 3·3·3·64 = 1,728, biases 64, MACs
224·224·64·27 = 86,704,128, activations 224·224·64 = 3,211,264 elements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from cnncost import memo
from cnncost.analysis.conventions import CONVENTIONS, OP_CLASSES
from cnncost.errors import SpecError, SpecWarning, check_choice
from cnncost.graph import Graph, Node, Segment
from cnncost.ops.base import Op, ParamCount, Shape, numel
from cnncost.spec.expand import expand
from cnncost.spec.family import ModelSpec

if TYPE_CHECKING:
    from cnncost.analysis.receptive import ReceptiveField

NO_PARAMS = ParamCount()


class LayerCost(NamedTuple):
    """Exact costs of one layer (or of a collapsed group of layers), for the whole batch.

    Immutable (a NamedTuple: cheaper to build than a frozen dataclass, ResNet-152 has 516).
    """

    path: tuple[str, ...]
    kind: str
    label: str
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    weights: int = 0
    biases: int = 0
    buffers: int = 0
    counters: int = 0
    macs: int = 0
    ops: dict[str, int] = {}
    fvcore: int = 0
    activations: int = 0
    layers: int = 1
    line: int | None = None
    train_macs: int | Fraction = 0
    """Expected MACs of a training step under stochastic depth: Σ survival × MACs (= macs without it)."""
    shares: str | None = None
    """Path of the layer whose weights this one reuses (``share:``); its own params are then 0."""
    weight_layers: int = 0
    """Conv and linear layers (``Op.weight_layer``): the papers' "depth"."""

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def record(self) -> dict[str, Any]:
        """The row as plain values, the columns every machine-readable output shares (JSON, DataFrame)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "output_shape": self.out_shape,
            "params": self.params,
            "weights": self.weights,
            "biases": self.biases,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "all_ops": self.all_ops,
            "fvcore": self.fvcore,
            "activations": self.activations,
        }

    @property
    def params(self) -> int:
        """Trainable parameters: weights and biases."""
        return self.weights + self.biases

    @property
    def non_trainable(self) -> int:
        """Keras's "non-trainable params": BN moving mean and variance (buffers less counters)."""
        return self.buffers - self.counters

    def param_count(self, convention: str = "torch") -> int:
        """``torch``: trainable parameters; ``keras``: trainable + non-trainable (BN moving stats)."""
        return self.params + (self.non_trainable if convention == "keras" else 0)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def all_ops(self) -> int:
        return sum(self.ops.values())

    def count(self, convention: str) -> int:
        """This layer's operation count under a named convention (see ``conventions``)."""
        if convention == "macs":
            return self.macs
        if convention == "flops":
            return self.flops
        if convention == "all":
            return self.all_ops
        if convention == "fvcore":
            return self.fvcore
        raise SpecError(f"unknown convention {convention!r}", expected=" | ".join(CONVENTIONS))


@dataclass(frozen=True)
class Analysis:
    """Per-layer costs and totals of one model at one input size and batch."""

    model: ModelSpec
    input_shape: Shape
    batch: int
    layers: tuple[LayerCost, ...]
    totals: LayerCost
    warnings: tuple[SpecWarning, ...]
    graph: Graph
    mode: str = "inference"
    """``inference`` or ``training``: whether training-only side heads' operations are counted."""

    @cached_property
    def receptive(self) -> tuple[ReceptiveField, ...]:
        """Each node's receptive field, in node order (``layers[i]`` is node i), computed when first asked."""
        from cnncost.analysis.receptive import receptive_fields

        return receptive_fields(self.graph)

    @property
    def training_only_heads(self) -> bool:
        """Does the network have side heads that run only in training (the two modes differ)?"""
        return any(n.train_only for n in self.graph.nodes)

    @property
    def training_step_macs(self) -> int:
        """MACs of a training step with every layer running: the training-only heads included, stochastic
        depth aside (``totals.train_macs`` is its expectation under stochastic depth)."""
        if self.mode == "training":
            return self.totals.macs
        return self.totals.macs + sum(
            n.op.macs(list(n.in_shapes), n.out_shape) * self.batch
            for n in self.graph.ops
            if n.train_only and n.op is not None
        )

    @property
    def depth(self) -> int:
        """Weight layers (conv + linear), the papers' "depth"."""
        return self.totals.weight_layers

    def within(self, prefix: tuple[str, ...]) -> LayerCost:
        """Sum of the layers under ``prefix`` (a stage, a block, one layer)."""
        rows = [r for r in self.layers if r.path[: len(prefix)] == prefix]
        if not rows:
            raise SpecError(
                f"no layer {'.'.join(prefix)!r} in {self.model.name}",
                expected="a path shown by `cnncost table --depth N`",
            )
        return _sum(prefix, rows, "group")

    def collapsed(self, depth: int | None) -> list[LayerCost]:
        """Rows with everything below ``depth`` path levels summed into one row (None: all)."""
        if not depth:
            return list(self.layers)
        out: list[LayerCost] = []
        groups: dict[tuple[str, ...], list[LayerCost]] = {}
        order: list[tuple[str, ...]] = []
        for layer in self.layers:
            key = layer.path[:depth]
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(layer)
        for key in order:
            rows = groups[key]
            out.append(rows[0] if len(rows) == 1 and rows[0].path == key else _sum(key, rows, "block"))
        return out


def _sum(path: tuple[str, ...], rows: list[LayerCost], kind: str, of: Sequence[LayerCost] | None = None) -> LayerCost:
    """The rows added up, in one pass (a total over ResNet-152's 516 rows is on every ``analyze``). ``of``:
    the rows ``rows`` are partial sums of (the totals add copied blocks' sums), for the label and ends."""
    ops: dict[str, int] = {}
    weights = biases = buffers = counters = macs = fvcore = activations = layers = weight_layers = 0
    train_macs: int | Fraction = 0
    for r in rows:
        for k, v in r.ops.items():
            ops[k] = ops.get(k, 0) + v
        weights += r.weights
        biases += r.biases
        buffers += r.buffers
        counters += r.counters
        macs += r.macs
        fvcore += r.fvcore
        activations += r.activations
        layers += r.layers
        train_macs += r.train_macs
        weight_layers += r.weight_layers
    whole = rows if of is None else of
    return LayerCost(
        path=path,
        kind=kind,
        label=_group_label(whole, weight_layers),
        in_shapes=whole[0].in_shapes,
        out_shape=whole[-1].out_shape,
        weights=weights,
        biases=biases,
        buffers=buffers,
        counters=counters,
        macs=macs,
        ops=ops,
        fvcore=fvcore,
        activations=activations,
        layers=layers,
        line=whole[0].line,
        train_macs=train_macs,
        weight_layers=weight_layers,
    )


def _group_label(rows: Sequence[LayerCost], weight_layers: int) -> str:
    """``conv 3×3 + relu`` for a short group, ``10 ops, 3 weight layers`` for a long one."""
    if len(rows) <= 3:
        return " + ".join(r.label for r in rows)
    plural = "s" if weight_layers != 1 else ""
    return f"{len(rows)} ops, {weight_layers} weight layer{plural}" if weight_layers else f"{len(rows)} ops"


def _exact(p: float) -> Fraction:
    """A survival probability as the small fraction it was meant to be (1 − 3/110·0.5 → 217/220)."""
    return Fraction(p).limit_denominator(10**6) if p != 1 else Fraction(1)


class _NodeCost(NamedTuple):
    """What a layer's row holds besides its place (path, line, shapes): the same for every node with the
    same op object at the same shapes, so identical layers (a replayed block's) compute it once."""

    kind: str
    label: str
    weights: int
    biases: int
    buffers: int
    counters: int
    macs: int
    ops: dict[str, int]
    fvcore: int
    activations: int
    step_macs: int
    weight_layers: int


def _node_cost(op: Op, in_shapes: tuple[Shape, ...], out: Shape, batch: int, owner: bool, runs: bool) -> _NodeCost:
    """One layer's costs for the whole batch; ``owner``: not a ``share:`` of another layer's weights (whose
    params count there); ``runs``: not a training-only head at inference."""
    ins = list(in_shapes)
    p = op.params(ins) if owner else NO_PARAMS  # counted once, at the owner
    label = op.describe() if owner else op.describe() + " (shared)"
    step_macs = op.macs(ins, out) * batch
    macs = step_macs if runs else 0
    other = op.other_ops(ins, out) * batch if runs else 0
    return _NodeCost(
        op.kind,
        label + ("" if runs else " (training only)"),
        p.weights,
        p.biases,
        p.buffers,
        p.counters,
        macs,
        {op.op_class: 2 * macs if macs else other} if (macs or other) else {},
        op.fvcore_flops(ins, out) * batch if runs else 0,
        numel(out) * batch if runs and op.new_tensor() else 0,
        step_macs,
        int(op.weight_layer),
    )


MODES = ("inference", "training")
"""The two readings of a network with training-only side heads: ``inference`` counts their parameters
but not their operations or activations (torchvision's metadata), ``training`` counts everything."""


def _row(
    node: Node, node_at: Callable[[int], Node], costs: dict[tuple[Any, ...], _NodeCost], batch: int, training: bool
) -> LayerCost:
    """One node's row: its op's costs (asked once per op object, shapes, ownership and whether it runs) at
    its place (path, shapes, line, survival, the owner of shared weights)."""
    op = node.op
    if op is None:
        return LayerCost(
            node.path, "input", "input", (), node.out_shape, activations=numel(node.out_shape) * batch, layers=0
        )
    owner = node.shares is None
    runs = training or not node.train_only
    key = (op, node.in_shapes, node.out_shape, owner, runs)
    c = costs.get(key)
    if c is None:
        c = costs[key] = _node_cost(op, node.in_shapes, node.out_shape, batch, owner, runs)  # costs: per batch
    survival = node.survival
    return LayerCost(
        node.path,
        c.kind,
        c.label,
        node.in_shapes,
        node.out_shape,
        c.weights,
        c.biases,
        c.buffers,
        c.counters,
        c.macs,
        dict(c.ops),  # each row its own dict, as before
        c.fvcore,
        c.activations,
        1,
        node.line,
        c.step_macs if survival == 1 else c.step_macs * _exact(survival),
        None if owner else node_at(node.shares).name,  # type: ignore[arg-type]
        c.weight_layers,
    )


class _SegmentRows(NamedTuple):
    """A copied block's rows, placed anywhere: each row's relative path, its fields but the path and its
    ``ops`` dict, its ``ops``, the relative path of the layer whose weights it shares; and their sum."""

    plan: Any
    rows: tuple[
        tuple[tuple[str, ...], tuple[Any, ...], dict[str, int], tuple[Any, ...], int, tuple[str, ...] | None], ...
    ]
    total: LayerCost


_SEGMENT_ROWS: dict[tuple[Any, ...], _SegmentRows] = {}
memo.register(_SEGMENT_ROWS)
SEGMENT_ROWS_MAX = 4096
"""Copied blocks' rows (``Graph.segments``), by plan (its id; the plan held in the entry so the id names it),
batch, mode, survival and whether the block is a training-only head: all a row depends on besides its
path (each node's op, shapes, line and owner are the plan's). The oldest entries go first."""

_tuple_new = tuple.__new__

_COSTS: dict[int, dict[tuple[Any, ...], _NodeCost]] = {}
COSTS_MAX = 65_536
memo.register(_COSTS)


def _per_batch(batch: int) -> dict[tuple[Any, ...], _NodeCost]:
    """The layer costs kept for ``batch`` (a pure function of the op, its shapes, ownership, whether it
    runs and the batch), emptied past ``COSTS_MAX`` entries."""
    costs = _COSTS.get(batch)
    if costs is None or len(costs) > COSTS_MAX:
        if len(_COSTS) > 64:
            _COSTS.clear()
        costs = _COSTS[batch] = {}
    return costs


def _segment_rows(
    seg: Segment,
    graph: Graph,
    batch: int,
    training: bool,
    costs: dict[tuple[Any, ...], _NodeCost],
    placed: bool = True,
) -> tuple[list[LayerCost], LayerCost]:
    """A copied block's rows (``_row`` on its nodes, once per plan and setting), placed under its path,
    and their sum; ``placed`` False: the sum alone (no rows, unless it was not kept yet)."""
    key = (id(seg.plan), batch, training, seg.survival, seg.train_only)
    kept = _SEGMENT_ROWS.get(key)
    prefix = seg.path
    if kept is None or kept.plan is not seg.plan:
        span = graph.span(seg)
        rows = [_row(node, graph.node, costs, batch, training) for node in span]
        cut = len(prefix)
        rel = tuple(
            (
                r.path[cut:],
                tuple(r[1:10]),
                dict(r.ops),  # not the row's own dict, which its caller may change
                tuple(r[11:16]),
                r.weight_layers,
                None if node.shares is None else graph.node(node.shares).path[cut:],
            )
            for r, node in zip(rows, span, strict=True)
        )
        if len(_SEGMENT_ROWS) >= SEGMENT_ROWS_MAX:
            del _SEGMENT_ROWS[next(iter(_SEGMENT_ROWS))]
        _SEGMENT_ROWS[key] = _SegmentRows(seg.plan, rel, _sum(("total",), rows, "total"))
        return rows, _SEGMENT_ROWS[key].total
    if not placed:
        return [], kept.total
    return [
        _tuple_new(
            LayerCost,
            (prefix + path, *fields, dict(ops), *tail, None if owner is None else ".".join(prefix + owner), wl),
        )
        for path, fields, ops, tail, wl, owner in kept.rows
    ], kept.total


class _Ends(Sequence[LayerCost]):
    """The first and last of ``n`` rows, standing for them all where only their number and ends are read
    (the totals' label, shapes and line)."""

    def __init__(self, n: int, first: LayerCost, last: LayerCost) -> None:
        self.n, self.first, self.last = n, first, last

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> LayerCost: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[LayerCost]: ...
    def __getitem__(self, i: int | slice) -> LayerCost | Sequence[LayerCost]:
        if i == 0:
            return self.first
        if i == -1 or i == self.n - 1:
            return self.last
        raise IndexError(i)


def _costed(graph: Graph, batch: int, mode: str, placed: bool) -> tuple[list[LayerCost], LayerCost]:
    """Every node's row and the totals; ``placed`` False: the totals alone (a sweep row's), adding each
    copied block's kept sum without placing its rows."""
    if batch < 1:
        raise SpecError(f"batch {batch}", expected="a positive integer")
    check_choice(mode, MODES, "mode")
    layers: list[LayerCost] = []
    parts: list[LayerCost] = []  # what the totals add: the rows outside copied blocks, each block's sum
    costs = _per_batch(batch)  # identical layers (equal ops, same shapes) cost once, across calls too
    training = mode == "training"
    nodes = graph.written  # read outside the copied blocks only
    n = len(nodes)
    placed = placed or n <= 3  # a short total's label names every row
    starts = {seg.start: seg for seg in graph.segments}
    i = 0
    while i < n:
        seg = starts.get(i)
        if seg is None:
            row = _row(nodes[i], graph.node, costs, batch, training)  # type: ignore[arg-type]
            layers.append(row)
            parts.append(row)
            i += 1
            continue
        rows, total = _segment_rows(seg, graph, batch, training, costs, placed)
        layers.extend(rows)
        parts.append(total)
        i = seg.end
    whole: Sequence[LayerCost] = layers
    if not placed:
        whole = _Ends(n, layers[0], _row(graph.node(n - 1), graph.node, costs, batch, training))
    totals = _sum(("total",), parts, "total", whole)
    stray = set(totals.ops) - set(OP_CLASSES)
    if stray:  # register() checks op_class; a cost in an unknown class would vanish from the totals
        raise AssertionError(f"costs in op classes outside OP_CLASSES: {sorted(stray)}")
    return layers, totals._replace(ops={k: totals.ops.get(k, 0) for k in OP_CLASSES})


def analyze_graph(graph: Graph, batch: int = 1, mode: str = "inference") -> Analysis:
    """Cost every node of ``graph``; ``batch`` scales MACs, ops and activations, not params."""
    layers, totals = _costed(graph, batch, mode, True)
    return Analysis(graph.model, graph.input_shape, batch, tuple(layers), totals, tuple(graph.warnings), graph, mode)


def graph_totals(graph: Graph, batch: int = 1, mode: str = "inference") -> LayerCost:
    """``analyze_graph(graph, batch, mode).totals``, without placing copied blocks' rows (a sweep's row)."""
    return _costed(graph, batch, mode, False)[1]


def analyze(
    model: ModelSpec | str,
    input_shape: Shape | None = None,
    batch: int = 1,
    mode: str = "inference",
    params: Mapping[str, Any] | None = None,
) -> Analysis:
    """Expand and cost a model: ``analyze("vgg16").totals.params == 138_357_544``.

    ``mode="training"`` also counts the operations of training-only side heads (Inception-v3's aux).
    ``params`` overrides the spec's params, validated as a variant's are (an unknown key is an error):
    ``analyze("resnet18", params={"block": "bottleneck", "depths": [3, 4, 6, 3]})`` is a ResNet-50.
    """
    if isinstance(model, str):
        from cnncost.spec.catalog import load_model

        model = load_model(model)
    if params:
        from cnncost.spec.overrides import with_params

        model = with_params(model, params)
    return analyze_graph(expand(model, input_shape), batch, mode)
