"""Every spec in the zoo against torch, fvcore and its reference implementation — exactly.

Costs: ~1-5 s per model on 2 CPU cores (fvcore traces with torch.jit); the whole catalogue
takes a couple of minutes. No weights are downloaded: every model is randomly initialised.
"""

from pathlib import Path

import pytest

from cnncost.spec.catalog import load_model
from tests.conftest import affordable_shape, by_cost, catalogue

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from cnncost.torch.builder import build  # noqa: E402
from cnncost.torch.crosscheck import UNEXPLAINED, crosscheck  # noqa: E402

CROSSCHECK_MACS = 10e9
"""A forward pass above this many MACs is checked at a smaller input in the default tier (the torch,
fvcore and reference checks do not depend on the size), and at its own input in the slow tier."""


@pytest.mark.torch
@pytest.mark.parametrize(("model", "shape"), by_cost(catalogue(), lambda s: affordable_shape(s, CROSSCHECK_MACS)))
def test_engine_equals_torch_fvcore_and_reference(model, shape):
    checks = crosscheck(load_model(model), input_shape=shape)
    failures = [f"{c.check}: cnncost {c.engine} vs {c.oracle}; " + "; ".join(c.details[:5]) for c in checks if not c.ok]
    assert not failures, "\n".join(failures)
    unexplained = [op for c in checks for op, (_, why) in c.skipped.items() if why == UNEXPLAINED]
    assert not unexplained, f"fvcore skips {unexplained}: say why in the op class's fvcore_skips"
    assert {c.check.split(" (")[0] for c in checks} >= {
        "shapes",
        "params",
        "buffers",
        "FlopCounterMode = 2×MACs",
        "fvcore total",
    }


@pytest.mark.torch
@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("resnet50", 25_557_032),
        ("vgg16", 138_357_544),
        ("alexnet", 61_100_840),
    ],
)
def test_named_references_match(model, params):
    spec = load_model(model)
    assert spec.reference.startswith("torchvision.models.")
    checks = {c.check: c for c in crosscheck(spec, ["reference"])}
    assert checks[f"reference {spec.reference}: params"].oracle == params
    assert all(c.ok for c in checks.values())


@pytest.mark.torch
def test_module_names_follow_spec_paths():
    names = dict(build("resnet50").named_modules())
    assert isinstance(names["conv2_x.0.conv1"], torch.nn.Conv2d)
    assert isinstance(names["conv3_x.0.shortcut.conv1"], torch.nn.Conv2d)
    assert names["conv3_x.0.shortcut.conv1"].stride == (2, 2)


@pytest.mark.torch
def test_a_wrong_layer_is_named(write_spec, monkeypatch):
    """A spec whose conv forgets bias=false: verify names the layer and guesses why."""
    path = write_spec("""
        input: [3, 32, 32]
        reference: torchvision.models.resnet18
        layers:
          - conv: {out: 8, k: 3, pad: 1, bias: false}
          - bn
          - relu
        """)
    spec = load_model(str(path))
    from cnncost.torch import crosscheck as cc

    real = cc.SpecNet

    class Tampered(real):  # the instantiated model gets a bias the spec does not declare
        def __init__(self, graph):
            super().__init__(graph)
            conv = self.get_submodule("conv1")
            conv.bias = torch.nn.Parameter(torch.zeros(8))

    monkeypatch.setattr(cc, "SpecNet", Tampered)
    checks = {c.check: c for c in crosscheck(spec, ["torch"])}
    params = checks["params (trainable)"]
    assert not params.ok
    assert params.details == ["conv1: engine 216 params, torch 224 — bias?"]


@pytest.mark.torch
def test_a_spec_with_a_wrong_layer_fails_against_its_reference_with_the_layer_named(write_spec):
    """A ResNet-18 spec whose conv3_x.0.conv2 wrongly has a bias: the reference check names it."""
    text = (Path(__file__).resolve().parent.parent / "specs" / "resnet.yaml").read_text()
    wrong = text.replace(
        "      - conv: {out: planes, k: 3, pad: 1, bias: false}\n      - bn\n    shortcut",
        '      - conv: {out: planes, k: 3, pad: 1, bias: "planes != 128"}\n      - bn\n    shortcut',
        1,
    )
    assert wrong != text
    spec = load_model(f"{write_spec(wrong, 'resnet.yaml')}:resnet18")
    checks = {c.check: c for c in crosscheck(spec, ["reference"])}
    params = checks["reference torchvision.models.resnet18: params"]
    assert not params.ok
    assert params.engine - params.oracle == 2 * (64 + 256 + 512)  # 2 blocks per stage, all but conv3_x
    assert params.details[0] == ("conv2_x.0.conv2 ↔ layer1.0.conv2: engine 36,928 params, torch 36,864 — bias?")
