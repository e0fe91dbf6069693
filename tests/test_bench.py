"""``cnncost bench``: the sweep, its documented fields, consistency, OOM handling, user errors.

CPU only, tiny models (lenet5, lecture_conv), one thread, ``--min-time 0.05 --warmup 1``. The
device peak (a 2048² matmul and a 128 MiB copy) is replaced by a fixed ``Roof`` except in the
test that measures a small one and the one that reads a (pretended) GPU's datasheet row.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import fields

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from cnncost.analysis import devices  # noqa: E402
from cnncost.analysis.conventions import DTYPES  # noqa: E402
from cnncost.analysis.cost import analyze  # noqa: E402
from cnncost.analysis.memory import memory  # noqa: E402
from cnncost.analysis.roofline import Roof, achieved, bound, macs_per_step, ridge_point  # noqa: E402
from cnncost.cli import app  # noqa: E402
from cnncost.errors import SpecError, check_choice  # noqa: E402
from cnncost.spec.catalog import load_model  # noqa: E402
from cnncost.torch import bench as benchmod  # noqa: E402
from cnncost.torch.bench import TORCH_DTYPES, BenchConfig, BenchResult, bench_model  # noqa: E402
from cnncost.torch.builder import SpecNet  # noqa: E402
from cnncost.torch.timing import percentile, time_callable  # noqa: E402

runner = CliRunner()
FAST = ("--min-time", "0.05", "--warmup", "1", "--threads", "1")
ROOF = Roof(50e9, "fp32 matmul, fixed for the tests", "tests", 10e9, "tests")
RESULT_FIELDS = {f.name for f in fields(BenchResult)}
ENV_FIELDS = {
    "torch",
    "cuda_build",
    "cudnn",
    "device",
    "device_name",
    "cpu_model",
    "cpu_count",
    "threads",
    "dtype",
    "channels_last",
    "compile",
    "mode",
    "impl",
    "warmup",
    "min_time_s",
    "python",
    "date",
    "allocator",
}


@pytest.fixture(autouse=True)
def fixed_roof(monkeypatch):
    monkeypatch.setattr(benchmod, "device_roof", lambda cfg: ROOF)


def run(*args: str):
    return runner.invoke(app, ["bench", *args])


def test_sweep_json_has_the_documented_fields_and_consistent_numbers(tmp_path):
    saved = tmp_path / "bench.json"
    r = run("lenet5", "lecture_conv", "--batch", "1,2", *FAST, "--format", "json", "--save", str(saved))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert json.loads(saved.read_text()) == doc
    assert set(doc["environment"]) >= ENV_FIELDS
    env = doc["environment"]
    assert env["device"] == "cpu" and env["threads"] == 1 and env["torch"] == torch.__version__
    assert doc["config"]["batches"] == [1, 2] and doc["roof"]["ridge"] == pytest.approx(5.0)
    assert set(doc["conventions"]) >= {
        "latency",
        "throughput",
        "macs",
        "achieved",
        "roofline",
        "memory",
        "page_faults_per_step",
    }
    results = doc["results"]
    assert [(x["model"], x["batch"]) for x in results] == [
        ("lenet5", 1),
        ("lenet5", 2),
        ("lecture_conv", 1),
        ("lecture_conv", 2),
    ]
    for x in results:
        assert set(x) == RESULT_FIELDS
        assert x["status"] == "ok" and x["error"] is None and x["device"] == "cpu" and x["dtype"] == "fp32"
        assert x["blocks"] >= 3 and x["block_size"] >= 1 and x["timed_s"] >= 0.05
        assert 0 < x["min_ms"] <= x["p10_ms"] <= x["median_ms"] <= x["p90_ms"]
        median_s = x["median_ms"] / 1e3
        assert x["samples_per_s"] == pytest.approx(x["batch"] / median_s, rel=1e-12)
        a = analyze(x["model"])
        assert x["macs_per_sample"] == a.totals.macs and x["params"] == a.totals.params
        assert x["macs_per_step"] == a.totals.macs * x["batch"]
        assert x["achieved_macs_per_s"] == pytest.approx(x["macs_per_step"] / median_s, rel=1e-12)
        assert x["achieved_flops_per_s"] == pytest.approx(2 * x["achieved_macs_per_s"])
        assert x["peak_fraction"] == pytest.approx(x["achieved_flops_per_s"] / 50e9)
        assert x["bytes_moved"] == 4 * (a.totals.params + a.totals.activations * x["batch"])
        assert x["activation_bytes"] == 4 * a.totals.activations * x["batch"]
        assert x["arithmetic_intensity"] == pytest.approx(2 * x["macs_per_step"] / x["bytes_moved"])
        assert x["bound"] == ("compute-bound" if x["arithmetic_intensity"] >= 5.0 else "memory-bound")
        assert x["peak_memory_bytes"] is None and "not measured" in x["peak_memory_note"]
        assert x["cpu_maxrss_growth_bytes"] >= 0
        assert x["page_faults_per_step"] >= 0  # Linux: getrusage's ru_minflt over the timed calls
        m = memory(analyze(x["model"], batch=x["batch"]))  # what `cnncost memory` says, CPU workspace included
        assert x["predicted_memory_bytes"] == m.param_bytes + m.buffer_bytes + m.peak_cpu_bytes > 0


def test_table_and_csv_formats():
    r = run("lecture_conv", "--batch", "1", *FAST)
    assert r.exit_code == 0, r.output
    header = next(line for line in r.stdout.splitlines() if "median ms" in line)
    for col in (
        "model",
        "impl",
        "device",
        "dtype",
        "batch",
        "p10 ms",
        "p90 ms",
        "samples/s",
        "GMAC/s",
        "% of peak",
        "bound",
    ):
        assert col in header
    assert "lecture_conv │ spec │ cpu" in r.stdout and "peak 50.0 GFLOP/s" in r.stdout
    rows = list(csv.DictReader(io.StringIO(run("lenet5", "--batch", "1,2", *FAST, "-f", "csv").stdout)))
    assert [row["batch"] for row in rows] == ["1", "2"]
    assert set(rows[0]) >= RESULT_FIELDS | {"torch", "cpu_model", "peak_source"}
    assert float(rows[1]["samples_per_s"]) == pytest.approx(2e3 / float(rows[1]["median_ms"]))


def test_training_mode_counts_three_forward_passes():
    spec = load_model("lenet5")
    cfg = BenchConfig(batches=(2,), mode="training", threads=1, warmup=1, min_time=0.05)
    (r,) = bench_model(spec, cfg, ROOF)
    assert r.status == "ok" and r.mode == "training"
    assert r.macs_per_step == 3 * 2 * analyze(spec).totals.macs
    assert r.achieved_macs_per_s == pytest.approx(r.macs_per_step / (r.median_ms / 1e3))
    m = memory(analyze(spec, batch=2), optimizer="momentum")  # the step's SGD(momentum=0.9)
    assert (
        r.predicted_memory_bytes
        == m.training_total_bytes
        == (3 * m.param_bytes + m.buffer_bytes + m.saved_activation_bytes)
    )


def test_oom_in_one_batch_size_is_reported_and_the_sweep_goes_on(monkeypatch):
    forward = SpecNet.forward

    def flaky(self, x):
        if x.shape[0] == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(self, x)

    monkeypatch.setattr(SpecNet, "forward", flaky)
    r = run("lenet5", "--batch", "1,2,3", *FAST, "-f", "json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)["results"]
    assert [x["status"] for x in res] == ["ok", "oom", "ok"]
    assert res[1]["median_ms"] is None and res[1]["samples_per_s"] is None
    assert "OutOfMemoryError" in res[1]["error"] and "out of memory" in res[1]["error"]
    assert res[2]["median_ms"] > 0
    table = run("lenet5", "--batch", "1,2", *FAST).stdout
    assert "OOM" in table and "ran out of memory" in table


def test_oom_while_loading_the_model_marks_every_batch_size(monkeypatch):
    def too_big(spec, cfg, shape):
        raise RuntimeError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(benchmod, "instantiate", too_big)
    res = bench_model(load_model("lenet5"), BenchConfig(batches=(1, 2), threads=1), ROOF)
    assert [(r.batch, r.status) for r in res] == [(1, "oom"), (2, "oom")]
    assert "while loading the model" in res[0].error and res[0].macs_per_sample == 416_520


def test_oom_detection_and_other_errors_propagate(monkeypatch):
    assert benchmod.is_oom(torch.cuda.OutOfMemoryError("x"))
    assert benchmod.is_oom(RuntimeError("CUDA error: out of memory"))
    assert not benchmod.is_oom(RuntimeError("shape mismatch"))

    def broken(self, x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(SpecNet, "forward", broken)
    with pytest.raises(RuntimeError, match="shapes cannot"):
        bench_model(load_model("lenet5"), BenchConfig(threads=1, warmup=1, min_time=0.01), ROOF)


def test_cuda_without_a_gpu_exits_2_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = run("lenet5", "--device", "cuda", *FAST)
    assert r.exit_code == 2
    assert "--device cuda: CUDA is not available" in r.stderr and "Traceback" not in r.stderr


def test_user_errors_exit_2():
    r = run("lenet5", "--impl", "reference", *FAST)
    assert r.exit_code == 2 and "lenet5 names no reference implementation" in r.stderr
    r = run("lenet5", "--dtype", "fp16", *FAST)
    assert r.exit_code == 2 and "fp16 on CPU" in r.stderr
    for bad in (("--batch", "0"), ("--batch", "1,x"), ("--mode", "eval"), ("--device", "tpu"), ("-f", "xml")):
        assert run("lenet5", *bad, *FAST).exit_code == 2, bad
    assert run("nosuchnet", *FAST).exit_code == 2


def test_page_faults_are_counted_over_the_timed_calls():
    """A step that touches fresh memory each call (as glibc's mmap'd activations do) is seen."""
    t = time_callable(lambda: _fresh_pages(64), warmup=1, min_time=0.02, min_blocks=3)
    assert t.page_faults_per_call is not None and t.page_faults_per_call >= 32


def _fresh_pages(n: int) -> None:
    import mmap

    with mmap.mmap(-1, n * 4096) as m:
        for i in range(0, n * 4096, 4096):
            m[i] = 1


def test_timing_loop_and_percentiles():
    calls = []
    t = time_callable(lambda: calls.append(1), warmup=2, min_time=0.01, min_blocks=3)
    assert t.block_size >= 10 and len(t.samples) >= 3 and t.total_s >= 0.01
    assert len(calls) >= 2 + t.block_size * len(t.samples)
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.1) == pytest.approx(1.4)
    assert percentile([7.0], 0.9) == 7.0


def test_measured_cpu_roof_is_positive(monkeypatch):
    monkeypatch.undo()  # the real device_roof
    cfg = BenchConfig(threads=1, min_time=0.02, peak_matmul_n=256, copy_mib=8)
    roof = benchmod.device_roof(cfg)
    assert roof.flops > 1e8 and roof.bandwidth > 1e8 and roof.ridge == roof.flops / roof.bandwidth
    assert "256×256" in roof.flops_kind and "measured" in roof.bandwidth_source


def test_device_table():
    assert devices.lookup("NVIDIA H100 80GB HBM3").name == "H100 SXM"
    assert devices.lookup("NVIDIA H100 PCIe").name == "H100 PCIe"
    assert devices.lookup("NVIDIA H200").name == "H200 SXM"
    assert devices.lookup("NVIDIA A100-SXM4-80GB").name == "A100 SXM 80GB"
    assert devices.lookup("NVIDIA A100 80GB PCIe").name == "A100 PCIe 80GB"
    assert devices.lookup("NVIDIA L4").name == "L4" and devices.lookup("NVIDIA L40S").name == "L40S"
    assert devices.lookup("NVIDIA GeForce RTX 4090").name == "RTX 4090"
    assert devices.lookup("NVIDIA L40") is None and devices.lookup("NVIDIA A10G") is None
    h100 = devices.lookup("NVIDIA H100 80GB HBM3")
    assert h100.peak("bf16") == pytest.approx(989.5e12) and h100.bandwidth == pytest.approx(3.35e12)
    for d in devices.DEVICES:
        assert "NVIDIA" in d.source and d.bandwidth > 1e11
        assert 0 < d.fp32 <= d.tf32 <= d.fp16 and d.bf16 == d.fp16
        assert math.isfinite(d.tf32 / d.bandwidth)


def test_roofline_arithmetic_imports_no_torch():
    """``cnncost.analysis`` (the roofline arithmetic and the datasheet table included) never imports torch."""
    import pkgutil
    import subprocess
    import sys

    import cnncost.analysis

    names = sorted(f"cnncost.analysis.{m.name}" for m in pkgutil.iter_modules(cnncost.analysis.__path__))
    assert {"cnncost.analysis.roofline", "cnncost.analysis.devices"} <= set(names)
    code = (
        "import importlib, sys\n"
        + "".join(f"importlib.import_module({n!r})\n" for n in names)
        + ("assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_roofline_helpers_and_one_dtype_table():
    assert ridge_point(50e9, 10e9) == ROOF.ridge == 5.0 and ridge_point(None, 10e9) is None
    assert bound(5.0, 5.0) == "compute-bound" and bound(4.9, 5.0) == "memory-bound" and bound(9.0, None) is None
    assert macs_per_step(10, 4, "inference") == 40 and macs_per_step(10, 4, "training") == 120
    rate = achieved(6, 2.0, 12.0)
    assert (rate.macs_per_s, rate.flops_per_s, rate.peak_fraction) == (3.0, 6.0, 0.5)
    assert achieved(6, 2.0, None).peak_fraction is None
    for name, dt in TORCH_DTYPES.items():  # bytes per element come from the one table, conventions.DTYPES
        assert DTYPES[name] == dt.itemsize
    assert check_choice("fp32", tuple(TORCH_DTYPES), "--dtype") == "fp32"
    with pytest.raises(SpecError, match="unknown --dtype 'fp8'"):
        check_choice("fp8", tuple(TORCH_DTYPES), "--dtype")


def test_a_listed_gpu_gets_its_datasheet_roof(monkeypatch):
    """No GPU needed: the datasheet branch only reads the device name and cuDNN's TF32 flag."""
    monkeypatch.undo()  # the real device_roof
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    h200 = devices.lookup("NVIDIA H200")
    roof = benchmod.device_roof(BenchConfig(device="cuda", dtype="fp32"))
    assert roof.flops == h200.tf32 and roof.bandwidth == h200.bandwidth and roof.flops_kind.startswith("TF32")
    assert benchmod.device_roof(BenchConfig(device="cuda", dtype="bf16")).flops == h200.bf16
    assert "datasheet" in roof.flops_source and "÷ 2" in roof.flops_source
