"""RegNetX / RegNetY (torchvision): stage widths, depths and groups generated from the design space.

The oracle is torchvision's own code: ``BlockParams.from_init_params`` on the spec's design-space
parameters, and the ``BlockParams`` each ``regnet_*`` builder computes from ITS numbers (captured by
patching ``_regnet``, so no model is built). No torch model is instantiated here: the torch, fvcore
and reference cross-checks run in tests/test_crosscheck.py, the weights' metadata in
tests/test_torchvision_metadata.py.
"""

from __future__ import annotations

import pytest

from cnncost import analyze
from cnncost.analysis.published import check_models
from cnncost.spec.catalog import load_model
from cnncost.spec.expr import evaluate

regnet = pytest.importorskip("torchvision.models.regnet")

X = [
    "regnet_x_400mf",
    "regnet_x_800mf",
    "regnet_x_1_6gf",
    "regnet_x_3_2gf",
    "regnet_x_8gf",
    "regnet_x_16gf",
    "regnet_x_32gf",
]
Y = [
    "regnet_y_400mf",
    "regnet_y_800mf",
    "regnet_y_1_6gf",
    "regnet_y_3_2gf",
    "regnet_y_8gf",
    "regnet_y_16gf",
    "regnet_y_32gf",
    "regnet_y_128gf",
]


def torchvision_block_params(name: str, monkeypatch: pytest.MonkeyPatch):
    """The ``BlockParams`` torchvision's builder ``name`` hands to ``_regnet`` (which would build the model)."""
    captured = []
    monkeypatch.setattr(regnet, "_regnet", lambda block_params, *_a, **_k: captured.append(block_params))
    getattr(regnet, name)()
    (params,) = captured
    return params


def from_init_params(name: str):
    """torchvision's rule applied to the spec's design-space parameters."""
    p = load_model(name).params
    return regnet.BlockParams.from_init_params(
        depth=p["depth"],
        w_0=p["w0"],
        w_a=p["wa"],
        w_m=p["wm"],
        group_width=p["group_w"],
        bottleneck_multiplier=p["bot_mul"],
        se_ratio=p["se_ratio"] or None,
    )


def stages(name: str) -> dict[str, list]:
    """What the expanded spec is, stage by stage: widths, depths, group widths, strides, bottleneck ratios."""
    a = analyze(name)
    convs = {r.path: r for r in a.layers if r.kind == "conv"}
    out: dict[str, list] = {"widths": [], "depths": [], "group_widths": [], "strides": [], "bottleneck": []}
    s = 0
    while ("trunk_output", str(s), "0", "f", "c", "conv") in convs:
        blocks = {p[2] for p in convs if p[:2] == ("trunk_output", str(s))}
        b = convs["trunk_output", str(s), "0", "f", "b", "conv"]
        c = convs["trunk_output", str(s), "0", "f", "c", "conv"]
        groups = a.graph.nodes[[n.path for n in a.graph.nodes].index(b.path)].op.values["groups"]
        out["widths"].append(c.out_shape[0])
        out["depths"].append(len(blocks))
        out["group_widths"].append(b.out_shape[0] // groups)
        out["strides"].append(b.in_shapes[0][1] // b.out_shape[1])
        out["bottleneck"].append(b.out_shape[0] / c.out_shape[0])
        s += 1
    return out


def as_dict(bp) -> dict[str, list]:
    return {
        "widths": bp.widths,
        "depths": bp.depths,
        "group_widths": bp.group_widths,
        "strides": bp.strides,
        "bottleneck": bp.bottleneck_multipliers,
    }


@pytest.mark.parametrize("name", X + Y)
def test_stages_equal_torchvision_builders_block_params(name, monkeypatch):
    tv = torchvision_block_params(name, monkeypatch)
    assert stages(name) == as_dict(tv)
    assert (load_model(name).params["se_ratio"] or None) == tv.se_ratio


@pytest.mark.parametrize(
    "name", ["regnet_x_400mf", "regnet_x_1_6gf", "regnet_x_8gf", "regnet_y_400mf", "regnet_y_32gf", "regnet_y_128gf"]
)
def test_generated_trunk_equals_from_init_params(name):
    """The spec's own expressions (the trunk block's defaults, evaluated in order) against torchvision."""
    model = load_model(name)
    trunk = model.blocks["trunk"]
    env = dict(model.params)
    for p in trunk.params:
        env[p] = evaluate(trunk.defaults[p], env)
    tv = from_init_params(name)
    assert (env["widths"], env["depths"], env["groups"]) == (tv.widths, tv.depths, tv.group_widths)


def test_no_width_list_is_written_down():
    """Every variant gives only the design-space scalars; the widths come from the rule."""
    for name in X + Y:
        params = load_model(name).params
        assert not [k for k, v in params.items() if isinstance(v, (list, dict))], name
        assert set(params) == {"depth", "w0", "wa", "wm", "group_w", "bot_mul", "se_ratio", "stem_w", "classes"}


def trunk_values(name: str) -> dict:
    model = load_model(name)
    env = dict(model.params)
    for p in model.blocks["trunk"].params:
        env[p] = evaluate(model.blocks["trunk"].defaults[p], env)
    return env


def test_regnet_y_400mf_stages():
    """d = 16, w0 = 48, wa = 27.89, wm = 2.09: steps s_j 0,1,1,1,2×6,3×6 → widths 48, 104, 208, 440."""
    t = trunk_values("regnet_y_400mf")
    assert t["s"] == [0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3]
    assert t["w"] == [48] + [104] * 3 + [208] * 6 + [440] * 6
    st = stages("regnet_y_400mf")
    assert st["widths"] == [48, 104, 208, 440] and st["depths"] == [1, 3, 6, 6]
    assert st["group_widths"] == [8, 8, 8, 8] and st["strides"] == [2, 2, 2, 2]
    a = analyze("regnet_y_400mf")
    groups = [
        a.graph.nodes[i].op.values["groups"]
        for i, n in enumerate(a.graph.nodes)
        if n.path[-3:-1] == ("f", "b") and n.path[-1] == "conv" and n.path[2] == "0"
    ]
    assert groups == [6, 13, 26, 55]
    assert a.totals.params == 4_344_144 and a.totals.macs == 401_842_848
    assert a.layers[-1].out_shape == (1000,)


def test_squeeze_excitation_is_a_quarter_of_the_block_input():
    """RegNetY's SE sits between the 3×3 and the last 1×1 and squeezes to round(0.25 · the block's INPUT
    width): 32 → 8 in the first block (its input is the 32-wide stem), 48 → 12 entering stage 2."""
    a = analyze("regnet_y_400mf")
    fc1 = {r.path[1:3]: r.out_shape[0] for r in a.layers if r.path[-1] == "fc1"}
    assert fc1[("0", "0")] == 8 and fc1[("1", "0")] == 12 and fc1[("1", "1")] == 26
    assert fc1[("2", "0")] == 26 and fc1[("3", "0")] == 52 and fc1[("3", "5")] == 110
    block = [r.path[3:] for r in a.layers if r.path[:3] == ("trunk_output", "1", "1")]
    assert block.index(("f", "se", "mul")) == block.index(("f", "b", "act")) + 6
    assert block.index(("f", "c", "conv")) == block.index(("f", "se", "mul")) + 1
    assert not [r for r in analyze("regnet_x_400mf").layers if "se" in r.path]


def test_projection_only_where_width_or_stride_changes():
    for name in ("regnet_x_3_2gf", "regnet_y_1_6gf"):
        a = analyze(name)
        projected = sorted({r.path[1:3] for r in a.layers if "proj" in r.path})
        assert projected == [(str(s), "0") for s in range(len(stages(name)["widths"]))], name


def test_quantization_and_compatibility_adjustment():
    """The two rounding steps the widths go through, where they matter."""
    # regnet_x_1_6gf: w0·wm/8 = 80·2.25/8 = 22.5 exactly, rounded half to even (torch.round, Python's
    # round) to 22 → 176; the group width 24 then moves 80 → 72 and 176 → 168 (make_divisible).
    t = trunk_values("regnet_x_1_6gf")
    assert sorted(set(t["w"])) == [80, 176, 408, 912] and t["widths"] == [72, 168, 408, 912]
    # regnet_x_400mf: 24 → 32, 152 → 160, 392 → 400 with group width 16.
    t = trunk_values("regnet_x_400mf")
    assert sorted(set(t["w"])) == [24, 64, 152, 392] and t["widths"] == [32, 64, 160, 400]
    # regnet_x_8gf: the first stage (80) is narrower than the group width 120: one group of 80.
    t = trunk_values("regnet_x_8gf")
    assert t["groups"] == [80, 120, 120, 120] and t["widths"] == [80, 240, 720, 1920]


def test_regnet_y_128gf_at_both_crops():
    """Its two SWAG weights are evaluated at 384 (E2E) and 224 (linear probe); the spec's input is 224."""
    assert analyze("regnet_y_128gf").totals.params == 644_812_894
    assert round(analyze("regnet_y_128gf").totals.macs / 1e9, 3) == 127.518
    assert round(analyze("regnet_y_128gf", (3, 384, 384)).totals.macs / 1e9, 3) == 374.57


def test_verify_has_no_failure():
    results = check_models(X + Y)
    assert {r.status for r in results} == {"pass"}
    assert len(results) == 2 * 15 + 3
