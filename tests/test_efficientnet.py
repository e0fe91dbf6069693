"""EfficientNet-B0 … B7 (torchvision) from the B0 table and compound scaling.

No torch here: torchvision's counts (weights=None; the weights' meta num_params) are written down;
the torch, fvcore and reference cross-checks run for every spec in tests/test_crosscheck.py.
"""

from __future__ import annotations

import math

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from cnncost.spec.expr import make_divisible
from tests.conftest import layer

# The lecture's (001) EfficientNet-B0 table: stage, operator, resolution (the stage's INPUT), #channels, #layers
TABLE1 = [
    ("stage1", "Conv3x3", 224, 32, 1),
    ("stage2", "MBConv1, k3x3", 112, 16, 1),
    ("stage3", "MBConv6, k3x3", 112, 24, 2),
    ("stage4", "MBConv6, k5x5", 56, 40, 2),
    ("stage5", "MBConv6, k3x3", 28, 80, 3),
    ("stage6", "MBConv6, k5x5", 14, 112, 3),
    ("stage7", "MBConv6, k5x5", 14, 192, 4),
    ("stage8", "MBConv6, k3x3", 7, 320, 1),
    ("stage9", "Conv1x1 & Pooling & FC", 7, 1280, 1),
]

# torchvision's compound coefficients and resolutions: width, depth, input
SCALING = {
    0: (1.0, 1.0, 224),
    1: (1.0, 1.1, 240),
    2: (1.1, 1.2, 260),
    3: (1.2, 1.4, 300),
    4: (1.4, 1.8, 380),
    5: (1.6, 2.2, 456),
    6: (1.8, 2.6, 528),
    7: (2.0, 3.1, 600),
}


def blocks(a, stage):
    return sorted({r.path[1] for r in a.layers if r.path[0] == stage}, key=int)


def test_b0_depth1_table_is_the_lecture_table():
    """`cnncost table efficientnet_b0 --depth 1`: one row per stage of Table 1."""
    a = analyze("efficientnet_b0")
    rows = {r.path[0]: r for r in a.collapsed(1)}
    assert [p for p in rows if p.startswith("stage")] == [t[0] for t in TABLE1]
    for stage, _op, res, ch, n in TABLE1:
        row = rows[stage]
        assert row.in_shapes[0][1:] == (res, res), stage
        assert row.out_shape[0] == ch, stage
        if stage not in ("stage1", "stage9"):
            assert len(blocks(a, stage)) == n, stage
    assert [rows[s].out_shape for s, *_ in TABLE1] == [
        (32, 112, 112),
        (16, 112, 112),
        (24, 56, 56),
        (40, 28, 28),
        (80, 14, 14),
        (112, 14, 14),
        (192, 7, 7),
        (320, 7, 7),
        (1280, 7, 7),
    ]
    assert [p for p in rows if not p.startswith("stage")] == ["input", "avgpool", "flatten1", "dropout", "classifier"]
    assert rows["classifier"].out_shape == (1000,)


def test_b0_operators():
    a = analyze("efficientnet_b0")
    for stage, op, *_ in TABLE1[1:8]:
        t, k = int(op[6]), int(op[-1])
        first = [r for r in a.layers if r.path[:2] == (stage, "0")]
        dw = next(r for r in first if r.path[-2:] == ("depthwise", "conv"))
        assert dw.label.startswith(f"conv {k}×{k}"), stage
        c_in = first[0].in_shapes[0][0]
        assert dw.out_shape[0] == c_in * t, stage
        assert any(r.path[-2] == "expand" for r in first) == (t != 1), stage
    assert layer(a, "stage1", "conv").label == "conv 3×3/2"
    assert layer(a, "stage9", "conv").label == "conv 1×1"


def test_mbconv_squeeze_excitation_and_residual():
    a = analyze("efficientnet_b0")
    # stage6 block 1: 112 → expand 672 → dw 5×5 → SE to 112 // 4 = 28 (the block INPUT's quarter) → 112
    se = ("stage6", "1", "block", "se", "gate")
    assert layer(a, *se, "fc1").out_shape == (28, 1, 1)
    assert layer(a, *se, "fc1").params == 672 * 28 + 28
    assert layer(a, *se, "fc2").params == 28 * 672 + 672
    assert layer(a, "stage6", "1", "block", "add").out_shape == (112, 14, 14)
    # first blocks change width or stride: no residual; stage2's single block goes 32 → 16
    assert not [r for r in a.layers if r.path[:2] == ("stage6", "0") and r.kind == "add"]
    assert layer(a, "stage2", "0", "block", "se", "gate", "fc1").out_shape == (8, 1, 1)  # 32 // 4
    assert sum(1 for r in a.layers if r.kind == "add") == 9  # 16 blocks, 7 first ones
    assert a.depth == 82


@pytest.mark.parametrize("b", range(8))
def test_compound_scaling(b):
    w, d, res = SCALING[b]
    a = analyze(f"efficientnet_b{b}")
    assert a.input_shape == (3, res, res)
    rows = {r.path[0]: r for r in a.collapsed(1)}
    assert rows["stage1"].out_shape[0] == make_divisible(32 * w, 8)
    for stage, _op, _res, ch, n in TABLE1[1:8]:
        assert rows[stage].out_shape[0] == make_divisible(ch * w, 8), stage
        assert len(blocks(a, stage)) == math.ceil(n * d), stage
    assert rows["stage9"].out_shape[0] == 4 * make_divisible(320 * w, 8)


@pytest.mark.parametrize(
    ("b", "params", "macs", "buffers"),
    [
        (0, 5_288_548, 385_814_752, 42_065),  # torchvision meta: 5,288,548, _ops 0.386
        (1, 7_794_184, 686_802_832, 62_117),  # 7,794,184, 0.687
        (2, 9_109_994, 993_561_872, 67_637),  # 9,109,994 (_ops 1.088 is at 288×288)
        (3, 12_233_232, 1_827_141_392, 87_374),  # 12,233,232, 1.827
        (4, 19_341_616, 4_393_771_024, 125_296),  # 19,341,616, 4.394
        (5, 30_389_784, 10_266_384_752, 172_852),  # 30,389,784, 10.266
        (6, 43_040_704, 19_067_593_536, 224_566),  # 43,040,704, 19.068
        (7, 66_347_960, 37_745_884_192, 310_883),  # 66,347,960, 37.746
    ],
)
def test_totals(b, params, macs, buffers):
    a = analyze(f"efficientnet_b{b}")
    assert a.totals.params == params
    assert a.totals.macs == macs
    assert a.totals.buffers == buffers
    assert a.layers[-1].out_shape == (1000,)


def test_b2_at_torchvision_eval_crop():
    assert analyze("efficientnet_b2", (3, 288, 288)).totals.macs == 1_087_529_456


def test_stochastic_depth_only_changes_training_macs():
    """torchvision: block b of 16 is dropped with probability 0.2·b/16 (identity at inference)."""
    from fractions import Fraction

    a = analyze("efficientnet_b0")
    # stage6 block 1 is block 1 + 2 + 2 + 3 + 1 = 9 of the network (counting from 0), a residual one
    conv = layer(a, "stage6", "1", "block", "expand", "conv")
    assert Fraction(conv.train_macs) == pytest.approx(conv.macs * (1 - Fraction(2, 10) * 9 / 16))
    first = layer(a, "stage6", "0", "block", "expand", "conv")  # no residual: always runs
    assert first.train_macs == first.macs
    assert float(a.totals.train_macs) == pytest.approx(362_489_334.4)
    assert a.totals.train_macs < a.totals.macs == 385_814_752


def test_verify_has_no_failure():
    results = check_models([f"efficientnet_b{b}" for b in range(8)])
    assert [(r.model, r.entry.metric) for r in results if r.status == "fail"] == []
    assert {r.status for r in results} == {"pass"}
    assert len(results) == 2 * 8 + 2
