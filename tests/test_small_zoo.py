"""A small zoo: the lecture's Keras GoogLeNet for Fashion-MNIST, NiN, highway networks, FractalNet,
PolyNet and CrescendoNet (specs/keras_googlenet.yaml, nin.yaml, highway.yaml, fractalnet.yaml,
polynet.yaml, crescendonet.yaml).

No torch needed except in the one test marked ``torch`` (the highway gate's algebra); the torch,
fvcore and published-number cross-checks run for every spec in tests/test_crosscheck.py and
tests/test_published.py.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest

from cnncost import analyze, load_model
from cnncost.analysis.published import check_models


@cache
def an(name: str):
    return analyze(name)


def with_params(name: str, **overrides):
    spec = load_model(name)
    return analyze(dataclasses.replace(spec, params={**spec.params, **overrides}))


def row(a, *path):
    """The single op at ``path``."""
    (r,) = [r for r in a.layers if r.path == path]
    return r


def rows(a, prefix=(), kind=None):
    return [r for r in a.layers[1:] if r.path[: len(prefix)] == prefix and (kind is None or r.kind == kind)]


def longest_weight_path(a) -> int:
    """Weight layers (conv, linear) on the longest input → output path of the graph."""
    depth: dict[int, int] = {}
    for node in a.graph.nodes:
        own = 1 if node.op is not None and node.op.kind in ("conv", "linear") else 0
        depth[node.id] = own + max((depth[i] for i in node.inputs), default=0)
    return depth[a.graph.output]


# -- Keras GoogLeNet for Fashion-MNIST (lecture 001) ----------------------------------------------
def keras_conv_names(a) -> dict[str, tuple[str, ...]]:
    """Keras numbers Conv2D layers in creation order: conv2d, conv2d_1, … (here: execution order)."""
    convs = rows(a, kind="conv")
    return {("conv2d" if n == 0 else f"conv2d_{n}"): r.path for n, r in enumerate(convs)}


def test_keras_googlenet_summary_totals():
    a = an("keras_googlenet")
    assert a.totals.param_count("keras") == 5_978_554  # "Total params: 5,978,554"
    assert a.totals.params == 5_978_042  # "Trainable params: 5,978,042"
    assert a.totals.non_trainable == 512  # "Non-trainable params: 512"
    assert a.totals.buffers == 512 + 2  # + two num_batches_tracked counters
    assert a.totals.params * 4 / 2**20 == pytest.approx(22.80, abs=0.005)  # "(22.80 MB)"
    assert a.totals.param_count("keras") * 4 / 2**20 == pytest.approx(22.81, abs=0.005)
    assert a.totals.macs == 28_774_656
    assert a.layers[-1].out_shape == (10,)


# (Keras row, layer path in the spec, Keras output shape without the batch, Keras "Param #")
KERAS_ROWS = [
    ("conv2d", ("conv2d",), (64, 14, 14), 3_200),
    ("batch_normalization", ("batch_normalization",), (64, 14, 14), 256),
    ("activation", ("activation",), (64, 14, 14), 0),
    ("max_pooling2d", ("max_pooling2d",), (64, 7, 7), 0),
    ("conv2d_1", ("conv2d_1",), (64, 7, 7), 4_160),
    ("conv2d_2", ("conv2d_2",), (192, 7, 7), 110_784),
    ("batch_normalization_1", ("batch_normalization_1",), (192, 7, 7), 768),
    ("activation_1", ("activation_1",), (192, 7, 7), 0),
    ("max_pooling2d_1", ("max_pooling2d_1",), (192, 4, 4), 0),
    ("max_pooling2d_12", ("inception_5b", "branch4", "pool"), (832, 1, 1), 0),
    ("conv2d_51", ("inception_5b", "branch1", "conv"), (384, 1, 1), 319_872),
    ("conv2d_53", ("inception_5b", "branch2", "conv", "conv"), (384, 1, 1), 663_936),
    ("conv2d_55", ("inception_5b", "branch3", "conv", "conv"), (128, 1, 1), 153_728),
    ("conv2d_56", ("inception_5b", "branch4", "proj", "conv"), (128, 1, 1), 106_624),
    ("concatenate_8", ("inception_5b", "concat"), (1024, 1, 1), 0),
    ("global_average_poo", ("global_average_pooling2d",), (1024,), 0),
    ("dropout", ("dropout",), (1024,), 0),
    ("dense", ("dense",), (10,), 10_250),
]


@pytest.mark.parametrize(("keras", "path", "shape", "params"), KERAS_ROWS, ids=[r[0] for r in KERAS_ROWS])
def test_keras_googlenet_summary_row(keras, path, shape, params):
    cost = an("keras_googlenet").within(path)
    assert cost.out_shape == shape
    assert cost.param_count("keras") == params


def test_keras_googlenet_layer_numbering():
    a = an("keras_googlenet")
    names = keras_conv_names(a)
    assert len(names) == 57  # conv2d … conv2d_56
    assert names["conv2d_51"] == ("inception_5b", "branch1", "conv")
    assert names["conv2d_52"] == ("inception_5b", "branch2", "reduce", "conv")
    assert names["conv2d_53"] == ("inception_5b", "branch2", "conv", "conv")
    assert names["conv2d_54"] == ("inception_5b", "branch3", "reduce", "conv")
    assert names["conv2d_55"] == ("inception_5b", "branch3", "conv", "conv")
    assert names["conv2d_56"] == ("inception_5b", "branch4", "proj", "conv")
    assert len(rows(a, kind="maxpool")) == 13  # max_pooling2d … max_pooling2d_12
    assert rows(a, kind="maxpool")[12].path == ("inception_5b", "branch4", "pool")
    assert len(rows(a, kind="concat")) == 9  # concatenate … concatenate_8
    # conv2d_51 and the pool branch read concatenate_7 = inception_5a's output
    assert a.within(("inception_5a",)).out_shape == (832, 1, 1)
    assert row(a, *names["conv2d_51"]).in_shapes == ((832, 1, 1),)


def test_keras_googlenet_same_padding_and_stages():
    a = an("keras_googlenet")
    # TF SAME: 7×7/2 on 28 pads 2 + 3 (asymmetric), pools give ceil(n/2): 14 → 7 → 4 → 2 → 1
    assert row(a, "conv2d").label == "conv 7×7/2"
    stages = {
        "inception_3a": (256, 4, 4),
        "inception_3b": (480, 4, 4),
        "max_pooling2d_4": (480, 2, 2),
        "inception_4a": (512, 2, 2),
        "inception_4e": (832, 2, 2),
        "max_pooling2d_10": (832, 1, 1),
        "inception_5a": (832, 1, 1),
        "inception_5b": (1024, 1, 1),
    }
    assert {k: a.within((k,)).out_shape for k in stages} == stages
    assert len(rows(a, kind="bn")) == 2  # only after the first two convs
    assert longest_weight_path(a) == 22  # GoogLeNet's 22 layers


def test_keras_googlenet_inception_params_from_columns():
    a = an("keras_googlenet")
    # 5b on 832 channels: #1×1 384, #3×3 reduce 192, #3×3 384, #5×5 reduce 48, #5×5 128, pool proj 128
    assert a.within(("inception_5b",)).params == (
        832 * 384 + 384 + 832 * 192 + 192 + 192 * 9 * 384 + 384 + 832 * 48 + 48 + 48 * 25 * 128 + 128 + 832 * 128 + 128
    )
    inceptions = sum(
        a.within((f"inception_{m}",)).params for m in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    )
    assert 3_200 + 128 + 4_160 + 110_784 + 384 + inceptions + 10_250 == 5_978_042


# -- Network in Network --------------------------------------------------------------------------
def test_nin_cifar10():
    a = an("nin")
    assert a.totals.params == 966_986
    assert a.totals.macs == 222_486_528
    assert a.totals.buffers == 0
    assert a.depth == 9 == longest_weight_path(a)
    shapes = {
        "mlpconv1": (96, 32, 32),
        "pool1": (96, 16, 16),
        "mlpconv2": (192, 16, 16),
        "pool2": (192, 8, 8),
        "mlpconv3": (10, 8, 8),
        "pool3": (10, 1, 1),
    }
    assert {k: a.within((k,)).out_shape for k in shapes} == shapes
    assert a.layers[-1].out_shape == (10,)
    assert a.within(("mlpconv1",)).params == (5 * 5 * 3 * 192 + 192) + (192 * 160 + 160) + (160 * 96 + 96)
    assert a.within(("mlpconv2", "conv")).macs == 16 * 16 * 192 * 5 * 5 * 96


def test_nin_cifar100_differs_only_in_the_last_cccp():
    assert an("nin_cifar100").totals.params - an("nin").totals.params == 90 * 192 + 90
    assert an("nin_cifar100").layers[-1].out_shape == (100,)


# -- Highway networks ----------------------------------------------------------------------------
def test_highway_fc_layer_params_and_gate_ops():
    a = an("highway_fc_mnist50")
    layer = a.within(("highway", "0"))
    assert layer.params == 2 * (50 * 50 + 50) == 5_100  # H and T
    assert a.within(("highway", "0", "gate", "t")).params == 50 * 50 + 50  # the gate's own layer
    assert a.within(("highway", "0", "gate", "h_minus_x", "h")).params == 2_550
    # the gate adds exactly one sub, one mul, one add per unit (y = x + T·(H − x)) and a sigmoid
    assert layer.ops["elementwise"] == 3 * 50
    assert [r.kind for r in rows(a, ("highway", "0")) if r.ops.get("elementwise")] == ["sub", "mul", "add"]
    assert row(a, "highway", "0", "gate", "t", "sigmoid").ops == {"act": 50}
    assert layer.ops["act"] == 50 + 50  # ReLU in H, sigmoid in T
    assert layer.ops["linear"] == 2 * 2 * 50 * 50  # flops of the two 50×50 layers
    assert layer.out_shape == (50,)


@pytest.mark.parametrize("depth", [10, 20, 50, 100])
def test_highway_fc_totals(depth):
    a = an(f"highway_fc_mnist{depth}")
    assert a.totals.params == (784 * 50 + 50) + (depth - 1) * 5_100 + (50 * 10 + 10)
    assert longest_weight_path(a) == depth + 1  # plain first layer, depth − 1 highway, softmax layer
    assert a.totals.ops["elementwise"] == (depth - 1) * 150


def test_plain_counterpart_has_about_the_same_params_per_layer():
    plain, hw = an("plain_fc_mnist50"), an("highway_fc_mnist50")
    assert plain.within(("plain", "0")).params == 71 * 71 + 71 == 5_112
    assert abs(plain.within(("plain", "0")).params - hw.within(("highway", "0")).params) == 12
    assert plain.totals.ops["elementwise"] == 0
    assert plain.totals.params == (784 * 71 + 71) + 49 * 5_112 + (71 * 10 + 10)


def test_highway_cifar():
    a = an("highway_cifar")
    assert a.totals.params == 509_194
    for stage, c, hw in (("stage1", 16, 32), ("stage2", 32, 16), ("stage3", 64, 8)):
        layer = a.within((stage, "highway", "0"))
        assert layer.out_shape == (c, hw, hw)
        assert layer.params == 2 * (9 * c * c + c)
        assert layer.macs == 2 * 9 * c * c * hw * hw
        assert layer.ops["elementwise"] == 3 * c * hw * hw
    assert a.layers[-1].out_shape == (10,)


@pytest.mark.torch
def test_highway_rewrite_equals_the_papers_formula():
    """x + T·(H − x) computed by the built torch model equals H·T + x·(1 − T)."""
    torch = pytest.importorskip("torch")
    from cnncost.torch.builder import build

    net = build("highway_fc_mnist10").eval()
    mods = dict(net.named_modules())
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        h0 = torch.relu(mods["first.fc"](x.flatten(1)))
        h = torch.relu(mods["highway.0.gate.h_minus_x.h.fc"](h0))
        t = torch.sigmoid(mods["highway.0.gate.t.fc"](h0))
        expected = h * t + h0 * (1 - t)
        got = {}
        hook = mods["highway.0.add"].register_forward_hook(lambda m, i, o: got.setdefault("y", o))
        net(x)
        hook.remove()
    torch.testing.assert_close(got["y"], expected)


# -- FractalNet ----------------------------------------------------------------------------------
def test_fractalnet_c3_b5():
    a = an("fractalnet")
    assert a.totals.params == 33_714_314
    assert a.totals.weights == 33_698_880 + 5_120
    assert a.totals.macs == 845_222_912
    assert longest_weight_path(a) == 21  # B·2^(C−1) = 20 convs + the linear layer
    assert len(rows(a, kind="conv")) == 5 * 7  # 2^C − 1 convs per block
    shapes = [(64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2), (512, 1, 1)]
    assert [a.within(("block", str(b))).out_shape for b in range(5)] == shapes
    c_in = 3
    for b, (w, _, _) in enumerate(shapes):
        block = a.within(("block", str(b)))
        assert block.weights == 3 * 9 * c_in * w + 4 * 9 * w * w  # C convs read the block input
        if c_in != w:
            assert sum(1 for r in rows(a, ("block", str(b)), "conv") if r.in_shapes[0][0] == c_in) == 3
        c_in = w
    assert a.totals.biases == 7 * (64 + 128 + 256 + 512 + 512) + 10  # conv biases; BN has no γ, β


def test_fractalnet_joins_are_flat_means():
    """Per block: one 2-input mean (the first f_2) and one 3-input mean (the block's last join)."""
    a = an("fractalnet")
    block = rows(a, ("block", "0"))
    assert [r.kind for r in block].count("add") == 1 + 2
    means = [r for r in block if r.kind == "scale"]
    assert [r.out_shape for r in means] == [(64, 32, 32), (64, 16, 16)]
    assert [r.ops for r in means] == [{"elementwise": 64 * 32 * 32}, {"elementwise": 64 * 16 * 16}]
    assert row(a, "block", "0", "cols", "add").ops == {"elementwise": 64 * 16 * 16}
    assert [r.kind for r in block].count("maxpool") == 3  # each column pooled before the join
    scales = [r for r in a.graph.nodes if r.op is not None and r.op.kind == "scale" and r.path[:2] == ("block", "0")]
    assert [s.op.value for s in scales] == pytest.approx([1 / 2, 1 / 3])


@pytest.mark.parametrize(("columns", "convs", "path"), [(1, 1, 1), (2, 3, 2), (3, 7, 4), (4, 15, 8), (5, 31, 16)])
def test_fractal_recursion_stops(columns, convs, path):
    a = with_params("fractalnet", columns=columns)
    assert len(rows(a, ("block", "4"), "conv")) == convs
    assert longest_weight_path(a) == 5 * path + 1
    assert a.layers[-1].out_shape == (10,)


def test_fractalnet_variants():
    assert an("fractalnet_cifar100").totals.params == 33_760_484
    a = an("fractalnet40")
    assert a.totals.params == 76_084_554
    assert longest_weight_path(a) == 41


# -- CrescendoNet --------------------------------------------------------------------------------
def test_crescendonet():
    a = an("crescendonet")
    assert a.totals.params == 27_731_402
    assert a.totals.macs == 3_339_265_920
    assert longest_weight_path(a) == 15  # 3 blocks × 4 convs + 3 fully connected
    assert [a.within(("block", str(b))).out_shape for b in range(3)] == [(128, 16, 16), (256, 8, 8), (512, 4, 4)]
    c_in = 3
    for b, w in enumerate((128, 256, 512)):
        assert len(rows(a, ("block", str(b)), "conv")) == 1 + 2 + 3 + 4
        assert a.within(("block", str(b))).weights == 4 * 9 * c_in * w + 6 * 9 * w * w + 10 * w  # + BN γ
        for j in range(1, 5):
            assert len(rows(a, ("block", str(b), "paths", f"path{j}"), "conv")) == j
        c_in = w
    # the join: one 4-input add (3 ops per element) and one scale by 1/4
    join = row(a, "block", "0", "paths", "add")
    assert len(join.in_shapes) == 4 and join.ops == {"elementwise": 3 * 128 * 32 * 32}
    assert a.within(("fc",)).params == 8192 * 384 + 384 + 384 * 192 + 192
    assert an("crescendonet_cifar100").totals.params == 27_731_402 + 90 * 192 + 90


def test_crescendonet_paths_parameter():
    a = with_params("crescendonet", paths=3)
    assert len(rows(a, ("block", "0"), "conv")) == 6
    assert longest_weight_path(a) == 3 * 3 + 3


# -- PolyNet -------------------------------------------------------------------------------------
SHARED_B = 1152 * 128 + 128 * 160 * 7 + 160 * 192 * 7 + 1152 * 192  # 727,040
SHARED_C = 2048 * 192 + 192 * 224 * 3 + 224 * 256 * 3 + 2048 * 192  # 1,087,488


def test_polynet_totals():
    a = an("polynet")
    assert a.totals.macs == 34_699_493_472  # = the released model's (a shared conv runs 3×)
    assert a.totals.params == 95_366_600  # = the released model's (shared convs once)
    assert a.totals.buffers == 361_625  # = the released model's (BN per application)
    # F₂ and F₃ of the 10 B and 5 C poly-3 modules use F₁'s four inception convs (share:)
    shared = [r for r in a.layers if r.shares]
    assert len(shared) == (10 + 5) * 2 * 4 and all(r.params == 0 for r in shared)
    assert SHARED_B == 727_040 and SHARED_C == 1_087_488
    owners = {r.shares for r in shared}
    assert sum(r.params for r in a.layers if r.name in owners) == 10 * SHARED_B + 5 * SHARED_C
    assert sum(r.macs for r in shared) == 2 * sum(r.macs for r in a.layers if r.name in owners)
    assert a.layers[-1].out_shape == (1000,)


def test_polynet_stages():
    a = an("polynet")
    shapes = {
        "stem": (384, 39, 39),
        "stage_a": (384, 39, 39),
        "reduction_a": (1152, 19, 19),
        "stage_b": (1152, 19, 19),
        "reduction_b": (2048, 9, 9),
        "stage_c": (2048, 9, 9),
    }
    assert {k: a.within((k,)).out_shape for k in shapes} == shapes
    params = {
        "stem": 605_728,
        "stage_a": 2_759_040,
        "reduction_a": 2_902_528,
        "stage_b": 44_112_000,
        "reduction_b": 3_542_784,
        "stage_c": 39_395_520,
    }
    assert {k: a.within((k,)).params for k in params} == params


def test_polynet_modules():
    a = an("polynet")
    # stage B alternates poly-3 and 2-way modules
    assert [{r.path[2] for r in rows(a, ("stage_b", str(j)))} for j in range(4)] == [
        {"poly3"},
        {"way2"},
        {"poly3"},
        {"way2"},
    ]
    poly3 = ("stage_b", "0", "poly3")
    convs = rows(a, poly3, "conv")
    assert len(convs) == 3 * 5  # F (4 inception convs + 1×1 up) applied 3 times
    macs = [r.macs for r in convs]
    assert macs[0:5] == macs[5:10] == macs[10:15]  # each application costs the same
    # x + s·y1 + s·y2 + s·y3: three adds, three scales per element, as the reference module
    elems = 1152 * 19 * 19
    assert sum(r.ops.get("elementwise", 0) for r in rows(a, poly3)) == 6 * elems
    way2 = ("stage_b", "1", "way2")
    assert len(rows(a, way2, "conv")) == 2 * 5
    assert row(a, *way2, "sum", "add").ops == {"elementwise": 2 * elems}


# -- published numbers ---------------------------------------------------------------------------
MODELS = [
    "keras_googlenet",
    "nin",
    "nin_cifar100",
    "highway_fc_mnist10",
    "highway_fc_mnist20",
    "highway_fc_mnist50",
    "highway_fc_mnist100",
    "plain_fc_mnist50",
    "highway_cifar",
    "fractalnet",
    "fractalnet_cifar100",
    "fractalnet40",
    "crescendonet",
    "crescendonet_cifar100",
    "polynet",
]


def test_published_numbers():
    results = check_models(MODELS)
    assert [(r.model, r.entry.metric, r.entry.layer) for r in results if r.status == "fail"] == []
    status = {(r.model, r.entry.metric, r.entry.layer, r.entry.raw_value): r.status for r in results}
    assert sorted(k for k, v in status.items() if v == "erratum") == [
        ("fractalnet", "params", "", "38.6M"),
        ("fractalnet_cifar100", "params", "", "38.6M"),
    ]
    assert sorted(k for k, v in status.items() if v == "differs") == sorted(
        [("keras_googlenet", "model_bytes", "", "22.81M"), ("polynet", "params", "", "92M")]
    )
    for metric, layer, value in (
        ("keras_params", "", "5978554"),
        ("keras_non_trainable", "", "512"),
        ("keras_params", "batch_normalization", "256"),
        ("keras_params", "batch_normalization_1", "768"),
    ):
        assert status[("keras_googlenet", metric, layer, value)] == "pass"
    assert status[("keras_googlenet", "model_bytes", "", "22.80M")] == "pass"
    assert status[("keras_googlenet", "params", "", "5978042")] == "pass"
    assert status[("polynet", "macs", "", "34.7B")] == "pass"
    assert status[("crescendonet", "params", "", "27.7M")] == "pass"
    assert status[("highway_fc_mnist50", "params", "highway.0", "5000")] == "pass"
