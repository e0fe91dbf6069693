"""NASNet-A: timm's nasnetalarge (6 @ 4032, 331×331) and the mobile model (4 @ 1056, 224×224).

No torch here: timm's counts are written down from timm.create_model("nasnetalarge") (random init);
the catalogue-wide cross-check (tests/test_crosscheck.py) rebuilds it and compares exactly.
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models


@pytest.fixture(scope="module")
def large():
    return analyze("nasnetalarge")


@pytest.fixture(scope="module")
def mobile():
    return analyze("nasnet_a_mobile")


def test_nasnetalarge_totals(large):
    assert large.totals.params == 88_753_150  # timm nasnetalarge
    assert large.totals.buffers == 196_932  # 2 × 98,334 BN channels + 264 num_batches_tracked
    assert large.totals.biases == 98_334 + 1_000  # BN β and the fc bias; no conv has a bias
    assert large.totals.macs == 23_783_414_658  # conv + fc at 331×331 (paper: 23.8B)
    assert sum(r.kind == "bn" for r in large.layers) == 264
    assert sum(r.kind == "conv" for r in large.layers) == 488
    assert large.layers[-1].out_shape == (1000,)


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        (("conv0",), (96, 165, 165)),  # 3×3/2 valid: 331 → 165
        (("cell_stem_0",), (4 * 42, 83, 83)),  # reduction cells: 4 sums of 42 channels
        (("cell_stem_1",), (4 * 84, 42, 42)),
        (("cells_0", "0"), (6 * 168, 42, 42)),  # normal cells: left input + 5 sums
        (("cells_0", "5"), (6 * 168, 42, 42)),
        (("reduction_cell_0",), (4 * 336, 21, 21)),  # SAME at stride 2 on 42: pad (0, 1)
        (("cells_1", "0"), (6 * 336, 21, 21)),
        (("cells_1", "5"), (6 * 336, 21, 21)),
        (("reduction_cell_1",), (4 * 672, 11, 11)),
        (("cells_2", "0"), (6 * 672, 11, 11)),
        (("cells_2", "5"), (4032, 11, 11)),
    ],
)
def test_nasnetalarge_cell_shapes(large, path, shape):
    assert large.within(path).out_shape == shape


def test_nasnetalarge_cell_params(large):
    assert large.within(("cell_stem_0",)).params == 49_230
    assert large.within(("cell_stem_1",)).params == 121_128
    # a FirstCell factorizes h_{i-1}; the following normal cells project it with a 1×1 conv
    assert large.within(("cells_0", "0")).params == 396_816
    assert large.within(("cells_0", "5")).params == 650_832
    assert large.within(("reduction_cell_0",)).params == 1_919_904
    assert large.within(("reduction_cell_1",)).params == 7_452_480
    assert large.within(("cells_2",)).params == 57_165_696


def test_first_cell_after_a_reduction_reads_two_cells_back(large):
    # timm: cell_6(x_reduction_cell_0, x_cell_4): its factorized left input is 42×42 with 1008 channels
    (relu,) = [r for r in large.layers if r.path[:4] == ("cells_1", "0", "left", "factorized1") and r.kind == "relu"]
    assert relu.in_shapes == ((1008, 42, 42),)
    # the asymmetric SAME average pool of reduction_cell_0: zero-pad 42 → 43, then 3×3/2 → 21
    pad = [r for r in large.layers if r.path[:2] == ("reduction_cell_0", "comb_iter_2") and r.kind == "zeropad"]
    assert [r.out_shape for r in pad] == [(336, 43, 43)]


def test_nasnet_mobile(mobile):
    assert mobile.totals.params == 5_289_978  # Keras NASNetMobile trainable params
    assert mobile.totals.macs == 563_638_816  # paper Table 3: 564M
    assert mobile.within(("cell_stem_1",)).out_shape == (88, 28, 28)
    assert mobile.within(("cells_0",)).out_shape == (264, 28, 28)
    assert mobile.within(("cells_2",)).out_shape == (1056, 7, 7)
    # mobile: the cell after a reduction takes the cell just before it (28×28, 264 channels)
    (relu,) = [r for r in mobile.layers if r.path[:4] == ("cells_1", "0", "left", "factorized1") and r.kind == "relu"]
    assert relu.in_shapes == ((264, 28, 28),)


def test_verify_has_no_failure():
    results = check_models(["nasnetalarge", "nasnet_a_mobile"])
    assert [(r.model, r.entry.metric) for r in results if r.status != "pass"] == []
    assert len(results) == 7
