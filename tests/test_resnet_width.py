"""ResNet's width knobs (``width``, ``width_per_group`` in specs/resnet.yaml) against two independent builds.

torchvision: its ``ResNet(block, layers, width_per_group=...)``, whose stem and stage widths are fixed
(64, 128, 256, 512), is rebuilt at ``width`` with its own ``_make_layer`` — torchvision writes every block,
shortcut and fc; the test only chooses the widths. timm: ``ResNet(channels=..., base_width=...)`` has a
64-channel 7×7 stem whatever ``stem_width`` says (timm/models/resnet.py: ``inplanes = stem_width * 2 if
deep_stem else 64``), so against it the stages after the first and the fc are compared, which the stem
does not touch, and the whole model at width 1. Counts: parameters, buffers (``module.buffers()``), and
fvcore's ``FlopCountAnalysis`` total, which cnncost's ``fvcore`` convention must equal.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from cnncost import analyze
from cnncost.errors import SpecError
from tests.test_hostile_input import run_cli

torch = pytest.importorskip("torch")
tv_resnet = pytest.importorskip("torchvision.models.resnet")
fvcore_nn = pytest.importorskip("fvcore.nn")

LAYERS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3], "resnet101": [3, 4, 23, 3]}
BASIC = {"resnet18", "resnet34"}
SIDE = 224


def stage_widths(width: float) -> list[int]:
    """64, 128, 256, 512 times ``width``, for the models the tests choose (where they are whole)."""
    widths = [64 * width * 2**k for k in range(4)]
    assert all(w == int(w) for w in widths)
    return [int(w) for w in widths]


def torchvision_model(name: str, width: float, width_per_group: int) -> torch.nn.Module:
    """torchvision's ResNet with every channel count times ``width``, built by its own ``_make_layer``."""
    nn = torch.nn
    block = tv_resnet.BasicBlock if name in BASIC else tv_resnet.Bottleneck
    layers = LAYERS[name]
    m = tv_resnet.ResNet(block, layers, width_per_group=width_per_group)
    w = stage_widths(width)
    m.inplanes = w[0]
    m.conv1 = nn.Conv2d(3, w[0], kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(w[0])
    m.layer1 = m._make_layer(block, w[0], layers[0])
    m.layer2 = m._make_layer(block, w[1], layers[1], stride=2)
    m.layer3 = m._make_layer(block, w[2], layers[2], stride=2)
    m.layer4 = m._make_layer(block, w[3], layers[3], stride=2)
    m.fc = nn.Linear(w[3] * block.expansion, 1000)
    return m.eval()


def counts(m: torch.nn.Module, modules: tuple[str, ...] = ()) -> tuple[int, int, int]:
    """(params, buffers, fvcore flops) of ``m``, or of its submodules ``modules`` only."""
    x = torch.zeros(1, 3, SIDE, SIDE)
    fca = fvcore_nn.FlopCountAnalysis(m, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    parts = [m.get_submodule(n) for n in modules] or [m]
    params = sum(p.numel() for part in parts for p in part.parameters())
    buffers = sum(b.numel() for part in parts for b in part.buffers())
    flops = sum(fca.by_module()[n] for n in modules) if modules else fca.total()
    return params, buffers, flops


@cache
def torchvision_counts(name: str, width: float, width_per_group: int) -> tuple[int, int, int]:
    return counts(torchvision_model(name, width, width_per_group))


def cnncost_counts(name: str, width: float, width_per_group: int, stages: tuple[str, ...] = ()) -> tuple[int, ...]:
    a = analyze(name, params={"width": width, "width_per_group": width_per_group})
    rows = [r for r in a.layers if r.path[0] in stages] if stages else [a.totals]
    return sum(r.params for r in rows), sum(r.buffers for r in rows), sum(r.fvcore for r in rows)


FAST = [
    ("resnet50", 0.5, 64),  # stem 32, planes 32/64/128/256, outputs 128 … 1024
    ("resnet18", 0.75, 64),
    ("resnet50", 0.25, 32),
    ("resnet18", 0.25, 64),
    ("resnet50", 0.75, 128),
]
SLOW = [
    ("resnet18", 2, 64),
    ("resnet34", 0.5, 64),
    ("resnet50", 2, 64),
    ("resnet50", 1, 32),
    ("resnet101", 0.5, 128),
]


@pytest.mark.parametrize(
    ("name", "width", "width_per_group"), [*FAST, *(pytest.param(*c, marks=pytest.mark.slow) for c in SLOW)]
)
def test_width_matches_torchvision(name, width, width_per_group):
    assert cnncost_counts(name, width, width_per_group) == torchvision_counts(name, width, width_per_group)


def test_width_scales_the_stem_and_every_stage():
    a = analyze("resnet50", params={"width": 0.5})
    convs = {r.name: r.out_shape[0] for r in a.layers if r.kind == "conv"}
    assert convs["conv1.conv1"] == 32
    for stage, planes in zip(["conv2_x", "conv3_x", "conv4_x", "conv5_x"], [32, 64, 128, 256], strict=True):
        assert [convs[f"{stage}.0.{c}"] for c in ("conv1", "conv2", "conv3")] == [planes, planes, 4 * planes]
    assert a.layers[-1].in_shapes == ((1024,),)


def test_width_per_group_128_is_wide_resnet50_2():
    """The knob at torchvision's own value gives its model, constructor and zoo spec alike."""
    tvm = pytest.importorskip("torchvision.models")
    expected = counts(tvm.wide_resnet50_2().eval())
    assert cnncost_counts("resnet50", 1, 128) == expected
    wide = analyze("wide_resnet50_2").totals
    assert (wide.params, wide.buffers, wide.fvcore) == expected


timm_resnet = pytest.importorskip("timm.models.resnet")
STAGES_AFTER_FIRST = ("layer2", "layer3", "layer4", "fc")  # timm's names; cnncost's conv3_x … conv5_x, fc


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "width", "width_per_group"), [("resnet50", 0.5, 64), ("resnet18", 0.75, 64), ("resnet50", 2, 32)]
)
def test_stages_match_timm(name, width, width_per_group):
    block = timm_resnet.BasicBlock if name in BASIC else timm_resnet.Bottleneck
    m = timm_resnet.ResNet(block, LAYERS[name], channels=tuple(stage_widths(width)), base_width=width_per_group)
    expected = counts(m.eval(), STAGES_AFTER_FIRST)
    assert cnncost_counts(name, width, width_per_group, ("conv3_x", "conv4_x", "conv5_x", "fc")) == expected


@pytest.mark.slow
@pytest.mark.parametrize("width_per_group", [32, 128])
def test_width_one_matches_timm(width_per_group):
    m = timm_resnet.ResNet(timm_resnet.Bottleneck, LAYERS["resnet50"], base_width=width_per_group)
    assert cnncost_counts("resnet50", 1, width_per_group) == counts(m.eval())


def test_cli_set_width(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "table", "resnet50", "--set", "width=0.5", "-f", "json")
    totals = json.loads(out)["totals"]
    params, buffers, _ = torchvision_counts("resnet50", 0.5, 64)
    assert code == 0 and (totals["params"], totals["buffers"]) == (params, buffers)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "resnet50",
            {"width": 0.3},
            "conv1.conv1: conv.out: got 'width 0.3 gives 64·width = 19.2 stem channels, not a whole number'",
        ),
        (
            "resnet18",
            {"width_per_group": 128},
            "conv2_x.0.conv1: conv.out: got 'width_per_group 128: this block has no inner width, it needs 64'",
        ),
        (
            "plain34",
            {"width_per_group": 32},
            "conv2_x.0.conv1: conv.out: got 'width_per_group 32: this block has no inner width, it needs 64'",
        ),
    ],
)
def test_widths_that_need_rounding_are_refused(name, params, message):
    """torchvision's BasicBlock raises for base_width != 64; a width that is not a multiple of 1/64 would
    need a rounding rule the paper and torchvision do not have."""
    if name == "resnet18":
        with pytest.raises(ValueError, match="BasicBlock only supports groups=1 and base_width=64"):
            tv_resnet.resnet18(width_per_group=128)
    with pytest.raises(SpecError) as info:
        analyze(name, params=params)
    assert message in str(info.value)


def test_cli_refuses_a_fractional_width(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "table", "resnet50", "--set", "width=0.3")
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and err.endswith("not a whole number' (expected an integer)\n")
    assert err.count("\n") == 1
