"""Dual Path Networks (timm's dpn68/68b/92/98/107/131) and the NASNet table's DPN-131 row.

No torch here: the counts below were measured on timm 1.0 (``timm.create_model(name)``, random
init) and agree exactly with the spec (tests/test_crosscheck.py re-checks them against timm).
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models, metric_value

MODELS = ["dpn68", "dpn68b", "dpn92", "dpn98", "dpn107", "dpn131"]

# name: (trainable params, buffers, MACs at 224×224) — timm's numbers
TIMM = {
    "dpn68": (12_611_602, 65_188, 2_326_163_456),
    "dpn68b": (12_611_602, 65_188, 2_326_163_456),
    "dpn92": (37_668_392, 125_312, 6_501_684_224),
    "dpn98": (61_570_728, 164_998, 11_671_217_152),
    "dpn107": (86_917_800, 213_935, 18_298_764_288),
    "dpn131": (79_254_504, 223_495, 16_013_648_896),
}

# stage outputs at 224×224: conv1_1, conv1_pool, conv2 … conv5 (channels = bw + (k + 2)·inc)
STAGES = {
    "dpn68": [10, 10, 144, 320, 704, 832],
    "dpn92": [64, 64, 336, 704, 1552, 2688],
    "dpn98": [96, 96, 336, 768, 1728, 2688],
    "dpn107": [128, 128, 376, 1152, 2432, 2688],
    "dpn131": [128, 128, 352, 832, 1984, 2688],
}
SIZES = [112, 56, 56, 28, 14, 7]


@pytest.mark.parametrize("name", MODELS)
def test_totals_match_timm(name):
    a = analyze(name)
    assert (a.totals.params, a.totals.buffers, a.totals.macs) == TIMM[name]
    assert a.layers[-1].out_shape == (1000,)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_shapes(name):
    a = analyze(name)
    names = ["conv1_1", "conv1_pool", "conv2", "conv3", "conv4", "conv5"]
    got = [a.within((s,)).out_shape for s in names]
    assert got == [(c, s, s) for c, s in zip(STAGES[name], SIZES, strict=True)]


def test_dense_path_grows_by_inc():
    """DPN-92 conv3: bw = 512 residual channels; the projection gives 2·32 dense ones, +32 per block."""
    a = analyze("dpn92")
    assert a.within(("conv3", "0", "c1x1_w")).out_shape == (512 + 2 * 32, 28, 28)
    assert [a.within(("conv3", str(i))).out_shape[0] for i in range(4)] == [608, 640, 672, 704]
    # the residual part is a sum of 512 channels, the new dense part the last 32 of c1x1_c
    assert a.within(("conv3", "1", "concat1", "branch1", "add")).out_shape == (512, 28, 28)
    assert a.within(("conv3", "1", "c1x1_c")).out_shape == (512 + 32, 28, 28)
    # grouped 3×3 with stride 2 in the first block of conv3: 192 channels in 32 groups
    (conv,) = [r for r in a.layers if r.path == ("conv3", "0", "c3x3_b", "conv1")]
    assert conv.weights == 192 * (192 // 32) * 9
    assert conv.out_shape == (192, 28, 28)


def test_layer_counts():
    # stem + 3 convs per block + one projection per stage + the classifier
    assert sum(r.kind == "conv" for r in analyze("dpn92").layers) == 1 + 3 * 30 + 4 + 1
    # dpn68b: the last 1×1 is two convs (c1x1_c1, c1x1_c2) with the same weights in total
    assert sum(r.kind == "conv" for r in analyze("dpn68b").layers) == 1 + 4 * 22 + 4 + 1
    assert sum(r.kind == "bn" for r in analyze("dpn131").layers) == 135


def test_head():
    a = analyze("dpn131")
    assert a.within(("conv5_bn_ac",)).params == 2 * 2688
    assert a.within(("classifier",)).params == 2688 * 1000 + 1000  # 1×1 conv with bias


def test_dpn131_at_320():
    a = analyze("dpn131", (3, 320, 320))
    assert a.totals.macs == 32_678_118_400
    assert [a.within((s,)).out_shape[1] for s in ("conv2", "conv3", "conv4", "conv5")] == [80, 40, 20, 10]
    # params + BN running statistics (the MXNet .params count): 79.5M as published
    assert metric_value(a, (), "keras_params") == 79_254_504 + 223_360 == 79_477_864
    assert metric_value(a, (), "params_without_bn") == 79_031_144
    assert metric_value(a, (), "macs_with_bn") == 32_757_350_400
    # 32.0B is twice the 224×224 count
    assert round(2 * analyze("dpn131").totals.macs / 1e9, 1) == 32.0


def test_published_numbers():
    results = check_models(MODELS)
    assert [(r.model, r.entry.metric) for r in results if r.status == "fail"] == []
    status = {(r.model, r.entry.metric): r.status for r in results}
    assert status == {("dpn131", "keras_params"): "pass", ("dpn131", "macs"): "erratum"}
