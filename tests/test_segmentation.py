"""torchvision's segmentation networks (FCN, DeepLabV3, LR-ASPP): facts from its source and the papers.

No torch model is built here: the numbers are worked out from torchvision's code (resnet.py's
``_make_layer`` with ``replace_stride_with_dilation``, mobilenetv3.py with ``dilated=True``,
segmentation/{fcn,deeplabv3,lraspp}.py) and written down. The models themselves are checked against
torchvision exactly in tests/test_crosscheck.py (spec-built torch model, fvcore, the reference) and
tests/test_memory.py; the weights' ``num_params`` and ``_ops`` in tests/test_torchvision_metadata.py.
"""

from __future__ import annotations

import pytest

from cnncost import analyze, load_model
from cnncost.analysis.published import check_models
from tests.conftest import layer

RESNETS = ["fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101"]
MOBILE = ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
ALL = RESNETS + MOBILE
WITH_AUX = [m for m in ALL if not m.startswith("lraspp")]

# torchvision's COCO_WITH_VOC_LABELS_V1 weights metadata (segmentation/*.py): num_params, _ops (GMACs at 520)
META = {
    "fcn_resnet50": (35_322_218, 152.717),
    "fcn_resnet101": (54_314_346, 232.738),
    "deeplabv3_resnet50": (42_004_074, 178.722),
    "deeplabv3_resnet101": (60_996_202, 258.743),
    "deeplabv3_mobilenet_v3_large": (11_029_328, 10.452),
    "lraspp_mobilenet_v3_large": (3_221_538, 2.086),
}


def op(a, *path: str):
    (node,) = [n for n in a.graph.nodes if n.path == path]
    return node.op


def conv_out(n: int, k: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """torch's Conv2d output size: floor((n + 2·pad − dilation·(k − 1) − 1) / stride) + 1."""
    return (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def fcn_head_params(c: int, classes: int = 21) -> int:
    """FCNHead(c, classes): conv 3×3 c → c // 4 (no bias), BN (γ, β), conv 1×1 → classes with bias."""
    inter = c // 4
    return c * inter * 9 + 2 * inter + inter * classes + classes


@pytest.mark.parametrize("model", ALL)
def test_input_and_outputs_are_21_classes_at_520(model):
    a = analyze(model)
    assert a.input_shape == (3, 520, 520)
    assert a.graph.nodes[a.graph.output].out_shape == (21, 520, 520)
    aux = [a.graph.nodes[i].out_shape for i in a.graph.aux_outputs]
    assert aux == ([(21, 520, 520)] if model in WITH_AUX else [])  # "out" first, then "aux", as torchvision's dict


@pytest.mark.parametrize("model", RESNETS)
def test_dilated_resnet_has_output_stride_8(model):
    """replace_stride_with_dilation=[False, True, True]: only conv1, maxpool and layer2 halve the map."""
    h = conv_out(520, 7, 2, 3)  # conv1 7×7/2 pad 3: (520 + 6 − 7) // 2 + 1 = 260
    h = conv_out(h, 3, 2, 1)  # maxpool 3×3/2 pad 1: 130
    h = conv_out(h, 3, 2, 1)  # layer2.0.conv2 3×3/2 pad 1: 65
    assert h == 65 == -(-520 // 8)
    for d in (2, 4):  # a dilated 3×3 with padding d keeps the size
        assert conv_out(h, 3, 1, d, d) == h
    a = analyze(model)
    assert a.within(("backbone", "layer2")).out_shape == (512, 65, 65)
    assert a.within(("backbone", "layer3")).out_shape == (1024, 65, 65)
    assert a.within(("backbone", "layer4")).out_shape == (2048, 65, 65)


def test_dilation_of_each_bottleneck_follows_make_layer():
    """_make_layer: a dilated layer's first block keeps the previous dilation (and stride 1),
    the others take the new one: layer3 1, 2, 2, …; layer4 2, 4, 4; the 1×1 downsample has stride 1."""
    a = analyze("deeplabv3_resnet101")
    rates = {
        name: [op(a, "backbone", name, str(i), "conv2").dilation[0] for i in range(n)]
        for name, n in (("layer1", 3), ("layer2", 4), ("layer3", 23), ("layer4", 3))
    }
    assert rates == {"layer1": [1] * 3, "layer2": [1] * 4, "layer3": [1] + [2] * 22, "layer4": [2, 4, 4]}
    for name in ("layer3", "layer4"):
        c = op(a, "backbone", name, "1", "conv2")
        assert c.stride == (1, 1) and c.pad == (c.dilation[0],) * 4
        assert op(a, "backbone", name, "0", "downsample", "0").stride == (1, 1)
    assert op(a, "backbone", "layer2", "0", "conv2").stride == (2, 2)


def test_dilation_changes_no_cost():
    """Dilation spaces a kernel's taps: layer4's three 3×3 convs cost 512·512·9 MACs per position
    at any rate, 3 · 2,359,296 · 65² in all."""
    a = analyze("deeplabv3_resnet50")
    convs = [layer(a, "backbone", "layer4", str(i), "conv2") for i in range(3)]
    assert sum(c.macs for c in convs) == 3 * 512 * 512 * 9 * 65 * 65 == 29_904_076_800
    assert {c.params for c in convs} == {512 * 512 * 9}


@pytest.mark.parametrize("model", ["deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large"])
def test_aspp_rates_and_image_pooling(model):
    """ASPP (DeepLabV3 §3.3; torchvision's ASPP): a 1×1 conv, three 3×3 convs at rates 12, 24, 36
    (padding = rate), and the image-pooling branch — global average, 1×1 conv, BN, ReLU, bilinear back
    to the map — five 256-channel branches concatenated to 1280 and projected to 256."""
    a = analyze(model)
    c, h = (2048, 65) if "resnet" in model else (960, 33)
    aspp = ("classifier", "0", "convs")
    assert op(a, *aspp, "0", "0").k == (1, 1)
    for branch, rate in (("1", 12), ("2", 24), ("3", 36)):
        conv = op(a, *aspp, branch, "0")
        assert (conv.k, conv.dilation, conv.pad) == ((3, 3), (rate, rate), (rate,) * 4)
        assert layer(a, *aspp, branch, "0").out_shape == (256, h, h)
    assert layer(a, *aspp, "4", "0").out_shape == (c, 1, 1)  # the pool
    assert layer(a, *aspp, "4", "1").out_shape == (256, 1, 1)  # its 1×1 conv
    assert layer(a, *aspp, "4", "1").macs == c * 256  # one position
    assert layer(a, *aspp, "4", "upsample").out_shape == (256, h, h)
    assert layer(a, *aspp, "concat").out_shape == (1280, h, h)
    head = a.within(("classifier",)).params
    aspp_params = c * 256 + 3 * c * 256 * 9 + c * 256 + 1280 * 256 + 5 * 512 + 512  # convs, 1×1 & pool, project, BNs
    assert head == aspp_params + 256 * 256 * 9 + 512 + 256 * 21 + 21


def test_fcn_head_params_from_torchvisions_formula():
    """FCNHead(2048, 21) on layer4 and FCNHead(1024, 21), the aux classifier on layer3."""
    assert fcn_head_params(2048) == 2048 * 512 * 9 + 1024 + 512 * 21 + 21 == 9_448_981
    assert fcn_head_params(1024) == 1024 * 256 * 9 + 512 + 256 * 21 + 21 == 2_365_205
    assert fcn_head_params(40) == 40 * 10 * 9 + 20 + 10 * 21 + 21 == 3_851  # MobileNet's C2: 40 // 4 = 10
    a = analyze("fcn_resnet50")
    assert a.within(("classifier",)).params == 9_448_981
    assert layer(a, "aux_classifier", "head", "0").in_shapes == ((1024, 65, 65),)
    for model in RESNETS:
        assert analyze(model).within(("aux_classifier",)).params == 2_365_205
    m = analyze("deeplabv3_mobilenet_v3_large")
    assert layer(m, "aux_classifier", "head", "0").in_shapes == ((40, 65, 65),)
    assert m.within(("aux_classifier",)).params == 3_851


@pytest.mark.parametrize("model", ALL)
def test_totals_equal_torchvision_metadata_and_ops_count_the_aux_head(model):
    """num_params and _ops (conv + linear GMACs, 3 decimals) at 520: both include the aux classifier,
    which torchvision's forward runs in eval mode too (result["aux"]). Without it the MACs round to
    another number: FCN/DeepLab-ResNet 9,990,739,200 fewer (65² · (1024·256·9 + 256·21))."""
    params, ops = META[model]
    a = analyze(model)
    assert a.totals.params == params
    assert round(a.totals.macs / 1e9, 3) == ops
    if model in WITH_AUX:
        aux = a.within(("aux_classifier",))
        assert round((a.totals.macs - aux.macs) / 1e9, 3) != ops
        assert a.totals.params - aux.params != params
        if "resnet" in model:
            assert aux.macs == 65 * 65 * (1024 * 256 * 9 + 256 * 21) == 9_990_739_200
        else:
            assert aux.macs == 65 * 65 * (40 * 10 * 9 + 10 * 21) == 16_097_250


def test_resnet101_adds_17_bottlenecks_to_layer3():
    """ResNet-101 = ResNet-50 with 23 instead of 6 blocks in layer3, all at 65×65, dilation 2:
    each 1024 → 256 → 256 → 1024 bottleneck has 1024·256 + 256·256·9 + 256·1024 + 2·(256 + 256 + 1024)
    params and 65² · (1024·256·2 + 256·256·9) MACs — the same difference for FCN and DeepLabV3."""
    block_params = 1024 * 256 * 2 + 256 * 256 * 9 + 2 * (256 + 256 + 1024)
    block_macs = 65 * 65 * (1024 * 256 * 2 + 256 * 256 * 9)
    for head in ("fcn", "deeplabv3"):
        r50, r101 = analyze(f"{head}_resnet50"), analyze(f"{head}_resnet101")
        assert r101.totals.params - r50.totals.params == 17 * block_params == 18_992_128
        assert r101.totals.macs - r50.totals.macs == 17 * block_macs == 80_021_094_400


@pytest.mark.parametrize("model", MOBILE)
def test_dilated_mobilenet_v3_keeps_c4_at_output_stride_16(model):
    """mobilenet_v3_large(dilated=True): the C4 bnecks (features 13-15) have dilation 2 and stride 1
    (padding (5 − 1) // 2 · 2 = 4), so 520 → 260 → 130 → 65 → 33 and stays 33 (not 17). features[13]
    keeps no residual: torchvision decides it on the configured stride 2."""
    a = analyze(model)
    h = 520
    for k in (3, 3, 5, 3):  # the stem and the strided depthwise convs of C1, C2, C3
        h = conv_out(h, k, 2, (k - 1) // 2)
    assert h == 33
    assert conv_out(33, 5, 1, 4, 2) == 33
    assert a.within(("backbone", "4")).out_shape == (40, 65, 65)  # C2: the heads' low-level input
    assert a.within(("backbone", "12")).out_shape == (112, 33, 33)
    for i in ("13", "14", "15"):
        dw = op(a, "backbone", i, "block", "dw", "conv")
        assert (dw.k, dw.stride, dw.dilation, dw.pad) == ((5, 5), (1, 1), (2, 2), (4,) * 4)
        assert a.within(("backbone", i)).out_shape == (160, 33, 33)
    assert not [n for n in a.graph.nodes if n.path[:2] == ("backbone", "13") and n.op.kind == "add"]
    assert [n.path[-1] for n in a.graph.nodes if n.path[:2] == ("backbone", "14") and n.op.kind == "add"]
    assert a.within(("backbone", "16")).out_shape == (960, 33, 33)


def test_lraspp_head():
    """LRASPPHead(40, 960, 21, 128): cbr (1×1 960 → 128, BN, ReLU) times a sigmoid gate (global
    average, 1×1 960 → 128, no bias), upsampled 33 → 65 to the C2 features, classified 128 → 21, plus
    a 1×1 classifier 40 → 21 of the C2 features; the sum upsampled to 520."""
    a = analyze("lraspp_mobilenet_v3_large")
    head = a.within(("classifier",))
    assert head.params == 960 * 128 + 2 * 128 + 960 * 128 + 128 * 21 + 21 + 40 * 21 + 21 == 249_586
    assert head.macs == 33 * 33 * 960 * 128 + 960 * 128 + 65 * 65 * (128 * 21 + 40 * 21) == 148_845_000
    assert head.out_shape == (21, 65, 65)
    assert layer(a, "classifier", "high", "upsample").out_shape == (128, 65, 65)
    assert layer(a, "classifier", "low", "low_classifier").in_shapes == ((40, 65, 65),)
    assert not a.graph.aux_outputs


def test_lraspp_upsamples_to_the_low_level_map_at_any_size():
    """The high-level branch is resized to the C2 map, ceil(h / 8), whatever the input."""
    spec = load_model("lraspp_mobilenet_v3_large")
    for size in (320, 321, 513):
        a = analyze(spec, (3, size, size))
        low = a.within(("backbone", "4")).out_shape
        assert low[1] == -(-size // 8)
        assert layer(a, "classifier", "high", "upsample").out_shape == (128, *low[1:])
        assert a.graph.nodes[a.graph.output].out_shape == (21, size, size)


def test_heads_differ_by_their_own_params():
    """FCN and DeepLabV3 on the same backbone differ only in the head on layer4."""
    fcn, dl = analyze("fcn_resnet50"), analyze("deeplabv3_resnet50")
    assert fcn.within(("backbone",)).params == dl.within(("backbone",)).params == 23_508_032
    assert dl.totals.params - fcn.totals.params == dl.within(("classifier",)).params - 9_448_981


def test_published_numbers_pass():
    results = check_models(ALL)
    assert results and all(r.status == "pass" for r in results), [(r.model, r.entry.metric, r.status) for r in results]
