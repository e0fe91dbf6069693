"""Memory: forward activations, peak inference memory (liveness) and training memory.

Tensors are tracked as *storages*: an op that writes a new tensor allocates one; an in-place
op or a view (flatten, identity, inference dropout) shares its input's. Three figures:

* **forward activations** — every new storage summed (the lecture's VGG convention);
* **peak inference memory** — a liveness pass in execution order: a storage lives from the op
  that writes it to its last reader (residual shortcuts and concat inputs stay alive), inputs
  and output of the running op are live together; plus parameter and buffer bytes;
* **training memory** for one step — parameters, gradients, optimizer state, and the tensors
  autograd saves for backward, per op as torch 2.14 saves them (``SAVE_RULES``), counted once
  per storage (a ReLU's saved output that the next conv saves as its input counts once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnncost.analysis.cost import Analysis
from cnncost.errors import SpecError
from cnncost.ops.base import numel
from cnncost.spec.expand import Graph, Node

OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
"""Optimizer state per parameter, in parameter-sized tensors (momentum buffer; Adam's m and v)."""

INDEX_BYTES = 8  # max-pool indices are int64


def _train_new_tensor(node: Node) -> bool:
    """Does the op write a new tensor in a training step? (Dropout does, unlike at inference.)"""
    assert node.op is not None
    if node.op.kind == "dropout":
        return node.op.v["p"] > 0 and not node.op.v["inplace"]
    return node.op.new_tensor()


class _Storages:
    """Storage id of every node's output, for one mode (inference or training)."""

    def __init__(self, graph: Graph, training: bool) -> None:
        self.of: list[int] = []
        self.elements: dict[int, int] = {}
        for node in graph.nodes:
            new = node.op is None or (_train_new_tensor(node) if training else node.op.new_tensor())
            if new:
                sid = len(self.elements)
                self.elements[sid] = numel(node.out_shape)
                self.of.append(sid)
            else:
                self.of.append(self.of[node.inputs[0]])


# -- what autograd saves, per op kind (torch 2.14, verified with saved_tensors_hooks) -------
Saved = list[tuple[object, int]]
"""(storage key, bytes): a key is a node's output storage id, or a fresh tuple for a new tensor."""


def _input(node: Node, st: _Storages, elem: int) -> Saved:
    return [(st.of[node.inputs[0]], st.elements[st.of[node.inputs[0]]] * elem)]


def _output(node: Node, st: _Storages, elem: int) -> Saved:
    return [(st.of[node.id], st.elements[st.of[node.id]] * elem)]


def _fresh(node: Node, tag: str, elements: int, elem: int) -> Saved:
    return [((node.id, tag), elements * elem)]


def _conv(node: Node, st: _Storages, elem: int) -> Saved:
    pad = getattr(node.op, "padding", (0, 0, 0, 0))
    if pad[0] != pad[1] or pad[2] != pad[3]:  # asymmetric: conv saves the F.pad copy
        c, h, w = node.in_shapes[0]
        return _fresh(node, "padded", c * (h + pad[0] + pad[1]) * (w + pad[2] + pad[3]), elem)
    return _input(node, st, elem)


def _bn(node: Node, st: _Storages, elem: int) -> Saved:
    return _input(node, st, elem) + _fresh(node, "mean", node.out_shape[0], 4) + \
        _fresh(node, "invstd", node.out_shape[0], 4)


def _act(node: Node, st: _Storages, elem: int) -> Saved:
    """relu/sigmoid/tanh save their output; the others their input; the in-place forms of
    relu6/silu/hardswish/hardsigmoid save a copy of their input (a new storage)."""
    assert node.op is not None
    kind, inplace = node.op.kind, node.op.v.get("inplace", False)
    if kind in ("relu6", "silu", "hardswish", "hardsigmoid") and inplace:
        return _fresh(node, "copy", numel(node.out_shape), elem)
    if kind in ("relu", "sigmoid", "tanh") or inplace:
        return _output(node, st, elem)
    return _input(node, st, elem)


def _maxpool(node: Node, st: _Storages, elem: int) -> Saved:
    pad = getattr(node.op, "padding", (0, 0, 0, 0))
    if pad[0] != pad[1] or pad[2] != pad[3]:
        c, h, w = node.in_shapes[0]
        inp = _fresh(node, "padded", c * (h + pad[0] + pad[1]) * (w + pad[2] + pad[3]), elem)
    else:
        inp = _input(node, st, elem)
    return inp + _fresh(node, "indices", numel(node.out_shape), INDEX_BYTES)


def _adaptive_avg(node: Node, st: _Storages, elem: int) -> Saved:
    """Pooling to 1×1 is a mean (saves nothing); other sizes save the input."""
    return [] if node.out_shape[1:] == (1, 1) else _input(node, st, elem)


def _adaptive_max(node: Node, st: _Storages, elem: int) -> Saved:
    return _input(node, st, elem) + _fresh(node, "indices", numel(node.out_shape), INDEX_BYTES)


def _dropout(node: Node, st: _Storages, elem: int) -> Saved:
    assert node.op is not None
    return _fresh(node, "mask", numel(node.out_shape), elem) if node.op.v["p"] > 0 else []


def _lrn(node: Node, st: _Storages, elem: int) -> Saved:
    """torch's LRN is composed: it saves the input, the channel-padded squares and two maps."""
    assert node.op is not None
    c, h, w = node.in_shapes[0]
    return (_input(node, st, elem) + _fresh(node, "padded", (c + node.op.v["size"] - 1) * h * w, elem)
            + _fresh(node, "div", c * h * w, elem) + _fresh(node, "pow", c * h * w, elem))


def _mul(node: Node, st: _Storages, elem: int) -> Saved:
    return [(st.of[i], st.elements[st.of[i]] * elem) for i in node.inputs]


def _nothing(node: Node, st: _Storages, elem: int) -> Saved:
    return []


SAVE_RULES: dict[str, Callable[[Node, _Storages, int], Saved]] = {
    "conv": _conv, "linear": _input, "bn": _bn, "avgpool": _input, "maxpool": _maxpool,
    "adaptive_avgpool": _adaptive_avg, "global_avgpool": _adaptive_avg, "mean": _adaptive_avg,
    "adaptive_maxpool": _adaptive_max,
    "dropout": _dropout, "lrn": _lrn, "mul": _mul, "softmax": _output,
    **{k: _act for k in ("relu", "relu6", "leaky_relu", "elu", "silu", "hardswish", "hardsigmoid",
                         "sigmoid", "tanh", "gelu")},
    **{k: _nothing for k in ("flatten", "identity", "zeropad", "concat", "add", "sub", "scale", "chanpad",
                             "slice")},
}
"""What each op saves for backward. A new op kind must add its rule here (missing → error)."""


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
        return (self.param_bytes + self.buffer_bytes + self.gradient_bytes + self.optimizer_bytes
                + self.saved_activation_bytes)

    @property
    def backward_forward_ratio(self) -> float:
        """Saved-for-backward over forward activation bytes: the lecture's rule of thumb says ~2."""
        return self.saved_activation_bytes / self.forward_activation_bytes


def cpu_conv_workspace(node: Node, elem: int, batch: int) -> int:
    """Transient bytes torch's CPU (oneDNN) convolution allocates besides its output.

    Measured on torch 2.14 with the memory profiler: oneDNN reorders the input to a blocked
    layout (a full copy when it has ≥ 16 channels or groups), the weight, and the output back to
    the plain layout (a second output-sized buffer): transient ≈ max(input copy + weight, output).
    A strided 1×1 conv (ResNet's projection shortcuts) also holds a one-image scratch of its
    output's size (+128 bytes) for the whole call, whatever the batch.
    """
    assert node.op is not None
    c = node.in_shapes[0][0]
    in_bytes = numel(node.in_shapes[0]) * elem * batch
    out_bytes = numel(node.out_shape) * elem * batch
    w = node.op.params(list(node.in_shapes))
    copy = in_bytes if c >= 16 or node.op.v["groups"] > 1 else 0
    scratch = numel(node.out_shape) * elem + 128 if node.op.v["k"] == (1, 1) and node.op.v["stride"] != (1, 1) else 0
    return scratch + max(copy + w.weights * elem, out_bytes)


def peak_inference(graph: Graph, elem: int, batch: int, backend: str = "ideal") -> tuple[int, str]:
    """Peak of live activation bytes over the forward pass, and the layer where it occurs.

    ``ideal``: only the tensors the network defines; ``cpu``: plus the conv workspace torch's
    CPU backend allocates while the conv runs (``cpu_conv_workspace``).
    """
    st = _Storages(graph, training=False)
    last_read: dict[int, int] = {}
    for node in graph.nodes:
        for i in node.inputs:
            last_read[st.of[i]] = node.id
    keep = {st.of[graph.output], *(st.of[i] for i in graph.aux_outputs)}
    live: dict[int, int] = {}
    peak, where = 0, "input"
    for node in graph.nodes:
        sid = st.of[node.id]
        if sid not in live:
            live[sid] = st.elements[sid] * elem * batch
        current = sum(live.values())
        if backend == "cpu" and node.op is not None and node.op.kind == "conv":
            current += cpu_conv_workspace(node, elem, batch)
        if current > peak:
            peak, where = current, node.name
        for i in {st.of[i] for i in node.inputs} | {sid}:
            if last_read.get(i, -1) <= node.id and i not in keep:
                live.pop(i, None)
    return peak, where


def saved_for_backward(graph: Graph, elem: int, batch: int) -> int:
    """Bytes of the tensors autograd saves in a training step, each storage once."""
    st = _Storages(graph, training=True)
    saved: dict[object, int] = {}
    grad = [False] * len(graph.nodes)  # does the node's output require grad? (the input does not)
    for node in graph.nodes[1:]:
        assert node.op is not None
        p = node.op.params(list(node.in_shapes))
        grad[node.id] = bool(p.weights or p.biases) or any(grad[i] for i in node.inputs)
        if not grad[node.id]:
            continue  # autograd records nothing for an op on tensors that need no gradient
        rule = SAVE_RULES.get(node.op.kind)
        if rule is None:
            raise SpecError(f"no backward-saving rule for op {node.op.kind!r}")
        for key, nbytes in rule(node, st, elem):
            saved[key] = nbytes
    return sum(saved.values()) * batch - _batch_free(graph, st) * (batch - 1)


def _batch_free(graph: Graph, st: _Storages) -> int:
    """BN's saved mean/invstd (fp32, per channel) do not grow with the batch."""
    return sum(8 * n.out_shape[0] for n in graph.nodes[1:] if n.op is not None and n.op.kind == "bn")


def memory(a: Analysis, dtype_bytes: int = 4, optimizer: str = "sgd", amp: bool = False) -> Memory:
    """Every memory figure of an analysed model; ``amp``: half activations, fp32 master weights."""
    if optimizer not in OPTIMIZER_STATE:
        raise SpecError(f"unknown optimizer {optimizer!r}", expected=" | ".join(OPTIMIZER_STATE))
    elem = 2 if amp else dtype_bytes
    weight_bytes = 4 if amp else dtype_bytes
    t, g, b = a.totals, a.graph, a.batch
    peak, where = peak_inference(g, elem, b)
    peak_cpu, _ = peak_inference(g, elem, b, "cpu")
    params = t.params * weight_bytes
    return Memory(
        batch=b, dtype_bytes=elem, param_bytes=params, buffer_bytes=t.buffers * weight_bytes,
        forward_activation_bytes=t.activations * elem, peak_inference_bytes=peak, peak_at=where,
        peak_cpu_bytes=peak_cpu,
        saved_activation_bytes=saved_for_backward(g, elem, b), gradient_bytes=params,
        optimizer_bytes=OPTIMIZER_STATE[optimizer] * params, optimizer=optimizer, amp=amp,
    )
