"""Memory: forward activations, peak inference memory (liveness) and training memory.

Tensors are tracked as *storages*: an op that writes a new tensor allocates one; an in-place
op or a view (flatten, identity, inference dropout) shares its input's. Three figures:

* **forward activations** — every new storage summed (the lecture's VGG convention);
* **peak inference memory** — a liveness pass in execution order: a storage lives from the op
  that writes it to its last reader (residual shortcuts and concat inputs stay alive), inputs
  and output of the running op are live together; plus parameter and buffer bytes;
* **training memory** for one step — parameters, gradients, optimizer state (by default SGD with
  momentum: ``DEFAULT_OPTIMIZER``), and the tensors autograd saves for backward, per op as torch
  2.14 saves them (each op's ``saved``), counted once per storage (a ReLU's saved output that the
  next conv saves as its input counts once).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnncost import memo
from cnncost.analysis.cost import Analysis, LayerCost
from cnncost.errors import check_choice
from cnncost.graph import Graph, Node, Segment
from cnncost.ops.base import Op, Saved, numel

if TYPE_CHECKING:
    from cnncost.spec.blocks import Shared

OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
"""Optimizer state per parameter, in parameter-sized tensors (momentum buffer; Adam's m and v)."""

OPTIMIZER_NAMES = {
    "sgd": "plain SGD (no optimizer state)",
    "momentum": "SGD with momentum",
    "adam": "Adam",
    "adamw": "AdamW",
}
"""How the reports name each optimizer, with the state it keeps."""

DEFAULT_OPTIMIZER = "momentum"
"""What ImageNet CNNs are trained with: SGD with momentum 0.9 — the recipe of the zoo's papers (AlexNet,
VGG, ResNet, DenseNet...), torchvision's reference training script (``--opt sgd --momentum 0.9``) and
``cnncost bench --mode training``'s step. torch's ``SGD(momentum>0)`` keeps one momentum buffer per
parameter; plain SGD (``momentum=0``), the previous default, keeps none and is rarely what is trained."""

COUNTER_BYTES = 8
"""Bytes of a counter buffer (BN's ``num_batches_tracked``): int64 whatever the model's dtype."""


def _writes(op: Op, training: bool, cache: dict[Op, bool]) -> bool:
    """Does ``op`` write a new tensor (else it is in place or a view: its input's storage)? Asked once per
    op object (identical layers share one)."""
    new = cache.get(op)
    if new is None:
        new = cache[op] = op.new_tensor(training)
    return new


_PLAN_STORAGES: dict[tuple[int, bool], tuple[Any, tuple[int, ...], tuple[int, ...]]] = {}
CACHE_MAX = 4096
"""Entries each per-plan memo of this module keeps (the oldest go first)."""


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """``cache[key] = value``, the oldest entry dropped first past ``CACHE_MAX``."""
    if len(cache) >= CACHE_MAX:
        del cache[next(iter(cache))]
    cache[key] = value
    return value


def _plan_storages(plan: Shared, training: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A copied block's storages, relative: each node's storage as the index of the node that writes it
    (-1: the block input's storage), and each node's elements. The same rule as ``_Storages``, per plan."""
    key = (id(plan), training)
    kept = _PLAN_STORAGES.get(key)
    if kept is None or kept[0] is not plan:
        rel: list[int] = []
        writes: dict[Op, bool] = {}
        for j, (_, op, inputs, *_) in enumerate(plan.nodes):
            assert op is not None
            first = inputs[0] if inputs else -1
            rel.append(j if _writes(op, training, writes) else (rel[first] if first >= 0 else -1))
        numels = tuple(numel(n[4]) for n in plan.nodes)
        kept = _remember(_PLAN_STORAGES, key, (plan, tuple(rel), numels))
    return kept[1], kept[2]


class _Storages:
    """Storage id of every node's output, for one mode (inference or training): an op that writes a
    new tensor allocates one, named by that node's id; an in-place op or a view shares its input's. A
    copied block's (``Graph.segments``) come from its plan's relative map."""

    def __init__(self, graph: Graph, training: bool) -> None:
        nodes = graph.written  # read outside the copied blocks only
        n = len(nodes)
        self.of: list[int] = [0] * n
        self.elements: list[int] = [0] * n  # by storage id (the writing node's id)
        of, elements = self.of, self.elements
        writes: dict[Op, bool] = {}  # identical layers share one op object
        starts = {seg.start: seg for seg in graph.segments}
        i = 0
        while i < n:
            seg = starts.get(i)
            if seg is not None:
                rel, numels = _plan_storages(seg.plan, training)
                ox, base = of[seg.input], seg.start
                if -1 in rel:  # a node whose storage is the input's
                    of[base : seg.end] = [ox if r < 0 else base + r for r in rel]
                else:  # the common case, at C speed
                    of[base : seg.end] = map(base.__add__, rel)
                elements[base : seg.end] = numels
                i = seg.end
                continue
            node = nodes[i]
            assert node is not None
            op = node.op
            if op is None or _writes(op, training, writes):
                of[i] = i
                elements[i] = numel(node.out_shape)
            else:
                of[i] = of[node.inputs[0]]
            i += 1


def _saved_key(node: Node, s: Saved, st: _Storages, elem: int, batch: int) -> tuple[object, int]:
    """(storage key, bytes) of one tensor ``node``'s op saves (``Op.saved``): a key is an input's or the
    output's storage id, so a tensor saved by two ops counts once, or a fresh key for a new tensor."""
    scale = (s.itemsize or elem) * (batch if s.per_sample else 1)
    if s.source == "new":
        return (node.id, s.tag), s.elements * scale
    sid = st.of[node.inputs[s.arg] if s.source == "input" else node.id]
    return sid, st.elements[sid] * scale


@dataclass(frozen=True)
class Memory:
    """All memory figures of one model, in bytes, for one batch and dtype."""

    batch: int
    dtype_bytes: int
    param_bytes: int
    buffer_bytes: int
    forward_activation_bytes: int
    peak_inference_bytes: int
    """Live activations at the worst moment of a forward pass (params and buffers not included)."""
    peak_at: str
    peak_cpu_bytes: int
    """The same peak with torch's CPU conv workspace (oneDNN layout reorders) added."""
    saved_activation_bytes: int
    """What autograd keeps for backward in a training step (unique storages, not parameters)."""
    gradient_bytes: int
    optimizer_bytes: int
    optimizer: str
    amp: bool

    @property
    def inference_total_bytes(self) -> int:
        return self.param_bytes + self.buffer_bytes + self.peak_inference_bytes

    @property
    def training_total_bytes(self) -> int:
        return (
            self.param_bytes
            + self.buffer_bytes
            + self.gradient_bytes
            + self.optimizer_bytes
            + self.saved_activation_bytes
        )

    @property
    def backward_forward_ratio(self) -> float:
        """Saved-for-backward over forward activation bytes: the lecture's rule of thumb says ~2."""
        return self.saved_activation_bytes / self.forward_activation_bytes


def inference_timeline(graph: Graph, elem: int, batch: int, backend: str = "ideal") -> list[tuple[str, int]]:
    """Live activation bytes while each op of a forward pass runs, in execution order: (layer, bytes).

    ``ideal``: only the tensors the network defines; ``cpu``: plus the conv workspace torch's
    CPU backend allocates while an op runs (``Op.cpu_workspace``: oneDNN's conv reorders).
    """
    return [
        (name, live + (workspace if backend == "cpu" else 0)) for name, live, workspace in _forward(graph, elem, batch)
    ]


def _forward(graph: Graph, elem: int, batch: int) -> list[tuple[str, int, int]]:
    """(layer, live bytes, CPU workspace bytes) while each op of a forward pass runs: one liveness pass
    that both backends read (the live total is kept as storages come and go, not summed at each op)."""
    st = _Storages(graph, training=False)
    of = st.of
    runs = [node for node in graph.nodes if not node.train_only]  # training-only heads do not run
    last_read: dict[int, int] = {}
    for node in runs:
        for i in node.inputs:
            last_read[of[i]] = node.id
    keep = _kept(graph, of)
    live: dict[int, int] = {}
    current = 0
    workspaces = _workspaces(elem, batch)
    out: list[tuple[str, int, int]] = []
    for node in runs:
        added, workspace, freed = _live_step(node, st, elem, batch, live, last_read, keep, workspaces)
        current += added
        out.append((node.name if node.op is not None else "input", current, workspace))
        current -= freed
    return out


_WORKSPACES: dict[tuple[int, int], dict[tuple[Any, ...], int]] = {}
memo.register(_WORKSPACES)


def _workspaces(elem: int, batch: int) -> dict[tuple[Any, ...], int]:
    """Each (op, shapes)'s CPU workspace at ``elem`` bytes and ``batch``, kept across calls, bounded."""
    kept = _WORKSPACES.get((elem, batch))
    if kept is None or len(kept) > 65_536:
        if len(_WORKSPACES) > 64:
            _WORKSPACES.clear()
        kept = _WORKSPACES[elem, batch] = {}
    return kept


def _kept(graph: Graph, of: list[int]) -> set[int]:
    """Storages the forward pass returns (never freed): the output's and the running side heads'."""
    return {of[graph.output], *(of[i] for i in graph.aux_outputs if not graph.node(i).train_only)}


def _live_step(
    node: Node,
    st: _Storages,
    elem: int,
    batch: int,
    live: dict[int, int],
    last_read: dict[int, int],
    keep: set[int] | frozenset[int],
    workspaces: dict[tuple[Any, ...], int],
) -> tuple[int, int, int]:
    """One op of the liveness pass (the one rule both the timeline and the per-block summaries run): the
    bytes its output's storage adds if not live yet, its CPU workspace, and the bytes freed after it (each
    storage it touches whose last reader it is, unless returned)."""
    sid = st.of[node.id]
    added = 0
    if sid not in live:
        added = live[sid] = st.elements[sid] * elem * batch
    op = node.op
    workspace = 0
    if op is not None:
        key = (op, node.in_shapes, node.out_shape)
        workspace = workspaces.get(key, -1)
        if workspace < 0:
            workspace = workspaces[key] = op.cpu_workspace(list(node.in_shapes), node.out_shape, elem, batch)
    freed = 0
    for i in {st.of[i] for i in node.inputs} | {sid}:
        if last_read.get(i, -1) <= node.id and i not in keep:
            freed += live.pop(i, 0)
    return added, workspace, freed


_PLAN_READS: dict[int, tuple[Any, int]] = {}


def _input_reader(plan: Shared) -> int:
    """The last node of a copied block (relative) that reads its input's storage (inference storages:
    the input itself or a view or in-place result of it), -1 if none."""
    kept = _PLAN_READS.get(id(plan))
    if kept is None or kept[0] is not plan:
        rel, _ = _plan_storages(plan, False)
        last = -1
        for j, (_, _, inputs, _, _, _, _) in enumerate(plan.nodes):
            if any(i < 0 or rel[i] < 0 for i in inputs):
                last = j
        kept = _remember(_PLAN_READS, id(plan), (plan, last))
    return kept[1]


_SEGMENT_LIVE: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _last_reads(graph: Graph, of: list[int]) -> tuple[list[Node | Segment], dict[int, int]]:
    """The graph as nodes and copied blocks, and the last running reader of each storage read outside
    a copied block (a block's reads of its own storages are its summary's business)."""
    nodes = graph.written
    n = len(nodes)
    starts = {seg.start: seg for seg in graph.segments}
    last_read: dict[int, int] = {}
    items: list[Node | Segment] = []
    i = 0
    while i < n:
        seg = starts.get(i)
        if seg is not None:
            items.append(seg)
            if not seg.train_only:
                reader = _input_reader(seg.plan)
                if reader >= 0:
                    last_read[of[seg.input]] = seg.start + reader
            i = seg.end
            continue
        node = nodes[i]
        assert node is not None
        items.append(node)
        if not node.train_only:
            for j in node.inputs:
                last_read[of[j]] = i
        i += 1
    return items, last_read


def _pinned(graph: Graph, storages: Iterable[int]) -> dict[int, frozenset[int]]:
    """For each copied block (by its start), which of its own storages (relative) are in ``storages``:
    read after it or returned, so not freed inside it."""
    pinned: dict[int, set[int]] = {}
    if graph.segments:
        seg_starts = [seg.start for seg in graph.segments]
        for sid in storages:
            k = bisect_right(seg_starts, sid) - 1
            if k >= 0 and sid < graph.segments[k].end:
                pinned.setdefault(seg_starts[k], set()).add(sid - seg_starts[k])
    return {k: frozenset(v) for k, v in pinned.items()}


def _forward_peaks(graph: Graph, elem: int, batch: int) -> tuple[int, str, int]:
    """The forward pass's peak, where it first occurs and the CPU peak: ``_forward``'s figures, with each
    copied block (``Graph.segments``) run once per plan and boundary state (its input's storage live at
    entry, its size, whether it and which of the block's own storages outlive the block) and then
    applied as a summary: its highest live offset over the bytes live at entry, and what it leaves live."""
    st = _Storages(graph, training=False)
    of, elements = st.of, st.elements
    items, last_read = _last_reads(graph, of)
    keep = _kept(graph, of)
    pinned = _pinned(graph, (*last_read, *keep))
    live: dict[int, int] = {}
    current = peak = peak_cpu = 0
    where = "input"
    workspaces = _workspaces(elem, batch)
    for item in items:
        if isinstance(item, Node):
            if item.train_only:
                continue
            added, workspace, freed = _live_step(item, st, elem, batch, live, last_read, keep, workspaces)
            current += added
            if current > peak:
                peak, where = current, item.name if item.op is not None else "input"
            if current + workspace > peak_cpu:
                peak_cpu = current + workspace
            current -= freed
            continue
        seg = item
        if seg.train_only:
            continue
        x = of[seg.input]
        x_pinned = last_read.get(x, -1) >= seg.end or x in keep
        own = pinned.get(seg.start, frozenset())
        key = (id(seg.plan), elem, batch, x in live, elements[x], x_pinned, own)
        summary = _SEGMENT_LIVE.get(key)
        if summary is None or summary[0] is not seg.plan:
            summary = _remember(
                _SEGMENT_LIVE, key, _segment_live(graph, seg, st, elem, batch, x in live, x_pinned, own)
            )
        _, high, at, high_cpu, delta, x_after, left = summary
        if current + high > peak:
            peak, where = current + high, graph.node(seg.start + at).name
        if current + high_cpu > peak_cpu:
            peak_cpu = current + high_cpu
        current += delta
        if x_after is None:
            live.pop(x, None)
        else:
            live[x] = x_after
        for r, size in left:
            live[seg.start + r] = size
    return peak, where, peak_cpu


def _segment_live(
    graph: Graph,
    seg: Segment,
    st: _Storages,
    elem: int,
    batch: int,
    x_live: bool,
    x_pinned: bool,
    own: frozenset[int],
) -> tuple[Any, ...]:
    """A copied block's liveness summary, by ``_live_step`` on its nodes from its boundary state: (plan,
    highest live offset and its node, the same with the CPU workspace, the offset at exit, the input
    storage's bytes if live at exit, the block's own storages live at exit)."""
    start, end = seg.start, seg.end
    x = st.of[seg.input]
    live: dict[int, int] = {x: st.elements[x] * elem * batch} if x_live else {}
    last_read: dict[int, int] = {}
    nodes = graph.span(seg)
    for node in nodes:
        for i in node.inputs:
            last_read[st.of[i]] = node.id
    for r in own:  # read after the block, or returned: not freed inside it
        last_read[start + r] = end
    if x_pinned:
        last_read[x] = end
    current = 0
    high = high_cpu = at = 0
    workspaces = _workspaces(elem, batch)
    for k, node in enumerate(nodes):
        added, workspace, freed = _live_step(node, st, elem, batch, live, last_read, frozenset(), workspaces)
        current += added
        if k == 0 or current > high:
            high, at = current, k
        if k == 0 or current + workspace > high_cpu:
            high_cpu = current + workspace
        current -= freed
    left = tuple((sid - start, size) for sid, size in live.items() if sid != x)
    return (seg.plan, high, at, high_cpu, current, live.get(x), left)


def peak_inference(graph: Graph, elem: int, batch: int, backend: str = "ideal") -> tuple[int, str]:
    """Peak of live activation bytes over the forward pass, and the layer where it first occurs."""
    return _peak(inference_timeline(graph, elem, batch, backend))


def _peak(timeline: Iterable[tuple[str, int]]) -> tuple[int, str]:
    peak, where = 0, "input"
    for name, current in timeline:
        if current > peak:
            peak, where = current, name
    return peak, where


def saved_timeline(graph: Graph, elem: int, batch: int) -> list[tuple[str, int]]:
    """Bytes autograd holds for backward after each op of a training step's forward pass, in execution
    order: (layer, cumulative bytes, each storage once). The last value is ``saved_for_backward``."""
    st = _Storages(graph, training=True)
    saved: dict[object, int] = {}
    total = 0
    out: list[tuple[str, int]] = []
    grad = [False] * len(graph.nodes)  # does the node's output require grad? (the input does not)
    asked = _asked()
    for node in graph.ops:
        total += _saved_step(node, st, elem, batch, grad, asked, saved)
        out.append((node.name, total))
    return out


_ASKED: tuple[dict[Any, bool], dict[Any, tuple[Saved, ...]]] = ({}, {})
memo.register(*_ASKED)


def _asked() -> tuple[dict[Any, bool], dict[Any, tuple[Saved, ...]]]:
    """Whether each (op, input shapes) has weights, and what each (op, shapes) saves: pure functions of
    them, kept across calls, bounded."""
    if len(_ASKED[0]) + len(_ASKED[1]) > 65_536:
        _ASKED[0].clear()
        _ASKED[1].clear()
    return _ASKED


def _saved_step(
    node: Node,
    st: _Storages,
    elem: int,
    batch: int,
    grad: list[bool],
    asked: tuple[dict[Any, bool], dict[Any, tuple[Saved, ...]]],
    saved: dict[object, int],
) -> int:
    """One op of the saved-for-backward pass (the one rule both the timeline and the per-block summaries
    run): mark whether its output requires grad, record what autograd saves for it (each storage once, its
    last size), and return the change in saved bytes. ``asked``: weights and save rules per (op, shapes)."""
    op = node.op
    assert op is not None
    weighted, rules = asked
    key = (op, node.in_shapes)
    has = weighted.get(key)
    if has is None:
        p = op.params(list(node.in_shapes))
        has = weighted[key] = bool(p.weights or p.biases)
    grad[node.id] = has or any(grad[i] for i in node.inputs)
    delta = 0
    if grad[node.id]:  # autograd records nothing for an op on tensors that need no gradient
        rule_key = (op, node.in_shapes, node.out_shape)
        rule = rules.get(rule_key)
        if rule is None:
            rule = rules[rule_key] = op.saved(list(node.in_shapes), node.out_shape)
        for s in rule:
            k, size = _saved_key(node, s, st, elem, batch)
            delta += size - saved.get(k, 0)
            saved[k] = size
    return delta


_SEGMENT_SAVED: dict[tuple[Any, ...], tuple[Any, ...]] = {}
memo.register(_PLAN_STORAGES, _PLAN_READS, _SEGMENT_LIVE, _SEGMENT_SAVED)


def saved_for_backward(graph: Graph, elem: int, batch: int) -> int:
    """Bytes of the tensors autograd saves in a training step, each storage once: ``saved_timeline``'s
    last value, with each copied block (``Graph.segments``) run once per plan, input grad and input
    storage size, and applied as a summary: its nodes' grad flags, the bytes saved under its own keys
    (new storages and tensors, which nothing before it saved), and the last size it saved its input's
    storage at (deduplicated against what was saved before, as the sequential pass does)."""
    st = _Storages(graph, training=True)
    nodes = graph.written  # read outside the copied blocks only
    n = len(nodes)
    grad = [False] * n
    asked = _asked()
    saved: dict[object, int] = {}
    total = 0
    starts = {seg.start: seg for seg in graph.segments}
    i = 1
    while i < n:
        seg = starts.get(i)
        if seg is None:
            total += _saved_step(nodes[i], st, elem, batch, grad, asked, saved)  # type: ignore[arg-type]
            i += 1
            continue
        start, end = seg.start, seg.end
        x = st.of[seg.input]
        key = (id(seg.plan), elem, batch, grad[seg.input], st.elements[x])
        summary = _SEGMENT_SAVED.get(key)
        if summary is None or summary[0] is not seg.plan:
            own: dict[object, int] = {}
            for node in graph.span(seg):
                _saved_step(node, st, elem, batch, grad, asked, own)
            x_saved = own.pop(x, None)
            summary = _remember(
                _SEGMENT_SAVED,
                key,
                (
                    seg.plan,
                    tuple(grad[start:end]),
                    sum(own.values()),
                    x_saved,
                    tuple((k - start, v) for k, v in own.items() if isinstance(k, int)),
                ),
            )
        else:
            grad[start:end] = summary[1]
        _, _, own_bytes, x_saved, storages = summary
        total += own_bytes
        if x_saved is not None:
            total += x_saved - saved.get(x, 0)
            saved[x] = x_saved
        for r, v in storages:  # later ops may save these storages again: counted once
            saved[start + r] = v
        i = end
    return total


def memory(a: Analysis, dtype_bytes: int = 4, optimizer: str = DEFAULT_OPTIMIZER, amp: bool = False) -> Memory:
    """Every memory figure of an analysed model; ``amp``: half activations, fp32 master weights.

    Buffers are the model's dtype (fp32 under ``amp``), except counters (``num_batches_tracked``):
    int64, ``COUNTER_BYTES`` each."""
    return graph_memory(a.totals, a.graph, a.batch, dtype_bytes, optimizer, amp)


def graph_memory(t: LayerCost, g: Graph, b: int, dtype_bytes: int, optimizer: str, amp: bool) -> Memory:
    """``memory`` from what it reads of an analysis: the totals, the graph and the batch (a sweep row
    has the totals alone, ``cost.graph_totals``)."""
    check_choice(optimizer, tuple(OPTIMIZER_STATE), "optimizer")
    elem = 2 if amp else dtype_bytes
    weight_bytes = 4 if amp else dtype_bytes
    peak, where, peak_cpu = _forward_peaks(g, elem, b)  # one liveness pass for both backends
    params = t.params * weight_bytes
    return Memory(
        batch=b,
        dtype_bytes=elem,
        param_bytes=params,
        buffer_bytes=(t.buffers - t.counters) * weight_bytes + t.counters * COUNTER_BYTES,
        forward_activation_bytes=t.activations * elem,
        peak_inference_bytes=peak,
        peak_at=where,
        peak_cpu_bytes=peak_cpu,
        saved_activation_bytes=saved_for_backward(g, elem, b),
        gradient_bytes=params,
        optimizer_bytes=OPTIMIZER_STATE[optimizer] * params,
        optimizer=optimizer,
        amp=amp,
    )
