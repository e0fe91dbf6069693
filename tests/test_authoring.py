"""Spec-authoring pitfalls (issue 13): in-place defaults, int64 counters, the optimizer assumed,
machine-readable CSV, and tables that fit the terminal — each against real values."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from cnncost import analyze, load_model
from cnncost.analysis.memory import COUNTER_BYTES, DEFAULT_OPTIMIZER, memory
from cnncost.cli import app
from tests.conftest import layer

runner = CliRunner()

EFFICIENTNET_B0_ACTIVATIONS = 15961988
"""As before the default changed (the SE's SiLU is in place in torchvision: ``partial(nn.SiLU, inplace=True)``)."""

IN_PLACE_KINDS = ("relu", "relu6", "leaky_relu", "elu", "silu", "hardswish", "hardsigmoid")


def run(*args: str, **env: str | None):
    r = runner.invoke(app, list(args), env={"COLUMNS": None, "CNNCOST_WIDE": None, **env})
    assert r.exit_code == 0, r.output
    return r.stdout


# --- 1. in place: torch's default (false); the zoo says true where its reference does -------------------


@pytest.mark.parametrize("kind", IN_PLACE_KINDS)
def test_activations_default_to_not_in_place_as_torch(write_spec, kind):
    path = write_spec(f"""
        input: [8, 10, 10]
        layers:
          - conv: {{out: 8, k: 3, pad: 1}}
          - {kind}
          - {kind}: {{inplace: true}}
        """)
    a = analyze(load_model(str(path)))
    default, in_place = a.layers[2], a.layers[3]
    assert (default.kind, default.activations) == (kind, 800)  # a new 8×10×10 tensor
    assert (in_place.kind, in_place.activations) == (kind, 0)
    assert a.totals.activations == 800 + 800 + 800  # input + conv + the not-in-place activation


def test_zoo_numbers_unchanged_by_the_new_default():
    """The zoo says ``inplace: true`` where it was implied: the documented figures stay."""
    r50 = analyze("resnet50")
    assert r50.totals.activations == 22_582_248
    assert layer(r50, "conv1", "relu1").activations == 0
    m = memory(r50, optimizer="sgd")
    assert (m.forward_activation_bytes, m.peak_inference_bytes, m.saved_activation_bytes) == (
        90_328_992,
        9_633_792,
        86_121_984,
    )
    vgg = analyze("vgg16")
    assert vgg.totals.activations == 15_262_696
    assert analyze("efficientnet_b0").totals.activations == EFFICIENTNET_B0_ACTIVATIONS


def test_mobilenet_v3_se_gate_is_not_in_place_as_in_torchvision():
    """torchvision's SqueezeExcitation builds ``activation()`` and ``scale_activation()``: not in place."""
    a = analyze("mobilenet_v3_large")
    se = [r for r in a.layers if r.path[-1] in ("activation", "scale_activation")]
    assert len(se) == 16  # 8 SE blocks × (relu, hardsigmoid)
    assert all(r.activations == r.out_shape[0] for r in se)  # C×1×1: a new tensor each
    assert a.totals.activations == 9_565_008  # 9,559,928 before: + Σ of those C×1×1 tensors
    assert sum(r.activations for r in se) == 9_565_008 - 9_559_928
    assert analyze("mobilenet_v3_small").totals.activations == 3_272_112


torch = pytest.importorskip("torch")


def _activation_calls(net, shape) -> dict[tuple[str, bool, tuple[int, ...]], int]:
    """(activation, in place?, shape) of every aten activation call of an eval forward, on the meta device."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    kinds = {"relu", "hardtanh", "leaky_relu", "elu", "silu", "hardswish", "hardsigmoid"}
    calls: Counter = Counter()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func._schema.name.split("::")[-1]
            if name.rstrip("_") in kinds and func._overloadname in ("default", ""):
                calls[(name.rstrip("_"), name.endswith("_"), tuple(args[0].shape[1:]))] += 1
            return func(*args, **(kwargs or {}))

    net.eval()
    with torch.no_grad(), Record():
        net(torch.zeros(1, *shape, device="meta"))
    return dict(calls)


@pytest.mark.torch
@pytest.mark.parametrize(
    "model", ["resnet50", "mobilenet_v3_small", "mobilenet_v2", "efficientnet_b0", "densenet121", "inception_v3"]
)
def test_in_place_activations_are_the_reference_implementations(model):
    """Every activation call, in place or not, of the spec-built model = the torchvision/timm model's."""
    from cnncost.torch.builder import build
    from cnncost.torch.reference import build_reference

    spec = load_model(model)
    with torch.device("meta"):
        net, ref = build(spec), build_reference(spec.reference)
    ours, theirs = _activation_calls(net, spec.input), _activation_calls(ref, spec.input)
    assert ours == theirs
    assert any(in_place for (_, in_place, _) in ours)
    if model == "mobilenet_v3_small":  # the SE gates: not in place
        assert ours[("hardsigmoid", False, (96, 1, 1))] == 1 and ("hardsigmoid", True, (96, 1, 1)) not in ours


# --- 2. num_batches_tracked is int64 --------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize(
    ("model", "dtype"), [("resnet50", torch.float32), ("resnet50", torch.float16), ("densenet121", torch.float32)]
)
def test_buffer_bytes_equal_torch_buffers(model, dtype):
    """Σ numel × element_size of the built model's buffers: BN stats in the dtype, counters int64."""
    from cnncost.torch.builder import build

    with torch.device("meta"):
        net = build(model).to(dtype)
    measured = sum(b.numel() * b.element_size() for b in net.buffers())
    a = analyze(model)
    elem = torch.tensor([], dtype=dtype).element_size()
    assert memory(a, dtype_bytes=elem).buffer_bytes == measured
    assert a.totals.counters == sum(1 for b in net.buffers() if b.dtype == torch.int64)
    if (model, dtype) == ("resnet50", torch.float32):
        assert measured == 53_120 * 4 + 53 * COUNTER_BYTES == 212_904


# --- 3. the optimizer assumed: SGD with momentum, and said -----------------------------------------------


def test_default_optimizer_is_sgd_with_momentum_and_reports_say_it():
    a = analyze("resnet18")
    m = memory(a)
    assert (DEFAULT_OPTIMIZER, m.optimizer) == ("momentum", "momentum")
    assert m.optimizer_bytes == m.param_bytes == 4 * 11_689_512
    doc = json.loads(run("memory", "resnet18", "-f", "json"))
    assert doc["optimizer"] == "momentum" and doc["models"][0]["optimizer_bytes"] == 4 * 11_689_512
    assert "cnncost memory — SGD with momentum" in run("memory", "resnet18", "-f", "markdown").splitlines()[0]
    assert "cnncost memory — plain SGD (no optimizer state)" in run(
        "memory", "resnet18", "--optimizer", "sgd", "-f", "markdown"
    )
    doc = json.loads(run("compare", "resnet18", "resnet34", "-f", "json"))
    assert doc["optimizer"] == "momentum"
    assert doc["models"][0]["training_total_bytes"] == memory(a).training_total_bytes
    assert "cnncost compare — Adam" in run("compare", "resnet18", "resnet34", "--optimizer", "adam").splitlines()[0]


# --- 4. CSV: raw numbers, one table ----------------------------------------------------------------------


def test_memory_csv_is_one_table_of_raw_numbers():
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(io.StringIO(run("memory", "vgg16", "resnet50", "--batch", "2", "-f", "csv")))
    assert list(df["model"]) == ["vgg16", "resnet50"]
    r50 = df.set_index("model").loc["resnet50"]
    m = memory(analyze("resnet50", batch=2))
    assert r50["param_bytes"] == 102_228_128 and r50["buffer_bytes"] == 212_904
    assert r50["training_total_bytes"] == m.training_total_bytes
    assert r50["peak_at"] == m.peak_at and r50["optimizer"] == "momentum" and r50["batch"] == 2
    for col in ("param_bytes", "forward_activation_bytes", "peak_inference_bytes", "training_total_bytes"):
        assert pd.api.types.is_integer_dtype(df[col]), col
    assert df["backward_forward_ratio"].dtype == float


def test_compare_csv_is_one_table_of_raw_numbers():
    pd = pytest.importorskip("pandas")
    out = run("compare", "resnet50", "resnext50", "-f", "csv")
    assert "×" not in out.replace("3×224×224", "") and "MiB" not in out and "\n\n" not in out
    df = pd.read_csv(io.StringIO(out)).set_index("model")
    assert list(df.index) == ["resnet50", "resnext50_32x4d"]
    assert df.loc["resnet50", "params"] == 25_557_032 and df.loc["resnet50", "count"] == 4_089_184_256
    assert df.loc["resnext50_32x4d", "params"] == 25_028_904
    assert df.loc["resnet50", "top1_error"] == 23.87 and df.loc["resnet50", "convention"] == "macs"
    a = analyze("resnet50")
    assert df.loc["resnet50", "training_total_bytes"] == memory(a).training_total_bytes
    assert df.loc["resnet50", "inference_total_bytes"] == memory(a).inference_total_bytes
    doc = json.loads(run("compare", "resnet50", "resnext50", "-f", "json"))
    conv1 = next(s for s in doc["stages"] if s["model"] == "resnet50" and s["stage"] == "conv1")
    assert conv1["output_shape"] == [64, 112, 112] and conv1["count"] == 118_013_952
    assert conv1["share"] == 118_013_952 / 4_089_184_256  # a fraction, not "2.9%"


# --- 5. rich tables fit the terminal ---------------------------------------------------------------------


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_table_fits_80_columns_and_says_what_it_left_out():
    out = run("table", "resnet50", COLUMNS="80")
    assert widest(out) <= 80
    assert "25,557,032" in out and "4,089,184,256" in out  # params and MACs stay
    assert "left out to fit 80 columns: activations (elements), memory (fp32)" in " ".join(out.split())
    full = run("table", "resnet50")  # not a terminal, no COLUMNS: every column, as before
    assert widest(full) > 80 and "memory (fp32)" in full and "left out" not in full
    assert run("table", "resnet50", COLUMNS="80", CNNCOST_WIDE="1") == full


@pytest.mark.parametrize(
    "args",
    [
        ("table", "resnet50", "--depth", "1"),
        ("table", "inception_v3"),
        ("memory", "vgg16", "resnet50"),
        ("compare", "resnet50", "resnext50", "vgg16"),
        ("specs", "resnet"),
    ],
)
@pytest.mark.parametrize("columns", [80, 60])
def test_every_report_fits_the_terminal(args, columns):
    out = run(*args, COLUMNS=str(columns))
    assert widest(out) <= columns, out


def test_wrapped_cells_keep_every_number_whole():
    out = run("memory", "vgg16", "resnet50", COLUMNS="80")
    assert widest(out) <= 80
    for number in ("(553,430,176 B)", "(1,733,645,792 B)", "stage1.1.conv1", "conv2_x.0.shortcut.bn1"):
        assert number in out
