"""Residual-network variants: ResNeXt, Wide ResNet, the CIFAR ResNets, pre-activation ResNets.

No torch here: the torchvision/timm counts are written down from the reference models
(torchvision.models.resnext50_32x4d() etc., timm.create_model("resnetv2_50"), random init);
tests/test_crosscheck.py checks every spec against torch, fvcore and its reference.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from tests.conftest import layer


def convs(a, *, shortcuts=True):
    rows = [r for r in a.layers if r.kind == "conv"]
    return rows if shortcuts else [r for r in rows if "shortcut" not in r.path]


IMAGENET_STAGES = {"conv2": (256, 56, 56), "conv3": (512, 28, 28), "conv4": (1024, 14, 14), "conv5": (2048, 7, 7)}


# -- ResNeXt (torchvision) ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "params", "macs", "buffers"),
    [
        ("resnext50_32x4d", 25_028_904, 4_230_479_872, 68_277),
        ("resnext101_32x8d", 88_791_336, 16_414_015_488, 202_984),
        ("resnext101_64x4d", 83_455_272, 15_460_270_080, 202_984),
    ],
)
def test_torchvision_resnext_totals(model, params, macs, buffers):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs, a.totals.buffers) == (params, macs, buffers)
    assert {k: a.within((k,)).out_shape for k in IMAGENET_STAGES} == IMAGENET_STAGES
    assert a.layers[-1].out_shape == (1000,)


@pytest.mark.parametrize(
    ("model", "groups", "widths"),
    [
        ("resnext50_32x4d", 32, [128, 256, 512, 1024]),  # int(planes · 4/64) · 32
        ("resnext101_32x8d", 32, [256, 512, 1024, 2048]),  # int(planes · 8/64) · 32
        ("resnext101_64x4d", 64, [256, 512, 1024, 2048]),  # int(planes · 4/64) · 64
    ],
)
def test_resnext_grouped_3x3(model, groups, widths):
    a = analyze(model)
    for stage, width in zip(["conv2", "conv3", "conv4", "conv5"], widths, strict=True):
        conv = layer(a, stage, "0", "conv2")
        assert conv.out_shape[0] == width
        assert conv.weights == width * (width // groups) * 3 * 3
        stride = "" if stage == "conv2" else "/2"  # the stride sits in the 3×3
        assert conv.label == f"conv 3×3{stride} g{groups}"
        assert layer(a, stage, "0", "conv1").label == "conv 1×1"


def test_resnext50_is_resnet50_with_grouped_wider_3x3():
    """Table 1 of the paper: 25.0M vs ResNet-50's 25.5M params, 4.2 vs 4.1 GFLOPs."""
    x, r = analyze("resnext50_32x4d"), analyze("resnet50")
    assert r.totals.params - x.totals.params == 528_128
    assert x.totals.macs - r.totals.macs == 141_295_616
    assert x.depth == r.depth == 54


def test_resnext101_64x4d_at_320():
    a = analyze("resnext101_64x4d", (3, 320, 320))
    assert a.totals.params == 83_455_272  # the input size changes no parameter
    assert a.totals.macs == 31_549_440_000  # NASNet Table 2: 31.5B
    assert a.within(("conv1",)).out_shape == (64, 160, 160)
    assert a.within(("conv5",)).out_shape == (2048, 10, 10)
    # every conv map grows by (320/224)² = (10/7)², the fc does not
    assert (a.totals.macs - 2_048_000) * 49 == (analyze("resnext101_64x4d").totals.macs - 2_048_000) * 100


# -- the ResNeXt Table 2 template -----------------------------------------------------------------
TEMPLATE = [(1, 64, 69_632), (2, 40, 69_760), (4, 24, 69_888), (8, 14, 71_456), (32, 4, 70_144)]


@pytest.mark.parametrize(("c", "d", "weights"), TEMPLATE, ids=[f"c{c}_d{d}" for c, d, _ in TEMPLATE])
def test_resnext_template(c, d, weights):
    a = analyze(f"resnext_template_c{c}_d{d}")
    assert a.input_shape == (256, 56, 56)
    width = c * d  # "width of group conv.": 64, 80, 96, 112, 128
    assert weights == 256 * width + 3 * 3 * d * width + width * 256
    assert a.totals.params == a.totals.weights == weights  # convs only: no BN, no bias
    assert a.totals.buffers == 0
    assert a.totals.macs == weights * 56 * 56  # "# params × 56 × 56"
    assert layer(a, "conv2_template", "conv2").out_shape == (width, 56, 56)
    assert layer(a, "conv2_template", "conv2").weights == 3 * 3 * d * width
    assert a.layers[-1].out_shape == (256, 56, 56)
    assert 0.977 * 70_000 <= weights <= 1.023 * 70_000  # "~70k", ±2.3% (0.22 ± 0.005 billion)


# -- Wide ResNet --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "params", "macs"),
    [
        ("wide_resnet50_2", 68_883_240, 11_398_021_120),
        ("wide_resnet101_2", 126_886_696, 22_753_050_624),
    ],
)
def test_torchvision_wide_resnet(model, params, macs):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs) == (params, macs)
    # the bottleneck's 1×1 and 3×3 are twice ResNet's: 128, 256, 512, 1024; the expansion keeps 4·planes
    assert [layer(a, s, "0", "conv2").out_shape[0] for s in ["conv2_x", "conv3_x", "conv4_x", "conv5_x"]] == [
        128,
        256,
        512,
        1024,
    ]
    assert a.within(("conv5_x",)).out_shape == (2048, 7, 7)


@pytest.mark.parametrize(
    ("model", "depth", "k", "params", "macs"),
    [
        ("wrn_16_8", 16, 8, 10_961_370, 1_548_145_664),
        ("wrn_28_10", 28, 10, 36_479_194, 5_243_328_768),
        ("wrn_16_4", 16, 4, 2_748_890, 392_612_352),
    ],
)
def test_cifar_wrn(model, depth, k, params, macs):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs) == (params, macs)
    assert {s: a.within((s,)).out_shape for s in ["conv1", "conv2", "conv3", "conv4"]} == {
        "conv1": (16, 32, 32),
        "conv2": (16 * k, 32, 32),
        "conv3": (32 * k, 16, 16),
        "conv4": (64 * k, 8, 8),
    }
    # WRN-d-k: d counts every conv, the three 1×1 projection shortcuts included (1 + 6N + 3)
    assert len(convs(a)) == depth
    assert len(convs(a)) - len(convs(a, shortcuts=False)) == 3
    assert a.layers[-1].out_shape == (10,)


def test_wrn_block_is_preactivated():
    a = analyze("wrn_28_10")
    # a first block shares its BN-ReLU with the projection; the others start with BN-ReLU on the residual path
    assert layer(a, "conv2", "0", "preact", "bn1").in_shapes == ((16, 32, 32),)
    assert layer(a, "conv2", "0", "residual", "shortcut").weights == 16 * 160
    assert layer(a, "conv3", "0", "residual", "shortcut").label == "conv 1×1/2"
    assert layer(a, "conv2", "1", "residual", "bn1").in_shapes == ((160, 32, 32),)
    assert not [r for r in a.layers if r.path[:2] == ("conv2", "1") and "shortcut" in r.path]
    # the 2 BN parameters of the shared pre-activation are where they would be anyway: same count
    assert a.within(("conv2", "1")).params == 2 * (160 * 160 * 9) + 2 * (2 * 160)
    drops = [r for r in analyze("wrn_16_4").layers if r.kind == "dropout"]
    assert len(drops) == 6 and not [r for r in a.layers if r.kind == "dropout"]


def test_wrn_params_formula():
    """Σ over groups of the 3×3 convs + BN, conv1, the projections, the final BN and fc."""

    def wrn(depth, k, classes=10):
        n, w = (depth - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
        total = 3 * 9 * 16 + 2 * w[3] + w[3] * classes + classes
        for g in range(1, 4):
            total += w[g - 1] * w[g] + 9 * w[g - 1] * w[g] + 2 * w[g - 1]  # projection, first conv, first BN
            total += 9 * w[g] * w[g] + 2 * w[g]  # second conv and its BN
            total += (n - 1) * (2 * 9 * w[g] * w[g] + 2 * 2 * w[g])
        return total

    assert wrn(28, 10) == analyze("wrn_28_10").totals.params
    assert wrn(16, 8) == analyze("wrn_16_8").totals.params
    assert wrn(28, 10, classes=100) == 36_536_884  # CIFAR-100: still 36.5M


# -- CIFAR ResNets (He et al. §4.2) ---------------------------------------------------------------
CIFAR = [
    ("cifar_resnet20", 3, 269_722, 40_551_040),
    ("cifar_resnet32", 5, 464_154, 68_862_592),
    ("cifar_resnet44", 7, 658_586, 97_174_144),
    ("cifar_resnet56", 9, 853_018, 125_485_696),
    ("cifar_resnet110", 18, 1_727_962, 252_887_680),
    ("cifar_resnet1202", 200, 19_421_274, 2_829_238_912),
]


@pytest.mark.parametrize(("model", "n", "params", "macs"), CIFAR, ids=[c[0] for c in CIFAR])
def test_cifar_resnet(model, n, params, macs):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs) == (params, macs)
    assert a.depth == 6 * n + 2  # 6n 3×3 convs + conv1 + fc: option A has no shortcut conv
    assert {s: a.within((s,)).out_shape for s in ["conv1", "stage1", "stage2", "stage3"]} == {
        "conv1": (16, 32, 32),
        "stage1": (16, 32, 32),
        "stage2": (32, 16, 16),
        "stage3": (64, 8, 8),
    }
    # each extra block per stage adds 2·(9·16² + 2·16) + 2·(9·32² + 2·32) + 2·(9·64² + 2·64) = 97,216
    assert params == 269_722 + (n - 3) * 97_216
    assert a.layers[-1].out_shape == (10,)


def test_cifar_option_a_shortcut_is_free():
    a = analyze("cifar_resnet20")
    sc = a.within(("stage2", "0", "shortcut"))
    assert sc.in_shapes == ((16, 32, 32),) and sc.out_shape == (32, 16, 16)
    assert (sc.params, sc.macs) == (0, 0)
    assert layer(a, "stage2", "0", "shortcut", "subsample").out_shape == (16, 16, 16)
    assert layer(a, "stage3", "0", "shortcut", "concat1", "concat").out_shape == (64, 8, 8)
    assert layer(a, "stage3", "0", "shortcut", "concat1", "zeros").label == "scale"
    assert not [r for r in a.layers if r.path[:3] == ("stage2", "1", "shortcut")]


def test_cifar_option_b_adds_two_projections():
    a, b = analyze("cifar_resnet110"), analyze("cifar_resnet110_b")
    assert b.totals.params - a.totals.params == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64) == 2_752
    assert b.totals.macs - a.totals.macs == 16 * 16 * 16 * 32 + 8 * 8 * 32 * 64 == 262_144
    assert b.within(("stage2", "0", "shortcut")).params == 576
    assert b.depth == a.depth + 2


def test_cifar_stochastic_depth_saves_a_quarter_of_training_macs():
    """Linear decay 1 → 0.5 (Huang et al. 2016): the notes' "-25% moins de calcul"."""
    a, sd = analyze("cifar_resnet110"), analyze("cifar_resnet110_sd")
    assert sd.totals.macs == a.totals.macs == 252_887_680  # inference runs every block
    assert a.totals.train_macs == a.totals.macs  # p_last 1.0: no stochastic depth
    blocks = [(s, i) for s in ("stage1", "stage2", "stage3") for i in range(18)]
    expected = sum((1 - Fraction(k, 108)) * sd.within((s, str(i))).macs for k, (s, i) in enumerate(blocks, 1))
    stem_fc = sd.within(("conv1",)).macs + sd.within(("fc",)).macs
    assert sd.totals.train_macs == expected + stem_fc == Fraction(565_856_128, 3)
    assert 0.25 < 1 - sd.totals.train_macs / sd.totals.macs < 0.255


# -- pre-activation ResNets -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "n", "params", "macs"),
    [
        ("preact_resnet164", 18, 1_703_258, 244_500_992),
        ("preact_resnet1001", 111, 10_327_706, 1_487_849_984),
    ],
)
def test_preact_cifar(model, n, params, macs):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs) == (params, macs)
    assert len(convs(a, shortcuts=False)) + 1 == 9 * n + 2  # the depth: 9n convs + conv1 + fc
    assert len(convs(a)) - len(convs(a, shortcuts=False)) == 3
    assert {s: a.within((s,)).out_shape for s in ["stage1", "stage2", "stage3"]} == {
        "stage1": (64, 32, 32),
        "stage2": (128, 16, 16),
        "stage3": (256, 8, 8),
    }
    # the authors' code strides in the first 1×1 of a downsampling unit; projections have no BN
    assert layer(a, "stage2", "0", "residual", "conv1").label == "conv 1×1/2"
    assert layer(a, "stage2", "0", "residual", "shortcut").weights == 64 * 128
    # identity units: nothing but the addition on the shortcut, BN-ReLU first on the residual path
    assert layer(a, "stage2", "1", "residual", "bn1").in_shapes == ((128, 16, 16),)
    assert layer(a, "stage2", "0", "preact", "bn1").in_shapes == ((64, 32, 32),)
    assert [r.kind for r in a.layers[-5:]] == ["bn", "relu", "global_avgpool", "flatten", "linear"]


def test_preact_resnet1001_without_bn_is_the_published_10_2m():
    a = analyze("preact_resnet1001")
    bn = sum(r.params for r in a.layers if r.kind == "bn")
    assert bn == 149_216
    assert a.totals.params - bn == 10_178_490  # rounds to the paper's 10.2M


@pytest.mark.parametrize(
    ("model", "params", "macs"),
    [
        ("preact_resnet50", 25_549_352, 4_089_184_256),  # timm resnetv2_50
        ("preact_resnet152", 60_185_128, 11_513_626_624),  # timm resnetv2_152
    ],
)
def test_preact_imagenet(model, params, macs):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs) == (params, macs)
    assert a.within(("stem",)).out_shape == (64, 56, 56)
    assert a.within(("conv5_x",)).out_shape == (2048, 7, 7)
    assert layer(a, "conv3_x", "0", "residual", "conv2").label == "conv 3×3/2"


# -- published numbers --------------------------------------------------------------------------
MODELS = [
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    *[f"resnext_template_c{c}_d{d}" for c, d, _ in TEMPLATE],
    "wide_resnet50_2",
    "wide_resnet101_2",
    "wrn_16_8",
    "wrn_28_10",
    "wrn_16_4",
    *[c[0] for c in CIFAR],
    "cifar_resnet110_b",
    "cifar_resnet110_sd",
    "preact_resnet164",
    "preact_resnet1001",
    "preact_resnet50",
    "preact_resnet152",
]


def test_published_numbers():
    results = check_models(MODELS)
    assert [(r.model, r.entry.metric, r.entry.raw_value) for r in results if r.status == "fail"] == []
    status = {(r.model, r.entry.metric, r.entry.raw_value): r.status for r in results}
    assert sorted(k for k, v in status.items() if v != "pass") == [
        ("cifar_resnet1202", "params", "10.2M"),  # the DenseNet table: 19.4M (ResNet paper Table 6)
        ("preact_resnet1001", "params", "10.2M"),  # 10.3M with BN, 10.2M without
        ("resnext101_64x4d", "params", "83.6M"),  # NASNet table: 83.5M
        ("resnext50_32x4d", "macs", "4.24e9"),  # SENet table: 4.23G + residual-add elements
    ]
    assert status[("resnext101_64x4d", "macs", "31.5e9")] == "pass"
    assert status[("cifar_resnet1202", "params", "19.4M")] == "pass"
    assert len(results) == 28
