"""Small ImageNet nets: SqueezeNet 1.0/1.1 and MobileNet v1 (paper, timm), v2 and v3 (torchvision).

No torch here: reference counts are written down from torchvision/timm (weights=None); the
torch, fvcore and reference cross-checks run for every spec in tests/test_crosscheck.py.
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from tests.conftest import layer


def convs(a, label_start=""):
    return [r for r in a.layers if r.kind == "conv" and r.label.startswith(label_start)]


# -- SqueezeNet ---------------------------------------------------------------------------------
FIRES = ["fire2", "fire3", "fire4", "fire5", "fire6", "fire7", "fire8", "fire9"]


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [
        ("squeezenet1_0", 1_248_424, 818_924_576),  # torchvision meta: 1,248,424, _ops 0.819
        ("squeezenet1_1", 1_235_496, 349_151_936),  # torchvision meta: 1,235,496, _ops 0.349
        ("squeezenet1_0_paper", 1_248_424, 832_667_936),  # 227×227
    ],
)
def test_squeezenet_totals(name, params, macs):
    a = analyze(name)
    assert a.totals.params == params
    assert a.totals.macs == macs
    assert a.totals.buffers == 0  # no BN
    assert a.depth == 26  # conv1 + 8 fires × 3 + conv10
    assert a.layers[-1].out_shape == (1000,)


def test_fire_widths_from_the_metaparameters():
    """§5: e_i = 128 + 128·floor(i/2), half of it 3×3, squeeze = 0.125·e_i — Table 1's columns."""
    a = analyze("squeezenet1_0")
    table1 = [
        (16, 64, 64),
        (16, 64, 64),
        (32, 128, 128),
        (32, 128, 128),
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        (64, 256, 256),
    ]
    for fire, (s, e1, e3) in zip(FIRES, table1, strict=True):
        assert layer(a, fire, "squeeze").out_shape[0] == s
        assert layer(a, fire, "expand", "conv1x1", "conv").out_shape[0] == e1
        assert layer(a, fire, "expand", "conv3x3", "conv").label == "conv 3×3"
        assert a.within((fire,)).out_shape[0] == e1 + e3
        c = a.within((fire,)).in_shapes[0][0]
        assert a.within((fire,)).params == c * s + s + s * e1 + e1 + s * 9 * e3 + e3


def test_squeezenet_paper_table1_shapes_and_params():
    a = analyze("squeezenet1_0_paper")
    shapes = {
        "conv1": (96, 111, 111),
        "maxpool1": (96, 55, 55),
        "fire2": (128, 55, 55),
        "fire4": (256, 55, 55),
        "maxpool4": (256, 27, 27),
        "fire8": (512, 27, 27),
        "maxpool8": (512, 13, 13),
        "fire9": (512, 13, 13),
        "conv10": (1000, 13, 13),
        "avgpool10": (1000, 1, 1),
    }
    assert {k: a.within((k,)).out_shape for k in shapes} == shapes
    rows = [14_208, 11_920, 12_432, 45_344, 49_440, 104_880, 111_024, 188_992, 197_184, 513_000]
    assert [a.within((k,)).params for k in ["conv1", *FIRES, "conv10"]] == rows
    assert sum(rows) == 1_248_424
    assert layer(a, "avgpool10").label == "avgpool 13×13/1"


def test_squeezenet_1_1_pools_earlier():
    v10, v11 = analyze("squeezenet1_0"), analyze("squeezenet1_1")
    assert v10.within(("fire4",)).out_shape == (256, 54, 54)  # 224: 109 → 54 (ceil mode)
    assert v11.within(("fire4",)).out_shape == (256, 27, 27)
    assert v11.within(("fire6",)).out_shape == (384, 13, 13)
    assert layer(v11, "conv1").label == "conv 3×3/2"
    assert 2.3 < v10.totals.macs / v11.totals.macs < 2.4  # "2.4× less computation"
    # same Fire modules: only conv1 differs (96·7·7·3 + 96 vs 64·3·3·3 + 64; fire2 sees 96 vs 64)
    assert v10.totals.params - v11.totals.params == (14_208 - 1_792) + (96 - 64) * 16


def test_fifty_times_fewer_parameters_than_alexnet():
    ratio = analyze("alexnet_paper").totals.params / analyze("squeezenet1_0").totals.params
    assert round(ratio, 1) == 48.8  # 60,965,224 / 1,248,424
    assert analyze("squeezenet1_0").totals.params * 4 / 2**20 == pytest.approx(4.76, abs=0.005)


# -- MobileNet v1 --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def v1():
    return analyze("mobilenet_v1")


def test_mobilenet_v1_totals(v1):
    assert v1.totals.params == 4_231_976  # timm mobilenetv1_100 too
    assert v1.totals.macs == 568_740_352  # "569M Mult-Adds"
    assert v1.depth == 28  # "MobileNet has 28 layers"
    twin = analyze("mobilenetv1_100")  # timm: ReLU6, same counts
    assert (twin.totals.params, twin.totals.macs, twin.totals.buffers) == (
        v1.totals.params,
        v1.totals.macs,
        v1.totals.buffers,
    )
    assert {r.kind for r in twin.layers} >= {"relu6"} and "relu6" not in {r.kind for r in v1.layers}


def test_mobilenet_v1_table1_shapes(v1):
    assert layer(v1, "stem", "conv").out_shape == (32, 112, 112)
    assert [v1.within(("blocks", str(s))).out_shape for s in range(5)] == [
        (64, 112, 112),
        (128, 56, 56),
        (256, 28, 28),
        (512, 14, 14),
        (1024, 7, 7),
    ]
    dws = convs(v1, "conv 3×3")[1:]
    assert len(dws) == 13 and all(" g" in r.label for r in dws)  # 13 depthwise convs
    assert [r.label for r in dws].count("conv 3×3 g512") == 5
    # Table 1 prints the last dw as s2, but it keeps 7×7: stride 1
    assert layer(v1, "blocks", "4", "1", "dw", "conv").out_shape == (1024, 7, 7)
    assert layer(v1, "fc").in_shapes == ((1024,),)


def test_mobilenet_v1_table2_resource_split(v1):
    """Table 2: 1×1 convs 94.86% of Mult-Adds, 74.59% of params; fc 0.18%, 24.33%."""
    weights = sum(r.weights for r in v1.layers if r.kind in ("conv", "linear"))
    pw = convs(v1, "conv 1×1")
    assert sum(r.macs for r in pw) == 539_492_352
    assert round(100 * sum(r.macs for r in pw) / v1.totals.macs, 2) == 94.86
    assert round(100 * sum(r.weights for r in pw) / weights, 2) == 74.59
    fc = layer(v1, "fc")
    assert round(100 * fc.macs / v1.totals.macs, 2) == 0.18
    assert round(100 * fc.weights / weights, 2) == 24.33


def test_depthwise_separable_saves_8_to_9_times(v1):
    full = analyze("mobilenet_v1_conv")
    assert full.totals.macs == 4_867_293_184
    assert full.totals.params == 29_294_088
    # the separable blocks: 1/N + 1/9 of a full 3×3 conv's MACs
    assert 8 < (full.totals.macs - 1_024_000) / (v1.totals.macs - 1_024_000) < 9


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [
        ("mobilenet_v1_075", 2_585_560, 325_400_448),
        ("mobilenet_v1_050", 1_331_592, 149_497_088),
        ("mobilenet_v1_025", 470_072, 41_030_272),
        ("mobilenet_v1_shallow", 2_887_976, 307_323_392),
        ("mobilenetv1_125", 6_270_840, 879_516_800),
    ],
)
def test_mobilenet_v1_width_and_depth(name, params, macs):
    a = analyze(name)
    assert (a.totals.params, a.totals.macs) == (params, macs)


def test_mobilenet_v1_resolution_multiplier(v1):
    conv_macs = v1.totals.macs - 1_024_000
    for size, macs in [(192, 418_121_728), (160, 290_675_200), (128, 186_400_768)]:
        a = analyze("mobilenet_v1", (3, size, size))
        assert a.totals.macs == macs
        assert a.totals.macs - 1_024_000 == conv_macs * size * size // (224 * 224)  # ρ² (sizes /32)
        assert a.totals.params == v1.totals.params


# -- MobileNet v2 --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def v2():
    return analyze("mobilenet_v2")


def test_mobilenet_v2_totals(v2):
    assert v2.totals.params == 3_504_872  # torchvision meta num_params
    assert v2.totals.buffers == 34_164
    assert v2.totals.macs == 300_774_272  # torchvision _ops 0.301
    assert v2.depth == 53
    # params = conv/fc weights + fc bias + BN γ, β (17,056 channels)
    conv_fc = sum(r.weights for r in v2.layers if r.kind in ("conv", "linear"))
    assert conv_fc == 3_469_760
    assert v2.totals.params == conv_fc + 1_000 + 2 * 17_056


def test_mobilenet_v2_table2_shapes(v2):
    assert layer(v2, "stem", "conv").out_shape == (32, 112, 112)
    assert [v2.within(("blocks", str(s))).out_shape for s in range(7)] == [
        (16, 112, 112),
        (24, 56, 56),
        (32, 28, 28),
        (64, 14, 14),
        (96, 14, 14),
        (160, 7, 7),
        (320, 7, 7),
    ]
    assert v2.within(("head",)).out_shape == (1280, 7, 7)
    blocks = {r.path[:3] for r in v2.layers if r.path[0] == "blocks"}
    assert len(blocks) == 17


def test_inverted_residual_expansion_and_shortcuts(v2):
    # t = 1 in the first block: no expansion conv; t = 6 elsewhere: 1×1 to 6·c_in
    assert not [r for r in v2.layers if r.path[:4] == ("blocks", "0", "0", "block") and "expand" in r.path]
    assert layer(v2, "blocks", "2", "1", "block", "expand", "conv").out_shape == (32 * 6, 28, 28)
    assert layer(v2, "blocks", "2", "1", "block", "dw", "conv").label == "conv 3×3 g192"
    # linear bottleneck: the projection has BN and no activation
    assert [r.kind for r in v2.layers if r.path[:5] == ("blocks", "2", "1", "block", "project")] == ["conv", "bn"]
    adds = [r.path[:3] for r in v2.layers if r.kind == "add"]
    assert len(adds) == 10  # stride 1 and in == out
    assert ("blocks", "2", "0") not in adds and ("blocks", "2", "1") in adds


def test_mobilenet_v2_width_140():
    a = analyze("mobilenet_v2_140")
    assert (a.totals.params, a.totals.macs) == (6_108_776, 582_195_824)
    assert layer(a, "stem", "conv").out_shape == (48, 112, 112)
    assert a.within(("head",)).out_shape == (1792, 7, 7)


# -- MobileNet v3 --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "buffers", "macs", "adds", "se", "head"),
    [
        ("mobilenet_v3_large", 5_483_032, 24_446, 216_589_760, 10, 8, 960),
        ("mobilenet_v3_small", 2_542_856, 12_146, 56_510_400, 6, 9, 576),
    ],
)
def test_mobilenet_v3(name, params, buffers, macs, adds, se, head):
    a = analyze(name)
    assert (a.totals.params, a.totals.buffers, a.totals.macs) == (params, buffers, macs)
    assert sum(r.kind == "add" for r in a.layers) == adds
    assert sum(r.kind == "mul" for r in a.layers) == se  # squeeze-and-excite gates
    assert a.within(("head",)).out_shape == (head, 7, 7)
    assert layer(a, "stem", "act").kind == "hardswish"
    assert a.layers[-1].out_shape == (1000,)


def test_mobilenet_v3_se_squeezes_to_a_quarter():
    a = analyze("mobilenet_v3_large")
    # block 3: 5×5, exp 72, SE to make_divisible(72 // 4, 8) = 24, hard-sigmoid gate
    assert layer(a, "blocks", "3", "block", "se", "gate", "fc1").out_shape == (24, 1, 1)
    assert layer(a, "blocks", "3", "block", "se", "gate", "fc2").out_shape == (72, 1, 1)
    assert layer(a, "blocks", "3", "block", "se", "gate", "scale_activation").kind == "hardsigmoid"
    assert layer(a, "blocks", "3", "block", "dw", "conv").label == "conv 5×5/2 g72"


# -- published numbers ---------------------------------------------------------------------------
def test_verify_has_no_failure():
    models = [
        "squeezenet1_0",
        "squeezenet1_1",
        "squeezenet1_0_paper",
        "mobilenet_v1",
        "mobilenet_v1_075",
        "mobilenet_v1_050",
        "mobilenet_v1_025",
        "mobilenet_v1_shallow",
        "mobilenet_v1_conv",
        "mobilenet_v2",
        "mobilenet_v3_large",
        "mobilenet_v3_small",
    ]
    results = check_models(models)
    assert [(r.model, r.entry.metric) for r in results if r.status == "fail"] == []
    errata = sorted((r.model, r.entry.metric, r.entry.input) for r in results if r.status == "erratum")
    assert errata == sorted(
        [
            ("mobilenet_v1", "macs", (3, 160, 160)),
            ("mobilenet_v1_conv", "macs", None),
            ("mobilenet_v2", "macs", None),
            ("mobilenet_v2", "params", None),
        ]
    )
    assert all(r.status in ("pass", "erratum") for r in results)
