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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cnncost.analysis.cost import Analysis
from cnncost.errors import check_choice
from cnncost.graph import Graph, Node
from cnncost.ops.base import Op, Saved, numel

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


class _Storages:
    """Storage id of every node's output, for one mode (inference or training): an op that writes a
    new tensor allocates one; an in-place op or a view shares its input's."""

    def __init__(self, graph: Graph, training: bool) -> None:
        self.of: list[int] = []
        self.elements: list[int] = []  # by storage id
        of, elements = self.of, self.elements
        writes: dict[Op, bool] = {}  # identical layers share one op object
        for node in graph.nodes:
            op = node.op
            if op is not None:
                new = writes.get(op)
                if new is None:
                    new = writes[op] = op.new_tensor(training)
            if op is None or new:
                of.append(len(elements))
                elements.append(numel(node.out_shape))
            else:
                of.append(of[node.inputs[0]])


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
    of, elements = st.of, st.elements
    runs = [node for node in graph.nodes if not node.train_only]  # training-only heads do not run
    last_read: dict[int, int] = {}
    for node in runs:
        for i in node.inputs:
            last_read[of[i]] = node.id
    keep = {of[graph.output], *(of[i] for i in graph.aux_outputs if not graph.nodes[i].train_only)}
    live: dict[int, int] = {}
    current = 0
    workspaces: dict[tuple[Any, ...], int] = {}
    out: list[tuple[str, int, int]] = []
    for node in runs:
        sid = of[node.id]
        if sid not in live:
            size = live[sid] = elements[sid] * elem * batch
            current += size
        op = node.op
        workspace = 0
        if op is not None:
            key = (op, node.in_shapes, node.out_shape)
            workspace = workspaces.get(key, -1)
            if workspace < 0:
                workspace = workspaces[key] = op.cpu_workspace(list(node.in_shapes), node.out_shape, elem, batch)
        out.append((node.name if op is not None else "input", current, workspace))
        for i in {of[i] for i in node.inputs} | {sid}:
            if last_read.get(i, -1) <= node.id and i not in keep:
                current -= live.pop(i, 0)
    return out


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
    weighted: dict[tuple[Any, ...], bool] = {}  # identical layers (one op object, same shapes) ask once
    rules: dict[tuple[Any, ...], tuple[Saved, ...]] = {}
    for node in graph.ops:
        op = node.op
        assert op is not None
        key = (op, node.in_shapes)
        has = weighted.get(key)
        if has is None:
            p = op.params(list(node.in_shapes))
            has = weighted[key] = bool(p.weights or p.biases)
        grad[node.id] = has or any(grad[i] for i in node.inputs)
        if grad[node.id]:  # autograd records nothing for an op on tensors that need no gradient
            rule_key = (op, node.in_shapes, node.out_shape)
            rule = rules.get(rule_key)
            if rule is None:
                rule = rules[rule_key] = op.saved(list(node.in_shapes), node.out_shape)
            for s in rule:
                k, size = _saved_key(node, s, st, elem, batch)
                total += size - saved.get(k, 0)
                saved[k] = size
        out.append((node.name, total))
    return out


def saved_for_backward(graph: Graph, elem: int, batch: int) -> int:
    """Bytes of the tensors autograd saves in a training step, each storage once."""
    timeline = saved_timeline(graph, elem, batch)
    return timeline[-1][1] if timeline else 0


def memory(a: Analysis, dtype_bytes: int = 4, optimizer: str = DEFAULT_OPTIMIZER, amp: bool = False) -> Memory:
    """Every memory figure of an analysed model; ``amp``: half activations, fp32 master weights.

    Buffers are the model's dtype (fp32 under ``amp``), except counters (``num_batches_tracked``):
    int64, ``COUNTER_BYTES`` each."""
    check_choice(optimizer, tuple(OPTIMIZER_STATE), "optimizer")
    elem = 2 if amp else dtype_bytes
    weight_bytes = 4 if amp else dtype_bytes
    t, g, b = a.totals, a.graph, a.batch
    forward = _forward(g, elem, b)  # one liveness pass for both backends
    peak, where = _peak((name, live) for name, live, _ in forward)
    peak_cpu, _ = _peak((name, live + workspace) for name, live, workspace in forward)
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
