"""``cnncost plot`` and ``cnncost.plot``: what each chart draws, read back from matplotlib's objects.

The values are checked against numbers from outside the chart code: the lecture's VGG-16 profile,
torchvision's metadata (params, GFLOPS), the receptive-field docs, a hand count of live memory, and the
saved bench JSON itself.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PathCollection
from matplotlib.text import Annotation, Text

from cnncost import analyze
from cnncost.analysis.memory import memory
from cnncost.analysis.receptive import row_fields
from cnncost.errors import SpecError
from cnncost.plot import (
    accuracy_figure,
    bench_figure,
    compare_figure,
    layers_figure,
    memory_figure,
    published_models,
    rf_figure,
    save,
    svg,
)
from tests.test_hostile_input import run_cli

MIB = 2**20


def bars(ax) -> list[float]:
    return [float(p.get_height()) for c in ax.containers for p in c]


def line(ax, label_start: str):
    (found,) = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    return found


@pytest.fixture(scope="module")
def vgg16():
    return analyze("vgg16")


# -- layers ------------------------------------------------------------------------------------
def test_layers_vgg16_profile_is_the_lectures(vgg16):
    fig = layers_figure(vgg16)
    params_ax, ops_ax, act_ax = fig.axes
    rows = vgg16.collapsed(None)
    names = [t.get_text() for t in act_ax.get_xticklabels()]
    assert names == [r.name for r in rows] and names[0] == "input"  # every row table prints
    assert bars(params_ax) == [r.params for r in rows]
    assert bars(ops_ax) == [r.macs for r in rows]
    assert bars(act_ax) == [r.activations * 4 / MIB for r in rows]
    # the lecture: conv1_2's output is 224·224·64 elements (the largest), fc6 holds 25088·4096 + 4096 params
    assert max(bars(act_ax)) == bars(act_ax)[names.index("stage1.1.conv1")] == 224 * 224 * 64 * 4 / MIB == 12.25
    assert max(bars(params_ax)) == bars(params_ax)[names.index("fc6")] == 25088 * 4096 + 4096 == 102_764_544
    assert sum(bars(params_ax)) == 138_357_544  # torchvision's vgg16 num_params
    assert round(sum(bars(ops_ax)) / 1e9, 2) == 15.47  # torchvision's vgg16 _ops (GFLOPS, i.e. GMACs)
    assert params_ax.get_ylabel().startswith("params")
    assert ops_ax.get_ylabel() == "operations:\nMACs (conv+linear)"
    assert act_ax.get_ylabel() == "activations\n(MiB, fp32)"
    assert "vgg16 — input 3×224×224, batch 1" in fig._suptitle.get_text()
    assert fig.get_label() == f"layers: {len(rows)} bars per axis"


def test_layers_by_group_and_convention(vgg16):
    fig = layers_figure(vgg16, depth=1, convention="flops", dtype_bytes=2)
    params_ax, ops_ax, act_ax = fig.axes
    groups = vgg16.collapsed(1)
    assert [t.get_text() for t in act_ax.get_xticklabels()] == [r.name for r in groups]
    assert bars(params_ax) == [r.params for r in groups]
    assert bars(ops_ax) == [2 * r.macs for r in groups]
    assert "FLOPs (2×MACs, conv+linear)" in ops_ax.get_ylabel()
    assert act_ax.get_ylabel() == "activations\n(MiB, 16-bit)"
    # stage1: conv1_1's and conv1_2's 64×224×224 outputs and the pool's 64×112×112 (ReLU in place), 2 bytes each
    assert bars(act_ax)[1] == (2 * 64 * 224 * 224 + 64 * 112 * 112) * 2 / MIB


# -- memory ------------------------------------------------------------------------------------
def test_memory_peak_is_named_and_at_its_height(vgg16):
    fig = memory_figure(vgg16)
    inf_ax, _ = fig.axes
    m = memory(vgg16)
    (ann,) = [t for t in inf_ax.texts if isinstance(t, Annotation)]
    assert ann.get_text() == m.peak_at == "stage1.1.conv1"
    # conv1_2 running: its 64×224×224 input and output live together, 4 bytes each
    assert ann.xy[1] == m.peak_inference_bytes / MIB == 2 * 64 * 224 * 224 * 4 / MIB == 24.5
    live = line(inf_ax, "live activations")
    assert max(live.get_ydata()) == ann.xy[1]
    assert "MiB, fp32" in inf_ax.get_ylabel()


def test_memory_training_line_holds_state_then_saved(vgg16):
    a = analyze("resnet50")
    m = memory(a)
    fig = memory_figure(a, optimizer="adam")
    train_ax = fig.axes[1]
    held = line(train_ax, "+ saved for backward").get_ydata()
    # torchvision resnet50: 25,557,032 params; 53,120 BN running-stat elements, 53 int64 counters; Adam: m and v
    state = 25_557_032 * 4 * (1 + 1 + 2) + 53_120 * 4 + 53 * 8
    assert held[0] * MIB == state
    assert held[-1] * MIB == state + m.saved_activation_bytes
    assert all(b >= a for a, b in itertools.pairwise(held))  # saved tensors only accumulate in a forward pass
    assert "Adam state" in line(train_ax, "params + buffers").get_label()


# -- receptive field ---------------------------------------------------------------------------
def test_rf_vgg16_grows_as_the_docs_say(vgg16):
    fig = rf_figure(vgg16)
    (ax,) = fig.axes
    ys = list(line(ax, "field: rows").get_ydata())
    fields = row_fields(vgg16, list(vgg16.layers))
    finite = [y for y in ys if y == y]  # NaN where the field is the whole input
    assert finite == [f.size[0] for f in fields if not f.whole]
    growth = [int(y) for y, _ in itertools.groupby(finite)]
    assert growth[1:] == [3, 5, 6, 10, 14, 16, 24, 32, 40, 44, 60, 76, 92, 100, 132, 164, 196, 212]  # docs
    assert [ln.get_label() for ln in ax.get_lines()][:2] == ["field: rows (h)", "input h = 224"]
    assert list(line(ax, "input h").get_ydata()) == [224, 224]
    whole = line(ax, "whole input")
    names = [vgg16.layers[int(x)].name for x in whole.get_xdata()]
    assert names == ["flatten1", "fc6", "relu1", "dropout1", "fc7", "relu2", "dropout2", "fc8"]
    assert whole.get_transform() != ax.transData  # drawn along the top edge, at no field size
    assert all(ys[int(x)] != ys[int(x)] for x in whole.get_xdata())  # and no finite point of the field line
    assert ax.get_ylabel() == "receptive field (input pixels)"


def test_rf_draws_columns_where_they_differ(write_spec):
    path = write_spec(
        "input: [1, 16, 32]\nlayers:\n  - conv: {out: 2, k: [3, 5]}\n  - conv: {out: 2, k: [3, 7], stride: [1, 2]}\n"
    )
    a = analyze(str(path))
    (ax,) = rf_figure(a).axes
    assert list(line(ax, "field: rows").get_ydata()) == [1, 3, 5]
    assert list(line(ax, "field: columns").get_ydata()) == [1, 5, 11]
    assert list(line(ax, "input w").get_ydata()) == [32, 32]


# -- compare -----------------------------------------------------------------------------------
def test_compare_stages_sum_to_torchvisions_totals():
    a, b = analyze("resnet50"), analyze("resnext50_32x4d")
    fig = compare_figure([a, b])
    ops_ax, params_ax = fig.axes
    n = len(params_ax.get_xticks())
    assert [len(c) for c in params_ax.containers] == [n, n] == [6, 6]  # conv1, conv2_x … conv5_x, fc: the paper's rows
    heights = [[float(p.get_height()) for p in c] for c in params_ax.containers]
    assert [sum(h) for h in heights] == [25_557_032, 25_028_904]  # torchvision num_params
    ops = [[float(p.get_height()) for p in c] for c in ops_ax.containers]
    assert [round(sum(o) / 1e9, 2) for o in ops] == [4.09, 4.23]  # torchvision _ops (GFLOPS = GMACs)
    assert heights[0] == [r.params for r in a.collapsed(1) if r.params or r.macs]
    assert [c.get_label() for c in ops_ax.containers] == ["resnet50", "resnext50_32x4d"]
    assert params_ax.get_xticklabels()[1].get_text() == "conv2_x / conv2"  # named differently: side by side
    assert "MACs (conv+linear)" in ops_ax.get_ylabel()


def test_compare_needs_two_models(vgg16):
    with pytest.raises(SpecError, match="two or more different models"):
        compare_figure([vgg16, vgg16])


# -- accuracy ----------------------------------------------------------------------------------
def scatter_points(ax) -> list[tuple[str, float, float, float]]:
    """(family, x, y, bubble area) of every plotted model."""
    return [
        (c.get_label(), float(x), float(y), float(s))
        for c in ax.collections
        if isinstance(c, PathCollection) and not c.get_label().startswith("_")
        for (x, y), s in zip(c.get_offsets(), itertools.cycle(c.get_sizes()), strict=False)
    ]


def assert_labels_apart(fig) -> int:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    n = 0
    for ax in fig.axes:
        boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]
        frame = ax.get_window_extent(renderer)
        for one, other in itertools.combinations(boxes, 2):
            assert not one.overlaps(other)
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
        n += len(boxes)
    return n


CROWD = [
    "alexnet",
    "vgg11",
    "vgg16",
    "vgg19",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "densenet121",
    "densenet169",
    "densenet201",
    "densenet161",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "shufflenet_v2_x1_0",
    "squeezenet1_0",
    "squeezenet1_1",
    "efficientnet_b0",
    "efficientnet_b3",
    "regnet_y_400mf",
    "regnet_x_1_6gf",
    "wide_resnet50_2",
    "convnext_tiny",
]
"""27 zoo models with a published top-1 (torchvision's and the papers'), crowded around 1–10 GMACs."""


def test_accuracy_points_are_ops_and_published_accuracy():
    models = ["resnet50", "resnext50_32x4d", "vgg16", "alexnet"]
    analyses = [analyze(n) for n in models]
    fig = accuracy_figure(analyses)
    (ax,) = fig.axes
    points = scatter_points(ax)
    assert len(points) == 4
    by_x = {x: (fam, y, s) for fam, x, y, s in points}
    resnet50 = by_x[4_089_184_256]  # torchvision's resnet50 4.09 GFLOPS (MACs) at 224×224
    assert resnet50[0] == "resnet"
    assert resnet50[1] == 100 - analyses[0].model.accuracy["top1_error"]
    areas = {a.model.name: by_x[a.totals.macs][2] for a in analyses}
    ratio = areas["vgg16"] / 138_357_544
    assert areas["resnet50"] == pytest.approx(ratio * 25_557_032) and areas["alexnet"] == pytest.approx(
        ratio * 61_100_840
    )  # area ∝ params (torchvision's num_params)
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "operations per image: MACs (conv+linear), log scale"
    assert ax.get_ylabel() == "top-1 accuracy (%), published"
    assert sorted(t.get_text() for t in ax.texts) == sorted(models)
    assert assert_labels_apart(fig) == 4


def test_accuracy_leaves_out_models_without_one_and_says_so():
    with pytest.warns(UserWarning, match="no published top-1 accuracy for lenet5: left out"):
        fig = accuracy_figure([analyze("lenet5"), analyze("resnet50")])
    assert len(scatter_points(fig.axes[0])) == 1
    with pytest.raises(SpecError, match="no published top-1 accuracy for lenet5"):
        accuracy_figure([analyze("lenet5")])


def test_accuracy_labels_do_not_collide_in_a_crowd():
    analyses = [analyze(n) for n in CROWD]
    fig = accuracy_figure(analyses)
    assert len(scatter_points(fig.axes[0])) == len(CROWD) == assert_labels_apart(fig)


@pytest.mark.slow
def test_accuracy_labels_do_not_collide_for_the_zoo():
    """Every zoo model with a published top-1, in one chart: no label overlaps another or leaves the axes."""
    published = [analyze(n) for n in published_models()]
    assert {"vgg16", "resnet50", "alexnet"} <= {a.model.name for a in published}
    for style in ("canziani", "densenet"):
        fig = accuracy_figure(published, style=style)
        assert assert_labels_apart(fig) == len(published) * len(fig.axes)
    assert fig.get_label() == f"accuracy: {len(published)} points per axis"


def test_accuracy_densenet_style_is_error_against_params_and_ops():
    subset = [analyze(n) for n in CROWD if n.startswith(("resnet", "densenet"))]
    fig = accuracy_figure(subset, convention="flops", style="densenet")
    params_ax, ops_ax = fig.axes
    for ax, x_of in ((params_ax, lambda a: a.totals.params), (ops_ax, lambda a: 2 * a.totals.macs)):
        drawn = {(x, y) for ln in ax.get_lines() for x, y in zip(ln.get_xdata(), ln.get_ydata(), strict=True)}
        assert drawn == {(x_of(a), a.model.accuracy["top1_error"]) for a in subset}
    assert [ln.get_label() for ln in params_ax.get_lines()] == ["resnet", "densenet"]  # one line per family
    assert params_ax.get_ylabel() == "top-1 error (%), published"
    assert ops_ax.get_xlabel() == "operations per image: FLOPs (2×MACs, conv+linear)"
    assert assert_labels_apart(fig) == 2 * len(subset) == 2 * 9
    with pytest.raises(SpecError, match="unknown style 'pie'"):
        accuracy_figure(subset, style="pie")


# -- bench -------------------------------------------------------------------------------------
def bench_doc(dtype: str, rows: list[tuple[int, float, float, float]], status: str = "ok") -> dict:
    """A ``cnncost bench --save`` document's shape (fields as cnncost.torch.bench writes them)."""
    results = [
        {"model": "resnet18", "impl": "spec", "device": "cuda", "device_name": "H200", "dtype": dtype,
         "mode": "inference", "batch": b, "channels_last": False, "compile": False, "threads": 1, "status": status,
         "median_ms": med, "p10_ms": p10, "p90_ms": p90, "samples_per_s": b / med * 1000}
        for b, med, p10, p90 in rows
    ]  # fmt: skip
    return {"command": "cnncost bench", "environment": {"device_name": "H200"}, "config": {}, "results": results}


def test_bench_points_are_the_documents_numbers():
    fp32 = bench_doc("fp32", [(1, 2.0, 1.9, 2.2), (8, 6.0, 5.5, 7.0)])
    bf16 = bench_doc("bf16", [(1, 1.5, 1.4, 1.7), (8, 3.0, 2.9, 3.3)])
    bf16["results"].append({**bf16["results"][0], "batch": 64, "status": "oom"})
    fig = bench_figure([fp32, bf16])
    lat_ax, thr_ax = fig.axes
    assert [ln.get_label() for ln in thr_ax.get_lines()] == ["resnet18 fp32", "resnet18 bf16"]
    for ln, doc in zip(thr_ax.get_lines(), (fp32, bf16), strict=True):
        ok = [r for r in doc["results"] if r["status"] == "ok"]  # the OOM batch has no point
        assert list(ln.get_xdata()) == [r["batch"] for r in ok]
        assert list(ln.get_ydata()) == [r["samples_per_s"] for r in ok]
    medians = [list(c.lines[0].get_ydata()) for c in lat_ax.containers]
    assert medians == [[2.0, 6.0], [1.5, 3.0]]
    _, _, (bar_lines,) = lat_ax.containers[0].lines
    low, high = bar_lines.get_segments()[0]
    assert (low[1], high[1]) == (1.9, 2.2)  # p10–p90 bar of batch 1
    assert "latency (ms" in lat_ax.get_ylabel() and "images/s" in thr_ax.get_ylabel()
    assert fig.get_label() == "bench: 4 points on 2 lines"
    with pytest.raises(SpecError, match="not a cnncost bench document"):
        bench_figure({"results": "no"})


@pytest.mark.slow
def test_bench_of_a_real_run(monkeypatch, capsys, tmp_path):
    pytest.importorskip("torch")
    saved, image = tmp_path / "b.json", tmp_path / "b.png"
    args = ["bench", "lenet5", "--batch", "1,4", "--min-time", "0.02", "--warmup", "1", "--save", str(saved)]
    assert run_cli(monkeypatch, capsys, *args)[0] == 0
    doc = json.loads(saved.read_text())
    (ln,) = bench_figure(doc).axes[1].get_lines()
    assert list(ln.get_ydata()) == [r["samples_per_s"] for r in doc["results"]]
    assert run_cli(monkeypatch, capsys, "plot", "bench", str(saved), "-o", str(image))[0] == 0


# -- saving ------------------------------------------------------------------------------------
def test_svg_is_self_contained_xml(vgg16):
    text = svg(rf_figure(vgg16))
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    hrefs = [v for el in root.iter() for k, v in el.attrib.items() if k.endswith("href")]
    assert hrefs and all(h.startswith("#") for h in hrefs)  # glyphs and markers are <use> of local defs
    assert "<dc:date>" not in text  # reproducible: no creation date


def test_save_formats_and_errors(vgg16, tmp_path):
    fig = rf_figure(vgg16)
    for suffix, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")):
        save(fig, tmp_path / f"x.{suffix}")
        assert (tmp_path / f"x.{suffix}").read_bytes().startswith(magic)
    with pytest.raises(SpecError, match=r"unknown image format \.jpg \(expected FILE.png, FILE.svg or FILE.pdf\)"):
        save(fig, tmp_path / "x.jpg")
    with pytest.raises(SpecError, match=r"cannot write .*: No such file or directory"):
        save(fig, tmp_path / "missing" / "x.png")


def test_figures_build_in_threads():
    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(lambda n: svg(rf_figure(analyze(n))), ["lenet5", "alexnet"]))
    assert all(ET.fromstring(t).tag.endswith("svg") for t in texts)


# -- the command -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "summary"),
    [
        (["layers", "vgg16", "--depth", "1"], "layers: 15 bars per axis"),
        (["memory", "lenet5", "--dtype", "fp16"], "memory: "),
        (["compare", "resnet18", "resnet34"], "compare: 6 stages × 2 models"),
        (["rf", "alexnet"], "rf: "),
        (["accuracy", "resnet50", "vgg16"], "accuracy: 2 points"),
    ],
)
def test_cli_writes_each_kind(monkeypatch, capsys, tmp_path, args, summary):
    out = tmp_path / f"{args[0]}.svg"
    code, stdout, err = run_cli(monkeypatch, capsys, "plot", *args, "-o", str(out))
    assert code == 0, err
    assert err.startswith(f"wrote {out} ({summary}") and stdout == ""
    assert ET.fromstring(out.read_text()).tag.endswith("svg")


def test_cli_bench_and_set(monkeypatch, capsys, tmp_path):
    doc = tmp_path / "b.json"
    doc.write_text(json.dumps(bench_doc("fp32", [(1, 2.0, 1.9, 2.2), (4, 5.0, 4.0, 6.0)])))
    code, _, err = run_cli(monkeypatch, capsys, "plot", "bench", str(doc), "-o", str(tmp_path / "b.png"))
    assert (code, err) == (0, f"wrote {tmp_path / 'b.png'} (bench: 2 points on 1 lines)\n")
    assert (tmp_path / "b.png").read_bytes().startswith(b"\x89PNG")
    code, _, err = run_cli(
        monkeypatch, capsys, "plot", "layers", "resnet18", "--set", "depths=[1,1,1,1]", "-o", str(tmp_path / "l.png")
    )
    rows = len(analyze("resnet18", params={"depths": [1, 1, 1, 1]}).layers)
    assert (code, err) == (0, f"wrote {tmp_path / 'l.png'} (layers: {rows} bars per axis)\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["pie", "vgg16", "-o", "x.png"],
            "unknown plot kind 'pie' (expected accuracy | layers | memory | compare | rf",
        ),
        (["layers", "vgg16"], "cnncost plot needs -o FILE (expected -o FILE.png, FILE.svg or FILE.pdf)"),
        (["layers", "vgg16", "-o", "x.jpg"], "unknown image format .jpg (expected FILE.png, FILE.svg or FILE.pdf)"),
        (["layers", "vgg16", "-o", "x"], "cannot tell the image format of 'x' (expected FILE.png"),
        (["layers", "-o", "x.png"], "plot layers got 0 argument(s) (expected cnncost plot layers MODEL: params"),
        (["compare", "vgg16", "-o", "x.png"], "plot compare got 1 argument(s)"),
        (["layers", "vgg16", "-c", "gops", "-o", "x.png"], "unknown --convention 'gops'"),
        (["memory", "vgg16", "--optimizer", "lion", "-o", "x.png"], "unknown optimizer 'lion'"),
        (["accuracy", "lenet5", "-o", "x.png"], "no published top-1 accuracy for lenet5"),
        (["bench", "nofile.json", "-o", "x.png"], "cannot read 'nofile.json': No such file or directory"),
        (["layers", "nosuchnet", "-o", "x.png"], "unknown model 'nosuchnet'"),
        (["rf", "vgg16", "-o", "/nonexistent-dir/x.png"], "cannot write '/nonexistent-dir/x.png': No such file"),
    ],
)
def test_cli_errors_are_one_line(monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(monkeypatch, capsys, "plot", *args)
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("error: " + message), err
    assert not (tmp_path / "x.png").exists()


def test_cli_bench_file_not_json(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text("{nope")
    code, _, err = run_cli(monkeypatch, capsys, "plot", "bench", str(bad), "-o", str(tmp_path / "b.png"))
    assert code == 2 and err.startswith(f"error: {bad} is not JSON: ") and err.count("\n") == 1


SCRIPT = """
import sys
{block}
from cnncost.cli import main
sys.argv = ["cnncost", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    print("EXIT", exc.code, "MATPLOTLIB", "matplotlib" in sys.modules, file=sys.stderr)
"""


def run_script(*args: str, block: str = "") -> subprocess.CompletedProcess[str]:
    code = SCRIPT.format(block=block)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)


def test_without_matplotlib_plot_is_a_one_line_error_and_table_never_imports_it(tmp_path):
    r = run_script("plot", "rf", "vgg16", "-o", str(tmp_path / "x.png"), block="sys.modules['matplotlib'] = None")
    assert r.stderr == (
        "error: cnncost plot needs matplotlib (expected pip install 'cnncost[plot]')\nEXIT 2 MATPLOTLIB True\n"
    )  # True: the None placed above, the import refused
    r = run_script("table", "vgg16", "-f", "json")
    assert r.stderr == "EXIT 0 MATPLOTLIB False\n"
    assert json.loads(r.stdout)["totals"]["params"] == 138_357_544
