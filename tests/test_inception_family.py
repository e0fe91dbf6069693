"""Inception-v3, Inception-v4 / Inception-ResNet, Xception and BN-Inception (Inception-v2).

No torch here: the reference counts are written down from torchvision's inception_v3 and timm's
inception_v4, inception_resnet_v2 and legacy_xception (random init); the catalogue-wide torch /
fvcore / reference cross-check runs in tests/test_crosscheck.py.
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from tests.conftest import layer

MODELS = [
    "inception_v3",
    "inception_v3_aux",
    "inception_v4",
    "inception_resnet_v2",
    "inception_resnet_v1",
    "inception_resnet_v2_paper",
    "xception",
    "bn_inception",
    "bn_inception_caffe",
    "inception_v2_tf",
]


def shapes(a, names):
    return {k: a.within((k,)).out_shape for k in names}


def bn_outputs(a):
    return sum(r.activations for r in a.layers if r.kind == "bn")


@pytest.fixture(scope="module")
def v3():
    return analyze("inception_v3")


@pytest.fixture(scope="module")
def v4():
    return analyze("inception_v4")


@pytest.fixture(scope="module")
def irv2():
    return analyze("inception_resnet_v2")


@pytest.fixture(scope="module")
def xcp():
    return analyze("xception")


@pytest.fixture(scope="module")
def bni():
    return analyze("bn_inception")


@pytest.fixture(scope="module")
def v2tf():
    return analyze("inception_v2_tf")


# -- Inception-v3 (torchvision) ---------------------------------------------------------------
def test_inception_v3_totals(v3):
    assert v3.totals.params == 23_834_568  # inception_v3(aux_logits=False)
    assert v3.totals.macs == 5_713_216_096  # torchvision meta _ops = 5.713
    assert v3.totals.buffers == 34_526  # 2 · 17,216 BN channels + 94 num_batches_tracked
    assert v3.totals.biases == 17_216 + 1000  # BN betas + fc; BasicConv2d has no conv bias
    assert v3.layers[-1].out_shape == (1000,)


def test_inception_v3_grid_sizes(v3):
    assert shapes(
        v3,
        [
            "Conv2d_1a_3x3",
            "Conv2d_2a_3x3",
            "maxpool1",
            "Conv2d_4a_3x3",
            "maxpool2",
            "Mixed_5b",
            "Mixed_5c",
            "Mixed_5d",
            "Mixed_6a",
            "Mixed_6e",
            "Mixed_7a",
            "Mixed_7b",
            "Mixed_7c",
        ],
    ) == {
        "Conv2d_1a_3x3": (32, 149, 149),
        "Conv2d_2a_3x3": (32, 147, 147),
        "maxpool1": (64, 73, 73),
        "Conv2d_4a_3x3": (192, 71, 71),
        "maxpool2": (192, 35, 35),
        "Mixed_5b": (256, 35, 35),
        "Mixed_5c": (288, 35, 35),
        "Mixed_5d": (288, 35, 35),
        "Mixed_6a": (768, 17, 17),
        "Mixed_6e": (768, 17, 17),
        "Mixed_7a": (1280, 8, 8),
        "Mixed_7b": (2048, 8, 8),
        "Mixed_7c": (2048, 8, 8),
    }


def test_inception_v3_modules(v3):
    # InceptionC: c7 in the factorised 1×7 / 7×1 branches (128, 160, 160, 192)
    assert layer(v3, "Mixed_6b", "branch7x7", "2", "conv").label == "conv 1×7"
    assert layer(v3, "Mixed_6b", "branch7x7", "3", "conv").label == "conv 7×1"
    assert layer(v3, "Mixed_6e", "branch7x7dbl", "4", "conv").weights == 192 * 192 * 7
    # InceptionE: the 3×3 branches split into parallel 1×3 and 3×1 convs, concatenated (2 · 384)
    assert v3.within(("Mixed_7b", "branch3x3", "split")).out_shape == (768, 8, 8)
    assert layer(v3, "Mixed_7b", "branch3x3", "split", "2a", "conv").label == "conv 1×3"
    assert layer(v3, "Mixed_7c", "branch3x3dbl", "split", "3b", "conv").in_shapes == ((384, 8, 8),)
    # pooling branches average 3×3/1 (pad 1); the reductions max-pool 3×3/2 without padding
    assert layer(v3, "Mixed_5b", "branch_pool", "pool").label.startswith("avgpool 3×3")
    assert layer(v3, "Mixed_6a", "branch_pool").out_shape == (288, 17, 17)
    # Mixed_5b: conv weights 192·64 + 192·48 + 48·25·64 + 192·64 + 64·9·96 + 96·9·96 + 192·32,
    # plus one BN γ per conv output channel (64 + 48 + 64 + 64 + 96 + 96 + 32 = 464)
    assert (
        v3.within(("Mixed_5b",)).weights
        == 192 * 64 + 192 * 48 + 48 * 25 * 64 + 192 * 64 + 64 * 9 * 96 + 96 * 9 * 96 + 192 * 32 + 464
    )
    assert v3.within(("Mixed_5b",)).macs == 312_345_600


def test_inception_v3_aux_head(v3):
    a = analyze("inception_v3_aux", mode="training")
    assert a.totals.params == 27_161_264  # torchvision meta num_params (with the aux head)
    aux = a.within(("AuxLogits",))
    # conv0 1×1 768→128 + BN, conv1 5×5 128→768 + BN, fc 768→1000
    assert aux.params == 768 * 128 + 256 + 128 * 25 * 768 + 1536 + 768 * 1000 + 1000 == 3_326_696
    assert aux.macs == 25 * 768 * 128 + 25 * 128 * 768 + 768 * 1000 == 5_683_200
    assert a.within(("AuxLogits", "pool")).out_shape == (768, 5, 5)
    assert a.within(("AuxLogits", "conv1")).out_shape == (768, 1, 1)
    assert aux.out_shape == (1000,)
    # a side output: the main path continues from Mixed_6e and is unchanged
    assert a.within(("Mixed_7a",)).in_shapes == ((768, 17, 17),)
    assert a.layers[-1].path == ("fc",)
    assert a.totals.macs == v3.totals.macs + 5_683_200
    # the inference reading, torchvision's metadata: the head's weights exist, it does not run
    inference = analyze("inception_v3_aux")
    assert (inference.totals.params, inference.totals.macs) == (27_161_264, v3.totals.macs)
    assert inference.within(("AuxLogits",)).macs == 0 and "(training only)" in layer(inference, "AuxLogits", "fc").label


# -- Inception-v4 (timm) ----------------------------------------------------------------------
def test_inception_v4_totals(v4):
    assert v4.totals.params == 42_679_816  # timm inception_v4
    assert v4.totals.macs == 12_253_974_624
    assert v4.totals.buffers == 63_317


def test_inception_v4_figure9_grid(v4):
    assert shapes(v4, ["stem", "inception_a", "reduction_a", "inception_b", "reduction_b", "inception_c", "fc"]) == {
        "stem": (384, 35, 35),
        "inception_a": (384, 35, 35),
        "reduction_a": (1024, 17, 17),
        "inception_b": (1024, 17, 17),
        "reduction_b": (1536, 8, 8),
        "inception_c": (1536, 8, 8),
        "fc": (1000,),
    }
    # Fig. 3's stem: three concatenations, 73×73×160, 71×71×192, 35×35×384
    assert v4.within(("stem", "mixed_3a")).out_shape == (160, 73, 73)
    assert v4.within(("stem", "mixed_4a")).out_shape == (192, 71, 71)
    assert v4.within(("stem", "mixed_5a")).out_shape == (384, 35, 35)
    # Fig. 9: 4 × A, 7 × B, 3 × C
    assert {r.path[1] for r in v4.layers if r.path[0] == "inception_a"} == {"0", "1", "2", "3"}
    assert len({r.path[1] for r in v4.layers if r.path[0] == "inception_b"}) == 7
    assert len({r.path[1] for r in v4.layers if r.path[0] == "inception_c"}) == 3


def test_reduction_a_table1(v4):
    # Table 1: Inception-v4 k, l, m, n = 192, 224, 256, 384 on 384 channels
    k, l_, m, n = 192, 224, 256, 384
    assert v4.within(("reduction_a",)).weights == 384 * 9 * n + 384 * k + k * 9 * l_ + l_ * 9 * m + (
        n + k + l_ + m
    )  # conv weights + one BN γ per channel
    assert v4.within(("reduction_a",)).out_shape == (384 + n + m, 17, 17)


# -- Inception-ResNet-v2 (timm) and the paper's v1 / v2 ----------------------------------------
def test_inception_resnet_v2_totals(irv2):
    assert irv2.totals.params == 55_843_464  # timm inception_resnet_v2
    assert irv2.totals.macs == 13_155_794_016
    assert irv2.totals.buffers == 60_748


def test_inception_resnet_v2_layout(irv2):
    assert shapes(
        irv2,
        [
            "stem",
            "inception_resnet_a",
            "reduction_a",
            "inception_resnet_b",
            "reduction_b",
            "inception_resnet_c",
            "block8",
            "conv2d_7b",
        ],
    ) == {
        "stem": (320, 35, 35),
        "inception_resnet_a": (320, 35, 35),
        "reduction_a": (1088, 17, 17),
        "inception_resnet_b": (1088, 17, 17),
        "reduction_b": (2080, 8, 8),
        "inception_resnet_c": (2080, 8, 8),
        "block8": (2080, 8, 8),
        "conv2d_7b": (1536, 8, 8),
    }
    blocks = {
        s: len({r.path[1] for r in irv2.layers if r.path[0] == s})
        for s in ("inception_resnet_a", "inception_resnet_b", "inception_resnet_c")
    }
    assert blocks == {"inception_resnet_a": 10, "inception_resnet_b": 20, "inception_resnet_c": 9}


def test_inception_resnet_residual_blocks(irv2):
    # the linear 1×1 filter expansion has a bias and no BN; the branch is scaled, added, then ReLU
    up = layer(irv2, "inception_resnet_a", "0", "conv2d")
    assert up.params == 128 * 320 + 320 and up.biases == 320
    ops = [r.kind for r in irv2.layers if r.path[:2] == ("inception_resnet_a", "0")][-4:]
    assert ops == ["conv", "scale", "add", "relu"]
    assert layer(irv2, "inception_resnet_a", "0", "scale").label.startswith("scale")
    # TF-slim's last block: scale 1.0 and no ReLU
    assert [r.kind for r in irv2.layers if r.path[0] == "block8"][-3:] == ["conv", "scale", "add"]
    assert layer(irv2, "inception_resnet_b", "19", "conv2d").in_shapes == ((384, 17, 17),)
    assert layer(irv2, "inception_resnet_c", "0", "conv2d").in_shapes == ((448, 8, 8),)


def test_inception_resnet_v1_paper():
    a = analyze("inception_resnet_v1")
    # Fig. 15 / Fig. 14: 35×35×256, 17×17×896, 8×8×1792
    assert shapes(
        a, ["stem", "inception_resnet_a", "reduction_a", "inception_resnet_b", "reduction_b", "inception_resnet_c"]
    ) == {
        "stem": (256, 35, 35),
        "inception_resnet_a": (256, 35, 35),
        "reduction_a": (896, 17, 17),
        "inception_resnet_b": (896, 17, 17),
        "reduction_b": (1792, 8, 8),
        "inception_resnet_c": (1792, 8, 8),
    }
    blocks = {
        s: len({r.path[1] for r in a.layers if r.path[0] == s})
        for s in ("inception_resnet_a", "inception_resnet_b", "inception_resnet_c")
    }
    assert blocks == {"inception_resnet_a": 5, "inception_resnet_b": 10, "inception_resnet_c": 5}
    assert a.within(("stem", "conv6")).out_shape == (256, 35, 35)
    assert a.totals.params == 22_756_328
    assert a.totals.macs == 6_206_361_696
    assert a.layers[-1].in_shapes == ((1792,),)


def test_inception_resnet_v2_paper_widths():
    a = analyze("inception_resnet_v2_paper")
    # Fig. 3 stem (384), Reduction-A 256, 256, 384, 384 → 1152, Reduction-B → 2144; the expansions
    # restore the block input (the figures' 1154 and 2048 cannot be added to 1152 and 2144)
    assert shapes(a, ["stem", "reduction_a", "reduction_b", "inception_resnet_c"]) == {
        "stem": (384, 35, 35),
        "reduction_a": (1152, 17, 17),
        "reduction_b": (2144, 8, 8),
        "inception_resnet_c": (2144, 8, 8),
    }
    assert layer(a, "inception_resnet_b", "0", "conv2d").out_shape == (1152, 17, 17)
    assert a.totals.params == 32_433_928
    assert a.totals.macs == 9_257_953_632


# -- Xception (timm legacy_xception) ----------------------------------------------------------
def test_xception_totals(xcp):
    assert xcp.totals.params == 22_855_952  # Xception paper Table 3, timm legacy_xception
    assert xcp.totals.macs == 8_357_403_496
    assert xcp.totals.buffers == 54_568  # 2 · 27,264 BN channels + 40 num_batches_tracked


def test_xception_flows(xcp):
    assert shapes(xcp, ["conv1", "conv2", "block1", "block2", "block3", "middle", "block12", "conv3", "conv4"]) == {
        "conv1": (32, 149, 149),
        "conv2": (64, 147, 147),
        "block1": (128, 74, 74),
        "block2": (256, 37, 37),
        "block3": (728, 19, 19),
        "middle": (728, 19, 19),
        "block12": (1024, 10, 10),
        "conv3": (1536, 10, 10),
        "conv4": (2048, 10, 10),
    }
    # §3: "36 convolutional layers" in the feature extractor: a separable conv counts once, the 1×1
    # shortcut convs not at all
    pointwise = [r for r in xcp.layers if r.kind == "conv" and r.label == "conv 1×1" and "shortcut" not in r.path]
    assert 2 + len(pointwise) == 36
    depthwise = [r for r in xcp.layers if r.kind == "conv" and " g" in r.label]
    assert len(depthwise) == 34


def test_xception_separable_conv_and_relus(xcp):
    sep = xcp.within(("middle", "0", "0", "sep"))
    assert sep.params == 728 * 9 + 728 * 728  # depthwise + pointwise, no bias, nothing between
    assert layer(xcp, "middle", "0", "0", "sep", "conv1").label == "conv 3×3 g728"
    # block1 starts with its separable conv; later blocks with a ReLU that is not in place
    assert not [r for r in xcp.layers if r.path[:2] == ("block1", "0") and r.kind == "relu"]
    assert layer(xcp, "block2", "0", "relu").activations == 128 * 74 * 74
    assert layer(xcp, "block2", "1", "relu").activations == 0
    # grow_first=False: 728 → 728 → 1024 in the exit block
    assert layer(xcp, "block12", "0", "sep", "pointwise").out_shape == (728, 19, 19)
    assert layer(xcp, "block12", "1", "sep", "pointwise").out_shape == (1024, 19, 19)
    assert layer(xcp, "block12", "shortcut", "skip").label == "conv 1×1/2"


# -- BN-Inception / Inception-v2 --------------------------------------------------------------
FIG5 = {
    "conv1": (64, 112, 112),
    "pool1": (64, 56, 56),
    "conv2": (192, 56, 56),
    "pool2": (192, 28, 28),
    "inception_3a": (256, 28, 28),
    "inception_3b": (320, 28, 28),
    "inception_3c": (576, 14, 14),
    "inception_4a": (576, 14, 14),
    "inception_4b": (576, 14, 14),
    "inception_5a": (1024, 7, 7),
    "inception_5b": (1024, 7, 7),
    "avgpool": (1024, 1, 1),
}


def test_bn_inception_figure5_literal(bni):
    assert shapes(bni, FIG5) == FIG5
    # the columns read literally make 4c, 4d 608 wide and 4e 1056 (the figure prints 576 and 1024)
    assert shapes(bni, ["inception_4c", "inception_4d", "inception_4e"]) == {
        "inception_4c": (160 + 160 + 160 + 128, 14, 14),
        "inception_4d": (96 + 192 + 192 + 128, 14, 14),
        "inception_4e": (192 + 256 + 608, 7, 7),
    }
    # the appendix: "the first convolutional layer uses separable convolution with depth multiplier 8"
    assert layer(bni, "conv1", "depthwise").weights == 7 * 7 * 3 * 8
    assert layer(bni, "conv1", "pointwise").weights == 24 * 64
    assert bni.within(("conv1",)).macs == (7 * 7 * 3 * 8 + 24 * 64) * 112 * 112 == 34_019_328
    assert bni.totals.params == 11_278_528
    assert bni.totals.macs == 1_948_605_440
    assert bni.totals.biases == 10_016 + 1000  # BN betas + fc: the convs have no bias


def test_bn_inception_caffe_port(bni):
    a = analyze("bn_inception_caffe")
    assert layer(a, "conv1", "conv").weights == 7 * 7 * 3 * 64
    assert a.totals.macs == bni.totals.macs + 118_013_952 - 34_019_328 == 2_032_600_064  # SENet: 2.03
    assert a.totals.params == bni.totals.params + 6_696 + 10_016 == 11_295_240  # full 7×7, conv biases
    assert shapes(a, ["inception_4d", "inception_4e", "inception_5a"]) == {
        "inception_4d": (608, 14, 14),
        "inception_4e": (1056, 7, 7),
        "inception_5a": (1024, 7, 7),
    }


def test_bn_inception_modules(bni):
    # 3a: #1×1 64, #3×3 reduce 64, #3×3 64, double reduce 64, double 96 (two 3×3), avg + 32
    assert bni.within(("inception_3a",)).macs == 28 * 28 * (
        192 * 64 + 192 * 64 + 64 * 9 * 64 + 192 * 64 + 64 * 9 * 96 + 96 * 9 * 96 + 192 * 32
    )
    # stride-2 modules: no 1×1 branch, the strided 3×3 last, a max-pool pass-through
    c3 = [r for r in bni.layers if r.path[0] == "inception_3c"]
    assert not [r for r in c3 if "branch1x1" in r.path]
    assert layer(bni, "inception_3c", "concat", "branch_pool", "pool").out_shape == (320, 14, 14)
    assert layer(bni, "inception_4e", "concat", "branch3x3dbl", "conv2", "conv").label == "conv 3×3/2"
    assert layer(bni, "inception_5b", "concat", "branch_pool", "pool").label.startswith("maxpool 3×3")
    assert layer(bni, "inception_5a", "concat", "branch_pool", "pool").label.startswith("avgpool 3×3")


def test_inception_v2_tf(v2tf, bni):
    assert shapes(v2tf, FIG5) == FIG5
    assert shapes(v2tf, ["inception_4c", "inception_4d", "inception_4e"]) == {
        "inception_4c": (576, 14, 14),
        "inception_4d": (576, 14, 14),
        "inception_4e": (1024, 7, 7),
    }
    # separable first layer: depthwise 7×7 ×8 (3 → 24) then 1×1 to 64
    assert layer(v2tf, "conv1", "depthwise").weights == 7 * 7 * 3 * 8
    assert layer(v2tf, "conv1", "pointwise").weights == 24 * 64
    assert v2tf.within(("conv1",)).macs == 34_019_328
    assert v2tf.totals.params == 11_188_288
    assert v2tf.totals.macs == 1_934_857_216
    # only the 96-wide pool projections of 4c and 4d (and the narrower inputs of 4d, 4e, 5a) differ
    assert bni.totals.macs - v2tf.totals.macs == 3_612_672 + 6_823_936 + 2_007_040 + 1_304_576
    assert bni.totals.params - v2tf.totals.params == 18_496 + 34_880 + 10_240 + 26_624


# -- published numbers ------------------------------------------------------------------------
def test_nasnet_table_counts_batch_norm_as_a_multiply_add(v3, xcp, irv2, v2tf):
    """The NASNet table's Mult-Adds = conv/linear MACs + one per BN output, params without BN's γ, β."""
    rows = {
        "Inception V2": (v2tf, 1.94, 11.2),
        "Inception V3": (v3, 5.72, 23.8),
        "Xception": (xcp, 8.38, 22.8),
        "Inception ResNet V2": (irv2, 13.2, 55.8),
    }
    for name, (a, mult_adds, params) in rows.items():
        digits = 1 if mult_adds >= 10 else 2
        assert round((a.totals.macs + bn_outputs(a)) / 1e9, digits) == mult_adds, name
        bn_affine = 2 * sum(r.out_shape[0] for r in a.layers if r.kind == "bn")
        assert round((a.totals.params - bn_affine) / 1e6, 1) == params, name
    # conv/linear MACs alone miss three of the four rows
    assert [round(a.totals.macs / 1e9, 2) for a in (v2tf, v3, xcp)] == [1.93, 5.71, 8.36]


def test_verify_has_no_failure():
    results = check_models(MODELS)
    assert [(r.model, r.entry.metric, r.entry.value) for r in results if r.status == "fail"] == []
    status = {(r.model, r.entry.metric, round(r.entry.value)): r.status for r in results}
    assert status[("inception_v3", "params", round(23.8e6))] == "pass"
    assert status[("inception_v3", "macs", round(5.72e9))] == "differs"
    assert status[("inception_v3_aux", "params", 27_161_264)] == "pass"
    assert status[("inception_resnet_v2", "params", round(55.8e6))] == "pass"
    assert status[("inception_resnet_v2", "macs", round(13.2e9))] == "pass"
    assert status[("xception", "params", 22_855_952)] == "pass"
    assert status[("xception", "params", round(22.8e6))] == "differs"
    assert status[("xception", "macs", round(8.38e9))] == "differs"
    assert status[("bn_inception", "macs", round(2.03e9))] == "differs"
    assert status[("bn_inception_caffe", "macs", round(2.03e9))] == "pass"
    assert status[("inception_v2_tf", "params", round(11.2e6))] == "pass"
    assert status[("inception_v2_tf", "macs", round(1.94e9))] == "differs"
    assert not [k for k, v in status.items() if v == "erratum"]
