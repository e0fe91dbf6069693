"""What each torch module and function is as a cnncost op: the tracer's two registries.

``MODULES`` maps a leaf module class to its op and fields (``nn.Conv2d`` → ``conv {out, k, stride,
pad, ...}``); ``FUNCTIONS`` maps a function or method, by name, to a handler that adds the layers it
is (``torch.cat`` → ``concat``, ``x.mean((2, 3), keepdim=True)`` → ``mean``), or passes a value on
(``x.view(n, -1)`` of a map → ``flatten``; ``chunk`` → channel parts). A call neither knows is
``Unsupported``: the tracer names it with its module path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from cnncost.torch.trace import Converter

Fields = dict[str, Any]


@dataclass(frozen=True)
class ParamRef:
    """A parameter or buffer read in ``forward`` (``self.gamma``), possibly reshaped."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Parts:
    """Channel slices of a tensor (``chunk``, ``split``, ``x[:, a:b]``), made into layers when used."""

    source: int
    bounds: tuple[tuple[int, int], ...]
    scope: tuple[str, ...] = ()
    """Where the split was called: the slice layers are named there."""


@dataclass(frozen=True)
class Grouped:
    """A channel shuffle half done: ``view(n, g, c/g, h, w)``, then ``transpose(1, 2)``."""

    source: int
    groups: int
    transposed: bool = False


class Unsupported(Exception):
    """One call cnncost cannot count: said with the module path where it happens."""


def in_place(name: str) -> bool:
    return name in ("iadd", "isub", "imul", "itruediv") or (name.endswith("_") and not name.startswith("_"))


class TensorId(int):
    """The id of the layer whose output a value is (0: the network input)."""


def out_shape(out: Any) -> tuple[int, ...]:
    return tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ()


def has_tensor(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, (list, tuple)):
        return any(has_tensor(x) for x in v)
    if isinstance(v, dict):
        return any(has_tensor(x) for x in v.values())
    return False


# -- modules ---------------------------------------------------------------------------------
ModuleMapper = Callable[
    [Any, tuple[int, ...], tuple[int, ...]], "tuple[str, Fields] | list[tuple[str, str, Fields]] | None"
]
"""A leaf module → its op and fields; a composite one (timm's ``BatchNormAct2d``) → its layers, each
``(name, kind, fields)``; None for the identity."""
MODULES: dict[type, ModuleMapper] = {}


MODULE_OPS: dict[type, str] = {}
"""What each module class becomes, for the docs (docs/sources.md)."""


def maps(*types: type, op: str = "") -> Callable[[ModuleMapper], ModuleMapper]:
    def deco(fn: ModuleMapper) -> ModuleMapper:
        for t in types:
            MODULES[t] = fn
            MODULE_OPS[t] = op or _ACTS.get(t, "")
        return fn

    return deco


def _pair(v: Any) -> int | list[int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]) if len(set(v)) == 1 else [int(x) for x in v]
    return int(v)


def _conv_fields(m: Any) -> Fields:
    # stride and pad always written: blocks that differ only there fold into one block
    fields: Fields = {"out": m.out_channels, "k": _pair(m.kernel_size), "stride": _pair(m.stride)}
    fields["pad"] = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    if _pair(m.dilation) != 1:
        fields["dilation"] = _pair(m.dilation)
    if m.groups != 1:
        fields["groups"] = m.groups
    if m.bias is None:
        fields["bias"] = False
    return fields


@maps(nn.Conv2d, op="conv")
def _conv(m: nn.Conv2d, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    if m.padding_mode != "zeros":
        raise Unsupported(f"Conv2d with padding_mode={m.padding_mode!r}")
    fields = _conv_fields(m)
    if type(m).__name__ == "Conv2dSame":  # timm: TensorFlow's 'same' padding, computed in forward
        fields["pad"] = "same"
    return "conv", fields


@maps(nn.ConvTranspose2d, op="conv_transpose")
def _conv_t(m: nn.ConvTranspose2d, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    fields = _conv_fields(m)
    if _pair(m.output_padding) != 0:
        fields["output_padding"] = _pair(m.output_padding)
    return "conv_transpose", fields


@maps(nn.Linear, op="linear")
def _linear(m: nn.Linear, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    fields: Fields = {"out": m.out_features} if m.bias is not None else {"out": m.out_features, "bias": False}
    if len(ins) != 1:
        fields["dims"] = "last"
    return "linear", fields


@maps(nn.BatchNorm2d, nn.BatchNorm1d, op="bn")
def _bn(m: nn.BatchNorm2d, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "bn", _bn_fields(m.eps, m.momentum, m.affine, m.track_running_stats)


def _bn_fields(eps: float, momentum: float | None, affine: bool, track: bool) -> Fields:
    fields: Fields = {}
    if eps != 1e-5:
        fields["eps"] = eps
    if momentum != 0.1 and momentum is not None:
        fields["momentum"] = momentum
    if not affine:
        fields["affine"] = False
    if not track:
        fields["track_running_stats"] = False
    return fields


@maps(nn.LayerNorm, op="layernorm")
def _ln(m: nn.LayerNorm, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    if len(m.normalized_shape) != 1:
        raise Unsupported(f"LayerNorm over {tuple(m.normalized_shape)} (cnncost normalises one axis)")
    return "layernorm", _ln_fields("last", m.eps, m.elementwise_affine and m.weight is not None)


def _ln_fields(dims: str, eps: float, affine: bool) -> Fields:
    fields: Fields = {"dims": dims}
    if eps != 1e-5:
        fields["eps"] = eps
    if not affine:
        fields["affine"] = False
    return fields


@maps(nn.GroupNorm, op="groupnorm")
def _gn(m: nn.GroupNorm, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    fields: Fields = {"groups": m.num_groups}
    if m.eps != 1e-5:
        fields["eps"] = m.eps
    if not m.affine:
        fields["affine"] = False
    return "groupnorm", fields


@maps(nn.LocalResponseNorm, op="lrn")
def _lrn(m: nn.LocalResponseNorm, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "lrn", {"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k}


_ACTS: dict[type, str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.SiLU: "silu",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
    nn.LeakyReLU: "leaky_relu",
    nn.ELU: "elu",
}


@maps(*_ACTS)
def _act(m: Any, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    kind = _ACTS[type(m)] if type(m) in _ACTS else next(k for t, k in _ACTS.items() if isinstance(m, t))
    fields: Fields = {"inplace": bool(m.inplace)}
    if isinstance(m, nn.LeakyReLU) and m.negative_slope != 0.01:
        fields["negative_slope"] = m.negative_slope
    if isinstance(m, nn.ELU) and m.alpha != 1.0:
        fields["alpha"] = m.alpha
    return kind, fields


@maps(nn.Sigmoid, op="sigmoid")
def _sigmoid(m: Any, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "sigmoid", {}


@maps(nn.Tanh, op="tanh")
def _tanh(m: Any, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "tanh", {}


@maps(nn.GELU, op="gelu")
def _gelu(m: nn.GELU, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "gelu", {"approximate": m.approximate} if m.approximate != "none" else {}


@maps(nn.Softmax, op="softmax")
def _softmax(m: nn.Softmax, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    dim = m.dim if m.dim is not None else 1
    if dim < 0:
        dim += len(ins) + 1
    return "softmax", {"dim": dim - 1}


def _pool_fields(m: Any, ins: tuple[int, ...]) -> Fields:
    fields: Fields = {"k": _pair(m.kernel_size)}
    if _pair(m.stride) != _pair(m.kernel_size):
        fields["stride"] = _pair(m.stride)
    if _pair(m.padding) != 0:
        fields["pad"] = _pair(m.padding)
    if m.ceil_mode:
        fields["ceil_mode"] = True
    return fields


@maps(nn.MaxPool2d, op="maxpool")
def _maxpool(m: nn.MaxPool2d, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    fields = _pool_fields(m, ins)
    if _pair(m.dilation) != 1:
        fields["dilation"] = _pair(m.dilation)
    if type(m).__name__ == "MaxPool2dSame":
        fields["pad"] = "same"
    return "maxpool", fields


@maps(nn.AvgPool2d, op="avgpool")
def _avgpool(m: nn.AvgPool2d, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    fields = _pool_fields(m, ins)
    if not m.count_include_pad:
        fields["count_include_pad"] = False
    if m.divisor_override is not None:
        raise Unsupported("AvgPool2d with divisor_override")
    if type(m).__name__ == "AvgPool2dSame":
        fields["pad"] = "same"
    return "avgpool", fields


@maps(nn.AdaptiveAvgPool2d, op="global_avgpool or adaptive_avgpool")
def _adaptive_avg(m: nn.AdaptiveAvgPool2d, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    size = _pair(m.output_size)
    return ("global_avgpool", {}) if size == 1 else ("adaptive_avgpool", {"out": size})


@maps(nn.AdaptiveMaxPool2d, op="adaptive_maxpool")
def _adaptive_max(m: nn.AdaptiveMaxPool2d, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "adaptive_maxpool", {"out": _pair(m.output_size)}


@maps(nn.Dropout, op="dropout")
def _dropout(m: nn.Dropout, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "dropout", {"p": m.p, "inplace": bool(m.inplace)}


@maps(nn.Identity, op="(nothing: the input goes on)")
def _identity(m: Any, ins: tuple[int, ...], out: tuple[int, ...]) -> None:
    return None


@maps(nn.Flatten, op="flatten")
def _flatten(m: nn.Flatten, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields] | None:
    if out == ins:
        return None
    if len(out) != 1:
        raise Unsupported(f"Flatten({m.start_dim}, {m.end_dim}) to {out} (cnncost flattens to a vector)")
    return "flatten", {}


@maps(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d, op="upsample")
def _upsample(m: nn.Upsample, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "upsample", _upsample_fields(m.mode, m.size, m.scale_factor, m.align_corners, out)


def _upsample_fields(mode: str, size: Any, scale: Any, align: bool | None, out: tuple[int, ...]) -> Fields:
    if mode not in ("nearest", "bilinear"):
        raise Unsupported(f"interpolation mode {mode!r} (cnncost has nearest and bilinear)")
    fields: Fields = {"mode": mode} if mode != "nearest" else {}
    if size is not None:
        fields["size"] = [out[1], out[2]] if out[1] != out[2] else out[1]
    else:
        value = float(scale[0] if isinstance(scale, (tuple, list)) else scale)
        if isinstance(scale, (tuple, list)) and len(set(scale)) > 1:
            raise Unsupported(f"interpolation by {tuple(scale)} (cnncost scales both axes alike)")
        fields["scale"] = int(value) if value.is_integer() else value
    if align:
        fields["align_corners"] = True
    return fields


@maps(nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, op="pad")
def _padmod(m: Any, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    left, right, top, bottom = m.padding
    mode = {"ReflectionPad2d": "reflect", "ReplicationPad2d": "replicate"}.get(type(m).__name__, "constant")
    fields: Fields = {"pad": [top, bottom, left, right]}
    if mode != "constant":
        fields["mode"] = mode
    elif getattr(m, "value", 0.0):
        fields["value"] = float(m.value)
    return "pad", fields


@maps(nn.ChannelShuffle, op="channel_shuffle")
def _shuffle(m: nn.ChannelShuffle, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[str, Fields]:
    return "channel_shuffle", {"groups": m.groups}


# -- functions -------------------------------------------------------------------------------
Handler = Callable[["Converter", tuple[str, ...], list[Any], dict[str, Any], Any], Any]
FUNCTIONS: dict[str, Handler] = {}


FUNCTION_OPS: dict[str, str] = {}
"""What each function or method becomes, for the docs."""


def handles(*names: str, op: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            FUNCTIONS[n] = fn
            FUNCTION_OPS[n] = op
        return fn

    return deco


def _arg(args: list[Any], kwargs: dict[str, Any], i: int, name: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _dim(d: int, ndim: int) -> int:
    return d + ndim if d < 0 else d


_ACT_FUNCS = {
    "relu": "relu",
    "relu_": "relu",
    "relu6": "relu6",
    "silu": "silu",
    "silu_": "silu",
    "hardswish": "hardswish",
    "hardswish_": "hardswish",
    "hardsigmoid": "hardsigmoid",
    "hardsigmoid_": "hardsigmoid",
    "leaky_relu": "leaky_relu",
    "leaky_relu_": "leaky_relu",
    "elu": "elu",
    "elu_": "elu",
    "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid",
    "tanh": "tanh",
    "tanh_": "tanh",
    "gelu": "gelu",
}


def _make_act(fname: str) -> Handler:
    kind = _ACT_FUNCS[fname]

    def handler(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
        x = c.tensor(args[0], scope)
        fields: Fields = {}
        if kind not in ("sigmoid", "tanh", "gelu"):
            fields["inplace"] = fname.endswith("_") or bool(kw.get("inplace", False))
        if kind == "leaky_relu":
            slope = _arg(args, kw, 1, "negative_slope", 0.01)
            if slope != 0.01:
                fields["negative_slope"] = slope
        if kind == "gelu" and kw.get("approximate", "none") != "none":
            fields["approximate"] = kw["approximate"]
        if kind == "elu" and _arg(args, kw, 1, "alpha", 1.0) != 1.0:
            fields["alpha"] = _arg(args, kw, 1, "alpha", 1.0)
        return c.add(scope, kind, fields, (x,), None)

    return handler


for _n in _ACT_FUNCS:
    FUNCTIONS[_n] = _make_act(_n)
    FUNCTION_OPS[_n] = _ACT_FUNCS[_n]


def _binary(kind: str, inplace: bool) -> Handler:
    def handler(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
        a, b = args[0], _arg(args, kw, 1, "other")
        if kw.get("alpha", 1) != 1:
            raise Unsupported(f"{kind} with alpha")
        tensors = [isinstance(v, (TensorId, Parts)) for v in (a, b)]
        if all(tensors):
            ia, ib = c.tensor(a, scope), c.tensor(b, scope)
            fields: Fields = {"inplace": True} if inplace else {}
            return c.add(scope, kind, fields, (ia, ib), out_shape(out))
        params = [isinstance(v, ParamRef) for v in (a, b)]
        if kind == "mul" and any(params) and any(tensors):
            p, x = (a, b) if params[0] else (b, a)
            return _layer_scale(c, p, c.tensor(x, scope), out)
        numbers = [isinstance(v, (int, float)) and not isinstance(v, (bool, TensorId)) for v in (a, b)]
        if kind in ("mul", "div") and any(numbers) and any(tensors):
            num, x = (a, b) if numbers[0] else (b, a)
            if kind == "div" and numbers[0]:
                raise Unsupported("a number divided by a tensor")
            value = float(num) if kind == "mul" else 1.0 / float(num)
            if value == 1.0:
                return c.tensor(x, scope)
            return c.add(scope, "scale", {"value": value, "inplace": inplace}, (c.tensor(x, scope),), None)
        raise Unsupported(f"{kind} of {type(a).__name__} and {type(b).__name__}")

    return handler


for _kind, _names in {
    "add": ("add", "iadd", "add_", "__iadd__"),
    "sub": ("sub", "isub", "sub_"),
    "mul": ("mul", "imul", "mul_"),
    "div": ("truediv", "itruediv", "div", "div_"),
}.items():
    for _n in _names:
        FUNCTIONS[_n] = _binary(_kind, _n.startswith("i") or _n.endswith("_"))
        FUNCTION_OPS[_n] = {
            "mul": "mul, scale (by a number) or layer_scale (by a parameter)",
            "div": "scale (by 1 / a number)",
        }.get(_kind, _kind)


def _layer_scale(c: Converter, p: ParamRef, x: int, out: Any) -> Any:
    """``gamma * x`` with a learnt per-channel gamma: ConvNeXt's layer scale."""
    shape = c.shape(x)
    squeezed = tuple(d for d in p.shape if d != 1)
    if len(squeezed) != 1 or squeezed[0] not in (shape[0], shape[-1]):
        raise Unsupported(f"a parameter of shape {p.shape} times a tensor")
    dims = "channels" if len(shape) == 3 and p.shape[-len(shape) :][0] == shape[0] and len(p.shape) >= 3 else "last"
    c.used_params.add(p.name)
    return c.add(
        tuple(p.name.split(".")), "layer_scale", {"dims": dims} if dims != "channels" else {}, (x,), None, own_name=True
    )


@handles("cat", "concat", "concatenate", op="concat")
def _cat(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    parts = _arg(args, kw, 0, "tensors")
    dim = _arg(args, kw, 1, "dim", 0)
    ins = tuple(c.tensor(p, scope) for p in parts)
    if _dim(dim, len(c.shape(ins[0])) + 1) != 1:
        raise Unsupported(f"cat along dim {dim} (cnncost concatenates channels)")
    if len(ins) == 1:
        return ins[0]
    return c.add(scope, "concat", {}, ins, out_shape(out))


@handles("flatten", op="flatten")
def _flatten_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    return _reshape(c, scope, c.tensor(args[0], scope), out_shape(out))


@handles("view", "reshape", "squeeze", "unsqueeze", op="flatten, channel_shuffle (view, transpose, view), or nothing")
def _view(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    src = args[0]
    if isinstance(src, ParamRef):
        return ParamRef(src.name, tuple(out.shape))
    if isinstance(src, Grouped) and src.transposed:
        if tuple(out.shape[1:]) == c.shape(src.source):
            return c.add(scope, "channel_shuffle", {"groups": src.groups}, (src.source,), None)
        raise Unsupported("a grouped view other than a channel shuffle")
    x = c.tensor(src, scope)
    shape, new = c.shape(x), tuple(out.shape[1:])
    if len(shape) == 3 and len(new) == 4 and new[0] * new[1] == shape[0] and new[2:] == shape[1:]:
        return Grouped(x, new[0])
    return _reshape(c, scope, x, new)


def _reshape(c: Converter, scope: tuple[str, ...], x: int, new: tuple[int, ...]) -> Any:
    if new == c.shape(x):
        return x
    if len(new) == 1 and new[0] == math.prod(c.shape(x)):
        return c.add(scope, "flatten", {}, (x,), new)
    raise Unsupported(f"a reshape of {c.shape(x)} to {new}")


@handles("transpose", op="permute")
def _transpose(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    src = args[0]
    d0, d1 = sorted((_arg(args, kw, 1, "dim0"), _arg(args, kw, 2, "dim1")))
    if isinstance(src, Grouped) and (d0, d1) == (1, 2):
        return Grouped(src.source, src.groups, True)
    x = c.tensor(src, scope)
    nd = len(c.shape(x)) + 1
    d0, d1 = sorted((_dim(d0, nd), _dim(d1, nd)))
    if d0 == 0:
        raise Unsupported("a transpose of the batch axis")
    order = list(range(nd - 1))
    order[d0 - 1], order[d1 - 1] = order[d1 - 1], order[d0 - 1]
    return c.add(scope, "permute", {"order": order}, (x,), out_shape(out))


@handles("permute", op="permute")
def _permute(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    dims = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
    dims = dims or list(kw.get("dims", ()))
    nd = len(c.shape(x)) + 1
    dims = [_dim(d, nd) for d in dims]
    if dims[0] != 0:
        raise Unsupported("a permute that moves the batch axis")
    return c.add(scope, "permute", {"order": [d - 1 for d in dims[1:]]}, (x,), out_shape(out))


@handles("contiguous", "clone", "detach", "float", "to", "type_as", op="(nothing: the input goes on)")
def _same(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    if isinstance(args[0], Grouped):
        return args[0]
    if isinstance(args[0], ParamRef):
        return args[0]
    return c.tensor(args[0], scope)


@handles("mean", op="mean (+ flatten without keepdim)")
def _mean(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    nd = len(c.shape(x)) + 1
    dims = _arg(args, kw, 1, "dim")
    keep = _arg(args, kw, 2, "keepdim", False)
    dims = sorted(_dim(d, nd) for d in (dims if isinstance(dims, (list, tuple)) else [dims]))
    if nd != 4 or dims != [2, 3]:
        raise Unsupported(f"mean over dims {dims}")
    y = c.add(scope, "mean", {}, (x,), (c.shape(x)[0], 1, 1))
    return y if keep else c.add(scope, "flatten", {}, (y,), (c.shape(x)[0],))


def _adaptive_f(kind: str) -> Handler:
    def handler(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
        if isinstance(out, tuple):
            raise Unsupported("adaptive_max_pool2d with return_indices")
        x = c.tensor(args[0], scope)
        size = _pair(_arg(args, kw, 1, "output_size"))
        if kind == "avg" and size == 1:
            return c.add(scope, "global_avgpool", {}, (x,), out_shape(out))
        return c.add(scope, f"adaptive_{kind}pool", {"out": size}, (x,), out_shape(out))

    return handler


FUNCTIONS["adaptive_avg_pool2d"] = _adaptive_f("avg")
FUNCTIONS["adaptive_max_pool2d"] = _adaptive_f("max")
FUNCTION_OPS["adaptive_avg_pool2d"] = "global_avgpool or adaptive_avgpool"
FUNCTION_OPS["adaptive_max_pool2d"] = "adaptive_maxpool"


@handles("max_pool2d", "avg_pool2d", "max_pool2d_with_indices", op="maxpool or avgpool")
def _pool_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    """``F.max_pool2d(x, k, stride, padding, dilation, ceil_mode)``, ``F.avg_pool2d(x, k, stride, padding,
    ceil_mode, count_include_pad)`` (torchvision's Inception calls them so)."""
    if isinstance(out, tuple):
        raise Unsupported("max_pool2d with return_indices")
    x = c.tensor(args[0], scope)
    k = _pair(_arg(args, kw, 1, "kernel_size"))
    stride = _arg(args, kw, 2, "stride")
    fields: Fields = {"k": k}
    if stride not in (None, [], ()) and _pair(stride) != k:
        fields["stride"] = _pair(stride)
    if _pair(_arg(args, kw, 3, "padding", 0)) != 0:
        fields["pad"] = _pair(_arg(args, kw, 3, "padding", 0))
    if "max" in str(c.current):
        if _pair(_arg(args, kw, 4, "dilation", 1)) != 1:
            fields["dilation"] = _pair(_arg(args, kw, 4, "dilation", 1))
        ceil = _arg(args, kw, 5, "ceil_mode", False)
    else:
        ceil = _arg(args, kw, 4, "ceil_mode", False)
        if not _arg(args, kw, 5, "count_include_pad", True):
            fields["count_include_pad"] = False
        if _arg(args, kw, 6, "divisor_override") is not None:
            raise Unsupported("avg_pool2d with divisor_override")
    if ceil:
        fields["ceil_mode"] = True
    return c.add(scope, "maxpool" if "max" in str(c.current) else "avgpool", fields, (x,), out_shape(out))


@handles("interpolate", "upsample", op="upsample")
def _interp(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    size = _arg(args, kw, 1, "size")
    scale = _arg(args, kw, 2, "scale_factor")
    mode = _arg(args, kw, 3, "mode", "nearest")
    align = _arg(args, kw, 4, "align_corners")
    fields = _upsample_fields(mode, size, scale, align, out_shape(out))
    return c.add(scope, "upsample", fields, (x,), out_shape(out))


@handles("pad", op="pad")
def _pad_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    pad = list(_arg(args, kw, 1, "pad"))
    mode = _arg(args, kw, 2, "mode", "constant")
    value = _arg(args, kw, 3, "value", 0.0) or 0.0
    if len(pad) != 4:
        raise Unsupported(f"F.pad of {len(pad) // 2} axes (cnncost pads height and width)")
    left, right, top, bottom = pad
    fields: Fields = {"pad": [top, bottom, left, right]}
    if mode != "constant":
        fields["mode"] = mode
    elif value:
        fields["value"] = float(value)
    return c.add(scope, "pad", fields, (x,), out_shape(out))


@handles("dropout", op="(nothing at inference)")
def _dropout_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    return c.tensor(args[0], scope)  # the identity at inference, where the trace runs


@handles("softmax", op="softmax")
def _softmax_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    dim = _dim(_arg(args, kw, 1, "dim", 1), len(c.shape(x)) + 1)
    return c.add(scope, "softmax", {"dim": dim - 1}, (x,), None)


@handles("layer_norm", op="layernorm")
def _ln_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    shape = tuple(_arg(args, kw, 1, "normalized_shape"))
    w, b = _arg(args, kw, 2, "weight"), _arg(args, kw, 3, "bias")
    eps = _arg(args, kw, 4, "eps", 1e-5)
    if len(shape) != 1 or shape[0] != c.shape(x)[-1]:
        raise Unsupported(f"layer_norm over {shape}")
    return _owned(c, scope, "layernorm", _ln_fields("last", eps, w is not None), (x,), (w, b))


@handles("batch_norm", op="bn")
def _bn_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    mean, var, w, b = (_arg(args, kw, i, n) for i, n in enumerate(("running_mean", "running_var", "weight", "bias"), 1))
    momentum, eps = _arg(args, kw, 6, "momentum", 0.1), _arg(args, kw, 7, "eps", 1e-5)
    fields = _bn_fields(eps, momentum, w is not None, mean is not None)
    return _owned(c, scope, "bn", fields, (x,), (w, b, mean, var))


@handles("conv2d", op="conv")
def _conv_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    w, b = _arg(args, kw, 1, "weight"), _arg(args, kw, 2, "bias")
    if not isinstance(w, ParamRef):
        raise Unsupported("conv2d with a computed weight")
    stride, pad = _pair(_arg(args, kw, 3, "stride", 1)), _arg(args, kw, 4, "padding", 0)
    dil, groups = _pair(_arg(args, kw, 5, "dilation", 1)), _arg(args, kw, 6, "groups", 1)
    fields: Fields = {"out": w.shape[0], "k": _pair(w.shape[2:])}
    if stride != 1:
        fields["stride"] = stride
    if isinstance(pad, str) or _pair(pad) != 0:
        fields["pad"] = pad if isinstance(pad, str) else _pair(pad)
    if dil != 1:
        fields["dilation"] = dil
    if groups != 1:
        fields["groups"] = groups
    fields["bias"] = b is not None
    return _owned(c, scope, "conv", fields, (x,), (w, b))


@handles("linear", op="linear")
def _linear_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    w, b = _arg(args, kw, 1, "weight"), _arg(args, kw, 2, "bias")
    if not isinstance(w, ParamRef):
        raise Unsupported("linear with a computed weight")
    fields: Fields = {"out": w.shape[0], "bias": b is not None}
    if len(c.shape(x)) != 1:
        fields["dims"] = "last"
    return _owned(c, scope, "linear", fields, (x,), (w, b))


def _owned(
    c: Converter, scope: tuple[str, ...], kind: str, fields: Fields, ins: tuple[int, ...], tensors: tuple[Any, ...]
) -> Any:
    """A functional op on a module's own tensors (timm's ``BatchNormAct2d`` calls ``F.batch_norm`` with
    ``self.weight``): named ``kind`` in the scope of the module that owns them."""
    refs = [t for t in tensors if t is not None]
    if not all(isinstance(t, ParamRef) for t in refs):
        raise Unsupported(f"{kind} on computed tensors")
    owners = {t.name.rsplit(".", 1)[0] if "." in t.name else "" for t in refs}
    if len(owners) != 1:
        raise Unsupported(f"{kind} on tensors of several modules")
    c.used_params.update(t.name for t in refs)
    return c.add(scope, kind, fields, ins, None)


@handles("getitem", op="slice (x[:, a:b])")
def _getitem(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    obj, idx = args
    if isinstance(obj, Parts):
        if isinstance(idx, int):
            return Parts(obj.source, (obj.bounds[idx],), obj.scope)
        return [Parts(obj.source, (b,), obj.scope) for b in obj.bounds[idx]]
    if isinstance(obj, (list, tuple, dict)):
        return obj[idx]
    if isinstance(obj, TensorId):
        return _channel_slice(c, scope, obj, idx, out)
    if isinstance(obj, ParamRef):
        raise Unsupported("indexing a parameter")
    return out


def _channel_slice(c: Converter, scope: tuple[str, ...], x: TensorId, idx: Any, out: Any) -> Any:
    shape = c.shape(x)
    idx = idx if isinstance(idx, tuple) else (idx,)
    full = slice(None)
    while len(idx) > 2 and idx[-1] == full:  # x[:, :16, :, :]
        idx = idx[:-1]
    if len(idx) == 2 and idx[0] == full and isinstance(idx[1], slice) and idx[1].step in (None, 1):
        start, stop, _ = idx[1].indices(shape[0])
        if (start, stop) == (0, shape[0]):
            return x
        return Parts(x, ((start, stop),), scope)
    raise Unsupported(f"indexing a tensor with {idx!r} (cnncost slices channels: x[:, a:b])")


@handles("chunk", "split", "tensor_split", op="slice")
def _chunk(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    if _dim(_arg(args, kw, 2, "dim", 0), len(c.shape(x)) + 1) != 1:
        raise Unsupported("a split of another axis than the channels")
    bounds, start = [], 0
    for t in out:
        bounds.append((start, start + t.shape[1]))
        start += t.shape[1]
    return Parts(x, tuple(bounds), scope)


@handles("channel_shuffle", op="channel_shuffle")
def _shuffle_f(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    x = c.tensor(args[0], scope)
    return c.add(scope, "channel_shuffle", {"groups": _arg(args, kw, 1, "groups")}, (x,), None)


@handles("stochastic_depth", "drop_path", op="(nothing at inference)")
def _drop_path(c: Converter, scope: tuple[str, ...], args: list[Any], kw: dict[str, Any], out: Any) -> Any:
    return c.tensor(args[0], scope)  # the identity at inference


def register_timm(leaves: tuple[type, ...]) -> None:
    """timm's 'same'-padding modules (``Conv2dSame``, ``MaxPool2dSame``, ``AvgPool2dSame``: a conv or
    pool whose mapper sets TensorFlow's padding, ``pad: same``) and ``BatchNormAct2d``."""
    for cls, mapper in zip(leaves, (_conv, _maxpool, _avgpool, _bn_act), strict=False):
        MODULES.setdefault(cls, mapper)


def _bn_act(m: Any, ins: tuple[int, ...], out: tuple[int, ...]) -> list[tuple[str, str, Fields]]:
    """timm's ``BatchNormAct2d``: ``F.batch_norm`` on its own tensors, its ``drop`` (the identity), its
    ``act`` — the layers ``bn`` and ``act`` inside it."""
    if not isinstance(m.drop, nn.Identity):
        raise Unsupported(f"BatchNormAct2d with drop {type(m.drop).__name__}")
    layers = [("bn", "bn", _bn_fields(m.eps, m.momentum, m.affine, m.track_running_stats))]
    act = MODULES.get(type(m.act))
    if act is None:
        raise Unsupported(f"BatchNormAct2d with act {type(m.act).__module__}.{type(m.act).__qualname__}")
    res = act(m.act, ins, out)
    if isinstance(res, tuple):
        layers.append(("act", *res))
    return layers


def mapping_markdown() -> str:
    """The docs' table of what the tracer reads (docs/sources.md): each torch module and function, by the
    cnncost op it becomes; anything else is an error that names it (or, allowed, an ``opaque`` layer)."""
    from cnncost.torch.trace import LIBRARY_FUNCTIONS, _timm_leaves

    leaves = _timm_leaves()
    register_timm(leaves)
    ops = ("conv (pad: same)", "maxpool (pad: same)", "avgpool (pad: same)", "bn, then its act")
    for cls, op in zip(leaves, ops, strict=False):
        MODULE_OPS[cls] = op
    by_op: dict[str, tuple[list[str], list[str]]] = {}
    for cls, op in MODULE_OPS.items():
        module = "nn" if cls.__module__.startswith("torch.nn") else cls.__module__
        by_op.setdefault(op, ([], []))[0].append(f"`{module}.{cls.__qualname__}`")
    shown = {v: k for k, v in LIBRARY_FUNCTIONS.items()}
    for name, op in FUNCTION_OPS.items():
        by_op.setdefault(op, ([], []))[1].append(f"`{shown.get(name, name)}`")
    lines = ["| becomes | torch modules | functions and tensor methods |", "|---|---|---|"]
    for op in sorted(by_op, key=lambda o: (o.startswith("("), o)):
        mods, funcs = by_op[op]
        lines.append(f"| {op} | {', '.join(sorted(mods))} | {', '.join(sorted(funcs))} |")
    return "\n".join(lines) + "\n"
