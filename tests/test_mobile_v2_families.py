"""MNASNet 0.5-1.3, EfficientNetV2-S/M/L and ShuffleNetV2 0.5×-2× (torchvision) from their stage tables.

No torch model is built here. torchvision's own configuration is read where it is data
(``mnasnet._get_depths``, ``efficientnet._efficientnet_conf``, the weights' ``meta`` and transforms)
or caught on its way into the model class: a stand-in for the private constructor each builder calls
records the builder's arguments (stage widths, dropout, norm layer) instead of building anything.
The torch, fvcore and reference cross-checks run for every spec in tests/test_crosscheck.py.
"""

from __future__ import annotations

import inspect
from fractions import Fraction

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from cnncost.spec.catalog import load_model
from cnncost.spec.expand import expand
from cnncost.spec.expr import make_divisible
from tests.conftest import layer

MNASNETS = {"mnasnet0_5": 0.5, "mnasnet0_75": 0.75, "mnasnet1_0": 1.0, "mnasnet1_3": 1.3}
EFFNETV2 = ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]
SHUFFLENETS = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


def torchvision_module(name: str):
    return pytest.importorskip(f"torchvision.models.{name}")


def captured(monkeypatch, module, target: str, builder: str):
    """Call torchvision's ``builder`` with ``module.target`` replaced by a recorder: (args, kwargs)."""
    calls = []
    monkeypatch.setattr(module, target, lambda *args, **kwargs: calls.append((args, kwargs)))
    getattr(module, builder)()
    (call,) = calls
    return call


def ops_of(model: str, kind: str):
    return [n.op for n in expand(load_model(model)).nodes[1:] if n.op is not None and n.op.kind == kind]


def units(a, stage):
    return sorted({r.path[1] for r in a.layers if r.path[0] == stage}, key=int)


# -- MNASNet ------------------------------------------------------------------------------------
# torchvision's MNASNet.__init__: _stack(in, out, kernel, stride, expansion, repeats) for depths[2:]
MNAS_STACKS = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)]


@pytest.mark.parametrize(("model", "alpha"), MNASNETS.items())
def test_mnasnet_widths_are_torchvision_get_depths(model, alpha):
    """Every width is _get_depths(α) (_round_to_multiple_of: the same rule as make_divisible); the
    last conv stays 1280 whatever α."""
    mnasnet = torchvision_module("mnasnet")
    depths = mnasnet._get_depths(alpha)
    assert depths == [make_divisible(d * alpha, 8) for d in (32, 16, 24, 40, 80, 96, 192, 320)]
    a = analyze(model)
    assert layer(a, "stem", "conv").out_shape == (depths[0], 112, 112)
    assert layer(a, "separable", "depthwise", "conv").out_shape == (depths[0], 112, 112)
    assert layer(a, "separable", "pointwise", "conv").out_shape == (depths[1], 112, 112)
    rows = {r.path[:2]: r for r in a.collapsed(2)}
    assert [rows[("stacks", str(j))].out_shape[0] for j in range(6)] == depths[2:]
    assert layer(a, "head", "conv").out_shape == (1280, 7, 7)


@pytest.mark.parametrize(("model", "alpha"), MNASNETS.items())
def test_mnasnet_builder_arguments(monkeypatch, model, alpha):
    """The builder passes α (and nothing else) to MNASNet; BN momentum and dropout are the class's."""
    mnasnet = torchvision_module("mnasnet")
    dropout = inspect.signature(mnasnet.MNASNet.__init__).parameters["dropout"].default
    args, kwargs = captured(monkeypatch, mnasnet, "MNASNet", model)
    assert (args, kwargs) == ((alpha,), {})
    assert {op.momentum for op in ops_of(model, "bn")} == {mnasnet._BN_MOMENTUM}
    assert {op.eps for op in ops_of(model, "bn")} == {1e-5}
    assert [(op.p, op.inplace) for op in ops_of(model, "dropout")] == [(dropout, True)]
    assert not any(op.bias for op in ops_of(model, "conv"))


@pytest.mark.parametrize("model", MNASNETS)
def test_mnasnet_inverted_residual_stacks(model):
    a = analyze(model)
    assert units(a, "stacks") == [str(j) for j in range(len(MNAS_STACKS))]
    for j, (k, stride, t, n) in enumerate(MNAS_STACKS):
        layers = sorted({r.path[2] for r in a.layers if r.path[:2] == ("stacks", str(j))}, key=int)
        assert len(layers) == n, j
        for li in layers:
            block = ("stacks", str(j), li, "layers")
            c_in = layer(a, *block, "expand", "conv").in_shapes[0]
            dw = layer(a, *block, "depthwise", "conv")
            assert dw.out_shape[0] == c_in[0] * t  # mid_ch = in · t, no rounding
            assert dw.label.startswith(f"conv {k}×{k}")
            assert dw.out_shape[1] == c_in[1] // (stride if li == "0" else 1)
            adds = [r for r in a.layers if r.path[:5] == (*block, "add")]
            assert len(adds) == (li != "0"), (j, li)  # the first of a stack has no skip
    assert sum(1 for r in a.layers if r.kind == "add") == sum(n - 1 for *_, n in MNAS_STACKS) == 10
    assert a.depth == 3 + sum(3 * n for *_, n in MNAS_STACKS) + 2  # 53 conv + linear layers


@pytest.mark.parametrize(
    ("model", "params", "macs"),
    [
        ("mnasnet0_5", 2_218_512, 104_455_968),  # torchvision meta: 2,218,512, _ops 0.104
        ("mnasnet0_75", 3_170_208, 215_493_104),  # 3,170,208, 0.215
        ("mnasnet1_0", 4_383_312, 314_415_872),  # 4,383,312, 0.314
        ("mnasnet1_3", 6_282_256, 526_362_432),  # 6,282,256, 0.526
    ],
)
def test_mnasnet_totals(model, params, macs):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs) == (params, macs)
    assert a.layers[-1].out_shape == (1000,)


# -- EfficientNetV2 ------------------------------------------------------------------------------
@pytest.mark.parametrize("model", EFFNETV2)
def test_effnetv2_stage_table_is_torchvision_conf(model):
    """Each row of _efficientnet_conf: block kind, layers, widths, stride, kernel, expansion, SE."""
    efficientnet = torchvision_module("efficientnet")
    conf, last_channel = efficientnet._efficientnet_conf(model)
    a = analyze(model)
    assert layer(a, "stem", "conv").out_shape[0] == conf[0].input_channels
    assert units(a, "stages") == [str(s) for s in range(len(conf))]
    for s, cnf in enumerate(conf):
        fused = isinstance(cnf, efficientnet.FusedMBConvConfig)
        assert fused != isinstance(cnf, efficientnet.MBConvConfig)
        blocks = sorted({r.path[2] for r in a.layers if r.path[:2] == ("stages", str(s))}, key=int)
        assert len(blocks) == cnf.num_layers, s
        for j in blocks:
            rows = [r for r in a.layers if r.path[:3] == ("stages", str(s), j)]
            c_in, h_in = rows[0].in_shapes[0][0], rows[0].in_shapes[0][1]
            assert c_in == (cnf.input_channels if j == "0" else cnf.out_channels)
            assert rows[-1].out_shape[:2] == (cnf.out_channels, h_in // (cnf.stride if j == "0" else 1))
            exp = efficientnet._MBConvConfig.adjust_channels(c_in, cnf.expand_ratio)
            spatial = [r for r in rows if r.kind == "conv" and r.label.startswith(f"conv {cnf.kernel}×")]
            se = [r for r in rows if r.path[4:5] == ("se",)]
            if fused:  # one k×k conv (to exp, then a 1×1 projection; t = 1: straight to the output)
                assert [r.out_shape[0] for r in spatial] == [exp if exp != c_in else cnf.out_channels]
                assert not se
            else:  # 1×1 expansion, k×k depthwise, SE squeezed to a quarter of the INPUT
                (dw,) = spatial
                assert dw.out_shape[0] == exp and dw.path[4] == "depthwise"
                assert layer(a, *dw.path[:4], "se", "gate", "fc1").out_shape == (max(1, c_in // 4), 1, 1)
            res = cnf.stride == 1 and c_in == cnf.out_channels if j == "0" else True
            assert any(r.kind == "add" for r in rows) == res, (s, j)
    assert layer(a, "head", "conv").out_shape[0] == last_channel == 1280


@pytest.mark.parametrize(
    ("model", "dropout"), [("efficientnet_v2_s", 0.2), ("efficientnet_v2_m", 0.3), ("efficientnet_v2_l", 0.4)]
)
def test_effnetv2_builder_arguments(monkeypatch, model, dropout):
    """What the builder hands to _efficientnet: dropout, BatchNorm2d(eps=1e-3) (momentum left at
    0.1); the crop of the weights is the spec's input."""
    efficientnet = torchvision_module("efficientnet")
    (_, p, last, weights, _), kwargs = captured(monkeypatch, efficientnet, "_efficientnet", model)
    assert (p, last, weights) == (dropout, 1280, None)
    assert kwargs["norm_layer"].keywords == {"eps": 1e-3}
    assert {(op.eps, op.momentum) for op in ops_of(model, "bn")} == {(1e-3, 0.1)}
    assert [(op.p, op.inplace) for op in ops_of(model, "dropout")] == [(p, True)]
    enum = getattr(efficientnet, f"EfficientNet_V2_{model[-1].upper()}_Weights")
    crop = enum.IMAGENET1K_V1.transforms.keywords["crop_size"]
    assert analyze(model).input_shape == (3, crop, crop)


@pytest.mark.parametrize("model", EFFNETV2)
def test_effnetv2_stochastic_depth_is_torchvision_schedule(model):
    """torchvision: block b of B (counted over the whole network) is dropped with probability
    stochastic_depth_prob · b / B, stochastic_depth_prob = 0.2 (EfficientNet's default, which the V2
    builders keep); the identity at inference, so only train_macs see it, and only residual blocks."""
    efficientnet = torchvision_module("efficientnet")
    prob = inspect.signature(efficientnet.EfficientNet.__init__).parameters["stochastic_depth_prob"].default
    conf, _ = efficientnet._efficientnet_conf(model)
    total = sum(cnf.num_layers for cnf in conf)
    a = analyze(model)
    b = 0
    for s, cnf in enumerate(conf):
        for j in range(cnf.num_layers):
            rows = [r for r in a.layers if r.path[:3] == ("stages", str(s), str(j)) and r.macs]
            residual = any(r.kind == "add" for r in a.layers if r.path[:3] == ("stages", str(s), str(j)))
            survival = 1 - prob * float(b) / total if residual else 1
            for r in rows:
                assert float(Fraction(r.train_macs)) == pytest.approx(r.macs * survival, rel=1e-12), r.name
            b += 1
    assert b == total == {"efficientnet_v2_s": 40, "efficientnet_v2_m": 57, "efficientnet_v2_l": 79}[model]


@pytest.mark.parametrize(
    ("model", "params", "macs", "buffers"),
    [
        ("efficientnet_v2_s", 21_458_488, 8_365_617_152, 153_982),  # torchvision meta: 21,458,488, _ops 8.366
        ("efficientnet_v2_m", 54_139_356, 24_582_460_384, 292_189),  # 54,139,356, 24.582
        ("efficientnet_v2_l", 118_515_272, 56_079_699_008, 512_793),  # 118,515,272, 56.08
    ],
)
def test_effnetv2_totals(model, params, macs, buffers):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs, a.totals.buffers) == (params, macs, buffers)
    assert a.totals.train_macs < a.totals.macs


# -- ShuffleNetV2 --------------------------------------------------------------------------------
@pytest.mark.parametrize("model", SHUFFLENETS)
def test_shufflenet_widths_are_torchvision_stages_out_channels(monkeypatch, model):
    """The builder's stages_repeats and stages_out_channels (Table 5's columns) are the spec's."""
    shufflenetv2 = torchvision_module("shufflenetv2")
    (_, _, repeats, widths), kwargs = captured(monkeypatch, shufflenetv2, "_shufflenetv2", model)
    assert kwargs == {}
    a = analyze(model)
    assert layer(a, "conv1", "conv").out_shape == (widths[0], 112, 112)
    assert layer(a, "maxpool").out_shape == (widths[0], 56, 56)
    for stage, n, c, size in zip(("stage2", "stage3", "stage4"), repeats, widths[1:4], (28, 14, 7), strict=True):
        assert units(a, stage) == [str(u) for u in range(n)]
        for u in units(a, stage):
            assert layer(a, stage, u, "concat").out_shape == (c, size, size)
            assert layer(a, stage, u, "shuffle").label == "channel shuffle g2"
            assert layer(a, stage, u, "branch2", "pw2", "conv").out_shape == (c // 2, size, size)
            if u == "0":  # downsampling unit: both branches see the whole input, at stride 2
                assert layer(a, stage, u, "branch1", "pw", "conv").out_shape == (c // 2, size, size)
                assert layer(a, stage, u, "branch2", "dw", "conv").label == f"conv 3×3/2 g{c // 2}"
            else:  # basic unit: channel split, half passes through
                assert layer(a, stage, u, "x1").out_shape == layer(a, stage, u, "branch2", "x2").out_shape
                assert layer(a, stage, u, "x1").out_shape == (c // 2, size, size)
                assert not [r for r in a.layers if r.path[:3] == (stage, u, "branch1")]
    assert layer(a, "conv5", "conv").out_shape == (widths[4], 7, 7)
    assert not any(op.bias for op in ops_of(model, "conv"))


@pytest.mark.parametrize(
    ("model", "params", "macs"),
    [
        ("shufflenet_v2_x0_5", 1_366_792, 40_476_448),  # torchvision meta: 1,366,792, _ops 0.04
        ("shufflenet_v2_x1_0", 2_278_604, 144_907_992),  # 2,278,604, 0.145
        ("shufflenet_v2_x1_5", 3_503_624, 295_759_392),  # 3,503,624, 0.296
        ("shufflenet_v2_x2_0", 7_393_996, 583_253_464),  # 7,393,996, 0.583
    ],
)
def test_shufflenet_totals(model, params, macs):
    a = analyze(model)
    assert (a.totals.params, a.totals.macs) == (params, macs)
    assert a.depth == 1 + 3 * 5 + 13 * 3 + 2 == 57  # conv1, 3 downsampling units, 13 basic ones, conv5, fc
    assert a.layers[-1].out_shape == (1000,)


@pytest.mark.parametrize(
    ("model", "paper"),
    [("shufflenet_v2_x0_5", 41), ("shufflenet_v2_x1_0", 146), ("shufflenet_v2_x1_5", 299), ("shufflenet_v2_x2_0", 591)],
)
def test_shufflenet_paper_flops_are_the_released_stage2_split(model, paper):
    """The `differs` arithmetic: the authors' released unit 0 of stage 2 (megvii ShuffleNetV2/blocks.py)
    projects 24 → 24 and makes c − 24 channels in the main branch, where torchvision gives c/2 to both.
    Swapping those two 1×1 convs' MACs reproduces Table 5 (0.5×: the same layers, 40.48M → 41M
    rounded up, the spec's erratum)."""
    a = analyze(model)
    proj = layer(a, "stage2", "0", "branch1", "pw", "conv")
    main = layer(a, "stage2", "0", "branch2", "pw2", "conv")
    c, hw = layer(a, "stage2", "0", "concat").out_shape[0], 28 * 28
    assert proj.in_shapes[0][0] == 24 and proj.macs == 24 * (c // 2) * hw and main.macs == (c // 2) ** 2 * hw
    released = a.totals.macs - proj.macs - main.macs + 24 * 24 * hw + (c // 2) * (c - 24) * hw
    assert -(-released // 10**6) == paper  # rounded up: all four columns
    assert (round(released / 1e6) == paper) == (model != "shufflenet_v2_x0_5")


# -- published numbers ---------------------------------------------------------------------------
def test_verify_has_no_failure():
    results = check_models([*MNASNETS, *EFFNETV2, *SHUFFLENETS])
    assert [(r.model, r.entry.metric) for r in results if r.status == "fail"] == []
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "erratum", "differs")}
    # torchvision meta ×2 for each of 11 models (pass); MnasNet-A1 (differs ×2); EfficientNetV2 Table 7
    # (M params pass, 5 errata) and the automl README (S ×2, M params pass; M, L FLOPs differ, L params
    # erratum); ShuffleNetV2 README params ×4 pass, Table 5 FLOPs (0.5× erratum, 3 differ)
    assert counts == {"pass": 22 + 1 + 3 + 4, "erratum": 5 + 1 + 1, "differs": 2 + 2 + 3}
    assert len(results) == 44
