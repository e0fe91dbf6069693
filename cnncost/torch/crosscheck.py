"""Check the analysis against the instantiated model, exactly, layer by layer.

Three independent oracles: the spec-built torch model (shapes from forward hooks,
parameter and buffer counts), fvcore's ``FlopCountAnalysis`` (per module, under cnncost's
``fvcore`` convention) and ``torch.utils.flop_counter.FlopCounterMode`` (total = 2 × MACs),
plus the reference implementation the spec names (torchvision / timm).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cnncost.analysis.cost import Analysis, analyze_graph
from cnncost.ops.base import Shape, op_classes
from cnncost.spec.expand import expand
from cnncost.spec.family import ModelSpec
from cnncost.torch.builder import SpecNet
from cnncost.torch.reference import build_reference

AGAINST = ("torch", "fvcore", "reference")

UNEXPLAINED = "not explained by any op class"


def fvcore_skips() -> dict[str, str]:
    """fvcore's unsupported-op list, explained: each aten op fvcore skips, and why that is not a gap
    in cnncost — gathered from the op classes (``Op.fvcore_skips``)."""
    reasons: dict[str, list[str]] = {}
    for cls in op_classes():
        for aten, why in cls.fvcore_skips.items():
            if why not in reasons.setdefault(aten, []):
                reasons[aten].append(why)
    return {aten: "; or ".join(whys) for aten, whys in reasons.items()}


@dataclass
class Check:
    model: str
    check: str
    engine: Any
    """cnncost's analytical value."""
    oracle: Any
    """What torch / fvcore / the reference model measured."""
    ok: bool
    details: list[str] = field(default_factory=list)
    skipped: dict[str, tuple[int, str]] = field(default_factory=dict)
    """fvcore's unsupported ops: name → (calls, why cnncost agrees they are not counted)."""


def _int_eq(model: str, name: str, engine: int, oracle: int, details: list[str] | None = None) -> Check:
    return Check(model, name, engine, oracle, engine == oracle, details or [])


def _layer_diff(path: str, what: str, engine: int, torch_value: int, hint: str = "") -> str:
    return f"{path}: engine {engine:,} {what}, torch {torch_value:,}" + (f" — {hint}" if hint else "")


def _hint(spec_params: int, module_params: int, channels: int) -> str:
    """A parameter difference of exactly one per output channel is a bias one side has."""
    return "bias?" if channels and abs(spec_params - module_params) == channels else ""


def run_model(model: nn.Module, shape: tuple[int, ...], batch: int = 1) -> tuple[torch.Tensor, dict[str, Any]]:
    model.eval()
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        y = model(x)
    return y, {"x": x}


def fvcore_counts(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int], dict[str, int]]:
    """fvcore total, per-module counts and unsupported ops (name → calls) of ``model(x)``."""
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    fca = FlopCountAnalysis(model.eval(), x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # fvcore traces with torch.jit
        total = int(fca.total())
    return total, {k: int(v) for k, v in fca.by_module().items()}, dict(fca.unsupported_ops())


def flop_counter_total(model: nn.Module, x: torch.Tensor) -> int:
    """torch's own counter (2 per multiply-add, conv and matmul). Under no_grad: inference_mode hides ops."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return int(counter.get_total_flops())


def check_against_torch(a: Analysis, net: SpecNet, x: torch.Tensor) -> list[Check]:
    name, out = a.model.name, []
    modules = dict(net.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for path in net.paths:

        def hook(_m: nn.Module, _i: Any, o: torch.Tensor, path: str = path) -> None:
            shapes[path] = tuple(o.shape[1:])

        hooks.append(modules[path].register_forward_hook(hook))
    with torch.no_grad():
        net.eval()(x)
    for h in hooks:
        h.remove()
    shape_diffs, param_diffs, buffer_diffs = [], [], []
    seen: set[int] = set()  # a shared tensor counts at its first layer, as the engine counts it
    for layer, node in zip(a.layers[1:], a.graph.ops, strict=True):
        path = layer.name
        if not node.train_only and shapes.get(path) != tuple(layer.out_shape):  # training-only: not run in eval
            shape_diffs.append(f"{path}: engine {layer.out_shape}, torch {shapes.get(path)}")
        m = modules[path]
        own = [t for t in (*m.parameters(), *m.buffers()) if id(t) not in seen]
        seen.update(id(t) for t in own)
        p = sum(t.numel() for t in own if isinstance(t, nn.Parameter))
        if p != layer.params:
            hint = _hint(layer.params, p, layer.out_shape[0])
            param_diffs.append(_layer_diff(path, "params", layer.params, p, hint))
        b = sum(t.numel() for t in own if not isinstance(t, nn.Parameter))
        if b != layer.buffers:
            buffer_diffs.append(_layer_diff(path, "buffer elements", layer.buffers, b))
    n_layers = sum(1 for node in a.graph.ops if not node.train_only)
    out.append(
        Check(name, "shapes (forward hooks)", n_layers, n_layers - len(shape_diffs), not shape_diffs, shape_diffs)
    )
    out.append(
        _int_eq(
            name,
            "params (trainable)",
            a.totals.params,
            sum(p.numel() for p in net.parameters() if p.requires_grad),
            param_diffs,
        )
    )
    out.append(
        _int_eq(
            name, "buffers (BN running stats)", a.totals.buffers, sum(b.numel() for b in net.buffers()), buffer_diffs
        )
    )
    out.append(_int_eq(name, "FlopCounterMode = 2×MACs", a.totals.flops, flop_counter_total(net, x)))
    return out


def check_against_fvcore(a: Analysis, net: SpecNet, x: torch.Tensor) -> list[Check]:
    total, by_module, unsupported = fvcore_counts(net, x)
    diffs = [
        _layer_diff(r.name, "fvcore flops", r.fvcore, by_module.get(r.name, 0))
        for r in a.layers[1:]
        if by_module.get(r.name, 0) != r.fvcore
    ]
    check = _int_eq(a.model.name, "fvcore total (fvcore convention)", a.totals.fvcore, total, diffs)
    why = fvcore_skips()
    check.skipped = {op: (n, why.get(op, UNEXPLAINED)) for op, n in sorted(unsupported.items())}
    return [check]


def weight_layers_in_order(model: nn.Module, x: torch.Tensor) -> list[tuple[str, int]]:
    """(module name, own parameter count) of every module holding parameters, in execution order."""
    order: list[tuple[str, int]] = []
    hooks = []
    for mname, m in model.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if own:
            hooks.append(m.register_forward_hook(lambda _m, _i, _o, mname=mname, own=own: order.append((mname, own))))
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return order


def reference_layer_diffs(a: Analysis, ref: nn.Module, x: torch.Tensor, limit: int = 5) -> list[str]:
    """Align the spec's weight layers with the reference's, in execution order, and name the first
    that differ: ``layer3.0.conv2 ↔ layer3.0.conv2: engine 589,824 params, torch 590,080 — bias?``."""
    ours = [(r.name, r.params, r.out_shape[0] if r.out_shape else 0) for r in a.layers if r.params]
    theirs = weight_layers_in_order(ref, x)
    diffs = []
    for (path, p, channels), (rname, rp) in zip(ours, theirs, strict=False):
        if p != rp:
            hint = _hint(p, rp, channels)
            diffs.append(_layer_diff(f"{path} ↔ {rname}", "params", p, rp, hint))
            if len(diffs) >= limit:
                break
    if len(ours) != len(theirs):
        diffs.append(f"{len(ours)} layers with parameters in the spec, {len(theirs)} in the reference")
    return diffs


def _reference_outputs(y: Any) -> tuple[list[torch.Tensor], bool]:
    """A reference's outputs, the main one first, and whether it named them: a tensor, a tuple or
    list (its first element is the main output), or a dict — torchvision's segmentation models
    return ``{"out": ..., "aux": ...}``, the order in which a spec returns its main and ``aux:`` outputs."""
    if isinstance(y, dict):
        return [y["out"], *(v for k, v in y.items() if k != "out")] if "out" in y else list(y.values()), True
    if isinstance(y, (tuple, list)):
        return list(y), False
    return [y], False


def check_against_reference(a: Analysis, spec: ModelSpec) -> list[Check]:
    """The spec against the model it names: params, buffers, fvcore's total (its jit trace takes a dict
    output as it is) and the main output's shape; for a dict output also the side outputs' shapes."""
    name, ref = a.model.name, build_reference(spec.reference).eval()
    x = torch.randn(1, *a.input_shape)
    with torch.no_grad():
        outs, named = _reference_outputs(ref(x))
    total, _, _ = fvcore_counts(ref, x)
    label = f"reference {spec.reference}"
    ref_params = sum(p.numel() for p in ref.parameters())
    diffs = reference_layer_diffs(a, ref, x) if ref_params != a.totals.params else []
    ours = list(a.graph.nodes[a.graph.output].out_shape)
    theirs = list(outs[0].shape[1:])
    checks = [
        _int_eq(name, f"{label}: params", a.totals.params, ref_params, diffs),
        _int_eq(name, f"{label}: buffers", a.totals.buffers, sum(b.numel() for b in ref.buffers())),
        _int_eq(name, f"{label}: fvcore total", a.totals.fvcore, total),
        Check(name, f"{label}: output shape", ours, theirs, ours == theirs),
    ]
    if named and (len(outs) > 1 or a.graph.aux_outputs):
        our_aux = [list(a.graph.nodes[i].out_shape) for i in a.graph.aux_outputs]
        their_aux = [list(o.shape[1:]) for o in outs[1:]]
        checks.append(Check(name, f"{label}: aux output shapes", our_aux, their_aux, our_aux == their_aux))
    return checks


class _ParamUses(torch.overrides.TorchFunctionMode):
    """Records, in execution order, the first call that reads each module's own parameters or buffers
    (a conv's weight, ``F.batch_norm``'s running stats, ConvNeXt's ``layer_scale``): which module, and
    the shape of what that call returns."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.owner: dict[int, str] = {}
        for name, m in model.named_modules():
            for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)):
                self.owner.setdefault(id(t), name)
        self.seen: set[str] = set()
        self.order: list[tuple[str, tuple[int, ...]]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for a in (*args, *(kwargs or {}).values()):
            name = self.owner.get(id(a)) if isinstance(a, torch.Tensor) else None
            if name is not None and name not in self.seen and isinstance(out, torch.Tensor):
                self.seen.add(name)
                self.order.append((name, tuple(out.shape[1:])))
        return out


def module_layers(model: nn.Module, x: torch.Tensor) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """(module, own params, own buffer elements, output shape) of every module holding tensors, in the
    order the forward first reads them."""
    uses = _ParamUses(model)
    with torch.no_grad(), uses:
        model.eval()(x)
    modules = dict(model.named_modules())
    out = []
    for name, shape in uses.order:
        m = modules[name]
        out.append(
            (
                name,
                sum(p.numel() for p in m.parameters(recurse=False)),
                sum(b.numel() for b in m.buffers(recurse=False)),
                shape,
            )
        )
    return out


def check_against_module(a: Analysis, source: str, limit: int = 5) -> list[Check]:
    """A spec against a real module, layer by layer in execution order: each layer holding weights or
    buffers (its params, buffers, output shape; fvcore's count where the module is a leaf), then the
    totals: params, buffers, fvcore, FlopCounterMode, and the bytes autograd saves for backward in a
    training forward (``saved_tensors_hooks``): an in-place flag the spec gets wrong shows there."""
    from cnncost.analysis.memory import saved_for_backward
    from cnncost.torch.memory_check import measured_saved_bytes
    from cnncost.torch.reference import build_source

    name = a.model.name
    module, _ = build_source(source)
    module.eval()
    x = torch.randn(1, *a.input_shape)
    theirs = module_layers(module, x)
    ours = [r for r, n in zip(a.layers[1:], a.graph.ops, strict=True) if (r.params or r.buffers) and not n.train_only]
    total, by_module, _ = fvcore_counts(module, x)
    leaves = {n for n, m in module.named_modules() if not any(True for _ in m.children())}
    diffs: list[str] = []
    for r, (mname, p, b, shape) in zip(ours, theirs, strict=False):
        label = r.name if r.name == mname else f"{r.name} ↔ {mname}"
        what = []
        if r.params != p:
            hint = _hint(r.params, p, r.out_shape[0] if r.out_shape else 0)
            what.append(f"spec {r.params:,} params, module {p:,}" + (f" — {hint}" if hint else ""))
        if r.buffers != b:
            what.append(f"spec {r.buffers:,} buffer elements, module {b:,}")
        if tuple(r.out_shape) != shape:
            what.append(f"spec output {tuple(r.out_shape)}, module {shape}")
        if mname in leaves and not what and r.fvcore != by_module.get(mname, 0):
            what.append(f"spec {r.fvcore:,} fvcore flops, module {by_module.get(mname, 0):,}")
        if what:
            diffs.append(f"{label}: " + "; ".join(what))
            if len(diffs) >= limit:
                break
    if len(ours) != len(theirs) and len(diffs) < limit:
        diffs.append(f"{len(ours)} layers with weights or buffers in the spec, {len(theirs)} in the module")
    label = f"module {source}"
    n_params = sum(p.numel() for p in module.parameters())
    checks = [
        Check(name, f"{label}: layers in execution order", len(ours), len(theirs), not diffs, diffs),
        _int_eq(name, f"{label}: params", a.totals.params, n_params),
        _int_eq(name, f"{label}: buffers", a.totals.buffers, sum(b.numel() for b in module.buffers())),
        _int_eq(name, f"{label}: fvcore total", a.totals.fvcore, total),
        _int_eq(name, f"{label}: FlopCounterMode = 2×MACs", a.totals.flops, flop_counter_total(module, x)),
    ]
    batch = 2  # batch norm trains on 1×1 maps only with two samples
    torch.manual_seed(0)
    measured = measured_saved_bytes(module, torch.randn(batch, *a.input_shape))
    module.eval()
    engine = saved_for_backward(a.graph, 4, batch)
    checks.append(_int_eq(name, f"{label}: saved for backward (bytes, fp32, batch {batch})", engine, measured))
    return checks


def crosscheck(spec: ModelSpec, against: Iterable[str] = AGAINST, input_shape: Shape | None = None) -> list[Check]:
    """All requested checks of one spec at its own input size (or ``input_shape``), batch 1."""
    against = set(against)
    torch.manual_seed(0)
    graph = expand(spec, input_shape)
    a = analyze_graph(graph)
    out: list[Check] = []
    if against & {"torch", "fvcore"}:
        net = SpecNet(graph).eval()
        x = torch.randn(1, *graph.input_shape)
        if "torch" in against:
            out += check_against_torch(a, net, x)
        if "fvcore" in against:
            out += check_against_fvcore(a, net, x)
    if "reference" in against and spec.reference:
        if spec.file.startswith("<"):  # imported from a torch source: the module itself, layer by layer
            out += check_against_module(a, spec.reference)
        else:
            out += check_against_reference(a, spec)
    for item in sorted(against):
        if item.startswith("module:"):
            out += check_against_module(a, item.removeprefix("module:"))
    return out
