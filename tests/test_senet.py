"""Squeeze-and-Excitation networks (timm's legacy_se* ports), the SENet paper's tables.

No torch here: the reference counts are written down from timm (pretrained=False); the torch,
fvcore and reference cross-checks run for every spec in tests/test_crosscheck.py.
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from tests.conftest import layer

STAGES = {"layer1": (256, 56, 56), "layer2": (512, 28, 28), "layer3": (1024, 14, 14), "layer4": (2048, 7, 7)}
SE_WIDTHS = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}


def se_params(depths, r=16):
    """fc1 C → C // r and fc2 back, both with bias, on every block's 4·planes output."""
    return sum(n * (2 * c * (c // r) + c // r + c) for n, c in zip(depths, SE_WIDTHS.values(), strict=True))


@pytest.mark.parametrize(
    ("name", "params", "macs", "buffers", "depth"),
    [
        # timm legacy_* (pretrained=False): params, BN buffers; MACs = conv + fc multiply-adds
        ("legacy_seresnet50", 28_088_024, 3_860_488_192, 53_173, 86),
        ("legacy_seresnet101", 49_326_872, 7_574_937_600, 105_448, 171),
        ("legacy_seresnet152", 66_821_848, 11_288_993_792, 151_579, 256),
        ("legacy_seresnext50_32x4d", 27_559_896, 4_232_994_816, 68_277, 86),
        ("legacy_seresnext101_32x4d", 48_955_416, 7_974_739_968, 137_960, 171),
        ("legacy_senet154", 115_088_984, 20_688_363_520, 247_709, 258),
        ("resnet50_caffe", 25_557_032, 3_857_973_248, 53_173, 54),
    ],
)
def test_totals(name, params, macs, buffers, depth):
    a = analyze(name)
    assert a.totals.params == params
    assert a.totals.macs == macs
    assert a.totals.buffers == buffers
    assert a.depth == depth
    assert a.layers[-1].out_shape == (1000,)
    assert {k: a.within((k,)).out_shape for k in STAGES} == STAGES


@pytest.mark.parametrize(
    ("name", "depths", "trunk"),
    [
        ("legacy_seresnet50", [3, 4, 6, 3], 25_557_032),  # = resnet50_caffe (= torchvision resnet50's params)
        ("legacy_seresnet101", [3, 4, 23, 3], 44_549_160),  # torchvision resnet101
        ("legacy_seresnet152", [3, 8, 36, 3], 60_192_808),  # torchvision resnet152
        ("legacy_seresnext50_32x4d", [3, 4, 6, 3], 25_028_904),  # torchvision resnext50_32x4d
    ],
)
def test_se_adds_its_two_fc_layers_to_the_trunk(name, depths, trunk):
    assert analyze(name).totals.params == trunk + se_params(depths)


def test_se_module_layout():
    a = analyze("legacy_seresnet50")
    se = ("layer3", "0", "se_module")
    assert a.within(se).params == 2 * 1024 * 64 + 64 + 1024
    assert a.within(se).macs == 2 * 1024 * 64  # the fcs run on 1×1 maps
    assert layer(a, *se, "gate", "fc1").out_shape == (64, 1, 1)
    assert layer(a, *se, "gate", "squeeze").label == "mean"  # timm: x.mean((2, 3), keepdim=True)
    assert layer(a, *se, "mul").out_shape == (1024, 14, 14)
    # the gate sits on the residual branch, before the add with the shortcut
    paths = [r.path for r in a.layers if r.path[:2] == ("layer3", "0")]
    assert paths.index((*se, "mul")) < paths.index(("layer3", "0", "add"))
    assert a.within(("layer1",)).params - analyze("resnet50_caffe").within(("layer1",)).params == 3 * 8_464


def test_caffe_stride_in_the_first_1x1_resnext_in_the_3x3():
    se = analyze("legacy_seresnet50")
    assert layer(se, "layer2", "0", "conv1").label == "conv 1×1/2"
    assert layer(se, "layer2", "0", "conv2").label == "conv 3×3"
    assert layer(se, "layer2", "0", "conv1").out_shape == (128, 28, 28)
    x = analyze("legacy_seresnext50_32x4d")
    assert layer(x, "layer2", "0", "conv1").label == "conv 1×1"
    assert layer(x, "layer2", "0", "conv2").label == "conv 3×3/2 g32"
    assert layer(x, "layer4", "0", "conv2").out_shape == (1024, 7, 7)  # floor(512·4/64)·32
    # the Caffe layout costs less: its 1×1 reduce runs at the lower resolution
    assert analyze("resnet50_caffe").totals.macs == 3_857_973_248 < 4_089_184_256  # torchvision resnet50


def test_senet154_stem_and_shortcuts():
    a = analyze("legacy_senet154")
    assert [layer(a, "layer0", c).label for c in ("conv1", "conv2", "conv3")] == ["conv 3×3/2", "conv 3×3", "conv 3×3"]
    assert layer(a, "layer0", "conv3").out_shape == (128, 112, 112)
    assert layer(a, "layer1", "0", "shortcut", "conv1").label == "conv 1×1"
    assert layer(a, "layer2", "0", "shortcut", "conv1").label == "conv 3×3/2"
    assert layer(a, "layer3", "5", "conv1").out_shape == (512, 14, 14)  # 2·planes
    assert layer(a, "layer3", "5", "conv2").label == "conv 3×3 g64"
    assert layer(a, "layer3", "5", "conv2").out_shape == (1024, 14, 14)  # 4·planes


def test_senet154_caffe_head_at_320():
    a = analyze("senet154_caffe_320")
    assert a.input_shape == (3, 320, 320)
    assert layer(a, "avg_pool").out_shape == (2048, 4, 4)  # fixed 7×7/1 pool on a 10×10 map
    assert layer(a, "last_linear").params == 32_768 * 1000 + 1000
    assert a.totals.params == 115_088_984 - 2_049_000 + 32_769_000 == 145_808_984
    assert a.totals.macs == 42_242_891_776
    bn_out = sum(r.out_shape[0] * r.out_shape[1] * r.out_shape[2] for r in a.layers if r.kind == "bn")
    assert a.totals.macs + bn_out == 42_321_739_776  # the NASNet table's 42.3B


def test_se_bn_inception():
    a, base = analyze("se_bn_inception"), analyze("bn_inception_caffe")
    widths = [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    assert a.totals.params - base.totals.params == sum(2 * c * (c // 16) + c // 16 + c for c in widths) == 646_398
    assert a.totals.macs - base.totals.macs == sum(2 * c * (c // 16) for c in widths) == 639_360
    assert base.totals.macs == 2_032_600_064
    assert layer(a, "inception_4e", "se_module", "mul").out_shape == (1056, 7, 7)
    assert a.layers[-1].out_shape == (1000,)


def test_reduction_ratio_table():
    base = analyze("resnet50_caffe").totals
    sizes = {}
    for r, name in [(4, "se_resnet50_r4"), (8, "se_resnet50_r8"), (16, "legacy_seresnet50"), (32, "se_resnet50_r32")]:
        t = analyze(name).totals
        assert t.params == base.params + se_params([3, 4, 6, 3], r)
        assert t.buffers == base.buffers == 53_173
        sizes[r] = (t.params + t.buffers) * 4 / 2**20  # the Caffe file: params + BN statistics, MiB
    sizes[0] = (base.params + base.buffers) * 4 / 2**20
    # Table 10: 137, 117, 108, 103 MB (r = 4 … 32) and 98 MB without SE: the file sizes rounded up
    assert {r: -int(-s // 1) for r, s in sizes.items()} == {4: 137, 8: 117, 16: 108, 32: 103, 0: 98}


SE_MODELS = [
    "legacy_seresnet50",
    "legacy_seresnet101",
    "legacy_seresnet152",
    "legacy_seresnext50_32x4d",
    "legacy_seresnext101_32x4d",
    "se_bn_inception",
]


def test_gflops_table_counts_the_se_modules_in_flops():
    """Table 2's SE rows = trunk MACs + 2 × SE fc MACs + 2 × SE input elements (squeeze + scale)."""
    table = {
        "legacy_seresnet50": 3.87,
        "legacy_seresnet101": 7.60,
        "legacy_seresnet152": 11.32,
        "legacy_seresnext50_32x4d": 4.25,
        "legacy_seresnext101_32x4d": 8.00,
        "se_bn_inception": 2.04,
    }
    for name, gflops in table.items():
        a = analyze(name)
        se = [r for r in a.layers if "se_module" in r.path]
        fc = sum(r.macs for r in se)
        elems = sum(c * h * w for r in se if r.path[-1] == "mul" for c, h, w in [r.out_shape])
        assert round((a.totals.macs + fc + 2 * elems) / 1e9, 2) == gflops
        assert round(a.totals.macs / 1e9, 2) != gflops  # plain MACs reproduce none of them


def test_verify_has_no_failure():
    names = [
        *SE_MODELS,
        "legacy_senet154",
        "senet154_caffe_320",
        "resnet50_caffe",
        "se_resnet50_r4",
        "se_resnet50_r8",
        "se_resnet50_r32",
    ]
    results = check_models(names)
    assert [(r.model, r.entry.metric) for r in results if r.status == "fail"] == []
    status = {(r.model, r.entry.metric, r.entry.value): r.status for r in results}
    assert status == {
        ("legacy_seresnet50", "macs", 3.87e9): "differs",
        ("legacy_seresnet50", "model_bytes", 108 * 2**20): "differs",
        ("legacy_seresnet101", "macs", 7.60e9): "differs",
        ("legacy_seresnet152", "macs", 11.32e9): "differs",
        ("legacy_seresnext50_32x4d", "macs", 4.25e9): "differs",
        ("legacy_seresnext101_32x4d", "macs", 8.00e9): "differs",
        ("se_bn_inception", "macs", 2.04e9): "differs",
        ("senet154_caffe_320", "params", 145.8e6): "pass",
        ("senet154_caffe_320", "macs", 42.3e9): "differs",
        ("resnet50_caffe", "macs", 3.86e9): "pass",
        ("resnet50_caffe", "model_bytes", 98 * 2**20): "differs",
        ("se_resnet50_r4", "model_bytes", 137 * 2**20): "differs",
        ("se_resnet50_r8", "model_bytes", 117 * 2**20): "pass",
        ("se_resnet50_r32", "model_bytes", 103 * 2**20): "differs",
    }
