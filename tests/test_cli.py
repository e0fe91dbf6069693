"""The CLI: formats, exit codes, and the torch-free fast path."""

import csv
import io
import json
import subprocess
import sys

from typer.testing import CliRunner

from cnncost.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_table_json_parses_and_has_the_documented_totals():
    r = run("table", "vgg16", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["totals"]["params"] == 138_357_544
    assert doc["totals"]["macs"] == 15_470_264_320
    assert doc["totals"]["activations"] == 15_262_696
    assert doc["totals"]["flops"] == 2 * doc["totals"]["macs"]
    assert doc["input"] == [3, 224, 224]
    assert sum(layer["params"] for layer in doc["layers"]) == doc["totals"]["params"]


def test_weights_only_json_totals():
    doc = json.loads(run("table", "vgg16_paper", "--weights-only", "-f", "json").stdout)
    assert doc["totals"]["params"] == 138_344_128
    assert doc["totals"]["trainable_params"] == 138_357_544
    assert doc["totals"]["activations"] == 15_237_608


def test_batch_dtype_and_input_options():
    doc = json.loads(
        run("table", "resnet18", "--batch", "4", "--dtype", "fp16", "--input", "3x112x112", "-f", "json").stdout
    )
    assert doc["batch"] == 4 and doc["dtype_bytes"] == 2 and doc["input"] == [3, 112, 112]
    assert doc["totals"]["activation_bytes"] == 2 * doc["totals"]["activations"]
    assert doc["output_shape"] == [1000]


def test_depth_collapses_to_stages():
    doc = json.loads(run("table", "resnet50", "--depth", "1", "-f", "json").stdout)
    names = [layer["name"] for layer in doc["layers"]]
    assert names == ["input", "conv1", "pool1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "pool5", "flatten1", "fc"]
    assert sum(layer["macs"] for layer in doc["layers"]) == 4_089_184_256


def test_csv_and_markdown():
    rows = list(csv.reader(io.StringIO(run("table", "lenet5", "-f", "csv").stdout)))
    assert rows[0][:3] == ["layer", "type", "output"]
    assert rows[-1][0] == "total" and rows[-1][3] == "61706"
    md = run("table", "lenet5", "-f", "markdown").stdout
    assert "| c1 | conv 5×5 | 6×28×28 | 156 |" in md


def test_conventions_change_the_count_column():
    macs = json.loads(run("table", "resnet18", "-f", "json").stdout)["totals"]
    doc = json.loads(run("table", "resnet18", "-c", "all", "-f", "json").stdout)
    assert doc["convention_header"] == "ops (all, FLOP)"
    assert doc["totals"]["all_ops"] > 2 * macs["macs"]
    rich = run("table", "resnet18", "-c", "flops").stdout
    assert "FLOPs (2×MACs, conv+linear)" in rich and "3,628,146,688" in rich


def test_user_errors_exit_2_without_traceback(tmp_path):
    r = run("table", "resnet5")
    assert r.exit_code == 2
    assert "unknown model 'resnet5'" in r.stderr and "Traceback" not in r.stderr
    assert run("table", "vgg16", "--format", "xml").exit_code == 2
    assert run("table", "vgg16", "--input", "3xabc").exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4}\n")
    r = run("table", str(bad))
    assert r.exit_code == 2
    assert "bad.yaml:3: conv1: conv: missing required field 'k'" in r.stderr


def test_warnings_go_to_stderr(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("input: [1, 7, 7]\nlayers:\n  - conv: {out: 1, k: 3, stride: 3}\n")
    r = run("table", str(spec), "-f", "json")
    assert r.exit_code == 0
    json.loads(r.stdout)
    assert "never read" in r.stderr


def test_specs_lists_and_filters():
    doc = json.loads(run("specs", "resnet", "-f", "json").stdout)
    names = {m["name"] for m in doc["models"]}
    assert {"resnet18", "resnet50", "resnet50_paper", "plain34"} <= names
    assert "vgg16" not in names
    r50 = next(m for m in doc["models"] if m["name"] == "resnet50")
    assert (r50["params"], r50["macs"]) == (25_557_032, 4_089_184_256)


def test_verify_paper_exit_codes():
    r = run("verify", "vgg16_paper", "--against", "paper", "-f", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["summary"]["fail"] == 0 and doc["summary"]["erratum"] == 1
    assert run("verify", "vgg16", "--against", "bogus").exit_code == 2


def test_schema_is_json_and_knows_the_ops():
    schema = json.loads(run("schema").stdout)
    assert "op_conv" in schema["$defs"]
    assert "groups" in schema["$defs"]["op_conv"]["properties"]
    assert "op_mean" in schema["$defs"]
    layer = json.dumps(schema["$defs"]["layer"])
    assert '"share"' in layer and '"when"' in layer


def test_table_does_not_import_torch_or_pandas():
    code = (
        "import sys; from cnncost.cli import app\n"
        "try:\n    app(['table', 'vgg16', '-f', 'json'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('torch', 'pandas', 'torchvision', 'fvcore') if m in sys.modules]\n"
        "print('IMPORTED', bad, file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "IMPORTED []" in r.stderr
    assert json.loads(r.stdout)["totals"]["params"] == 138_357_544


def test_keras_param_convention_counts_bn_moving_stats():
    doc = json.loads(run("table", "resnet18", "--params", "keras", "-f", "json").stdout)
    t = doc["totals"]
    bn_channels = (64 + 64 * 4 + 128 * 4 + 256 * 4 + 512 * 4) + 128 + 256 + 512  # main path + shortcuts
    assert t["non_trainable_params"] == 2 * bn_channels == 9_600
    assert t["params"] == t["trainable_params"] + 9_600 == 11_689_512 + 9_600
    assert t["buffers"] == 9_600 + 20  # torch also keeps num_batches_tracked, one per BN
    rich = run("table", "resnet18", "--params", "keras").stdout
    assert "Non-trainable params: 9,600" in rich
    assert run("table", "resnet18", "--params", "caffe").exit_code == 2


def test_to_frame_is_exact_and_sums_to_the_totals():
    from cnncost import analyze
    from cnncost.report.frame import to_frame

    a = analyze("resnet50")
    df = to_frame(a, depth=1).set_index("name")
    assert int(df.loc["conv4_x", "macs"]) == 1_464_336_384
    assert int(df["params"].sum()) == a.totals.params == 25_557_032
    assert str(df["macs"].dtype) == "int64"
