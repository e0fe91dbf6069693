"""Torch models in (``torchvision:NAME``, ``timm:NAME``, ``module:callable``, ``file.py:callable``):
traced with torch.fx, written as a spec, and checked against oracles nobody here wrote — torchvision's
weights metadata (``num_params``, ``_ops``), the module's own parameters and buffers, fvcore's
``FlopCountAnalysis`` and torch's ``FlopCounterMode`` on the original module, and the bytes autograd
saves for backward (``saved_tensors_hooks``) in a training forward of the original module."""

from __future__ import annotations

from functools import cache

import pytest

from cnncost import analyze
from cnncost.spec.sources import is_source, parse_source

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("torchvision.models")
timm = pytest.importorskip("timm")

from cnncost.torch.crosscheck import flop_counter_total, fvcore_counts  # noqa: E402
from cnncost.torch.importer import Imported, import_source  # noqa: E402
from tests.test_hostile_input import run_cli  # noqa: E402
from tests.test_torchvision_metadata import LOADED_WITH, torchvision_cnns  # noqa: E402


@cache
def imported(source: str) -> Imported:
    return import_source(source)


# -- sources -------------------------------------------------------------------------------
def test_source_syntax():
    assert parse_source("timm:resnet50d(drop_rate=0.0)")[:4] == ("timm", "", "resnet50d", {"drop_rate": 0.0})
    assert parse_source("torchvision:segmentation.fcn_resnet50(aux_loss=True)").name == "segmentation.fcn_resnet50"
    assert parse_source("torchvision.models.resnet50").kind == "torchvision"
    assert parse_source("tests/nets.py:unet(width=4)")[:4] == ("file", "tests/nets.py", "unet", {"width": 4})
    assert parse_source("tests.nets:unet")[:3] == ("module", "tests.nets", "unet")
    assert is_source("timm:resnet50") and is_source("tests/nets.py:unet") and is_source("tests.nets:unet")
    assert not is_source("resnet50") and not is_source("specs/resnet.yaml:resnet50") and not is_source("net.yaml")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "timm:resnet50d(3)",
            "bad model source 'timm:resnet50d(3)': positional arguments (expected keyword arguments only)",
        ),
        ("timm:resnet50d(x=open)", "bad model source 'timm:resnet50d(x=open)': x= is not a literal"),
        ("timm:resnet50dd", "timm has no model 'resnet50dd' (expected did you mean resnet50d"),
        ("torchvision:resnet5", "torchvision has no model 'resnet5'"),
        ("tests/nets.py:nothing", "tests/nets.py:nothing: tests/nets.py has no 'nothing'"),
        ("tests/missing.py:unet", "tests/missing.py:unet: no file 'tests/missing.py'"),
        ("torchvision:resnet50(weights='DEFAULT')", "weights='DEFAULT' would load trained weights"),
        ("timm:resnet18(pretrained=True)", "pretrained=True would load trained weights"),
        ("tests/nets.py:unet(depth=3)", "building the model raised TypeError"),
    ],
)
def test_bad_sources_are_one_line_errors(monkeypatch, capsys, source, message):
    code, _, err = run_cli(monkeypatch, capsys, "table", source)
    assert code == 2 and err.count("\n") == 1 and message in err


# -- every CNN torchvision ships ----------------------------------------------------------
def _weights(name: str):
    return list(tvm.get_model_weights(name))


def _tv_source(name: str) -> str:
    kwargs = ", ".join(f"{k}={v!r}" for k, v in LOADED_WITH.get(name, {}).items())
    return f"torchvision:{name}({kwargs})" if kwargs else f"torchvision:{name}"


def _tv_cost(name: str) -> float:
    meta = _weights(name)[0].meta
    return meta["num_params"] / 1e6 + meta["_ops"] * 10


TV = torchvision_cnns()
CHEAP_TV = {n for n in TV if _tv_cost(n) < 40}
"""Models a default-tier run builds and traces (under ~20M params and ~2 GMACs); the rest run in ``slow``."""


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in CHEAP_TV else [pytest.mark.slow]) for n in TV])
def test_torchvision_source_equals_its_weights_metadata(name):
    """Params = ``num_params`` and conv + linear MACs = ``_ops`` (GMACs, 3 decimals) of every weight,
    at the weights' own evaluation size, which the source picks itself."""
    imp = imported(_tv_source(name))
    a = analyze(imp.spec)
    assert a.totals.params == sum(p.numel() for p in imp.module.parameters())
    assert a.totals.buffers == sum(b.numel() for b in imp.module.buffers())
    for w in _weights(name):  # each weight at its own evaluation size (RegNet-Y-128GF: 384 and 224)
        size = w.transforms.keywords.get("crop_size") or w.transforms.keywords["resize_size"]
        size = size[0] if isinstance(size, (list, tuple)) else size
        aw = a if (3, size, size) == tuple(a.input_shape) else analyze(imp.spec, (3, size, size))
        assert aw.totals.params == w.meta["num_params"], w
        assert round(aw.totals.macs / 1e9, 3) == pytest.approx(w.meta["_ops"], abs=1e-9), w


FVCORE_TV = ["resnet18", "mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "googlenet", "mnasnet0_5"]


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in FVCORE_TV else [pytest.mark.slow]) for n in TV])
def test_torchvision_source_equals_fvcore_and_flop_counter(name):
    imp = imported(_tv_source(name))
    a = analyze(imp.spec)
    x = torch.randn(1, *imp.traced.input_shape)
    total, _, _ = fvcore_counts(imp.module, x)
    assert a.totals.fvcore == total
    assert a.totals.flops == flop_counter_total(imp.module, x)


# -- timm: at least 20 families, the mechanism general --------------------------------------
TIMM = [
    "resnet50d",
    "seresnext50_32x4d",
    "efficientnet_b0",
    "mobilenetv3_large_100",
    "convnext_nano",
    "regnetx_016",
    "densenet121",
    "dpn68b",
    "inception_v4",
    "xception65",
    "res2net50_26w_4s",
    "dla34",
    "hrnet_w18_small",
    "mixnet_s",
    "ghostnet_100",
    "rexnet_100",
    "tf_efficientnet_b0",
    "efficientnetv2_rw_s",
    "regnety_016",
    "selecsls42b",
    "inception_resnet_v2",
    "legacy_seresnet18",
    "gernet_s",
    "repvgg_a2",
    "darknet53",
    "cspresnet50",
    "fbnetc_100",
    "lcnet_050",
    "tinynet_a",
]
CHEAP_TIMM = ["lcnet_050", "tinynet_a", "mixnet_s", "legacy_seresnet18", "ghostnet_100"]


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in CHEAP_TIMM else [pytest.mark.slow]) for n in TIMM])
def test_timm_source_equals_module_fvcore_and_flop_counter(name):
    imp = imported(f"timm:{name}")
    a = analyze(imp.spec)
    assert tuple(imp.traced.input_shape) == tuple(imp.module.pretrained_cfg["input_size"])
    assert a.totals.params == sum(p.numel() for p in imp.module.parameters())
    assert a.totals.buffers == sum(b.numel() for b in imp.module.buffers())
    x = torch.randn(1, *imp.traced.input_shape)
    total, _, _ = fvcore_counts(imp.module, x)
    assert a.totals.fvcore == total
    assert a.totals.flops == flop_counter_total(imp.module, x)


# -- the written spec ------------------------------------------------------------------------
def test_import_resnet50_writes_a_short_spec_that_reanalyses(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r50.yaml"
    code, _, err = run_cli(monkeypatch, capsys, "import", "torchvision:resnet50", "-o", str(out))
    assert code == 0 and f"wrote {out}" in err
    from tests.readme import README

    assert err.replace(str(out), "r50.yaml").strip() in README.read_text()  # the README shows this run
    text = out.read_text()
    assert text.count("\n") < 150
    assert "repeat: 5, block: " in text  # layer3's five identical bottlenecks fold
    a = analyze(str(out)) if False else analyze(__import__("cnncost").load_model(str(out)))
    assert (a.totals.params, a.totals.macs) == (25_557_032, 4_089_184_256)
    names = {r.name for r in a.layers}
    assert {"conv1", "layer1.0.conv1", "layer1.0.downsample.0", "layer3.5.conv3", "layer4.2.add", "fc"} <= names


def test_written_spec_builds_to_the_modules_parameters_and_shapes():
    """The spec-built torch model has the original's parameter tensors, name for name and shape for shape,
    and every layer's output shape equals the forward hooks' (the torch check of ``verify``)."""
    from cnncost.torch.builder import build
    from cnncost.torch.crosscheck import crosscheck

    imp = imported("torchvision:resnet50")
    net = build(imp.spec)
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in imp.module.state_dict().items()}
    assert ours == theirs
    assert all(c.ok for c in crosscheck(imp.spec, ["torch", "fvcore"])), [c for c in crosscheck(imp.spec) if not c.ok]


def test_custom_unet_from_a_file(monkeypatch, capsys):
    """A UNet defined in tests/nets.py (transposed convs, bilinear up-sampling, skip concatenations): every
    check of ``verify`` passes — the spec-built model, fvcore, and the module itself layer by layer, with
    FlopCounterMode and the bytes autograd saves."""
    code, out, err = run_cli(monkeypatch, capsys, "verify", "tests/nets.py:unet", "--format", "json")
    assert code == 0, err
    import json

    checks = json.loads(out)["checks"]
    names = {c["check"] for c in checks}
    assert "module tests/nets.py:unet: saved for backward (bytes, fp32, batch 2)" in names
    assert all(c["ok"] for c in checks)
    imp = imported("tests/nets.py:unet")
    a = analyze(imp.spec)
    assert {"up1.up", "up2.upsample", "up3.concat", "down.2.5", "head"} <= {r.name for r in a.layers}


# -- verify against a real module -----------------------------------------------------------
def test_verify_resnet50_spec_against_the_torchvision_module(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "verify", "resnet50", "--against", "module:torchvision:resnet50")
    assert code == 0, err


def test_verify_names_the_first_differing_layers(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "verify", "resnet34", "--against", "module:torchvision:resnet50")
    assert code == 1
    assert "resnet34: conv2_x.0.conv1 ↔ layer1.0.conv1: spec 36,864 params, module 4,096" in err


def test_verify_catches_a_missing_bias(tmp_path, monkeypatch, capsys):
    text = imported("tests/nets.py:plain").text.replace(
        "{out: 4, k: 3, stride: 1, pad: 1}", "{out: 4, k: 3, pad: 1, bias: false}"
    )
    spec = tmp_path / "plain.yaml"
    spec.write_text(text)
    code, _, err = run_cli(monkeypatch, capsys, "verify", str(spec), "--against", "module:tests/nets.py:plain")
    assert code == 1
    assert "conv2: spec 288 params, module 292 — bias?" in err


def test_verify_catches_an_in_place_mistake_through_saved_bytes(tmp_path, monkeypatch, capsys):
    """The spec says the leaky ReLU is not in place; the module's is: autograd then keeps the BN output
    and the activation apart (one 8×224×224 fp32 tensor more per sample), which only the saved bytes show."""
    text = imported("tests/nets.py:plain").text
    assert "inplace: true" in text
    spec = tmp_path / "plain.yaml"
    spec.write_text(text.replace("inplace: true", "inplace: false"))
    code, out, _ = run_cli(
        monkeypatch, capsys, "verify", str(spec), "--against", "module:tests/nets.py:plain", "--format", "json"
    )
    import json

    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    saved = checks["module tests/nets.py:plain: saved for backward (bytes, fp32, batch 2)"]
    assert code == 1 and not saved["ok"]
    assert saved["engine"] - saved["oracle"] == 2 * 8 * 224 * 224 * 4
    assert all(c["ok"] for k, c in checks.items() if k != saved["check"])


# -- what cannot be traced or counted ---------------------------------------------------------
def test_unsupported_calls_are_named_with_their_module_path(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "table", "tests/nets.py:spectral")
    assert code == 2
    assert err == (
        "error: spectral: 3 call(s) cnncost cannot count: torch.fft.rfft2 at Spectral.forward; Tensor.abs at "
        "Spectral.forward; nn.PixelShuffle at mix.0 (expected models built of the ops in docs/spec-language.md, "
        "or --allow-unsupported to count them as zero, flagged)\n"
    )


def test_allow_unsupported_counts_them_as_zero_and_flags_them(monkeypatch, capsys):
    code, out, err = run_cli(
        monkeypatch, capsys, "table", "tests/nets.py:spectral", "--allow-unsupported", "--format", "json"
    )
    assert code == 0
    import json

    layers = {r["name"]: r for r in json.loads(out)["layers"]}
    assert layers["mix.0"]["label"] == "opaque (not counted)" and layers["mix.0"]["output_shape"] == [4, 448, 226]
    assert layers["mix.1"]["params"] == 20  # the layers after it are counted
    assert err.count("not counted: a call cnncost has no op for") == 3


def test_data_dependent_control_flow_names_the_module(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "table", "tests/nets.py:gated")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: gated: torch.fx cannot trace gate (Branchy.forward): Python control flow")


# -- every command takes a source ------------------------------------------------------------
def test_table_compare_memory_take_sources(monkeypatch, capsys):
    import json

    code, out, _ = run_cli(monkeypatch, capsys, "table", "torchvision:resnet18", "--format", "json")
    assert code == 0 and json.loads(out)["totals"]["params"] == 11_689_512
    code, out, err = run_cli(
        monkeypatch, capsys, "compare", "resnet18", "timm:resnet18", "torchvision:resnet18", "--format", "json"
    )
    assert code == 0, err
    rows = json.loads(out)["models"]
    assert [r["params"] for r in rows] == [11_689_512] * 3
    code, out, err = run_cli(monkeypatch, capsys, "memory", "tests/nets.py:unet", "--format", "json")
    assert code == 0, err


def test_memory_of_a_source_equals_saved_tensors_hooks_on_the_module():
    from cnncost.analysis.memory import saved_for_backward
    from cnncost.torch.memory_check import measured_saved_bytes

    imp = imported("torchvision:mobilenet_v3_small")
    a = analyze(imp.spec, batch=2)
    torch.manual_seed(0)
    measured = measured_saved_bytes(imp.module, torch.randn(2, *imp.traced.input_shape))
    imp.module.eval()
    assert saved_for_backward(a.graph, 4, 2) == measured


def test_input_size_of_a_source(monkeypatch, capsys):
    """Sources trace at their own size (Inception-v3's 299, timm's pretrained_cfg) unless --input says."""
    import json

    assert imported("torchvision:inception_v3").traced.input_shape == (3, 299, 299)
    code, out, _ = run_cli(monkeypatch, capsys, "table", "torchvision:resnet18", "-i", "160", "--format", "json")
    assert code == 0 and json.loads(out)["input"] == [3, 160, 160]


def test_bench_times_the_original_module(monkeypatch, capsys):
    import json

    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "bench",
        "tests/nets.py:plain",
        "--min-time",
        "0.01",
        "--warmup",
        "0",
        "-i",
        "32",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["config"]["impl"] == "reference"
