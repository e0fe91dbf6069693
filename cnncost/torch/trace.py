"""Read an ``nn.Module`` into cnncost layers with ``torch.fx``, keeping the module's own names.

Why fx (``symbolic_trace`` with torchvision's and timm's leaf conventions) and not ``torch.export``:
cnncost's ops are module-level (a conv with its bias, a BN with its buffers), and fx keeps the module
calls and their qualified names as they are, in milliseconds, where export lowers everything to aten
ops that would have to be regrouped into modules; what fx cannot follow (data-dependent control flow)
is an error that names the module.

The trace is run once on meta tensors (shapes only, nothing computed), so every value is known:
tensors' shapes, and the Python values (``x.size(0)``, a ``chunk``'s parts) that shape code uses.
Each call becomes a ``Layer`` (``cnncost.spec.writer``): an op kind and fields, the ids of its
inputs, the output shape torch computed, and a path — the module's qualified name for a module
call (``layer1.0.conv1``), or the calling module's name and the op for a function (``layer1.0.add``).
"""

from __future__ import annotations

import contextlib
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from cnncost.errors import SpecError
from cnncost.spec.writer import Layer, Traced
from cnncost.torch.fxops import (
    FUNCTIONS,
    MODULES,
    ParamRef,
    Parts,
    TensorId,
    Unsupported,
    has_tensor,
    in_place,
    out_shape,
    register_timm,
)

Fields = dict[str, Any]
LIMIT_LISTED = 12


# -- the tracer -------------------------------------------------------------------------------
def _timm_leaves() -> tuple[type, ...]:
    """timm's modules read whole: the 'same'-padding ones compute their padding from the input size in
    ``forward`` (TensorFlow's 'same': fx cannot follow that arithmetic, and cnncost has the rule, ``pad:
    same``); ``BatchNormAct2d`` is a batch norm and its activation, read as the two layers it is
    (tracing through its ``F.batch_norm`` costs 4 ms a call: a third of an EfficientNet's trace)."""
    try:
        import importlib

        conv = importlib.import_module("timm.layers.conv2d_same")
        pool = importlib.import_module("timm.layers.pool2d_same")
        norm = importlib.import_module("timm.layers.norm_act")
    except ImportError:
        return ()
    return (conv.Conv2dSame, pool.MaxPool2dSame, pool.AvgPool2dSame, norm.BatchNormAct2d)


def _autowrap() -> tuple[Callable[..., Any], ...]:
    import torchvision.models.shufflenetv2 as sv2

    return (sv2.channel_shuffle,)


class _PathTracer(fx.Tracer):
    """fx's tracer, recording for every node the module scope it was created in, and a unique path
    for every module call (a module called twice is ``relu``, then ``relu_1``)."""

    def __init__(self) -> None:
        super().__init__(autowrap_functions=_autowrap(), param_shapes_constant=True)
        self.cc_scope: list[tuple[str, ...]] = [()]
        """The path of each module being traced (a reused module's second call is ``name_1``)."""
        self._scope_qual: list[str] = [""]
        """Their qualified names, as torch has them."""
        self.used: set[tuple[str, ...]] = set()
        self.first_call: dict[str, tuple[str, ...]] = {}
        self.classes: dict[tuple[str, ...], str] = {(): ""}
        self.timm_leaves = _timm_leaves()

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, self.timm_leaves) or super().is_leaf_module(m, qualname)

    def _path(self, qualname: str) -> tuple[str, ...]:
        scope = self.cc_scope[-1]
        parent_q = self._scope_qual[-1]
        if qualname.startswith(parent_q + ".") and parent_q:
            rel = tuple(qualname[len(parent_q) + 1 :].split("."))
            path = (*scope, *rel)
        elif not parent_q:
            path = tuple(qualname.split(".")) if qualname else ()
        else:
            path = tuple(qualname.split("."))
        if path in self.used:
            n = 1
            while (*path[:-1], f"{path[-1]}_{n}") in self.used:
                n += 1
            path = (*path[:-1], f"{path[-1]}_{n}")
        self.used.add(path)
        return path

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:
        self._scope_qual = [""]
        return super().trace(root, concrete_args)

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        qualname = self.path_of_module(m)
        path = self._path(qualname)
        self.classes[path] = type(m).__name__
        if self.is_leaf_module(m, qualname):
            proxy = super().call_module(m, forward, args, kwargs)
            proxy.node.meta["cnncost_path"] = path
            proxy.node.meta["cnncost_first"] = self.first_call.setdefault(qualname, path)
            return proxy
        self.cc_scope.append(path)
        self._scope_qual.append(qualname)
        try:
            return super().call_module(m, forward, args, kwargs)
        except Unsupported:
            raise
        except (TypeError, RuntimeError, AttributeError, ValueError, AssertionError) as exc:
            if "cnncost_where" not in getattr(exc, "__dict__", {}):
                setattr(exc, "cnncost_where", ".".join(path) or "the model")  # noqa: B010 - on a foreign exception
                setattr(exc, "cnncost_class", type(m).__name__)  # noqa: B010
            raise
        finally:
            self.cc_scope.pop()
            self._scope_qual.pop()

    def create_node(self, *args: Any, **kwargs: Any) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        node.meta["cnncost_scope"] = self.cc_scope[-1]
        return node


@contextlib.contextmanager
def _inplace_operators() -> Iterator[None]:
    """fx turns ``out += identity`` into ``operator.add`` (``Proxy`` has no ``__iadd__``), losing that
    torchvision's ResNet adds in place; while tracing, ``+=``, ``-=`` and ``*=`` record ``operator.iadd``..."""
    added = []
    for dunder, fn in (("__iadd__", operator.iadd), ("__isub__", operator.isub), ("__imul__", operator.imul)):
        if dunder not in fx.Proxy.__dict__:

            def method(self: fx.Proxy, other: Any, fn: Any = fn) -> fx.Proxy:
                return self.tracer.create_proxy("call_function", fn, (self, other), {})

            setattr(fx.Proxy, dunder, method)
            added.append(dunder)
    try:
        yield
    finally:
        for dunder in added:
            delattr(fx.Proxy, dunder)


def _run_values(gm: fx.GraphModule, shape: tuple[int, ...], batch: int = 1) -> dict[fx.Node, Any]:
    """Every node's value, computed on meta tensors (shapes only), or for real at batch 1 when an op
    has no meta kernel or the module keeps plain tensors."""
    values: dict[fx.Node, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            out = super().run_node(n)
            values[n] = out
            return out

    from torch.nn.utils.stateless import _reparametrize_module

    state = {k: torch.empty_like(v, device="meta") for k, v in (*gm.named_parameters(), *gm.named_buffers())}
    try:
        with torch.no_grad(), _reparametrize_module(gm, state):
            Recorder(gm).run(torch.empty(batch, *shape, device="meta"))
        return values
    except Exception:
        values.clear()
    with torch.no_grad():
        Recorder(gm).run(torch.zeros(batch, *shape))
    return values


# -- the conversion -------------------------------------------------------------------------
TORCH_NAMESPACES = ("torch", "operator", "builtins", "_operator", "math")


def _scope_of(node: fx.Node) -> tuple[str, ...]:
    scope: tuple[str, ...] = node.meta.get("cnncost_scope", ())
    return scope


def _fname(node: fx.Node) -> str:
    """A call's name: ``add`` for ``operator.add`` and ``x.add``, ``cat`` for ``torch.cat``; a function
    outside torch keeps its module (``mylib.blur``), so that it is never taken for a torch op."""
    if node.op == "call_method":
        return str(node.target)
    target = node.target
    name = getattr(target, "__name__", str(target))
    module = getattr(target, "__module__", None) or ""
    if module.split(".")[0] in TORCH_NAMESPACES or module == "":
        return name
    return LIBRARY_FUNCTIONS.get(f"{module}.{name}", f"{module}.{name}")


LIBRARY_FUNCTIONS = {
    "torchvision.ops.stochastic_depth.stochastic_depth": "stochastic_depth",
    "torchvision.models.shufflenetv2.channel_shuffle": "channel_shuffle",
    "timm.layers.drop.drop_path": "drop_path",
}
"""Functions of torchvision and timm that fx keeps as calls (``torch.fx.wrap``), by the op they are."""


def _module_name(cls: type) -> str:
    """``nn.PixelShuffle``, ``timm.layers.split_attn.RadixSoftmax``: how a user would write the class."""
    module = cls.__module__
    if module.startswith("torch.nn.modules"):
        module = "nn"
    return f"{module}.{cls.__qualname__}"


def _call_name(node: fx.Node) -> str:
    """``torch.fft.rfft2``, ``Tensor.abs``, ``mylib.blur``: how a user would write the call."""
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    try:
        return str(torch.overrides.resolve_name(node.target) or _fname(node))
    except Exception:
        return _fname(node)


@dataclass
class Converter:
    """Turns the fx nodes, in order, into layers: each node's value becomes a layer id (a tensor), a
    ``ParamRef``/``Parts``/``Grouped``, or the Python value itself (shape arithmetic)."""

    gm: fx.GraphModule
    values: dict[fx.Node, Any]
    classes: dict[tuple[str, ...], str]
    root: str = "Module"
    """The traced model's class, for calls in its own forward."""
    layers: list[Layer] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    ids: dict[fx.Node, Any] = field(default_factory=dict)
    names: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    used_params: set[str] = field(default_factory=set)
    has_input: bool = False
    current: str = ""
    """The name of the function being converted (handlers shared by max and avg read it)."""

    # -- values --------------------------------------------------------------------------
    def value(self, a: Any) -> Any:
        """An argument: a tensor's layer id, a ParamRef/Parts/Grouped, or a plain Python value."""
        if isinstance(a, fx.Node):
            return self.ids[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.value(x) for x in a)
        if isinstance(a, dict):
            return {k: self.value(v) for k, v in a.items()}
        return a

    def tensor(self, v: Any, where: tuple[str, ...]) -> int:
        """A layer id for a tensor value: Parts become slice layers where they are used."""
        if isinstance(v, TensorId):
            return v
        if isinstance(v, Parts) and len(v.bounds) == 1:
            start, stop = v.bounds[0]
            return self.add(v.scope, "slice", {"start": start, "stop": stop}, (v.source,), None)
        raise Unsupported(f"a {type(v).__name__} value used as a tensor")

    def shape(self, i: int) -> tuple[int, ...]:
        return self.shapes[i]

    def name_in(self, scope: tuple[str, ...], base: str) -> tuple[str, ...]:
        """``scope.base``, then ``scope.base1``, ``scope.base2``: the expander's names for merges."""
        used = self.names.setdefault(scope, set())
        name, n = base, 0
        while name in used:
            n += 1
            name = f"{base}{n}"
        used.add(name)
        return (*scope, name)

    def add(
        self,
        path: tuple[str, ...],
        kind: str,
        fields: Fields,
        inputs: tuple[int, ...],
        shape: tuple[int, ...] | None,
        shares: tuple[str, ...] | None = None,
        own_name: bool = False,
    ) -> TensorId:
        """A new layer; a function's layer is named ``kind`` in its scope (``path`` is the scope)."""
        if not own_name:
            path = self.name_in(path, kind)
        else:
            self.names.setdefault(path[:-1], set()).add(path[-1])
        if shape is None:
            shape = self.shape(inputs[0])
        self.layers.append(Layer(path, kind, fields, inputs, shape, shares))
        self.shapes.append(shape)
        return TensorId(len(self.layers))

    # -- nodes ---------------------------------------------------------------------------
    def run(self) -> None:
        self.shapes.append(())
        for node in self.gm.graph.nodes:
            try:
                self.node(node)
            except Unsupported as exc:
                path = node.meta.get("cnncost_path") or node.meta.get("cnncost_scope") or ()
                where = ".".join(path) or f"{self.root}.forward"
                self.problems.append((str(exc), where))
                out = self.values.get(node)
                if isinstance(out, torch.Tensor):  # go on, counted as zero, to list every problem at once
                    ins = [self.ids[a] for a in node.all_input_nodes if isinstance(self.ids.get(a), TensorId)]
                    shape = tuple(out.shape[1:])
                    if node.op == "call_module":
                        path, own = node.meta["cnncost_path"], True
                    else:  # named by the call: layer3.0.pixel_shuffle
                        short = re.sub(r"\W", "_", _fname(node).rsplit(".", 1)[-1]).strip("_") or "call"
                        path, own = self.name_in(_scope_of(node), short), True
                    self.ids[node] = self.add(
                        path, "opaque", {"shape": list(shape)}, tuple(ins[:1]) or (TensorId(0),), shape, own_name=own
                    )
                else:
                    self.ids[node] = out

    def node(self, node: fx.Node) -> None:
        out = self.values.get(node)
        if node.op == "placeholder":
            if not isinstance(out, torch.Tensor):  # an optional argument left at its default
                self.ids[node] = out
                return
            if self.has_input:
                raise Unsupported("a second input tensor: cnncost reads models with one input")
            self.has_input = True
            self.shapes[0] = tuple(out.shape[1:])
            self.ids[node] = TensorId(0)
        elif node.op == "get_attr":
            self.ids[node] = ParamRef(str(node.target), tuple(out.shape)) if isinstance(out, torch.Tensor) else out
        elif node.op == "call_module":
            self.ids[node] = self.module(node, out)
        elif node.op in ("call_function", "call_method"):
            self.ids[node] = self.function(node, out)
        elif node.op == "output":
            self.output = self.value(node.args[0])

    def module(self, node: fx.Node, out: Any) -> Any:
        m = self.gm.get_submodule(str(node.target))
        path: tuple[str, ...] = node.meta["cnncost_path"]
        first: tuple[str, ...] = node.meta["cnncost_first"]
        args = [self.value(a) for a in node.args]
        if not args or not isinstance(args[0], (TensorId, Parts)):
            raise Unsupported(f"{type(m).__name__} called on {type(args[0]).__name__ if args else 'nothing'}")
        x = self.tensor(args[0], path[:-1])
        mapper = MODULES.get(type(m))
        if mapper is None:
            for t, f in MODULES.items():  # a subclass that keeps its base's forward (timm's Conv2dSame has its own)
                if isinstance(m, t) and getattr(type(m), "forward", None) is getattr(t, "forward", None):
                    mapper = f
                    break
        if mapper is None:
            raise Unsupported(_module_name(type(m)))
        in_shape = self.shape(x)
        res = mapper(m, in_shape, out_shape(out))
        if res is None:  # the identity: nothing to count
            return x
        if isinstance(res, list):  # a composite module: its layers in order, named inside it
            self.used_params.update(f"{node.target}.{n}" for n, _ in m.named_parameters(recurse=False))
            for name, kind, fields in res:
                x = self.add((*path, name), kind, fields, (x,), out_shape(out), own_name=True)
            self.classes[path] = type(m).__name__
            return x
        kind, fields = res
        if any(p.numel() for p in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            self.used_params.update(f"{node.target}.{n}" for n, _ in m.named_parameters(recurse=False))
        shares = first if first != path and any(True for _ in m.parameters(recurse=False)) else None
        return self.add(path, kind, fields, (x,), out_shape(out), shares, own_name=True)

    def function(self, node: fx.Node, out: Any) -> Any:
        name = _fname(node)
        handler = FUNCTIONS.get(name)
        if isinstance(node.target, type) and issubclass(node.target, tuple):  # a namedtuple of outputs
            return tuple(self.value(a) for a in (*node.args, *node.kwargs.values()))
        if handler is None:
            if not isinstance(out, torch.Tensor) and not has_tensor(out):
                return out  # shape arithmetic, x.size(0), asserts: plain Python values
            raise Unsupported(_call_name(node))
        args = [self.value(a) for a in node.args]
        kwargs = {k: self.value(v) for k, v in node.kwargs.items()}
        self.current = name
        result = handler(self, _scope_of(node), args, kwargs, out)
        if in_place(name) and isinstance(result, TensorId) and isinstance(node.args[0], fx.Node):
            self.ids[node.args[0]] = result  # x.add_(y): later reads of x read the result
        return result


# -- entry point -----------------------------------------------------------------------------
def _convert(model: nn.Module, input_shape: tuple[int, ...], label: str) -> tuple[Converter, _PathTracer]:
    """Trace ``model`` in its current mode and convert every call."""
    tracer = _PathTracer()
    try:
        with _inplace_operators():
            graph = tracer.trace(model)
    except Exception as exc:
        where = getattr(exc, "cnncost_where", "the model's forward")
        cls = getattr(exc, "cnncost_class", type(model).__name__)
        text = " ".join(str(exc).split())
        if "control flow" in text or "symbolically traced variables" in text:
            what = "Python control flow on a tensor's values or shape (if x.shape[-1] < 7: ...)"
        else:
            what = f"{type(exc).__name__}: {text[:200]}"
        raise SpecError(
            f"{label}: torch.fx cannot trace {where} ({cls}.forward): {what}",
            expected="a forward without Python control flow on tensor values or shapes "
            "(if x.sum() > 0, for i in range(x.size(0)))",
        ) from None
    gm = fx.GraphModule(tracer.root, graph)
    try:
        values = _run_values(gm, input_shape, 2 if model.training else 1)  # BN trains on 2 samples
    except Exception as exc:
        raise SpecError(
            f"{label}: the model does not run at input {'×'.join(map(str, input_shape))}: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
            expected="the input size the model takes (--input C×H×W)",
        ) from None
    conv = Converter(gm, values, tracer.classes, type(model).__name__)
    conv.run()
    return conv, tracer


def _outputs(conv: Converter) -> list[int]:
    """The main output first: a tensor, a tuple or list (the first), a dict (``out``, as torchvision's
    segmentation models name it), a namedtuple (GoogLeNet's in training: logits, aux2, aux1)."""
    out = conv.output
    if isinstance(out, dict):
        outputs = [out["out"], *(v for k, v in out.items() if k != "out")] if "out" in out else list(out.values())
    elif isinstance(out, (list, tuple)):
        outputs = list(out)
    else:
        outputs = [out]
    return [int(conv.tensor(o, ())) for o in outputs if o is not None]


def _uncalled(model: nn.Module, conv: Converter) -> list[str]:
    """Modules holding parameters that no traced layer reads (training-only heads, unused modules)."""
    read = {".".join(layer.path) for layer in conv.layers} | conv.used_params
    read |= {p.rsplit(".", 1)[0] for p in conv.used_params}
    out = []
    for name, m in model.named_modules():
        holds = any(True for _ in m.parameters(recurse=False))
        if name and holds and not any(r == name or r.startswith(name + ".") for r in read):
            out.append(name)
    return out


def trace(model: nn.Module, input_shape: tuple[int, ...], label: str, allow_unsupported: bool = False) -> Traced:
    """``model`` as layers, in execution order, with the shapes torch computes at ``input_shape``.

    Traced in eval mode; when modules with parameters never ran (GoogLeNet's and Inception-v3's
    auxiliary heads run only in training), traced again in training mode, and the layers only that
    trace has are kept as ``train_only`` side heads: their weights count, their work does not at inference.
    """
    register_timm(_timm_leaves())
    was_training = model.training
    model.eval()
    try:
        conv, tracer = _convert(model, input_shape, label)
        layers, outputs, problems = list(conv.layers), _outputs(conv), list(conv.problems)
        missing = _uncalled(model, conv)
        if missing:
            model.train()
            tconv, ttracer = _convert(model, input_shape, label)
            layers, outputs, problems = _merge_training(conv, tconv, missing, label)
            tracer.classes.update(ttracer.classes)
            missing = _uncalled(model, tconv)
    finally:
        model.train(was_training)
    if problems and not allow_unsupported:
        listed = "; ".join(f"{what} at {where}" for what, where in problems[:LIMIT_LISTED])
        more = f"; and {len(problems) - LIMIT_LISTED} more" if len(problems) > LIMIT_LISTED else ""
        raise SpecError(
            f"{label}: {len(problems)} call(s) cnncost cannot count: {listed}{more}",
            expected="models built of the ops in docs/spec-language.md, "
            "or --allow-unsupported to count them as zero, flagged",
        )
    return Traced(
        layers=tuple(layers),
        input_shape=tuple(input_shape),
        output=outputs[0],
        aux_outputs=tuple(outputs[1:]),
        classes=dict(tracer.classes),
        unsupported=tuple(problems),
        uncalled=tuple((m, sum(p.numel() for p in model.get_submodule(m).parameters(recurse=False))) for m in missing),
    )


def _merge_training(
    conv: Converter, tconv: Converter, missing: list[str], label: str
) -> tuple[list[Layer], list[int], list[tuple[str, str]]]:
    """The training trace's layers, those of the eval trace first as they were: the others (under the
    modules the eval trace never called) become ``train_only``."""
    eval_paths = {layer.path for layer in conv.layers}
    layers = []
    for layer in tconv.layers:
        layers.append(layer._replace(train_only=True) if layer.path not in eval_paths else layer)
    kept = [(lay.path, lay.kind, lay.shape) for lay in layers if not lay.train_only]
    if kept != [(lay.path, lay.kind, lay.shape) for lay in conv.layers]:
        raise SpecError(
            f"{label}: modules {', '.join(missing[:5])} hold parameters but run only in training, "
            "and the training trace differs elsewhere",
            expected="a model whose training-only parts are side heads",
        )
    in_missing = [(w, wh) for w, wh in tconv.problems if any(wh == m or wh.startswith(m + ".") for m in missing)]
    return layers, _outputs(tconv), [*conv.problems, *in_missing]
