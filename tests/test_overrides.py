"""Overriding a spec's params (``--set``, ``analyze(params=...)``), checked against torchvision's weights
metadata — a ResNet-18 spec set to bottlenecks and ResNet-50/101 depths is those networks — and against
the validation variants get: an unknown key or a malformed ``--set`` is one line, exit 2."""

from __future__ import annotations

import json

import pytest

from cnncost import analyze
from cnncost.errors import SpecError
from tests.test_hostile_input import run_cli

tvm = pytest.importorskip("torchvision.models")


@pytest.mark.parametrize(("name", "depths"), [("resnet50", [3, 4, 6, 3]), ("resnet101", [3, 4, 23, 3])])
def test_set_reaches_torchvisions_networks(monkeypatch, capsys, name, depths):
    meta = tvm.get_model_weights(name).DEFAULT.meta
    code, out, _ = run_cli(
        monkeypatch, capsys, "table", "resnet18", "--set", "block=bottleneck", "--set", f"depths={depths}", "-f", "json"
    )
    totals = json.loads(out)["totals"]
    assert code == 0 and totals["params"] == meta["num_params"]
    assert round(totals["macs"] / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)
    a = analyze("resnet18", params={"block": "bottleneck", "depths": depths})
    assert (a.totals.params, a.totals.macs) == (totals["params"], totals["macs"])
    assert a.model.name == f"resnet18 [block=bottleneck, depths={depths}]"


def test_set_applies_to_every_compared_model(monkeypatch, capsys):
    code, out, _ = run_cli(
        monkeypatch, capsys, "compare", "resnet18", "resnet34", "--set", "depths=[1,1,1,1]", "-f", "json"
    )
    rows = json.loads(out)["models"]
    assert code == 0 and [r["model"] for r in rows] == [
        "resnet18 [depths=[1, 1, 1, 1]]",
        "resnet34 [depths=[1, 1, 1, 1]]",
    ]
    assert rows[0]["params"] == rows[1]["params"] == analyze("resnet18", params={"depths": [1, 1, 1, 1]}).totals.params


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "dept=3"],
            "error: --set dept: resnet18 has no parameter 'dept' "
            "(expected did you mean depths? params: block, depths, stride_at, classes, width, width_per_group)\n",
        ),
        (
            ["--set", "depths"],
            "error: --set 'depths' (expected KEY=VALUE with a YAML value: --set depths=[3,4,6,3], --set block=basic)\n",
        ),
        (["--set", "depths=[1,1"], "error: --set depths='[1,1': invalid YAML: did not find expected ',' or ']'\n"),
        (["--set", "classes=1", "--set", "classes=2"], "error: --set classes given twice\n"),
    ],
)
def test_bad_sets_are_one_line_errors(monkeypatch, capsys, args, message):
    code, _, err = run_cli(monkeypatch, capsys, "table", "resnet18", *args)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1


def test_set_on_a_torch_source_is_refused(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "table", "tests/nets.py:plain", "--set", "width=2")
    assert code == 2
    assert err == (
        "error: --set: tests/nets.py:plain is a torch model, it has no params (expected a zoo model or a spec file)\n"
    )


def test_library_override_validates_like_a_variant():
    with pytest.raises(SpecError, match=r"resnet18 has no parameter 'widths'"):
        analyze("resnet18", params={"widths": 2})
