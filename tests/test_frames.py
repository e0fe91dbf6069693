"""DataFrames of memory, compare and bench results: each frame is its command's ``--format csv`` table
(columns and values, as ``pandas.read_csv`` reads the CLI's output), and a few values are checked
against numbers from outside the code (torchvision's parameter count, first-principles arithmetic)."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from cnncost import analyze
from cnncost.analysis.memory import memory
from cnncost.cli import app
from cnncost.report.frame import bench_frame, compare_frame, memory_frame, stages_frame

pd = pytest.importorskip("pandas")
runner = CliRunner()

RESNET50_PARAMS = 25_557_032
"""torchvision's ResNet50_Weights.IMAGENET1K_V1 metadata, num_params."""
LENET5_PARAMS = 6 * (25 + 1) + 16 * (6 * 25 + 1) + 120 * (16 * 25 + 1) + 84 * (120 + 1) + 10 * (84 + 1)
LENET5_MACS = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 120 * 400 + 84 * 120 + 10 * 84
"""LeNet-5 (full C3): c1, c3, c5 conv 5×5, f6 and the output layer."""


def cli_csv(*args: str) -> str:
    r = runner.invoke(app, [*args, "--format", "csv"])
    assert r.exit_code == 0, r.output
    return r.stdout


def same(frame: pd.DataFrame, csv: str) -> None:
    """``frame`` is ``pandas.read_csv`` of ``csv``: the same columns in the same order, the same values (the
    reader told which columns are text, so CUDA "13.0" stays a string); an empty cell is the frame's None/""."""
    text = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str)).any()]
    read = pd.read_csv(io.StringIO(csv), dtype=dict.fromkeys(text, str))
    assert list(frame.columns) == list(read.columns)
    blank = frame.isna() | frame.map(lambda v: v == "")
    assert (blank == read.isna()).all().all()
    pd.testing.assert_frame_equal(frame.mask(blank), read.mask(blank), check_dtype=False)


def items(*names: str, **kw) -> list:
    return [(a, memory(a, **kw)) for a in map(analyze, names)]


def test_memory_frame_is_the_memory_csv():
    models = [(a.model.name, m) for a, m in items("resnet50", "lenet5")]
    frame = memory_frame(models)
    same(frame, cli_csv("memory", "resnet50", "lenet5"))
    r50 = frame.set_index("model").loc["resnet50"]
    assert r50["param_bytes"] == 4 * RESNET50_PARAMS == 102_228_128  # fp32
    assert r50["gradient_bytes"] == r50["optimizer_bytes"] == 102_228_128  # one gradient, one momentum each
    assert r50["training_total_bytes"] == (3 * 102_228_128 + r50["buffer_bytes"] + r50["saved_activation_bytes"])
    assert frame["param_bytes"].dtype.kind == "i"  # exact integers, not floats


def test_memory_frame_with_options():
    models = [(a.model.name, m) for a, m in items("lenet5", dtype_bytes=2, optimizer="adam")]
    frame = memory_frame(models)
    same(frame, cli_csv("memory", "lenet5", "--dtype", "fp16", "--optimizer", "adam"))
    assert frame.loc[0, "param_bytes"] == 2 * LENET5_PARAMS and frame.loc[0, "optimizer_bytes"] == 2 * 2 * LENET5_PARAMS


def test_compare_frame_is_the_compare_csv():
    pairs = items("resnet50", "lenet5")
    frame = compare_frame(pairs, "flops")
    same(frame, cli_csv("compare", "resnet50", "lenet5", "--convention", "flops"))
    lenet = frame.set_index("model").loc["lenet5"]
    assert lenet["params"] == LENET5_PARAMS == 61_706 and lenet["count"] == 2 * LENET5_MACS == 833_040
    assert frame.set_index("model").loc["resnet50", "params"] == RESNET50_PARAMS


def test_stages_frame_is_the_compare_json_stages():
    pairs = items("resnet50", "lenet5")
    frame = stages_frame(pairs)
    r = runner.invoke(app, ["compare", "resnet50", "lenet5", "--format", "json"])
    assert frame.to_dict("records") == json.loads(r.stdout)["stages"]
    r50 = frame[frame.model == "resnet50"].set_index("stage")
    # conv4_x (v1.5: stride on the 3×3): block 0 reads 512×28×28, blocks 1-5 1024×14×14
    block0 = 28 * 28 * 512 * 256 + 14 * 14 * 256 * 256 * 9 + 14 * 14 * 256 * 1024 + 14 * 14 * 512 * 1024
    later = 14 * 14 * 1024 * 256 + 14 * 14 * 256 * 256 * 9 + 14 * 14 * 256 * 1024
    assert r50.loc["conv4_x", "count"] == block0 + 5 * later == 1_464_336_384
    assert r50["count"].sum() == 4_089_184_256  # every MAC is in a stage
    assert r50["params"].sum() == RESNET50_PARAMS
    assert list(frame[frame.model == "lenet5"].stage) == ["c1", "c3", "c5", "f6", "output"]


# -- bench ---------------------------------------------------------------------------------------
FAST = ("--min-time", "0.02", "--warmup", "1", "--threads", "1")


@pytest.fixture
def fixed_roof(monkeypatch):
    """The device peak is not what these tests are about (measuring it takes seconds)."""
    pytest.importorskip("torch")
    from cnncost.analysis.roofline import Roof
    from cnncost.torch import bench as benchmod

    monkeypatch.setattr(benchmod, "device_roof", lambda cfg: Roof(50e9, "fixed", "tests", 10e9, "tests"))


@pytest.mark.slow  # imports torch and times two batch sizes
def test_bench_frame_from_the_saved_document_is_the_bench_csv(fixed_roof, tmp_path):
    saved = tmp_path / "bench.json"
    csv = cli_csv("bench", "lenet5", "--batch", "1,2", *FAST, "--save", str(saved))  # one run: CSV and JSON
    for source in (saved, str(saved), json.loads(saved.read_text())):
        same(bench_frame(source), csv)
    frame = bench_frame(saved)
    assert list(frame.batch) == [1, 2]
    assert list(frame.macs_per_sample) == [LENET5_MACS] * 2 and list(frame.params) == [LENET5_PARAMS] * 2
    assert list(frame.macs_per_step) == [LENET5_MACS, 2 * LENET5_MACS]


@pytest.mark.slow
def test_bench_frame_from_a_bench_run(fixed_roof):
    from cnncost.report.bench import bench_report
    from cnncost.report.sink import render
    from cnncost.spec.catalog import load_model
    from cnncost.torch.bench import BenchConfig, bench

    run = bench([load_model("lenet5")], BenchConfig(batches=(1,), warmup=1, min_time=0.02, threads=1))
    out = io.StringIO()
    render(bench_report(run, raw=True), "csv", out)  # what `cnncost bench --format csv` prints
    same(bench_frame(run), out.getvalue())
    assert bench_frame(run).loc[0, "status"] == "ok"
