"""DenseNet: torchvision's densenet121/169/201/161, the paper's DenseNet-264 and CIFAR DenseNets.

No torch here: torchvision's counts are written down from densenet*(weights=None); the torch,
fvcore and reference cross-checks run for every spec in tests/test_crosscheck.py.
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from tests.conftest import layer

IMAGENET = {
    # name: (blocks, growth, init channels, params, buffers, MACs)
    "densenet121": ((6, 12, 24, 16), 32, 64, 7_978_856, 83_769, 2_834_161_664),
    "densenet169": ((6, 12, 32, 32), 32, 64, 14_149_480, 158_569, 3_359_843_328),
    "densenet201": ((6, 12, 48, 32), 32, 64, 20_013_928, 229_257, 4_291_365_888),
    "densenet161": ((6, 12, 36, 24), 48, 96, 28_681_000, 220_097, 7_727_907_072),
}
CIFAR = {
    # name: (growth, depth, bottleneck, params; the paper's Table 2 value)
    "densenet40_k12": (12, 40, False, 1_019_722, 1.0e6),
    "densenet100_k12": (12, 100, False, 6_979_642, 7.0e6),
    "densenet100_k24": (24, 100, False, 27_249_082, 27.2e6),
    "densenet_bc100_k12": (12, 100, True, 769_162, 0.8e6),
    "densenet_bc250_k24": (24, 250, True, 15_324_406, 15.3e6),
    "densenet_bc190_k40": (40, 190, True, 25_624_430, 25.6e6),
}


@pytest.fixture(scope="module")
def d121():
    return analyze("densenet121")


# -- torchvision (ImageNet) -------------------------------------------------------------------
@pytest.mark.parametrize("name", list(IMAGENET))
def test_torchvision_totals(name):
    _, _, _, params, buffers, macs = IMAGENET[name]
    a = analyze(name)
    assert a.totals.params == params  # torchvision meta num_params
    assert a.totals.buffers == buffers
    assert a.totals.macs == macs  # torchvision meta _ops, to 3 decimals
    assert a.layers[-1].out_shape == (1000,)


@pytest.mark.parametrize("name", list(IMAGENET))
def test_block_widths_follow_growth_and_compression(name):
    blocks, k, c, *_ = IMAGENET[name]
    a = analyze(name)
    size = 56
    for j, n in enumerate(blocks, start=1):
        block = a.within((f"denseblock{j}",))
        assert block.in_shapes == ((c, size, size),)
        c += n * k  # each dense layer adds k channels
        assert block.out_shape == (c, size, size)
        if j < len(blocks):
            c //= 2  # transition: θ = 0.5, 2×2/2 average pool
            size //= 2
            assert a.within((f"transition{j}",)).out_shape == (c, size, size)
    assert layer(a, "classifier").in_shapes == ((c,),)


def test_densenet121_stem_and_stage_shapes(d121):
    expected = {
        "conv0": (64, 112, 112),
        "pool0": (64, 56, 56),
        "denseblock1": (256, 56, 56),
        "transition1": (128, 28, 28),
        "denseblock2": (512, 28, 28),
        "transition2": (256, 14, 14),
        "denseblock3": (1024, 14, 14),
        "transition3": (512, 7, 7),
        "denseblock4": (1024, 7, 7),
        "norm5": (1024, 7, 7),
        "pool": (1024, 1, 1),
        "classifier": (1000,),
    }
    assert {k: d121.within((k,)).out_shape for k in expected} == expected


def test_dense_layer_is_bn_relu_1x1_bn_relu_3x3(d121):
    """torchvision's _DenseLayer on c inputs: BN(c), 1×1 conv c→4k, BN(4k), 3×3 conv 4k→k."""
    for i in range(6):
        c = 64 + 32 * i
        assert layer(d121, "denseblock1", str(i), "conv1").in_shapes == ((c, 56, 56),)
        assert d121.within(("denseblock1", str(i))).params == 2 * c + c * 128 + 2 * 128 + 128 * 9 * 32
        assert layer(d121, "denseblock1", str(i), "conv2").label == "conv 3×3"
    assert d121.within(("transition1",)).params == 2 * 256 + 256 * 128


@pytest.mark.parametrize(
    ("name", "layers"),
    [("densenet121", 121), ("densenet169", 169), ("densenet201", 201), ("densenet161", 161), ("densenet264", 265)],
)
def test_weight_layer_count_is_the_name(name, layers):
    """stem conv + 2 per dense layer + 3 transitions + classifier; DenseNet-264 counts 265."""
    assert analyze(name).depth == layers


def test_densenet264_from_the_paper_table():
    a = analyze("densenet264")
    assert a.totals.params == 33_337_704
    assert a.totals.macs == 5_751_653_376
    assert a.within(("denseblock3",)).out_shape == (256 + 64 * 32, 14, 14)
    assert a.within(("denseblock4",)).out_shape == (1152 + 48 * 32, 7, 7)


# -- CIFAR (Table 2) ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CIFAR))
def test_cifar_params_and_layout(name):
    k, depth, bottleneck, params, published = CIFAR[name]
    a = analyze(name)
    assert a.totals.params == params
    assert abs(params - published) <= 0.05e6  # the table's one decimal in millions
    n = (depth - 4) // (6 if bottleneck else 3)
    assert a.depth == depth  # L counts every conv and the classifier
    sizes = [32, 16, 8]
    c = 2 * k if bottleneck else 16
    assert layer(a, "conv0").label == "conv 3×3"
    for j, size in enumerate(sizes, start=1):
        block = a.within((f"denseblock{j}",))
        assert block.in_shapes == ((c, size, size),)
        assert len([r for r in a.layers if r.path[0] == f"denseblock{j}" and r.kind == "conv"]) == n * (
            2 if bottleneck else 1
        )
        c += n * k
        assert block.out_shape == (c, size, size)
        if j < 3:
            c = c // 2 if bottleneck else c
            assert a.within((f"transition{j}",)).out_shape == (c, size // 2, size // 2)
    assert "denseblock4" not in {r.path[0] for r in a.layers}
    assert a.layers[-1].out_shape == (10,)


def test_densenet_bc100_k12_widths():
    a = analyze("densenet_bc100_k12")
    # 16 bottleneck layers per block: 24 + 16·12 = 216 → 108; 108 + 192 = 300 → 150; 150 + 192 = 342
    assert [a.within((f"denseblock{j}",)).out_shape[0] for j in (1, 2, 3)] == [216, 300, 342]
    assert layer(a, "classifier").params == 342 * 10 + 10


def test_densenet40_k12_basic_layer_is_one_3x3_conv():
    a = analyze("densenet40_k12")
    names = {r.path[-1] for r in a.layers if r.path[:2] == ("denseblock1", "0")}
    assert names == {"norm2", "relu2", "conv2", "concat"}
    assert a.within(("denseblock3",)).out_shape == (16 + 3 * 12 * 12, 8, 8)  # no compression: 448


# -- published numbers ------------------------------------------------------------------------
def test_verify_has_no_failure():
    results = check_models([*IMAGENET, "densenet264", *CIFAR])
    assert [(r.model, r.entry.metric) for r in results if r.status != "pass"] == []
    assert len(results) == 2 * len(IMAGENET) + len(CIFAR)
