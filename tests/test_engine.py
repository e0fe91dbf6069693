"""Issue-2 acceptance: the lecture's and the papers' numbers, exactly."""

import pytest

from cnncost import analyze
from cnncost.spec.catalog import load_model
from cnncost.spec.expand import expand
from tests.conftest import catalogue


def shapes(a, kinds=("conv", "maxpool", "linear")):
    return [r.out_shape for r in a.layers if r.kind in kinds]


def test_lecture_conv_example():
    a = analyze("lecture_conv")
    assert a.layers[-1].out_shape == (10, 32, 32)
    assert a.totals.params == 760
    assert (a.totals.weights, a.totals.biases) == (750, 10)


def test_alexnet_paper_shape_chain_and_conv1():
    a = analyze("alexnet_paper")
    assert shapes(a) == [
        (96, 55, 55),
        (96, 27, 27),
        (256, 27, 27),
        (256, 13, 13),
        (384, 13, 13),
        (384, 13, 13),
        (256, 13, 13),
        (256, 6, 6),
        (4096,),
        (4096,),
        (1000,),
    ]
    conv1 = a.within(("conv1",))
    assert conv1.params == 34_944 == 11 * 11 * 3 * 96 + 96
    assert a.totals.params == 60_965_224
    assert a.totals.macs == 724_406_816


def test_alexnet_torchvision():
    t = analyze("alexnet").totals
    assert (t.params, t.macs) == (61_100_840, 714_188_480)


VGG16_ROWS = [  # lecture 004: (memory elements, weights without biases) per row
    (150_528, 0),
    (3_211_264, 1_728),
    (3_211_264, 36_864),
    (802_816, 0),
    (1_605_632, 73_728),
    (1_605_632, 147_456),
    (401_408, 0),
    (802_816, 294_912),
    (802_816, 589_824),
    (802_816, 589_824),
    (200_704, 0),
    (401_408, 1_179_648),
    (401_408, 2_359_296),
    (401_408, 2_359_296),
    (100_352, 0),
    (100_352, 2_359_296),
    (100_352, 2_359_296),
    (100_352, 2_359_296),
    (25_088, 0),
    (4_096, 102_760_448),
    (4_096, 16_777_216),
    (1_000, 4_096_000),
]


def test_vgg16_lecture_table_row_by_row():
    a = analyze("vgg16_paper")
    rows = [(r.activations, r.weights) for r in a.layers if r.activations]
    assert rows == VGG16_ROWS
    assert a.totals.weights == 138_344_128
    assert a.totals.params == 138_357_544
    assert a.totals.activations == 15_237_608 == sum(m for m, _ in VGG16_ROWS)


def test_vgg16_torchvision_adds_the_adaptive_pool():
    t = analyze("vgg16").totals
    assert t.params == 138_357_544
    assert t.activations == 15_237_608 + 7 * 7 * 512 == 15_262_696


@pytest.mark.parametrize(
    ("model", "macs"),
    [
        ("resnet18", 1_814_073_344),
        ("resnet34", 3_663_761_408),
        ("resnet50_paper", 3_857_973_248),
        ("resnet101_paper", 7_570_194_432),
        ("resnet152_paper", 11_282_415_616),
        ("resnet50", 4_089_184_256),
        ("resnet152", 11_513_626_624),
    ],
)
def test_resnet_macs(model, macs):
    assert analyze(model).totals.macs == macs


def test_resnet_params():
    assert analyze("resnet50").totals.params == 25_557_032
    assert analyze("resnet152").totals.params == 60_192_808
    # Where the stride sits changes MACs, never params.
    assert analyze("resnet50_paper").totals.params == 25_557_032


def test_resnet_stages_at_depth_1():
    rows = {r.name: r for r in analyze("resnet50").collapsed(1)}
    assert [n for n in rows] == [
        "input",
        "conv1",
        "pool1",
        "conv2_x",
        "conv3_x",
        "conv4_x",
        "conv5_x",
        "pool5",
        "flatten1",
        "fc",
    ]
    assert [rows[s].out_shape for s in ("conv2_x", "conv3_x", "conv4_x", "conv5_x")] == [
        (256, 56, 56),
        (512, 28, 28),
        (1024, 14, 14),
        (2048, 7, 7),
    ]


def test_batch_scales_macs_and_activations_not_params():
    one, eight = analyze("resnet18"), analyze("resnet18", batch=8)
    assert eight.totals.macs == 8 * one.totals.macs
    assert eight.totals.activations == 8 * one.totals.activations
    assert eight.totals.params == one.totals.params


def test_input_size_override():
    a = analyze("resnet50", input_shape=(3, 320, 320))
    assert a.within(("conv5_x",)).out_shape == (2048, 10, 10)


@pytest.mark.parametrize("model", catalogue())
def test_totals_are_the_sum_of_rows(model):
    a = analyze(model)
    for depth in (None, 1, 2):
        rows = a.collapsed(depth)
        for field in ("params", "weights", "biases", "buffers", "macs", "fvcore", "activations", "all_ops"):
            assert sum(getattr(r, field) for r in rows) == getattr(a.totals, field), (depth, field)
    assert a.totals.flops == 2 * a.totals.macs
    assert a.totals.all_ops == sum(a.totals.ops.values())


@pytest.mark.parametrize("model", catalogue())
def test_every_spec_expands_and_warnings_name_their_layer(model):
    graph = expand(load_model(model))
    assert graph.nodes[graph.output].out_shape
    paths = {n.name for n in graph.nodes}
    for w in graph.warnings:  # e.g. torchvision's squeezenet1_0 conv1 7×7/2 on 224 never reads row 223
        assert w.path in paths and w.line and "never read" in w.message


def test_weights_only_is_params_minus_biases():
    t = analyze("vgg16").totals
    assert t.weights + t.biases == t.params
    assert t.biases == 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 4096 + 4096 + 1000


def test_all_ops_breakdown():
    t = analyze("resnet18").totals
    assert t.ops["conv"] + t.ops["linear"] == 2 * t.macs
    # BN: 2 per element of every BN output; resnet18 has BN after every conv.
    bn = sum(2 * r.out_shape[0] * r.out_shape[1] * r.out_shape[2] for r in analyze("resnet18").layers if r.kind == "bn")
    assert t.ops["bn"] == bn
    assert t.ops["elementwise"] > 0 and t.ops["act"] > 0 and t.ops["pool"] > 0


def test_mean_is_global_avgpool_that_fvcore_does_not_count(write_spec):
    """timm's SE squeeze ``x.mean((2, 3), keepdim=True)``: same shape and ops as a global pool,
    but fvcore has no handle for aten::mean (adaptive_avg_pool2d counts one per input element)."""
    a = analyze(
        load_model(
            str(
                write_spec("""
        input: [16, 7, 7]
        layers: [{mean: {}, name: m}, {ref: input}, {global_avgpool: {}, name: g}]
        """)
            )
        )
    )
    m, g = a.layers[1], a.layers[2]
    assert m.out_shape == g.out_shape == (16, 1, 1)
    assert m.all_ops == g.all_ops == 16 * 7 * 7
    assert (m.fvcore, g.fvcore) == (0, 16 * 7 * 7)
