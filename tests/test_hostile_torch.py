"""Hostile input, the rest of issue 13: ``--input`` everywhere and how a short one was read, torch-side
failures (no torch, layer names torch refuses, out of memory), and the schema and JSON docs kept true."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from cnncost import SpecError, load_model
from cnncost.spec.structures import ITEM_KEYS, STRUCTURE_TYPES
from tests.test_hostile_input import run_cli

ROOT = Path(__file__).resolve().parents[1]
VGG = load_model("vgg16_paper").file
LENET = load_model("lenet5").file
POOL = "stage2.pool: maxpool: kernel 2 is larger than the padded input 1+0+0 = 1 (rows), at input 3×3×224, "
FITS = "(expected a kernel that fits its padded input)"
POOL_LINE = next(n for n, text in enumerate(Path(VGG).read_text().splitlines(), 1) if "pool: {maxpool: {k: 2" in text)
"""The spec line of VGG's stage pool, where the error points."""


def without_torch(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))


# -- --input on every command that analyses ---------------------------------------------------
def test_compare_takes_input(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "compare", "resnet18", "resnet34", "--input", "160", "-f", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [m["input"] for m in doc["models"]] == [[3, 160, 160], [3, 160, 160]]
    code, out, _ = run_cli(monkeypatch, capsys, "compare", "resnet18", "resnet34", "--input", "3x160x160")
    assert code == 0 and "input 3×160×160, batch 1" in out  # not "inputs as declared"


def test_verify_takes_input_and_batch(monkeypatch, capsys):
    args = ("verify", "lenet5", "--against", "torch", "-f", "json")
    code, out, err = run_cli(monkeypatch, capsys, *args, "--input", "64", "--batch", "4")
    assert (code, err) == (0, "")
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["params (trainable)"]["engine"] == 868_106  # c5 sees 13×13 maps at 64×64, not 5×5
    code, out, _ = run_cli(monkeypatch, capsys, *args)
    assert {c["check"]: c for c in json.loads(out)["checks"]}["params (trainable)"]["engine"] == 61_706


# -- a short --input, read with the model's channels, said when the model then fails -----------
@pytest.mark.parametrize(
    "command",
    [
        ("table", "vgg16_paper"),
        ("memory", "vgg16_paper"),
        ("compare", "vgg16_paper", "lenet5"),
        ("verify", "vgg16_paper", "--against", "torch"),
    ],
)
def test_a_short_input_says_how_it_was_read(monkeypatch, capsys, command):
    code, out, err = run_cli(monkeypatch, capsys, *command, "--input", "3x224")
    message = f"{POOL}not the spec's 3×224×224 (--input 3x224 was read as 3×3×224, C from the model) {FITS}"
    assert (code, out, err) == (2, "", f"error: {VGG}:{POOL_LINE}: {message}\n")


def test_a_single_number_and_a_full_shape(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "table", "lenet5", "--input", "2")
    assert (code, err) == (
        2,
        f"error: {LENET}:21: c1: conv: kernel 5 is larger than the padded input 2+0+0 = 2 (rows), at input "
        "1×2×2, not the spec's 1×32×32 (--input 2 was read as 1×2×2, C from the model) "
        "(expected a kernel that fits its padded input)\n",
    )
    code, _, err = run_cli(monkeypatch, capsys, "table", "vgg16_paper", "--input", "3x3x224")
    assert code == 2 and "was read as" not in err  # all three given: nothing to explain
    assert err == f"error: {VGG}:{POOL_LINE}: {POOL}not the spec's 3×224×224 {FITS}\n"


def test_the_issues_example_reads_3_as_the_height(monkeypatch, capsys):
    """``resnet50 --input 3x224`` is H=3, W=224 — which ResNet-50 survives (adaptive pool): no error to explain."""
    code, out, _ = run_cli(monkeypatch, capsys, "table", "resnet50", "--input", "3x224", "-f", "json")
    assert code == 0 and json.loads(out)["input"] == [3, 3, 224]


# -- no torch -------------------------------------------------------------------------------------
def test_bench_without_torch_is_one_line(monkeypatch, capsys):
    without_torch(monkeypatch)
    code, out, err = run_cli(monkeypatch, capsys, "bench", "lenet5")
    assert (code, out, err) == (2, "", "error: cnncost bench needs torch (expected pip install 'cnncost[torch]')\n")
    code, _, err = run_cli(monkeypatch, capsys, "verify", "lenet5", "--against", "torch")
    assert (code, err) == (
        2,
        "error: --against torch/fvcore/reference needs torch (expected pip install 'cnncost[torch]', "
        "or --against paper)\n",
    )


# -- layer names torch cannot take ------------------------------------------------------------
TORCH_NAMES = (
    "(expected a torch module name: not empty, no '.', not an nn.Module attribute (training, forward, eval, ...): "
    "rename the layer)"
)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ('"stem.conv"', "'stem.conv' cannot be built in torch: torch module names cannot contain '.' "
         "(module paths are dotted)"),
        ('""', "'' cannot be built in torch: torch module names cannot be empty"),
        ("training", "'training' cannot be built in torch: 'training' is an attribute of every torch nn.Module"),
        ("forward", "'forward' cannot be built in torch: 'forward' is an attribute of every torch nn.Module"),
        ("graph", "'graph' cannot be built in torch: 'graph' is an attribute of the SpecNet that runs the spec"),
    ],
)  # fmt: skip
def test_a_layer_name_torch_refuses(write_spec, monkeypatch, capsys, name, why):
    path = write_spec(f"input: [3, 8, 8]\nlayers:\n  - {name}: {{conv: {{out: 4, k: 3}}}}\n")
    code, out, _ = run_cli(monkeypatch, capsys, "table", str(path), "-f", "csv")
    assert code == 0 and "4×6×6" in out  # the engine takes any name; torch is stricter
    code, out, err = run_cli(monkeypatch, capsys, "verify", str(path), "--against", "torch")
    assert (code, out, err) == (2, "", f"error: {path}:3: layer name {why} {TORCH_NAMES}\n")


def test_a_nested_name_torch_refuses_names_its_level(write_spec):
    from cnncost.torch.builder import build

    path = write_spec("input: [3, 8, 8]\nlayers:\n  - stem:\n    - eval: {conv: {out: 4, k: 3}}\n")
    with pytest.raises(SpecError) as info:
        build(str(path))
    assert str(info.value) == (
        f"{path}:4: layer name 'eval' in stem cannot be built in torch: 'eval' is an attribute of every torch "
        f"nn.Module {TORCH_NAMES}"
    )


# -- out of memory ----------------------------------------------------------------------------
CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 412316860416 bytes. Error code 12 (Cannot allocate memory)"
)


def test_out_of_memory_on_cpu_is_oom():
    import torch

    from cnncost.torch.bench import is_oom

    assert is_oom(RuntimeError(CPU_OOM))
    assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:85] DefaultCPUAllocator: not enough memory"))
    assert is_oom(MemoryError())
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


@pytest.mark.parametrize(
    ("exc", "shown"),
    [(RuntimeError(CPU_OOM), f"RuntimeError: {CPU_OOM}"), (MemoryError(), "MemoryError")],
)
def test_verify_out_of_memory_is_one_line(monkeypatch, capsys, exc, shown):
    from cnncost.torch import crosscheck

    def too_big(*args):
        raise exc

    monkeypatch.setattr(crosscheck, "check_against_torch", too_big)
    code, out, err = run_cli(monkeypatch, capsys, "verify", "lenet5", "--against", "torch", "--input", "1x64x64")
    assert (code, out) == (2, "")
    assert err == (
        "error: lenet5 at input 1×64×64: the torch checks need 3.476 MiB (parameters, buffers and peak live "
        "activations, fp32, batch 1, before torch's own overhead) and ran out of memory: "
        f"{shown} (expected a smaller --input, fewer --against checks, or a machine with more memory)\n"
    )


def test_other_torch_errors_are_not_hidden(monkeypatch, capsys):
    from cnncost.torch import crosscheck

    def broken(*args):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(crosscheck, "check_against_torch", broken)
    with pytest.raises(RuntimeError, match="shapes cannot"):
        run_cli(monkeypatch, capsys, "verify", "lenet5", "--against", "torch")


def test_bench_reports_a_cpu_allocation_failure_as_oom(monkeypatch):
    from cnncost.analysis.roofline import Roof
    from cnncost.torch import bench as benchmod

    def too_big(*args, **kwargs):
        raise RuntimeError(CPU_OOM)

    monkeypatch.setattr(benchmod, "time_callable", too_big)
    roof = Roof(50e9, "fp32 matmul, fixed for the tests", "tests", 10e9, "tests")
    (r,) = benchmod.bench_model(load_model("lenet5"), benchmod.BenchConfig(threads=1), roof)
    assert (r.status, r.error) == ("oom", f"RuntimeError: {CPU_OOM}")


# -- the schema: every key the expander accepts, and every zoo spec valid -----------------------
def schema() -> dict:
    from cnncost.spec.schema import json_schema

    return json_schema()


def layer_properties(s: dict) -> dict:
    (obj,) = [a for a in s["$defs"]["layer"]["anyOf"] if a.get("type") == "object"]
    return obj["properties"]


def test_dense_is_the_structure_in_the_schema():
    s = schema()
    props = layer_properties(s)
    assert "op_dense" not in s["$defs"] and "DenseNet" in json.dumps(props["dense"])  # items read it so
    assert {"units", "out_features", "out"} <= set(s["$defs"]["op_linear"]["properties"])
    for kind in STRUCTURE_TYPES:  # concat, add, mul, sub: a structure, its merge op's fields beside it
        assert f"op_{kind}" not in s["$defs"] and not props[kind].get("$ref", "").startswith("#/$defs/op_")


def test_every_key_the_expander_accepts_is_in_the_schema():
    from cnncost.ops import REGISTRY
    from cnncost.spec.family import TOP_KEYS

    s = schema()
    props = layer_properties(s)
    accepted = {*ITEM_KEYS, *STRUCTURE_TYPES}
    for st in STRUCTURE_TYPES.values():
        accepted |= set(st.keys) | (set(REGISTRY[st.op].fields) if st.op else set())
    assert accepted <= set(props)
    named = {"ref", "aux", "inplace", "survival", "train_only", "flat", "continue", "share", "shortcut", "then"}
    assert named <= set(props)
    assert props["flat"]["type"] == props["continue"]["type"] == "boolean"
    assert set(s["properties"]) == TOP_KEYS


_ALLOWED = {
    "$schema", "$ref", "$defs", "title", "description", "default", "type", "anyOf", "allOf", "not", "enum", "const",
    "properties", "additionalProperties", "required", "items", "minItems", "maxItems", "minimum",
}  # fmt: skip
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def problems(value, sch: dict, root: dict, where: str = "") -> list[str]:
    """A JSON Schema check of the subset ``cnncost schema`` uses (jsonschema is not a dependency); a keyword
    outside it fails the test, so the subset never silently grows."""
    assert set(sch) <= _ALLOWED, set(sch) - _ALLOWED
    if "$ref" in sch:
        return problems(value, root["$defs"][sch["$ref"].removeprefix("#/$defs/")], root, where)
    if "not" in sch:
        if not problems(value, sch["not"], root, where):
            return [f"{where}: {value!r} matches what it must not"]
        return problems(value, {k: v for k, v in sch.items() if k != "not"}, root, where)
    if "allOf" in sch:
        return [p for alt in sch["allOf"] for p in problems(value, alt, root, where)]
    if "anyOf" in sch:
        found = [problems(value, alt, root, where) for alt in sch["anyOf"]]
        if any(not f for f in found):
            return []
        mismatch = [f"{where}: type: {value!r}"]  # what the alternatives of another type say
        return [p for f in found if [m[: len(mismatch[0])] for m in f] != mismatch for p in f] or found[0]
    types = sch.get("type")
    if types is not None and not any(_TYPES[t](value) for t in ([types] if isinstance(types, str) else types)):
        return [f"{where}: type: {value!r} is not {types}"]
    out = [f"{where}: {value!r} not in {sch['enum']}"] if "enum" in sch and value not in sch["enum"] else []
    if "const" in sch and value != sch["const"]:
        out.append(f"{where}: {value!r} is not {sch['const']!r}")
    if _TYPES["number"](value) and value < sch.get("minimum", value):
        out.append(f"{where}: {value} < {sch['minimum']}")
    return out + _container_problems(value, sch, root, where)


def _container_problems(value, sch: dict, root: dict, where: str) -> list[str]:
    out = []
    if isinstance(value, dict):
        props, extra = sch.get("properties", {}), sch.get("additionalProperties", True)
        out += [f"{where}: {k!r} is required" for k in sch.get("required", ()) if k not in value]
        for k, v in value.items():
            if str(k) in props:
                out += problems(v, props[str(k)], root, f"{where}.{k}")
            elif extra is False:
                out.append(f"{where}: unexpected key {k!r}")
            elif isinstance(extra, dict):
                out += problems(v, extra, root, f"{where}.{k}")
    if isinstance(value, list):
        if len(value) < sch.get("minItems", 0) or len(value) > sch.get("maxItems", len(value)):
            out.append(f"{where}: {len(value)} items")
        for i, v in enumerate(value):
            out += problems(v, sch.get("items", {}), root, f"{where}[{i}]")
    return out


SPEC_FILES = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_every_zoo_spec_file_satisfies_the_schema(path):
    from cnncost.spec.yamlload import load_yaml

    s = schema()
    assert problems(load_yaml(path), s, s) == []


def test_the_schema_check_rejects_what_the_expander_rejects(write_spec):
    from cnncost.spec.yamlload import load_yaml

    s = schema()
    bad = {
        "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n": "unexpected key 'kernal'",
        "input: [3, 8, 8]\nlayers:\n  - residual: [relu]\n    flat: 3\n": "3 is not boolean",
        "input: [3, 8, 8]\nlayers: [relu]\ncolour: red\n": "unexpected key 'colour'",
        "layers: [relu]\n": "'input' is required",
    }
    for text, found in bad.items():
        assert any(found in p for p in problems(load_yaml(write_spec(text)), s, s)), text
    assert len(SPEC_FILES) > 30


# -- the JSON of `table`: every key documented ----------------------------------------------------
def _json_section() -> str:
    doc = (ROOT / "docs" / "commands.md").read_text()
    start = doc.index("JSON (`--format json`)")
    return doc[start : doc.index("\n## ", start)]


@pytest.mark.parametrize(
    "options", [(), ("--params", "keras"), ("--weights-only", "--depth", "1"), ("-c", "all", "--mode", "training")]
)
def test_every_json_key_of_table_is_documented(monkeypatch, capsys, options):
    code, out, _ = run_cli(monkeypatch, capsys, "table", "resnet50", *options, "-f", "json")
    assert code == 0
    doc = json.loads(out)
    keys = {*doc, *doc["totals"], *(k for layer in doc["layers"] for k in layer)}
    documented = set(re.findall(r"`([a-z_0-9]+)`", _json_section()))
    assert keys - documented == set()
    assert isinstance(doc["totals"]["train_macs_expected"], float) and "train_macs" not in doc["totals"]
