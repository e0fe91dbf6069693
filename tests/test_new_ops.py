"""The layer types of ConvNeXt, ShuffleNetV2, segmentation nets and UNets: layernorm, groupnorm, gelu's tanh
form, layer_scale, permute, channel_shuffle, pad, conv_transpose, and adaptive pools to sizes that do not
divide the input. Per op: output sizes and parameters against torch's own module over many sizes
(Hypothesis), a count from an oracle nobody here wrote (fvcore, torchvision), and each error message."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnncost import SpecError, analyze, load_model
from cnncost.ops import REGISTRY
from tests.conftest import layer

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
nn = torch.nn
F = torch.nn.functional

SETTINGS = settings(max_examples=60, deadline=None)


def ignore(message: str) -> None:
    """A ``warn`` callback that drops warnings."""


def resolve(kind: str, **fields):
    return REGISTRY[kind].resolve(fields, {})


def infer(op, shape):
    return op.infer([shape], ignore)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def built(op, shape):
    """cnncost's own torch module for ``op`` on a ``shape`` input (the builder the registry test runs)."""
    from cnncost.torch.layers import to_module

    return to_module(op, [shape], infer(op, shape))


def by_module(spec):
    """fvcore's count per module of the spec-built model, at batch 1."""
    from cnncost.torch.builder import build
    from cnncost.torch.crosscheck import fvcore_counts

    _, counts, _ = fvcore_counts(build(spec), torch.randn(1, *spec.input))
    return counts


def spec_of(write_spec, text: str):
    return load_model(str(write_spec(text)))


def assert_error_at_line_3(write_spec, input_shape: str, item: str, message: str) -> None:
    path = write_spec(f"input: {input_shape}\nlayers:\n  - {item}\n")
    with pytest.raises(SpecError, match=message) as info:
        analyze(load_model(str(path)))
    assert info.value.line == 3


# -- layernorm ------------------------------------------------------------------------------
@SETTINGS
@given(c=st.integers(1, 12), h=st.integers(1, 9), w=st.integers(1, 9), affine=st.booleans())
def test_layernorm_over_channels_is_torchvisions_layernorm2d(c, h, w, affine):
    from torchvision.models.convnext import LayerNorm2d

    op = resolve("layernorm", affine=affine, eps=1e-6)
    reference = LayerNorm2d(c, eps=1e-6, elementwise_affine=affine)
    x = torch.randn(2, c, h, w)
    assert infer(op, (c, h, w)) == tuple(reference(x).shape[1:])
    assert op.params([(c, h, w)]).weights + op.params([(c, h, w)]).biases == n_params(reference)
    ours = built(op, (c, h, w))
    ours.load_state_dict(reference.state_dict())
    torch.testing.assert_close(ours(x), reference(x))


@SETTINGS
@given(shape=st.lists(st.integers(1, 8), min_size=1, max_size=3), affine=st.booleans())
def test_layernorm_over_the_last_axis_is_nn_layernorm(shape, affine):
    op = resolve("layernorm", dims="last", affine=affine)
    reference = nn.LayerNorm(shape[-1], elementwise_affine=affine)
    assert infer(op, tuple(shape)) == tuple(reference(torch.randn(2, *shape)).shape[1:])
    assert op.params([tuple(shape)]).weights + op.params([tuple(shape)]).biases == n_params(reference)
    assert [tuple(s) for s in op.weight_shapes([tuple(shape)])] == [tuple(p.shape) for p in reference.parameters()]


def test_layernorm_fvcore_count_and_saved_bytes_equal_torchvisions(write_spec):
    from torchvision.models.convnext import LayerNorm2d

    from cnncost.analysis.memory import memory
    from cnncost.torch.memory_check import measured_saved_bytes

    spec = spec_of(
        write_spec,
        """
        input: [6, 5, 7]
        layers:
          - conv: {out: 6, k: 1}
          - ln: {layernorm: {eps: 1e-6}}
          - plain: {layernorm: {affine: false}}
        """,
    )
    a = analyze(spec)
    # fvcore's norm_flop_counter(2): 5 per input element with a weight, 4 without (6·5·7 = 210 elements).
    assert (layer(a, "ln").fvcore, layer(a, "plain").fvcore) == (210 * 5, 210 * 4) == (1050, 840)
    fv = by_module(spec)
    assert (fv["ln"], fv["plain"]) == (1050, 840)
    assert layer(a, "ln").params == 12 and layer(a, "ln").macs == 0 and layer(a, "ln").all_ops == 1050
    # What autograd keeps, against torchvision's module: the conv's input, the conv's output (the layer
    # norm's input), each layer norm's mean and 1/std (fp32, one per position), the first norm's output.
    reference = nn.Sequential(nn.Conv2d(6, 6, 1), LayerNorm2d(6, eps=1e-6), LayerNorm2d(6, elementwise_affine=False))
    measured = measured_saved_bytes(reference, torch.randn(3, 6, 5, 7))
    assert memory(analyze(spec, batch=3)).saved_activation_bytes == measured == 4 * 3 * (3 * 210 + 4 * 35)


# -- groupnorm ------------------------------------------------------------------------------
@SETTINGS
@given(
    groups=st.integers(1, 6),
    per_group=st.integers(1, 4),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    affine=st.booleans(),
)
def test_groupnorm_is_nn_groupnorm(groups, per_group, h, w, affine):
    c = groups * per_group
    op = resolve("groupnorm", groups=groups, affine=affine)
    reference = nn.GroupNorm(groups, c, affine=affine)
    assert infer(op, (c, h, w)) == tuple(reference(torch.randn(2, c, h, w)).shape[1:])
    assert op.params([(c, h, w)]).weights + op.params([(c, h, w)]).biases == n_params(reference)


def test_groupnorm_fvcore_count(write_spec):
    spec = spec_of(
        write_spec,
        """
        input: [6, 5, 7]
        layers:
          - gn: {groupnorm: {groups: 3}}
          - plain: {groupnorm: {groups: 2, affine: false}}
        """,
    )
    a = analyze(spec)
    fv = by_module(spec)
    # aten::group_norm is norm_flop_counter(2) too: 5 (4) per element of the 6×5×7 input.
    assert (layer(a, "gn").fvcore, layer(a, "plain").fvcore) == (fv["gn"], fv["plain"]) == (1050, 840)
    assert layer(a, "gn").params == 12 and layer(a, "plain").params == 0


# -- gelu --------------------------------------------------------------------------------------
def test_gelu_tanh_is_torchs_tanh_approximation(write_spec):
    exact, tanh = resolve("gelu"), resolve("gelu", approximate="tanh")
    assert exact.approximate == "none" and exact.describe() == "gelu"
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(built(tanh, (3, 4, 5))(x), F.gelu(x, approximate="tanh"))
    torch.testing.assert_close(built(exact, (3, 4, 5))(x), F.gelu(x))
    assert not torch.allclose(F.gelu(x, approximate="tanh"), F.gelu(x))
    a = analyze(spec_of(write_spec, "input: [3, 4, 5]\nlayers:\n  - gelu: {approximate: tanh}\n"))
    assert a.totals.all_ops == 60 and a.totals.fvcore == 0


# -- layer_scale -------------------------------------------------------------------------------
def test_layer_scale_is_torchvisions_cnblock_gamma(write_spec):
    from torchvision.models.convnext import CNBlock

    gamma = CNBlock(5, layer_scale=1e-6, stochastic_depth_prob=0.0).layer_scale
    op = resolve("layer_scale")
    assert op.weight_shapes([(5, 7, 3)]) == (tuple(gamma.shape),) == ((5, 1, 1),)
    assert resolve("layer_scale", dims="last").weight_shapes([(7, 3, 5)]) == ((5,),)
    module = built(op, (5, 7, 3))
    torch.testing.assert_close(module.weight, torch.full((5, 1, 1), 1e-6))
    a = analyze(spec_of(write_spec, "input: [5, 7, 3]\nlayers:\n  - layer_scale: {init: 0.5}\n"))
    assert (a.totals.params, a.totals.macs, a.totals.all_ops, a.totals.fvcore) == (5, 0, 105, 0)


def test_a_convnext_block_equals_torchvisions_cnblock(write_spec):
    """The whole block (depthwise 7×7, layer norm, the 4× MLP as 1×1 convs, GELU, γ, residual) against
    torchvision's CNBlock, whose MLP is nn.Linear on the channels-last map: the same params, fvcore count,
    FlopCounterMode count and saved-for-backward bytes."""
    from torchvision.models.convnext import CNBlock

    from cnncost.analysis.memory import memory
    from cnncost.torch.crosscheck import flop_counter_total, fvcore_counts
    from cnncost.torch.memory_check import measured_saved_bytes

    spec = spec_of(
        write_spec,
        """
        input: [8, 7, 5]
        layers:
          - {add: [identity, [conv: {out: 8, k: 7, pad: 3, groups: 8}, layernorm: {eps: 1e-6},
                              conv: {out: 32, k: 1}, gelu, conv: {out: 8, k: 1}, layer_scale]], inplace: true}
        """,
    )
    a = analyze(spec)
    block = CNBlock(8, layer_scale=1e-6, stochastic_depth_prob=0.0).eval()
    x = torch.randn(1, 8, 7, 5)
    total, _, _ = fvcore_counts(block, x)
    # depthwise 35·8·49, layer norm 280·5, two linears 35·8·32 each
    assert a.totals.fvcore == total == 13_720 + 1_400 + 2 * 8_960
    assert a.totals.params == n_params(block)
    assert a.totals.flops == flop_counter_total(block, x)
    measured = measured_saved_bytes(block, torch.randn(3, 8, 7, 5))
    assert memory(analyze(spec, batch=3)).saved_activation_bytes == measured


# -- permute -------------------------------------------------------------------------------------
@SETTINGS
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=3), data=st.data())
def test_permute_gives_torchs_shape(shape, data):
    order = data.draw(st.permutations(range(len(shape))))
    op = resolve("permute", order=list(order))
    x = torch.zeros(1, *shape)
    assert infer(op, tuple(shape)) == tuple(x.permute(0, *(i + 1 for i in order)).shape[1:])
    y = built(op, tuple(shape))(x)
    assert tuple(y.shape[1:]) == infer(op, tuple(shape)) and y.untyped_storage().data_ptr() == x.data_ptr()


def test_permute_channels_last_and_back(write_spec):
    a = analyze(
        spec_of(
            write_spec,
            """
        input: [6, 5, 7]
        layers:
          - conv: {out: 6, k: 1}
          - last: {permute: {order: [1, 2, 0]}}
          - ln: {layernorm: {dims: last}}
          - back: {permute: {order: [2, 0, 1]}}
        """,
        )
    )
    assert [layer(a, n).out_shape for n in ("last", "ln", "back")] == [(5, 7, 6), (5, 7, 6), (6, 5, 7)]
    assert layer(a, "last").activations == layer(a, "back").activations == 0  # views
    assert layer(a, "ln").params == 12


# -- channel_shuffle ----------------------------------------------------------------------------
@SETTINGS
@given(groups=st.integers(1, 5), per_group=st.integers(2, 5), h=st.integers(1, 6), w=st.integers(1, 6))
def test_channel_shuffle_is_torchvisions(groups, per_group, h, w):
    from torchvision.models.shufflenetv2 import channel_shuffle

    c = groups * per_group
    op = resolve("channel_shuffle", groups=groups)
    x = torch.randn(2, c, h, w)
    assert infer(op, (c, h, w)) == (c, h, w)
    torch.testing.assert_close(built(op, (c, h, w))(x), channel_shuffle(x, groups), rtol=0, atol=0)
    shares_storage = channel_shuffle(x, groups).untyped_storage().data_ptr() == x.data_ptr()
    assert op.new_tensor() is not shares_storage


def test_channel_shuffle_counts_nothing(write_spec):
    spec = spec_of(write_spec, "input: [6, 3, 5]\nlayers:\n  - shuffle: {channel_shuffle: {groups: 3}}\n")
    a = analyze(spec)
    assert (a.totals.all_ops, a.totals.fvcore, layer(a, "shuffle").activations) == (0, 0, 90)
    assert by_module(spec).get("shuffle", 0) == 0


# -- pad -------------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    pad=st.lists(st.integers(-3, 7), min_size=4, max_size=4),
    mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
)
def test_pad_gives_torchs_size_or_an_error(h, w, pad, mode):
    """Whatever F.pad accepts, cnncost sizes alike; whatever it refuses, cnncost refuses. The one difference:
    negative (cropping) padding is refused in the modes other than constant, which torch takes in part."""
    t, b, left, r = pad
    op = resolve("pad", pad=pad, mode=mode)
    try:
        expected = tuple(F.pad(torch.zeros(1, 2, h, w), (left, r, t, b), mode=mode).shape[1:])
    except (RuntimeError, ValueError):
        expected = None
    if expected is not None and 0 in expected:
        expected = None  # an empty map: torch makes it, cnncost refuses it as a layer output
    if expected is None or (mode != "constant" and min(pad) < 0):
        with pytest.raises(SpecError):
            infer(op, (2, h, w))
        return
    assert infer(op, (2, h, w)) == expected
    assert tuple(built(op, (2, h, w))(torch.zeros(1, 2, h, w)).shape[1:]) == expected


def test_pad_fills_and_counts_nothing(write_spec):
    spec = spec_of(
        write_spec,
        """
        input: [2, 5, 6]
        layers:
          - fill: {pad: {pad: [0, 1, 2, 1], value: 0.5}}
          - mirror: {pad: {pad: 1, mode: reflect}}
        """,
    )
    a = analyze(spec)
    assert (layer(a, "fill").out_shape, layer(a, "mirror").out_shape) == ((2, 6, 9), (2, 8, 11))
    assert a.totals.all_ops == a.totals.fvcore == 0
    assert by_module(spec).get("fill", 0) == by_module(spec).get("mirror", 0) == 0
    y = built(resolve("pad", pad=[0, 1, 2, 1], value=0.5), (2, 5, 6))(torch.zeros(1, 2, 5, 6))
    assert y[0, 0, 5, 0] == 0.5 and y[0, 0, 0, 2] == 0


# -- conv_transpose --------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    groups=st.integers(1, 3),
    cin=st.integers(1, 3),
    cout=st.integers(1, 3),
    k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    pad=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    output_padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    bias=st.booleans(),
)
def test_conv_transpose_is_nn_convtranspose2d(h, w, groups, cin, cout, k, stride, pad, output_padding, dilation, bias):
    c, out = groups * cin, groups * cout
    op = resolve(
        "conv_transpose",
        out=out,
        k=list(k),
        stride=list(stride),
        pad=list(pad),
        output_padding=list(output_padding),
        groups=groups,
        dilation=list(dilation),
        bias=bias,
    )
    reference = nn.ConvTranspose2d(c, out, k, stride, pad, output_padding, groups, bias, dilation)
    try:
        expected = tuple(reference(torch.zeros(1, c, h, w)).shape[1:])
    except RuntimeError:
        expected = None
    if expected is None or 0 in expected:  # an empty map: torch makes it, cnncost refuses it as a layer output
        with pytest.raises(SpecError):
            infer(op, (c, h, w))
        return
    assert infer(op, (c, h, w)) == expected
    p = op.params([(c, h, w)])
    assert p.weights + p.biases == n_params(reference)
    assert op.weight_shapes([(c, h, w)]) == tuple(tuple(t.shape) for t in reference.parameters())


@SETTINGS
@given(c=st.integers(1, 5), out=st.integers(1, 5), h=st.integers(1, 5), w=st.integers(1, 5))
def test_conv_transpose_refuses_groups_torch_refuses(c, out, h, w):
    groups = 2
    assume(c % groups or out % groups)
    with pytest.raises(ValueError):
        nn.ConvTranspose2d(c, out, 3, groups=groups)
    with pytest.raises(SpecError, match="must divide input channels"):
        infer(resolve("conv_transpose", out=out, k=3, groups=groups), (c, h, w))


def test_conv_transpose_counts_as_fvcore_and_flopcounter(write_spec):
    from cnncost.torch.builder import build
    from cnncost.torch.crosscheck import flop_counter_total

    spec = spec_of(
        write_spec,
        """
        input: [6, 5, 7]
        layers:
          - up: {conv_transpose: {out: 4, k: 3, stride: 2, pad: 1, output_padding: 1}}
          - up2: {conv_transpose: {out: 2, k: 2, stride: 2, groups: 2, bias: false}}
        """,
    )
    a = analyze(spec)
    up, up2 = layer(a, "up"), layer(a, "up2")
    assert (up.out_shape, up2.out_shape) == ((4, 10, 14), (2, 20, 28))
    # fvcore's conv_flop_jit, transposed: input elements × C_out/groups × kh × kw (the weight is C_in × C_out/g × k × k)
    assert up.macs == 6 * 5 * 7 * 4 * 3 * 3 == 7_560 and up2.macs == 4 * 10 * 14 * 1 * 2 * 2 == 2_240
    fv = by_module(spec)
    assert (fv["up"], fv["up2"]) == (up.fvcore, up2.fvcore) == (7_560, 2_240)
    assert flop_counter_total(build(spec), torch.randn(1, 6, 5, 7)) == a.totals.flops == 2 * (7_560 + 2_240)
    assert (up.params, up2.params) == (6 * 4 * 9 + 4, 4 * 1 * 4) and up.weight_layers == 1


# -- adaptive pools to sizes that do not divide the input -------------------------------------------
@SETTINGS
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    oh=st.integers(1, 8),
    ow=st.integers(1, 8),
    kind=st.sampled_from(["adaptive_avgpool", "adaptive_maxpool"]),
)
def test_adaptive_pools_give_torchs_size(h, w, oh, ow, kind):
    op = resolve(kind, out=[oh, ow])
    reference = (nn.AdaptiveAvgPool2d if kind == "adaptive_avgpool" else nn.AdaptiveMaxPool2d)((oh, ow))
    assert infer(op, (3, h, w)) == tuple(reference(torch.zeros(1, 3, h, w)).shape[1:]) == (3, oh, ow)


def test_adaptive_avgpool_7x5_to_3x2_fvcore_count(write_spec):
    spec = spec_of(
        write_spec,
        """
        input: [3, 7, 5]
        layers:
          - avg: {adaptive_avgpool: {out: [3, 2]}}
        """,
    )
    a = analyze(spec)
    # fvcore's adaptive_avg_pool2d handle: 1 per input element, whatever the windows' overlap
    assert layer(a, "avg").fvcore == by_module(spec)["avg"] == 3 * 7 * 5


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "item", "message"),
    [
        (
            "[12]",
            "layernorm",
            r"layernorm over channels needs a C×H×W input, got 12 \(expected a feature map, or "
            r"dims: last",
        ),
        ("[4, 3, 3]", "layernorm: {dims: first}", r"layernorm.dims: got 'first' \(expected channels \| last\)"),
        ("[6, 3, 3]", "groupnorm: {groups: 4}", r"groupnorm: groups=4 does not divide the 6 channels"),
        ("[6, 3, 3]", "groupnorm", r"groupnorm: missing required field 'groups'"),
        ("[6, 3, 3]", "groupnorm: {groups: 0}", r"groupnorm: groups=0 does not divide"),
        ("[4, 3, 3]", "gelu: {approximate: fast}", r"gelu.approximate: got 'fast' \(expected none \| tanh\)"),
        ("[4, 3, 3]", "gelu: {inplace: true}", r"gelu: unknown field 'inplace'"),
        ("[12]", "layer_scale", r"layer_scale needs a C×H×W input, got 12"),
        ("[4, 3, 3]", "layer_scale: {dims: all}", r"layer_scale.dims: got 'all'"),
        (
            "[4, 3, 3]",
            "permute: {order: [1, 0]}",
            r"permute: order \[1, 0\] for a 4×3×3 input \(expected a permutation "
            r"of \[0, 1, 2\]",
        ),
        ("[4, 3, 3]", "permute: {order: [1, 1, 0]}", r"permute: order \[1, 1, 0\]"),
        ("[4, 3, 3]", "permute: {order: 2}", r"permute.order: got 2 \(expected a list of integers"),
        ("[4, 3, 3]", "permute", r"permute: missing required field 'order'"),
        ("[6, 3, 3]", "channel_shuffle: {groups: 4}", r"channel_shuffle: groups=4 does not divide the 6 channels"),
        ("[6, 3, 3]", "channel_shuffle: {groups: 6}", r"channel_shuffle: groups=6 equals the channels"),
        ("[12]", "channel_shuffle: {groups: 2}", r"channel_shuffle needs a C×H×W input"),
        ("[2, 3, 3]", "pad: {pad: same}", r"pad: pad must be numbers, got 'same'"),
        ("[2, 3, 3]", "pad: {pad: 1, mode: zeros}", r"pad.mode: got 'zeros' \(expected constant \| reflect"),
        (
            "[2, 3, 3]",
            "pad: {pad: 1, mode: reflect, value: 1}",
            r"pad: value 1 with mode reflect \(expected mode constant",
        ),
        (
            "[2, 3, 3]",
            "pad: {pad: [0, 0, -1, 1], mode: replicate}",
            r"pad: negative padding \[0, 0, -1, 1\] with mode "
            r"replicate \(expected mode constant to crop",
        ),
        (
            "[2, 3, 4]",
            "pad: {pad: [3, 0, 0, 0], mode: reflect}",
            r"pad: reflect padding 3 of 3 rows \(expected padding "
            r"below 3 per side",
        ),
        (
            "[2, 3, 4]",
            "pad: {pad: [0, 0, 0, 5], mode: circular}",
            r"pad: circular padding 5 of 4 columns \(expected "
            r"padding at most 4 per side",
        ),
        ("[2, 3, 4]", "pad: {pad: [-2, -1, 0, 0]}", r"pad: output 0×4 from 3×4"),
        (
            "[4, 3, 3]",
            "conv_transpose: {out: 4, k: 3, stride: 2, output_padding: 2}",
            r"conv_transpose: output_padding 2 with stride 2 and dilation 1 \(rows\) \(expected output_padding below",
        ),
        (
            "[4, 3, 3]",
            "conv_transpose: {out: 6, k: 3, groups: 4}",
            r"conv_transpose: groups=4 must divide input channels 4 and output channels 6",
        ),
        ("[4, 1, 1]", "conv_transpose: {out: 4, k: 1, pad: 1}", r"conv_transpose: output size -1 below 1 \(rows\)"),
        (
            "[4, 3, 3]",
            "conv_transpose: {out: 4, k: 3, pad: [1, 2, 3, 4]}",
            r"conv_transpose.pad: got \[1, 2, 3, 4\] "
            r"\(expected an int or \[h, w\]\)",
        ),
        (
            "[4, 3, 3]",
            "conv_transpose: {out: 4, k: 3, stride: 0}",
            r"conv_transpose.stride: got \[0, 0\] \(expected a positive integer \(each\)\)",
        ),
        ("[4, 3, 3]", "conv_transpose: {out: 0, k: 3}", r"conv_transpose: out=0, groups=1"),
        ("[12]", "conv_transpose: {out: 4, k: 3}", r"conv_transpose needs a C×H×W input"),
    ],
)
def test_bad_new_ops_are_clear_errors(write_spec, shape, item, message):
    assert_error_at_line_3(write_spec, shape, item, message)
