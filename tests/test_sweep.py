"""``cnncost sweep``: every variant equals its own ``table``/``memory`` run, checked against torchvision's
networks and fvcore, EfficientNet's compound scaling against torchvision's B0-B3, worker pools and a dask
cluster against the serial run, the Pareto front against a brute-force one, and every bad input is one
line, exit 2."""

from __future__ import annotations

import importlib.util
import itertools
import json
import random

import pytest

from cnncost.analysis.sweep import COMPOUND, Axis, pareto, sweep
from cnncost.errors import SpecError
from cnncost.spec.catalog import load_model
from cnncost.spec.overrides import expand_range, parse_values, split_top
from tests.test_hostile_input import run_cli


def cli_json(monkeypatch, capsys, *args: str):
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    return json.loads(out)


def yaml_text(value) -> str:
    """A value as ``--set`` reads it back (JSON is YAML; a string as it is)."""
    return value if isinstance(value, str) else json.dumps(value)


# -- notation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0.5:1.5:0.25", [0.5, 0.75, 1.0, 1.25, 1.5]),
        ("0.1:0.3:0.1", [0.1, 0.2, 0.3]),  # 0.1 + 0.1 + 0.1 would be 0.30000000000000004
        ("128:320:32", [128, 160, 192, 224, 256, 288, 320]),
        ("0:10:3", [0, 3, 6, 9]),  # the stop is off the grid: not included
        ("2:4", [2, 3, 4]),
        ("7:7:1", [7]),
        ("1:2:0.5", [1.0, 1.5, 2.0]),  # one float: floats
    ],
)
def test_ranges_are_exact(text, values):
    got = expand_range(text, "--set x")
    assert got == values and [type(v) for v in got] == [type(v) for v in values]


def test_values_split_at_top_level_commas():
    assert split_top("[2,2,2,2],[3,4,6,3]") == ["[2,2,2,2]", "[3,4,6,3]"]
    assert split_top("{a: 1, b: 2},'x,y',\"p,q\",(1,2)") == ["{a: 1, b: 2}", "'x,y'", '"p,q"', "(1,2)"]
    assert parse_values("[2,2,2,2],[3,4,6,3],basic,0:2,'a,b'", "--set x") == [
        [2, 2, 2, 2],
        [3, 4, 6, 3],
        "basic",
        0,
        1,
        2,
        "a,b",
    ]


def test_grid_is_the_cartesian_product_in_order():
    spec = load_model("resnet18")
    axes = [Axis("depths", ([1, 1, 1, 1], [2, 1, 1, 1])), Axis("width", (0.5, 1)), Axis.inputs([(3, 32, 32)] * 1)]
    s = sweep(spec, axes)
    assert [(r["depths"], r["width"], r["input"]) for r in s.rows] == [
        (list(d), w, [3, 32, 32]) for d, w in itertools.product(*(a.values for a in axes[:2]))
    ]
    assert [r["variant"] for r in s.rows] == [0, 1, 2, 3]


def test_sample_is_seeded_and_without_replacement():
    spec = load_model("resnet18")
    axes = [Axis("classes", tuple(range(1, 41))), Axis.inputs([(3, 32, 32), (3, 40, 40)])]
    a = sweep(spec, axes, sample=12, seed=3)
    b = sweep(spec, axes, sample=12, seed=3)
    c = sweep(spec, axes, sample=12, seed=4)
    picked = [r["variant"] for r in a.rows]
    assert a.rows == b.rows and picked != [r["variant"] for r in c.rows]
    assert len(set(picked)) == 12 and picked == sorted(picked) and all(0 <= i < 80 for i in picked)
    grid = list(itertools.product(*(x.values for x in axes)))
    assert all((r["classes"], tuple(r["input"])) == grid[r["variant"]] for r in a.rows)
    # a fc layer of `classes` outputs on 512 features: 512·classes + classes params beyond ResNet-18's conv body
    body = 11_689_512 - 513_000
    assert all(r["params"] == body + 513 * r["classes"] for r in a.rows)
    assert [r["variant"] for r in sweep(spec, axes, sample=500).rows] == list(range(80))  # more than the grid: all


# -- every variant equals its own table and memory runs -------------------------------------------
FAMILIES = [
    ("resnet18", ["depths=[1,1,1,1],[2,2,2,2],[1,2,3,1]", "width=0.5,1,1.5", "block=basic,bottleneck"], "48:96:16"),
    ("efficientnet_b0", ["width_mult=0.5:1.5:0.25", "depth_mult=1.0,1.2,1.4"], "96,128"),
    ("mobilenet_v2", ["alpha=0.35,0.5,0.75,1.0"], "96:160:32"),
    ("mobilenet_v3_large", ["alpha=0.75,1.0"], "96,128"),
    ("densenet121", ["growth=12,24,32", "blocks=[2,2,2,2],[6,12,24,16]"], "64"),
    ("vgg11", ["widths=[16,32,64,128,128],[64,128,256,512,512]", "bn=false,true"], "32:64:32"),
]


def check_against_cli(monkeypatch, capsys, model: str, sets: list[str], inputs: str, n: int, seed: int) -> None:
    from cnncost.cli import parse_input
    from cnncost.spec.overrides import parse_axes

    spec = load_model(model)
    axes = [Axis(k, tuple(v)) for k, v in parse_axes(sets).items()]
    axes.append(Axis.inputs([parse_input(str(v), spec.input) for v in parse_values(inputs, "--input")]))
    rows = [r for r in sweep(spec, axes, sample=n, seed=seed).rows if not r["error"]]
    assert rows
    for r in rows:
        args = [a for ax in axes[:-1] for a in ("--set", f"{ax.name}={yaml_text(r[ax.name])}")]
        args += ["--input", "x".join(map(str, r["input"]))]
        totals = cli_json(monkeypatch, capsys, "table", model, *args, "-f", "json")["totals"]
        (mem,) = cli_json(monkeypatch, capsys, "memory", model, *args, "-f", "json")["models"]
        assert (r["params"], r["macs"], r["activations"]) == (totals["params"], totals["macs"], totals["activations"])
        assert r["depth"] == totals["weight_layers"]
        for key in ("peak_inference_bytes", "inference_total_bytes", "training_total_bytes"):
            assert r[key] == mem[key], key


@pytest.mark.parametrize(("model", "sets", "inputs"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_variants_equal_their_own_runs(monkeypatch, capsys, model, sets, inputs):
    check_against_cli(monkeypatch, capsys, model, sets, inputs, n=1, seed=len(model))


@pytest.mark.slow
@pytest.mark.parametrize(("model", "sets", "inputs"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_more_variants_equal_their_own_runs(monkeypatch, capsys, model, sets, inputs):
    check_against_cli(monkeypatch, capsys, model, sets, inputs, n=6, seed=7)


def test_a_failing_variant_is_a_row_and_all_failing_is_the_error():
    spec = load_model("alexnet")
    rows = sweep(spec, [Axis.inputs([(3, 32, 32), (3, 64, 64)])]).rows
    assert "kernel 3 is larger than the padded input" in rows[0]["error"] and rows[0]["params"] is None
    assert rows[1]["error"] is None and rows[1]["params"] == 61_100_840  # torchvision alexnet num_params
    with pytest.raises(SpecError, match=r"every variant of alexnet failed; the first: .*kernel 3 is larger"):
        sweep(spec, [Axis.inputs([(3, 32, 32), (3, 16, 16)])])


def test_receptive_field_at_the_last_finite_layer():
    """ResNet-18 by the textbook recurrence (rf += (k − 1)·jump, jump ·= stride) over its 7×7/2 conv, 3×3/2
    max-pool and the 16 3×3 convs of its basic blocks (the first of stages 3-5 with stride 2): 435."""
    rf, jump = 1, 1
    convs = [(3, 1)] * 4 + ([(3, 2)] + [(3, 1)] * 3) * 3
    for k, stride in [(7, 2), (3, 2), *convs]:
        rf += (k - 1) * jump
        jump *= stride
    (row,) = sweep(load_model("resnet18"), [Axis.inputs([(3, 224, 224)])]).rows
    assert row["receptive_field"] == [rf, rf] == [435, 435]
    assert row["rf_layer"] == "conv5_x.1.relu2" and row["rf_at_output"] is False  # global pooling after it


# -- independent oracles -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("depths", "width_per_group"),
    [([1, 1, 1, 1], 64), ([2, 1, 3, 1], 128), pytest.param([3, 4, 6, 3], 64, marks=pytest.mark.slow)],
)
def test_resnet_depths_against_torchvision_and_fvcore(depths, width_per_group):
    torch = pytest.importorskip("torch")
    resnet = pytest.importorskip("torchvision.models.resnet")
    fvcore = pytest.importorskip("fvcore.nn")
    spec = load_model("resnet50")
    (row,) = sweep(
        spec,
        [Axis("depths", (depths,)), Axis("width_per_group", (width_per_group,)), Axis.inputs([(3, 64, 64)])],
        convention="fvcore",
    ).rows
    net = resnet.ResNet(resnet.Bottleneck, depths, width_per_group=width_per_group).eval()
    assert row["params"] == sum(p.numel() for p in net.parameters())
    flops = fvcore.FlopCountAnalysis(net, torch.zeros(1, 3, 64, 64))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert row["fvcore"] == flops.total()


# torchvision's EfficientNet-B0…B3: (width_mult, depth_mult, resolution), the weights' meta num_params
TORCHVISION_B = {
    "b0": (1.0, 1.0, 224, 5_288_548),
    "b1": (1.0, 1.1, 240, 7_794_184),
    "b2": (1.1, 1.2, 260, 9_109_994),
    "b3": (1.2, 1.4, 300, 12_233_232),
}


def test_torchvisions_b0_to_b3_multipliers_are_on_the_grid():
    """The zoo's variants are torchvision's hand-set multipliers; a width × depth grid holding them gives
    torchvision's parameter counts (the weights' metadata) exactly, and the same figures as the zoo's
    variants at their own resolution."""
    spec = load_model("efficientnet_b0")
    s = sweep(spec, [Axis("width_mult", (1.0, 1.1, 1.2)), Axis("depth_mult", (1.0, 1.1, 1.2, 1.4))])
    by = {(r["width_mult"], r["depth_mult"]): r for r in s.rows}
    for w, d, _, params in TORCHVISION_B.values():
        assert by[w, d]["params"] == params
    for name, (w, d, res, _) in TORCHVISION_B.items():
        (row,) = sweep(spec, [Axis("width_mult", (w,)), Axis("depth_mult", (d,)), Axis.inputs([(3, res, res)])]).rows
        (own,) = sweep(load_model(f"efficientnet_{name}"), [Axis.inputs([(3, res, res)])]).rows
        assert {k: v for k, v in row.items() if k not in ("width_mult", "depth_mult")} == own


def test_compound_scaling_phi():
    """φ = 0…3 with α = 1.2, β = 1.1, γ = 1.15 from B0: multipliers α^φ and β^φ, resolution 224·1.15^φ to
    the nearest pixel (224, 257.6 → 258, 296.24 → 296, 340.676 → 341). φ = 0 is B0; φ = 1 and 2 round to
    B2's and B3's layers (ceil(n·1.2) = ceil(n·1.2) and ceil(n·1.44) = ceil(n·1.4) for every stage's n = 1,
    2, 3, 4; make_divisible(c·1.21, 8) = make_divisible(c·1.2, 8) for every width) but run at 258 and 296,
    not 260 and 300; φ = 3 (1.728, 1.331) is no torchvision variant (B4 is 1.8, 1.4)."""
    spec = load_model("efficientnet_b0")
    rows = sweep(spec, [Axis.compound("efficientnet", (0, 1, 2, 3))]).rows
    assert [(r["depth_mult"], r["width_mult"], r["input"][1]) for r in rows] == [
        (1.0, 1.0, 224),
        (1.2, 1.1, 258),
        (1.44, 1.21, 296),
        (1.728, 1.331, 341),
    ]
    assert [r["params"] for r in rows[:3]] == [TORCHVISION_B[b][3] for b in ("b0", "b2", "b3")]
    assert rows[0]["macs"] == 385_814_752  # B0: torchvision's _ops 0.386, the paper's 0.39B
    b2 = sweep(load_model("efficientnet_b2"), [Axis.inputs([(3, 258, 258)])]).rows[0]
    assert rows[1]["macs"] == b2["macs"] != sweep(load_model("efficientnet_b2"), []).rows[0]["macs"]


def test_compound_phi_3_against_torchvision():
    pytest.importorskip("torch")
    efficientnet = pytest.importorskip("torchvision.models.efficientnet")
    settings, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=1.331, depth_mult=1.728)
    net = efficientnet.EfficientNet(settings, dropout=0.2, last_channel=last)
    (row,) = sweep(load_model("efficientnet_b0"), [Axis.compound("efficientnet", (3,))]).rows
    assert row["params"] == sum(p.numel() for p in net.parameters())


def test_compound_rule_is_the_papers():
    rule = COMPOUND["efficientnet"]
    assert (float(rule.alpha), float(rule.beta), float(rule.gamma)) == (1.2, 1.1, 1.15)
    assert float(rule.alpha * rule.beta**2 * rule.gamma**2) == pytest.approx(1.92, abs=0.005)  # Eq. 3: ≈ 2


# -- executors ---------------------------------------------------------------------------------
SMALL = ["resnet18", "--set", "depths=[1,1,1,1],[2,1,1,1],[1,1,2,1]", "--set", "width=0.5,1", "--input", "32:64:16"]


def test_worker_processes_equal_the_serial_run(monkeypatch, capsys):
    serial = cli_json(monkeypatch, capsys, "sweep", *SMALL, "-f", "json")
    pooled = cli_json(monkeypatch, capsys, "sweep", *SMALL, "--workers", "2", "-f", "json")
    assert pooled == serial and len(serial["rows"]) == 18


def test_a_dask_cluster_equals_the_serial_run():
    distributed = pytest.importorskip("distributed")
    spec = load_model("resnet18")
    axes = [Axis("depths", ([1, 1, 1, 1], [2, 2, 2, 2])), Axis("width", (0.5, 1)), Axis.inputs([(3, 32, 32)] * 1)]
    serial = sweep(spec, axes)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        seen: list[tuple[int, int]] = []
        remote = sweep(spec, axes, executor=client.get_executor(), chunk=1, progress=lambda d, t: seen.append((d, t)))
    assert remote.rows == serial.rows
    assert sorted(seen) == [(1, 4), (2, 4), (3, 4), (4, 4)]


# -- Pareto fronts -------------------------------------------------------------------------------
def brute_front(rows, metrics):
    def vec(r):
        return [(-1 if mx else 1) * r[m] for m, mx in metrics]

    ok = [i for i, r in enumerate(rows) if all(r.get(m) is not None for m, _ in metrics) and not r.get("error")]
    return [
        i
        for i in ok
        if not any(
            all(a <= b for a, b in zip(vec(rows[j]), vec(rows[i]), strict=True)) and vec(rows[j]) != vec(rows[i])
            for j in ok
        )
    ]


def test_pareto_against_brute_force():
    rng = random.Random(0)
    for trial in range(300):
        n, k = rng.randint(1, 12), rng.randint(1, 3)
        names = ["params", "macs", "depth"][:k]
        rows = [{m: rng.randint(0, 4) for m in names} for _ in range(n)]
        for r in rows:
            if rng.random() < 0.1:
                r["error"] = "failed"
        metrics = [(m, rng.random() < 0.5) for m in names]
        assert pareto(rows, metrics) == brute_front(rows, metrics), (trial, rows, metrics)


def test_pareto_by_hand():
    rows = [
        {"params": 10, "macs": 5},  # 0: front
        {"params": 5, "macs": 10},  # 1: front
        {"params": 10, "macs": 10},  # 2: dominated by 0 and 1
        {"params": 5, "macs": 10},  # 3: equal to 1: on the front too
        {"params": 1, "macs": 20, "error": "x"},  # 4: failed, out
    ]
    assert pareto(rows, ["params", "macs"]) == [0, 1, 3]
    assert pareto(rows, ["params", "max:macs"]) == [1, 3]  # (5, 10) beats (10, 10) and (10, 5)
    assert pareto(rows, [("macs", True)]) == [1, 2, 3]


def test_pareto_in_the_cli(monkeypatch, capsys):
    doc = cli_json(monkeypatch, capsys, "sweep", *SMALL, "--pareto", "macs,max:input", "-f", "json")
    rows = doc["rows"]
    front = [i for i, r in enumerate(rows) if r["pareto"]]
    pixels = [{"macs": r["macs"], "input": r["input"][1] * r["input"][2]} for r in rows]
    assert front == brute_front(pixels, [("macs", False), ("input", True)]) and doc["front"] == front
    code, out, _ = run_cli(monkeypatch, capsys, "sweep", *SMALL, "--pareto", "macs,max:input", "-f", "csv")
    header, *lines = out.splitlines()
    assert code == 0 and header.split(",")[-1] == "pareto" and len(lines) == 18
    assert [line.endswith("True") for line in lines] == [r["pareto"] for r in rows]


# -- output --------------------------------------------------------------------------------------
def test_rich_and_markdown_are_human_csv_is_raw(monkeypatch, capsys):
    args = ["sweep", "resnet18", "--set", "width=0.5,1", "--input", "224"]
    code, out, _ = run_cli(monkeypatch, capsys, *args, "-f", "markdown")
    assert code == 0 and "| 11.69M |" in out and "| 1.814G |" in out and "435×435 at conv5_x.1.relu2" in out
    code, out, _ = run_cli(monkeypatch, capsys, *args, "-f", "csv")
    header, _, second = out.splitlines()
    row = dict(zip(header.split(","), second.split(","), strict=True))
    assert row["params"] == "11689512" and row["macs"] == "1814073344" and row["rf_h"] == "435"


def test_plot(monkeypatch, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "front.png"
    code, _, err = run_cli(monkeypatch, capsys, "sweep", *SMALL, "--pareto", "params,macs", "--plot", str(out))
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {out}" in err


def test_plot_without_matplotlib(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, _, err = run_cli(monkeypatch, capsys, "sweep", "resnet18", "--plot", str(tmp_path / "x.png"))
    assert (code, err) == (2, "error: --plot needs matplotlib (expected pip install 'cnncost[plot]')\n")


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "dept=1,2"],
            "error: --set dept: resnet18 has no parameter 'dept' (expected did you mean depths? params: block, "
            "depths, stride_at, classes, width, width_per_group)",
        ),
        (
            ["--set", "depths=3,[1,1,1,1]"],
            "error: --set depths=3: a number where the param is a list of numbers (expected a list of numbers "
            "like resnet18's depths: [2, 2, 2, 2])",
        ),
        (
            ["--set", "depths=[1,x,1,1]"],
            'error: --set depths=[1, "x", 1, 1]: item 1 ("x"): text where the param is a number (expected a list '
            "of numbers like resnet18's depths: [2, 2, 2, 2])",
        ),
        (
            ["--set", "block=1"],
            'error: --set block=1: a number where the param is text (expected text like resnet18\'s block: "basic")',
        ),
        (["--set", "depths="], "error: --set depths: an empty value in '' (expected V1,V2,... with no empty value)"),
        (
            ["--set", "width=1,,2"],
            "error: --set width: an empty value in '1,,2' (expected V1,V2,... with no empty value)",
        ),
        (
            ["--set", "depths"],
            "error: --set 'depths' (expected KEY=V1,V2,... with YAML values or a range start:stop:step: "
            "--set depths=[2,2,2,2],[3,4,6,3])",
        ),
        (
            ["--input", "5:1:1"],
            "error: --input: bad range '5:1:1' (expected start:stop:step with start ≤ stop and step > 0, e.g. "
            "128:320:32)",
        ),
        (
            ["--set", "classes=1:10:0"],
            "error: --set classes: bad range '1:10:0' (expected start:stop:step with start ≤ stop and step > 0, "
            "e.g. 128:320:32)",
        ),
        (
            ["--set", "classes=1:2000", "--input", "32:64:4"],
            "error: a grid of 18,000 variants: over the limit of 10,000 variants in one sweep (expected fewer "
            "values, --sample N, or CNNCOST_MAX_SWEEP=N to raise the limit)",
        ),
        (
            ["--set", "classes=1:20000"],
            "error: --set classes: range '1:20000' has 20,000 values: over the limit of 10,000 variants in one "
            "sweep (expected fewer values, --sample N, or CNNCOST_MAX_SWEEP=N to raise the limit)",
        ),
        (
            ["--set", "width=1,2", "--pareto", "macs,speed"],
            "error: unknown --pareto metric 'speed' (expected NAME or max:NAME, NAME one of params, macs, "
            "activations, peak_inference_bytes, inference_total_bytes, training_total_bytes, depth, rf, input, "
            "batch, width)",
        ),
        (["--pareto", "avg:macs"], "error: unknown --pareto metric 'avg:macs'"),
        (["--batch", "0"], "error: bad --batch '0' (expected a positive integer, or an axis such as 1,8,32)"),
        (["--batch", "1,x"], "error: bad --batch value 'x' (expected positive integers such as 1,8,32 or 1:64:8)"),
        (["--sample", "0"], "error: --sample 0 (expected a positive number of variants)"),
        (
            ["--scale", "efficientnet:phi=0,1"],
            "error: --scale efficientnet scales params depth_mult and width_mult; resnet18 has no depth_mult or "
            "width_mult (expected a model with both (efficientnet_b0 … b7))",
        ),
        (["--scale", "pnasnet:phi=1"], "error: unknown --scale rule 'pnasnet' (expected efficientnet)"),
        (
            ["--scale", "efficientnet"],
            "error: --scale 'efficientnet' (expected RULE:phi=VALUES, e.g. efficientnet:phi=0:3:1)",
        ),
        (["--plot", "x.gif"], "error: unknown image format .gif (expected FILE.png, FILE.svg or FILE.pdf)"),
    ],
)
def test_bad_input_is_one_line_exit_2(monkeypatch, capsys, args, message):
    code, out, err = run_cli(monkeypatch, capsys, "sweep", "resnet18", *args)
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, err


def test_compound_and_its_params_are_not_swept_twice(monkeypatch, capsys):
    code, _, err = run_cli(
        monkeypatch, capsys, "sweep", "efficientnet_b0", "--scale", "efficientnet:phi=0,1", "-i", "224"
    )
    assert code == 2 and err == (
        "error: --scale efficientnet sets depth, width and resolution; input is also swept (expected --scale "
        "without --input, --set depth_mult or --set width_mult)\n"
    )


def test_the_limit_can_be_raised(monkeypatch):
    monkeypatch.setenv("CNNCOST_MAX_SWEEP", "3")
    with pytest.raises(SpecError, match="a grid of 4 variants: over the limit of 3"):
        sweep(load_model("resnet18"), [Axis("classes", (1, 2, 3, 4))])
    monkeypatch.setenv("CNNCOST_MAX_SWEEP", "4")
    assert len(sweep(load_model("resnet18"), [Axis("classes", (1, 2, 3, 4))]).rows) == 4


# -- bench --set -----------------------------------------------------------------------------------
def test_bench_set_reaches_the_spec(monkeypatch, capsys):
    pytest.importorskip("torch")
    code, _, err = run_cli(monkeypatch, capsys, "bench", "resnet18", "--set", "classes=ten")
    assert code == 2 and err.startswith('error: --set classes="ten": text where the param is a number')


@pytest.mark.slow
def test_bench_set_runs_the_overridden_model(monkeypatch, capsys):
    pytest.importorskip("torch")
    args = ["--set", "classes=3", "--input", "32", "--warmup", "0", "--min-time", "0.01", "-f", "json"]
    doc = cli_json(monkeypatch, capsys, "bench", "resnet18", *args)
    assert [r["model"] for r in doc["results"]] == ["resnet18 [classes=3]"]


def test_batch_axis_scales_operations_not_params(monkeypatch, capsys):
    doc = cli_json(monkeypatch, capsys, "sweep", "resnet18", "--input", "64", "--batch", "1:7:3", "-f", "json")
    one, *rest = doc["rows"]
    assert [r["batch"] for r in doc["rows"]] == [1, 4, 7]
    for r in rest:
        assert r["params"] == one["params"] and r["macs"] == r["batch"] * one["macs"]
        assert r["activations"] == r["batch"] * one["activations"]
    code, out, _ = run_cli(monkeypatch, capsys, "sweep", "resnet18", "--input", "64", "--batch", "1,4", "-f", "csv")
    header = out.splitlines()[0].split(",")
    assert code == 0 and len(header) == len(set(header)) and header.count("batch") == 1


def test_an_axis_named_like_a_figure_gets_its_own_column():
    """DenseNet's `depth` param is the paper's L (conv + fc layers), the same count as the `depth` figure:
    Table 2 has DenseNet (L = 40, k = 12) at 1.0M params and (L = 100, k = 12) at 7.0M."""
    rows = sweep(load_model("densenet40_k12"), [Axis("depth", (40, 100))]).rows
    assert [(r["set.depth"], r["depth"]) for r in rows] == [(40, 40), (100, 100)]
    assert [round(r["params"] / 1e6, 1) for r in rows] == [1.0, 7.0]
