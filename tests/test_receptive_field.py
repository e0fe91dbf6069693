"""Receptive fields against torch's autograd: the input pixels one output position's gradient reaches
must be the reported field, clipped to the image; and the lecture's claims about them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cnncost import analyze, load_model
from cnncost.analysis.receptive import SPATIAL
from cnncost.ops import op_classes
from cnncost.spec.catalog import all_models
from cnncost.spec.expand import expand

torch = pytest.importorskip("torch")
nn = torch.nn


# -- the oracle ------------------------------------------------------------------------------------
def measurable(model):
    """The built model made fit for reading fields off gradients, geometry unchanged: weights and
    affine scales positive and the input positive, so no sum cancels; activations replaced by the
    identity (ReLU6, hardsigmoid and tanh have zero slopes where values saturate: a dead unit would
    hide part of the field); in-place ops made out of place (an output captured by a hook must not be
    overwritten by the next op). Max-pooling's gradient reaches one element of each window, so it is
    measured as the average pool of the same geometry (a depthwise conv of ones when dilated)."""
    from cnncost.torch.layers import Fold, Padded

    activations = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.GELU)
    activations += (nn.LeakyReLU, nn.ELU)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, activations):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(parent, name, _as_average(child))
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(parent, name, nn.AdaptiveAvgPool2d(child.output_size))
    model._modules_by_node = [model.get_submodule(p) for p in model.paths]  # what forward runs
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, Padded):
                m.value = 0.0  # max-pool's -inf padding, now an average's
            if isinstance(m, Fold):
                m.op = getattr(torch.Tensor, m.op.__name__.rstrip("_"))
            if hasattr(m, "inplace"):
                m.inplace = False
            for p in m.parameters(recurse=False):
                fan_in = max(1, p[0].numel()) if p.dim() > 1 else 1
                p.copy_((torch.rand(p.shape, generator=generator, dtype=p.dtype) + 0.5) / fan_in)
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    return model.double().eval()


def _as_average(pool):
    k, s, p, d = (_pair(v) for v in (pool.kernel_size, pool.stride, pool.padding, pool.dilation))
    if d == (1, 1):
        return nn.AvgPool2d(k, s, p, ceil_mode=pool.ceil_mode)
    assert not pool.ceil_mode, "a dilated ceil_mode max-pool has no same-geometry average"
    return _DepthwiseOnes(k, s, p, d)


class _DepthwiseOnes(nn.Module):
    def __init__(self, k, s, p, d):
        super().__init__()
        self.args = dict(stride=s, padding=p, dilation=d)
        self.k = k

    def forward(self, x):
        weight = x.new_ones(x.shape[1], 1, *self.k)
        return torch.nn.functional.conv2d(x, weight, groups=x.shape[1], **self.args)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def measured_fields(spec, shape=None, nodes=None, at=None):
    """Node id → (y, x, rows, columns): the input rows and columns the gradient of output position
    (y, x) reaches (every channel weighted by a random positive factor; None: none). The position is
    the centre, or ``at[node]``."""
    from cnncost.torch.builder import build

    graph = expand(spec, shape)
    a = analyze(spec, shape)
    model = measurable(build(graph))
    captured = {}
    ids = set(nodes if nodes is not None else range(1, len(graph.nodes)))
    for node, module in zip(graph.ops, model._modules_by_node, strict=True):
        if node.id in ids:
            module.register_forward_hook(lambda m, i, out, n=node.id: captured.__setitem__(n, out))
    generator = torch.Generator().manual_seed(1)
    x = (torch.rand((1, *graph.input_shape), generator=generator, dtype=torch.float64) + 0.5).requires_grad_()
    model(x)
    out = {}
    for n in sorted(ids):
        field, y = a.receptive[n], captured[n]
        index, unit = [0], {}
        for axis, name in enumerate(field.layout):
            size = y.shape[axis + 1]
            unit[name] = at[n][SPATIAL.index(name)] if n in (at or {}) and name in SPATIAL else size // 2
            index.append(unit[name] if name in SPATIAL else slice(None))
        picked = y[tuple(index)]
        weights = torch.rand(picked.shape, generator=generator, dtype=torch.float64) + 0.5
        (grad,) = torch.autograd.grad((picked * weights).sum(), x, retain_graph=True)
        reach = grad[0].abs().sum(0) != 0
        out[n] = (unit.get("h", 0), unit.get("w", 0), _extent(reach.any(1)), _extent(reach.any(0)))
    return a, out


def _extent(mask):
    where = mask.nonzero()
    return None if len(where) == 0 else (int(where.min()), int(where.max()))


def expected(field, axis_field, o, n):
    """The reported field of position o along an axis, clipped to the n pixels of the image."""
    if axis_field is None:
        return (0, n - 1)
    b = axis_field.at(o)
    if b is None or b[1] < 0 or b[0] > n - 1:
        return None
    return (max(b[0], 0), min(b[1], n - 1))


def check_against_torch(spec, shape=None, nodes=None, at=None):
    a, measured = measured_fields(spec, shape, nodes, at)
    _, h, w = a.input_shape
    wrong = []
    for n, (y, x, rows, cols) in measured.items():
        field = a.receptive[n]
        want = (expected(field, field.h, y, h), expected(field, field.w, x, w))
        if (rows, cols) != want:
            wrong.append(f"{a.layers[n].name} ({a.layers[n].kind}) at ({y}, {x}): torch {rows, cols}, cnncost {want}")
    assert not wrong, "\n".join(wrong)
    return a


# -- tiny specs: each geometry alone ------------------------------------------------------------
SYNTHETIC = {
    "dilation": ("[3, 23, 21]", "[conv: {out: 4, k: 3, dilation: 2, pad: 2}, conv: {out: 4, k: 3, dilation: [3, 1]}]"),
    "asymmetric_1x7_7x1": (
        "[3, 19, 19]",
        "[conv: {out: 4, k: [1, 7], pad: [0, 3]}, conv: {out: 4, k: [7, 1], pad: [3, 0]}]",
    ),
    "asymmetric_stride_pad": (
        "[3, 21, 17]",
        "[conv: {out: 4, k: [3, 5], stride: [2, 1], pad: [0, 2, 1, 3]}, conv: {out: 4, k: 3, stride: 2, pad: same}, "
        "maxpool: {k: 3, stride: 2, pad: same}]",
    ),
    "ceil_mode": (
        "[3, 20, 20]",
        "[conv: {out: 4, k: 3, stride: 2}, maxpool: {k: 3, stride: 2, ceil_mode: true}, "
        "avgpool: {k: 2, ceil_mode: true}]",
    ),
    "conv_transpose": (
        "[3, 9, 8]",
        "[conv: {out: 4, k: 3, stride: 2, pad: 1}, "
        "conv_transpose: {out: 4, k: 3, stride: 2, pad: 1, output_padding: 1}, "
        "conv_transpose: {out: 4, k: [2, 4], stride: [2, 3], dilation: [1, 2]}, conv: {out: 4, k: 3, pad: 1}]",
    ),
    "upsample": (
        "[3, 11, 10]",
        "[conv: {out: 4, k: 3, stride: 2}, upsample: {scale: 2}, upsample: {scale: 1.5, mode: bilinear}, "
        "upsample: {size: [13, 9], mode: bilinear, align_corners: true}]",
    ),
    "concat_branches": (
        "[3, 25, 25]",
        "[concat: [[conv: {out: 2, k: 1}], [conv: {out: 2, k: 5, pad: 2}], "
        "[maxpool: {k: 3, stride: 1, pad: 1}, conv: {out: 2, k: [1, 9], pad: [0, 4]}]], "
        "add: [identity, [conv: {out: 6, k: 3, dilation: 3, pad: 3}]]]",
    ),
    "merged_jumps_differ": (
        "[3, 11, 11]",
        "[concat: [identity, [conv: {out: 2, k: 3, stride: 2}, upsample: {size: [11, 11]}]], conv: {out: 2, k: 3}]",
    ),
    "se_gate": (
        "[3, 12, 12]",
        "[conv: {out: 4, k: 3, pad: 1}, mul: [identity, [global_avgpool, conv: {out: 4, k: 1}, sigmoid]]]",
    ),
    "channels_last_mlp": (
        "[3, 15, 15]",
        "[conv: {out: 4, k: 7, pad: 3}, permute: {order: [1, 2, 0]}, layernorm: {dims: last}, "
        "linear: {out: 8, dims: last}, gelu, permute: {order: [2, 0, 1]}, conv: {out: 4, k: 3}]",
    ),
    "pad_crop_adaptive": (
        "[3, 16, 14]",
        "[pad: {pad: [2, -3, 1, 0]}, conv: {out: 4, k: 3}, adaptive_avgpool: {out: [5, 3]}, conv: {out: 4, k: 2}]",
    ),
}
"""Each geometry alone: input, layers."""


def synthetic(write_spec, name):
    shape, layers = SYNTHETIC[name]
    return load_model(str(write_spec(f"input: {shape}\nlayers:\n  - {layers}\n")))


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_fields_equal_torch(write_spec, name):
    check_against_torch(synthetic(write_spec, name))


EXAMPLES = [
    pytest.param(cls, ex, id=f"{cls.kind}-{i}")
    for cls in op_classes()
    for i, ex in enumerate(cls.examples)
    if len(ex.input) == 3 and cls.kind != "opaque"  # opaque: an unknown call, taken as the whole input
]


@pytest.mark.parametrize(("cls", "ex"), EXAMPLES)
def test_every_op_example_equals_torch(write_spec, cls, ex):
    """Each op's own examples, after a 3×3 conv (so the field already spans several pixels). Reflect,
    replicate and circular padding fill the border from inside the map: the reported field is the
    interior one, so those are measured at the first position that is not padding."""
    c, h, w = ex.input
    spec = load_model(
        str(write_spec(f"input: [{c}, {h + 2}, {w + 2}]\nlayers:\n  - conv: {{out: {c}, k: 3}}\n  - {ex.layers}\n"))
    )
    op = expand(spec).nodes[-1].op
    inside = getattr(op, "mode", "constant") != "constant" and op.kind == "pad"
    check_against_torch(spec, at={2: (op.pad[0], op.pad[2])} if inside else None)


# -- the zoo ---------------------------------------------------------------------------------------
FAMILIES = {
    "vgg16": (3, 32, 32),
    "resnet18": (3, 64, 64),
    "resnet50": (3, 32, 32),
    "googlenet": (3, 64, 64),
    "inception_v3": (3, 107, 107),
    "densenet121": (3, 32, 32),
    "mobilenet_v2": (3, 64, 64),
    "efficientnet_b0": (3, 64, 64),
    "convnext_tiny": (3, 32, 32),
    "dpn68": (3, 32, 32),
    "unet": None,
    "fcn_resnet50": (3, 32, 32),
}
SAMPLE = 12
"""Nodes measured per zoo model (each one a backward pass), spread over the depth, and the output."""


def _sampled(spec, shape, sample: int = SAMPLE):
    n = len(expand(spec, shape).nodes)
    step = max(1, (n - 1) // sample)
    return sorted({*range(1, n, step), n - 1})


@pytest.mark.torch
@pytest.mark.parametrize("model", [m for m in FAMILIES if m in all_models()])
def test_zoo_fields_equal_torch(model):
    spec, shape = load_model(model), FAMILIES[model]
    check_against_torch(spec, shape, _sampled(spec, shape))


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("model", sorted({target for _, target in all_models().values()}))
def test_every_zoo_model_equals_torch(model):
    """Every model of the zoo at a small input (the fields do not depend on the size, only the clipping
    does), a sample of its nodes."""
    from tests.conftest import affordable_shape, huge

    spec = load_model(model)
    if huge(spec):
        pytest.skip("over 300M parameters: slow to build, and its family is measured at a smaller member")
    shape = _tiled(spec, affordable_shape(spec, 1.5e8, largest=96))
    check_against_torch(spec, shape, _sampled(spec, shape, 4))


def _tiled(spec, shape):
    """The nearest size (a few pixels larger) at which every stride tiles its input: where one does not,
    the last rows are read by no position (cnncost warns), and "whole input" means every pixel read."""
    from cnncost.errors import SpecError

    c, h, w = shape
    for extra in range(32):
        try:
            a = analyze(spec, (c, h + extra, w + extra))
        except SpecError:
            continue
        if not any("never read" in warning.message for warning in a.warnings):
            return (c, h + extra, w + extra)
    return shape


# -- the lecture's claims --------------------------------------------------------------------------
def _fields(write_spec, shape, layers):
    a = analyze(load_model(str(write_spec(f"input: {shape}\nlayers: {layers}\n"))))
    return a, [f.size for f in a.receptive]


def test_1x7_then_7x1_sees_7x7_with_14_of_49_weights(write_spec):
    a, sizes = _fields(
        write_spec,
        "[8, 32, 32]",
        "[conv: {out: 8, k: [1, 7], pad: [0, 3], bias: false}, conv: {out: 8, k: [7, 1], pad: [3, 0], bias: false}]",
    )
    one, _ = _fields(write_spec, "[8, 32, 32]", "[conv: {out: 8, k: 7, pad: 3, bias: false}]")
    assert sizes[1:] == [(1, 7), (7, 7)]
    assert one.receptive[-1].size == (7, 7)
    assert Fraction(a.totals.params, one.totals.params) == Fraction(14, 49)


@pytest.mark.parametrize(("n", "field"), [(1, 3), (2, 5), (3, 7)])
def test_stacked_3x3_convs(write_spec, n, field):
    _, sizes = _fields(write_spec, "[3, 32, 32]", "[" + ", ".join(["conv: {out: 4, k: 3, pad: 1}"] * n) + "]")
    assert sizes[-1] == (field, field)


def test_vgg16_fields_grow_as_the_lecture_says():
    a = analyze("vgg16")
    rows = [(r.kind, f.size[0]) for r, f in zip(a.layers, a.receptive, strict=True) if r.kind in ("conv", "maxpool")]
    assert [size for _, size in rows] == [3, 5, 6, 10, 14, 16, 24, 32, 40, 44, 60, 76, 92, 100, 132, 164, 196, 212]
    assert all(f.size[0] == f.size[1] for f in a.receptive if not f.whole)
    assert a.receptive[-1].whole  # fc8: every pixel


# -- the outputs -----------------------------------------------------------------------------------
def test_json_frame_and_table_carry_fields_only_when_asked():
    from cnncost.report.frame import to_frame
    from cnncost.report.layers import layer_table

    a = analyze("vgg16")
    assert "receptive_field" not in layer_table(a).data["layers"][0]
    layers = {r["name"]: r for r in layer_table(a, rf=True).data["layers"]}
    assert (layers["stage5.pool"]["receptive_field"], layers["stage5.pool"]["jump"]) == ([212, 212], [32, 32])
    assert layers["stage5.pool"]["rf_start"] == [15.5, 15.5]
    assert layers["fc8"]["receptive_field"] is layers["fc8"]["jump"] is None
    report = layer_table(a, depth=1, rf=True)
    cells = {r["name"]: r for r in report.rows}
    assert (cells["stage2"]["rf"], cells["stage2"]["jump"], cells["stage2"]["rf_start"]) == ("16×16", "4", "1.5")
    assert cells["fc8"]["rf"] == "whole input"
    frame = to_frame(a, rf=True).set_index("name")
    assert frame.loc["stage1.pool", "receptive_field"] == [6, 6]
    assert "receptive_field" not in to_frame(a).columns


def test_resampling_jumps_are_exact_fractions(write_spec):
    a, _ = _fields(write_spec, "[3, 12, 12]", "[conv: {out: 4, k: 3, stride: 3}, upsample: {size: [12, 10]}]")
    field = a.receptive[-1]
    assert field.jump == (1, Fraction(6, 5))  # 3 · 4/12 and 3 · 4/10
    assert field.record()["jump"] == [1, "6/5"]
