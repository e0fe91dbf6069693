"""GoogLeNet (torchvision and the paper's Table 1) and the lecture's Inception-module examples.

No torch here: torchvision's counts are written down from googlenet(aux_logits=..., init_weights=False).
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from tests.conftest import layer

INCEPTIONS = [
    "inception_3a",
    "inception_3b",
    "inception_4a",
    "inception_4b",
    "inception_4c",
    "inception_4d",
    "inception_4e",
    "inception_5a",
    "inception_5b",
]


@pytest.fixture(scope="module")
def paper():
    return analyze("googlenet_paper")


@pytest.fixture(scope="module")
def tv():
    return analyze("googlenet")


# -- torchvision ------------------------------------------------------------------------------
def test_torchvision_googlenet_totals(tv):
    assert tv.totals.params == 6_624_904  # GoogLeNet_Weights.IMAGENET1K_V1 num_params
    assert tv.totals.buffers == 14_617  # BN running mean/var (2·7,280) + 57 num_batches_tracked
    assert tv.totals.biases == 8_280  # BN betas (7,280) + fc (1,000); convs have no bias
    assert tv.totals.macs == 1_498_376_192  # torchvision meta _ops = 1.498
    assert tv.layers[-1].out_shape == (1000,)


def test_torchvision_googlenet_aux_params():
    a = analyze("googlenet_aux")
    assert a.totals.params == 13_004_888
    # InceptionAux: conv 1×1 128 + BN (in·128 + 256), fc1 2048→1024, fc2 1024→1000
    assert a.within(("aux1",)).params == 512 * 128 + 256 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    assert a.within(("aux2",)).params == 3_191_016
    assert a.within(("aux1",)).out_shape == (1000,)
    # the aux heads are side outputs: the main path and its output are unchanged
    assert a.layers[-1].path == ("fc",)
    assert a.within(("inception_4b",)).in_shapes == ((512, 14, 14),)
    # they run only in training: the inference reading counts their weights, not their MACs
    assert a.totals.macs == analyze("googlenet").totals.macs
    assert analyze("googlenet_aux", mode="training").totals.macs - a.totals.macs == 8_372_224


def test_torchvision_inception_uses_3x3_in_the_5x5_branch(tv):
    conv = layer(tv, "inception_3a", "branch3", "conv", "conv")
    assert conv.label == "conv 3×3"
    assert conv.weights == 16 * 32 * 3 * 3
    assert tv.within(("inception_3a",)).weights == 155_504
    assert layer(tv, "pool4").label == "maxpool 2×2/2"


def test_torchvision_layer_shapes(tv):
    expected = {
        "conv1": (64, 112, 112),
        "pool1": (64, 56, 56),
        "conv2": (192, 56, 56),
        "pool2": (192, 28, 28),
        "inception_3b": (480, 28, 28),
        "pool3": (480, 14, 14),
        "inception_4e": (832, 14, 14),
        "pool4": (832, 7, 7),
        "inception_5b": (1024, 7, 7),
        "avgpool": (1024, 1, 1),
    }
    assert {k: tv.within((k,)).out_shape for k in expected} == expected


# -- the paper's Table 1 ----------------------------------------------------------------------
TABLE1 = [
    # row, output shape, weights (no biases), MACs
    ("conv1", (64, 112, 112), 9_408, 118_013_952),
    ("pool1", (64, 56, 56), 0, 0),
    ("conv2", (192, 56, 56), 114_688, 359_661_568),
    ("pool2", (192, 28, 28), 0, 0),
    ("inception_3a", (256, 28, 28), 163_328, 128_049_152),
    ("inception_3b", (480, 28, 28), 388_096, 304_267_264),
    ("pool3", (480, 14, 14), 0, 0),
    ("inception_4a", (512, 14, 14), 375_552, 73_608_192),
    ("inception_4b", (512, 14, 14), 448_512, 87_908_352),
    ("inception_4c", (512, 14, 14), 509_440, 99_850_240),
    ("inception_4d", (528, 14, 14), 604_672, 118_515_712),
    ("inception_4e", (832, 14, 14), 867_328, 169_996_288),
    ("pool4", (832, 7, 7), 0, 0),
    ("inception_5a", (832, 7, 7), 1_042_432, 51_079_168),
    ("inception_5b", (1024, 7, 7), 1_442_816, 70_697_984),
    ("avgpool", (1024, 1, 1), 0, 0),
    ("fc", (1000,), 1_024_000, 1_024_000),
]


@pytest.mark.parametrize(("row", "shape", "weights", "macs"), TABLE1, ids=[r[0] for r in TABLE1])
def test_paper_table1_row(paper, row, shape, weights, macs):
    cost = paper.within((row,))
    assert cost.out_shape == shape
    assert cost.weights == weights
    assert cost.macs == macs


def test_paper_rows_cover_the_whole_network(paper):
    assert sum(r[2] for r in TABLE1) == paper.totals.weights == 6_990_272
    assert sum(r[3] for r in TABLE1) == paper.totals.macs == 1_582_671_872
    assert paper.totals.params == 6_998_552
    assert paper.totals.buffers == 0  # no BN in the paper


def test_paper_inception_module_weights_from_its_columns(paper):
    # 3a: #1×1 64, #3×3 reduce 96, #3×3 128, #5×5 reduce 16, #5×5 32, pool proj 32 on 192 channels
    assert paper.within(("inception_3a",)).weights == (
        192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32
    )
    assert layer(paper, "inception_3a", "branch3", "conv", "conv").label == "conv 5×5"
    assert layer(paper, "pool4").label == "maxpool 3×3/2"
    # every inception keeps the spatial size; concat depth = #1×1 + #3×3 + #5×5 + pool proj
    for name in INCEPTIONS:
        cost = paper.within((name,))
        assert cost.in_shapes[0][1:] == cost.out_shape[1:]


def test_paper_depth_is_22_weight_layers_on_the_longest_path(paper):
    """The paper's "22 layers deep": weight layers along the longest path through the network."""
    by_row: dict[str, dict[str, int]] = {}
    for r in paper.layers[1:]:
        if r.kind in ("conv", "linear"):
            branch = r.path[1] if r.path[0].startswith("inception") else ""
            counts = by_row.setdefault(r.path[0], {})
            counts[branch] = counts.get(branch, 0) + 1
    assert {row: max(c.values()) for row, c in by_row.items()} == {
        "conv1": 1,
        "conv2": 2,
        **dict.fromkeys(INCEPTIONS, 2),
        "fc": 1,
    }
    assert sum(max(c.values()) for c in by_row.values()) == 22
    assert paper.depth == 58  # every conv in every branch, plus fc


def test_paper_aux_heads():
    a = analyze("googlenet_paper_aux")
    aux1 = a.within(("aux1",))
    assert a.within(("aux1", "pool")).out_shape == (512, 4, 4)  # avgpool 5×5/3 on 14×14
    assert a.within(("aux2", "pool")).out_shape == (528, 4, 4)
    assert aux1.params == 512 * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    assert a.totals.params == 13_378_280
    assert a.totals.macs == 1_582_671_872
    assert analyze("googlenet_paper_aux", mode="training").totals.macs == 1_582_671_872 + 8_372_224
    assert a.layers[-1].path == ("fc",)


# -- the lecture's Inception-module examples --------------------------------------------------
def test_inception_naive():
    a = analyze("inception_naive")
    assert a.totals.macs == 854_196_224
    assert a.totals.macs == 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25)
    assert a.layers[-1].out_shape == (672, 28, 28)  # 128 + 192 + 96 + 256
    assert a.within(("inception", "branch4")).out_shape == (256, 28, 28)


def test_inception_reduced():
    a = analyze("inception_reduced")
    rows = [
        a.within(("inception", *p)).macs
        for p in [
            ("branch1",),
            ("branch2", "reduce"),
            ("branch2", "conv"),
            ("branch3", "reduce"),
            ("branch3", "conv"),
            ("branch4", "proj"),
        ]
    ]
    assert rows == [25_690_112, 12_845_056, 86_704_128, 12_845_056, 120_422_400, 12_845_056]
    assert a.totals.macs == sum(rows) == 271_351_808
    assert a.totals.macs + 86_704_128 == 358_055_936  # the lecture's 358M counts the 3×3 twice
    assert a.layers[-1].out_shape == (480, 28, 28)  # 128 + 192 + 96 + 64


# -- published numbers ------------------------------------------------------------------------
def test_verify_has_no_failure():
    results = check_models(["googlenet", "googlenet_aux", "googlenet_paper", "inception_naive", "inception_reduced"])
    assert [(r.model, r.entry.metric, r.entry.layer) for r in results if r.status == "fail"] == []
    status = {(r.model, r.entry.metric, r.entry.layer): r.status for r in results}
    errata = sorted(k for k, v in status.items() if v == "erratum")
    assert errata == sorted(
        [
            ("googlenet_paper", "weights", "conv1"),
            ("googlenet_paper", "macs", "conv1"),
            ("googlenet_paper", "weights", "inception_4c"),
            ("googlenet_paper", "weights", "inception_5a"),
            ("googlenet_paper", "macs", "inception_5a"),
            ("googlenet_paper", "macs", ""),
            ("googlenet_paper", "params", ""),
            ("inception_reduced", "macs", ""),
        ]
    )
    assert status[("googlenet_paper", "weights", "inception_3a")] == "pass"
    assert status[("googlenet_paper", "macs", "inception_5b")] == "pass"
    assert status[("inception_naive", "macs", "")] == "pass"
