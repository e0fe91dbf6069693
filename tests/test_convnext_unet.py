"""ConvNeXt (torchvision) and the small U-Net: facts from torchvision's source, and arithmetic written
here, against the engine.

Cheap: no torch model is instantiated. The stage tables come from torchvision's own builders, run with
``_convnext`` replaced by a function that records its arguments; the torch, fvcore, FlopCounterMode,
reference and saved-tensor checks of both specs are in tests/test_crosscheck.py and tests/test_memory.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnncost import analyze, load_model
from cnncost.spec.expand import expand

CONVNEXT = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"]
UNET = Path(__file__).resolve().parent.parent / "specs" / "unet.yaml"


# -- ConvNeXt ---------------------------------------------------------------------------------
def torchvision_setting(name: str, monkeypatch) -> tuple[list, float]:
    """The ``CNBlockConfig`` list and stochastic-depth probability torchvision's builder ``name``
    passes to ``_convnext`` (which would build the model: replaced here by a recorder)."""
    convnext = pytest.importorskip("torchvision.models.convnext")
    seen: dict = {}

    def record(block_setting, stochastic_depth_prob, weights, progress, **kwargs):
        seen.update(setting=block_setting, sd=stochastic_depth_prob)

    monkeypatch.setattr(convnext, "_convnext", record)
    getattr(convnext, name)()
    return seen["setting"], seen["sd"]


def weights_meta(name: str) -> dict:
    tvm = pytest.importorskip("torchvision.models")
    return tvm.get_model_weights(name).IMAGENET1K_V1.meta


@pytest.mark.parametrize("name", CONVNEXT)
def test_stage_table_is_torchvisions(name, monkeypatch):
    setting, sd = torchvision_setting(name, monkeypatch)
    params = load_model(name).params
    assert params["depths"] == [c.num_layers for c in setting]
    assert params["widths"] == [c.input_channels for c in setting]
    assert [c.out_channels for c in setting] == [*params["widths"][1:], None]  # downsampling widths
    assert params["sd_prob"] == sd
    # The engine: stage s has depths[s] blocks at widths[s] channels and 56 / 2^s positions a side.
    a = analyze(name)
    for s, c in enumerate(setting):
        stage = f"stage{s + 1}"
        rows = [r for r in a.layers if r.path[0] == stage]
        assert len({r.path[2] for r in rows if r.path[1] == "blocks"}) == c.num_layers
        assert rows[-1].out_shape == (c.input_channels, 56 >> s, 56 >> s)
        assert ((stage, "downsample", "conv") in {r.path for r in rows}) == (s > 0)


@pytest.mark.parametrize("name", CONVNEXT)
def test_stochastic_depth_survival_is_torchvisions(name, monkeypatch):
    """torchvision: block ``stage_block_id`` of ``total_stage_blocks`` gets drop probability
    ``stochastic_depth_prob * stage_block_id / (total_stage_blocks - 1.0)``; every op of its residual
    body runs with probability 1 − that in training, every other op always."""
    setting, sd = torchvision_setting(name, monkeypatch)
    total = sum(c.num_layers for c in setting)
    expected, block_id = {}, 0
    for s, c in enumerate(setting):
        for j in range(c.num_layers):
            expected[(f"stage{s + 1}", "blocks", str(j))] = 1 - sd * block_id / (total - 1.0)
            block_id += 1
    graph = expand(load_model(name))
    body = {n.path[:3]: n.survival for n in graph.ops if n.path[1:2] == ("blocks",) and n.op.kind != "add"}
    assert body == expected
    assert all(n.survival == 1 for n in graph.ops if n.path[1:2] != ("blocks",) or n.op.kind == "add")
    assert min(expected.values()) == 1 - sd  # the last block


def convnext_arithmetic(setting, size: int = 224, classes: int = 1000) -> tuple[int, int]:
    """Params and conv + linear MACs of torchvision's ConvNeXt from its stage table, by hand.

    Stem: conv 4×4/4 3 → C₀ with bias, LayerNorm (2C₀). A block of width C at s×s: depthwise 7×7 with
    bias (49C + C), LayerNorm (2C), linear C → 4C (4C² + 4C), linear 4C → C (4C² + C), γ (C):
    8C² + 58C params, s²·(49C + 8C²) MACs. Downsampling C → C': LayerNorm (2C), conv 2×2/2 with bias
    (4CC' + C'), (s/2)²·4CC' MACs. Head: LayerNorm (2C), linear C → classes with bias."""
    c0, s = setting[0].input_channels, size // 4
    params, macs = 48 * c0 + c0 + 2 * c0, s * s * 48 * c0
    for cfg in setting:
        c = cfg.input_channels
        params += cfg.num_layers * (8 * c * c + 58 * c)
        macs += cfg.num_layers * s * s * (49 * c + 8 * c * c)
        if cfg.out_channels is not None:
            s //= 2
            params += 2 * c + 4 * c * cfg.out_channels + cfg.out_channels
            macs += s * s * 4 * c * cfg.out_channels
    c = setting[-1].input_channels
    return params + 2 * c + c * classes + classes, macs + c * classes


@pytest.mark.parametrize("name", CONVNEXT)
def test_params_and_macs_by_hand_equal_torchvision_metadata_and_the_engine(name, monkeypatch):
    setting, _ = torchvision_setting(name, monkeypatch)
    params, macs = convnext_arithmetic(setting)
    meta = weights_meta(name)
    assert (params, round(macs / 1e9, 3)) == (meta["num_params"], meta["_ops"])
    t = analyze(name).totals
    assert (t.params, t.macs, t.buffers) == (params, macs, 0)
    # 384×384 (the README's 384 rows): every map after the stem is (12/7)² of its 224 size.
    assert analyze(name, (3, 384, 384)).totals.macs == convnext_arithmetic(setting, 384)[1]


def test_convnext_block_by_hand():
    """One stage-3 block of ConvNeXt-T (C = 384 at 14×14), layer by layer."""
    a = analyze("convnext_tiny")
    rows = {r.path[3]: r for r in a.layers if r.path[:3] == ("stage3", "blocks", "4")}
    c, s = 384, 14
    assert {k: (r.params, r.macs) for k, r in rows.items() if r.params or r.macs} == {
        "dwconv": (49 * c + c, s * s * c * 49),
        "norm": (2 * c, 0),
        "pwconv1": (c * 4 * c + 4 * c, s * s * c * 4 * c),
        "pwconv2": (4 * c * c + c, s * s * 4 * c * c),
        "layer_scale": (c, 0),
    }
    assert rows["to_last"].out_shape == (s, s, c) and rows["pwconv1"].out_shape == (s, s, 4 * c)
    assert rows["to_first"].out_shape == rows["add"].out_shape == (c, s, s)
    assert rows["norm"].fvcore == 5 * c * s * s  # fvcore's layer_norm estimate, as for the reference


# -- U-Net ------------------------------------------------------------------------------------
def unet_spec(write_spec, depth: int, base: int, classes: int, input_shape: tuple[int, int, int]):
    """specs/unet.yaml with its params and input replaced."""
    text = UNET.read_text()
    for key, value in (("depth", depth), ("base", base), ("classes", classes)):
        text, n = re.subn(rf"(?m)^  {key}: \d+", f"  {key}: {value}", text)
        assert n == 1, key
    text, n = re.subn(r"(?m)^input: \[.*\]", f"input: {list(input_shape)}", text)
    assert n == 1
    return load_model(str(write_spec(text, "unet.yaml")))


def unet_arithmetic(depth: int, base: int, classes: int, input_shape: tuple[int, int, int]) -> dict[str, int]:
    """The U-Net by hand. Level l (0 … depth) has w_l = base · 2^l channels at H/2^l × W/2^l.
    A double conv c → w at n positions: 9·c·w + 9·w·w weights (no bias), two BNs (2w params and
    2w + 1 buffers each), n·9·(c·w + w·w) MACs. Up-step to level l: conv-transpose 2×2/2 w_{l+1} → w_l
    with bias (4·w_{l+1}·w_l + w_l; each input element meets w_l·4 weights: n_l·w_{l+1}·w_l MACs), the
    concatenation [skip, up] (2·w_l channels), a double conv 2·w_l → w_l. Head: 1×1 conv w_0 → classes
    with bias."""
    c_in, h, w = input_shape
    width = [base * 2**level for level in range(depth + 1)]
    positions = [(h >> level) * (w >> level) for level in range(depth + 1)]
    params = buffers = macs = 0

    def double_conv(c: int, out: int, n: int) -> None:
        nonlocal params, buffers, macs
        params += 9 * c * out + 9 * out * out + 2 * (2 * out)
        buffers += 2 * (2 * out + 1)
        macs += n * 9 * (c * out + out * out)

    for level in range(depth + 1):
        double_conv(c_in if level == 0 else width[level - 1], width[level], positions[level])
    for level in reversed(range(depth)):
        params += 4 * width[level + 1] * width[level] + width[level]
        macs += positions[level] * width[level + 1] * width[level]
        double_conv(2 * width[level], width[level], positions[level])
    params += width[0] * classes + classes
    macs += positions[0] * width[0] * classes
    return {"params": params, "buffers": buffers, "macs": macs, "weight_layers": 2 * (depth + 1) + 3 * depth + 1}


def test_unet_totals_by_hand():
    """The catalogue's U-Net: 1×64×64, 4 levels down from 16 channels, 2 classes."""
    a = analyze("unet")
    t = a.totals
    assert unet_arithmetic(4, 16, 2, (1, 64, 64)) == {
        "params": t.params,
        "buffers": t.buffers,
        "macs": t.macs,
        "weight_layers": t.weight_layers,
    }
    assert (t.params, t.macs) == (1_942_306, 188_416_000)
    assert a.layers[-1].out_shape == (2, 64, 64)


@pytest.mark.parametrize(
    ("depth", "base", "classes", "shape"),
    [
        (4, 16, 2, (1, 64, 64)),
        (3, 8, 5, (3, 40, 48)),
        (1, 4, 1, (2, 6, 10)),
        (5, 32, 21, (3, 96, 96)),
    ],
)
def test_unet_parameters_by_hand(write_spec, depth, base, classes, shape):
    spec = unet_spec(write_spec, depth, base, classes, shape)
    a = analyze(spec)
    t = a.totals
    assert {
        "params": t.params,
        "buffers": t.buffers,
        "macs": t.macs,
        "weight_layers": t.weight_layers,
    } == unet_arithmetic(depth, base, classes, shape)
    assert a.layers[-1].out_shape == (classes, *shape[1:])


def test_unet_skips_concatenate_the_encoder_output_first():
    """Each up-step's concat takes [the contracting path's output at that level, the up-convolution]."""
    graph = expand(load_model("unet"))
    by_id = {n.id: n for n in graph.nodes}
    cats = [n for n in graph.ops if n.op.kind == "concat"]
    assert len(cats) == 4
    for i, cat in enumerate(cats):
        level = 3 - i
        skip, up = (by_id[j] for j in cat.inputs)
        assert skip.path[:2] == ("down", str(level)) and skip.op.kind == "relu"
        assert up.path == ("up", str(i), "upconv")
        assert skip.out_shape == up.out_shape == (16 << level, 64 >> level, 64 >> level)
        assert cat.out_shape == (2 * (16 << level), 64 >> level, 64 >> level)


# -- linear over the last axis (ConvNeXt's MLP) ------------------------------------------------
def test_linear_over_the_last_axis(write_spec):
    """``dims: last``: one multiply-add per (position, in, out); the weights do not grow with the positions.
    Without it a map is refused, as it is a missing flatten far more often than a channels-last MLP."""
    from cnncost.errors import SpecError

    text = """
        input: [6, 5, 7]
        layers:
          - permute: {order: [1, 2, 0]}
          - linear: {out: 11%s}
        """
    a = analyze(load_model(str(write_spec(text % ", dims: last"))))
    fc = a.layers[-1]
    assert (fc.out_shape, fc.weights, fc.biases, fc.macs, fc.fvcore) == (
        (5, 7, 11),
        6 * 11,
        11,
        5 * 7 * 6 * 11,
        5 * 7 * 6 * 11,
    )
    with pytest.raises(SpecError) as err:
        analyze(load_model(str(write_spec(text % ""))))
    assert "linear needs a flat input, got 5×7×6" in err.value.message and "dims: last" in err.value.expected
