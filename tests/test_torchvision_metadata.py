"""Every CNN torchvision ships, against torchvision's own weights metadata — a table nobody here wrote.

For each weight: the zoo spec that names the builder as its ``reference`` has ``num_params`` parameters
and, at the weights' evaluation size (``crop_size``; segmentation: ``resize_size``), conv + linear MACs
equal to ``_ops`` (GMACs) at its 3 decimals. No download: the metadata is in the package.
"""

from __future__ import annotations

import inspect

import pytest

from cnncost import analyze, load_model
from tests.conftest import catalogue

tvm = pytest.importorskip("torchvision.models")

NOT_CNNS = ("vit_", "swin_", "maxvit_")
"""Transformers torchvision also ships: out of the zoo's scope."""


def torchvision_cnns() -> list[str]:
    names = [*tvm.list_models(module=tvm), *tvm.list_models(module=tvm.segmentation)]
    return sorted(n for n in names if not n.startswith(NOT_CNNS))


LOADED_WITH = {
    "googlenet": {"aux_logits": False},
    "inception_v3": {"aux_logits": True},
    **{
        n: {"aux_loss": True}
        for n in tvm.list_models(module=tvm.segmentation)
        if "aux_loss" in inspect.signature(tvm.get_model_builder(n)).parameters
    },
}
"""What a torchvision builder does to the architecture when it loads weights (its source): googlenet
loads with the aux heads and drops them unless asked (default: dropped), inception_v3 keeps them
(``aux_logits`` defaults to True), the segmentation builders that have an aux classifier force
``aux_loss=True``."""
DEFAULTS = {"googlenet": {"aux_logits": False}, "inception_v3": {"aux_logits": True}}
SHAPE_FREE = {"init_weights"}
"""Builder arguments that change no parameter or shape."""


def weights_model(reference: str) -> str:
    """The builder whose weights' metadata a reference reproduces, or "" when its arguments give
    another architecture: ``torchvision.models.segmentation.fcn_resnet50(aux_loss=True)`` → ``fcn_resnet50``,
    ``torchvision.models.mobilenet_v2(width_mult=1.4)`` → ""."""
    from cnncost.torch.reference import parse_reference

    if not reference.startswith("torchvision.models."):
        return ""
    _, path, kwargs = parse_reference(reference)
    name = path.rsplit(".", 1)[-1]
    implied = LOADED_WITH.get(name, {})
    effective = {**DEFAULTS.get(name, {}), **{k: v for k, v in kwargs.items() if k not in SHAPE_FREE}}
    return name if all(effective.get(k) == v for k, v in implied.items()) and set(effective) <= set(implied) else ""


def specs_by_reference() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for model in catalogue():
        name = weights_model(load_model(model).reference)
        if name:
            out.setdefault(name, []).append(model)
    return out


SPECS = specs_by_reference()
WEIGHTS = [
    pytest.param(name, w, id=f"{name}.{w.name}") for name in torchvision_cnns() for w in tvm.get_model_weights(name)
]


def test_every_torchvision_cnn_has_a_spec():
    cnns = torchvision_cnns()
    assert len(cnns) == 74
    missing = [n for n in cnns if n not in SPECS]
    assert not missing, f"{len(cnns) - len(missing)} of {len(cnns)} have a spec; missing: {', '.join(missing)}"


@pytest.mark.parametrize(("name", "weights"), WEIGHTS)
def test_spec_equals_torchvision_metadata(name, weights):
    if name not in SPECS:
        pytest.fail(f"no zoo spec has reference torchvision.models.{name}")
    size = weights.transforms.keywords.get("crop_size") or weights.transforms.keywords["resize_size"]
    size = size[0] if isinstance(size, (list, tuple)) else size
    for model in SPECS[name]:
        a = analyze(model, (3, size, size))
        assert (a.totals.params, round(a.totals.macs / 1e9, 3)) == (weights.meta["num_params"], weights.meta["_ops"]), (
            f"{model} at {size}×{size}: {a.totals.params:,} params, {a.totals.macs:,} MACs"
        )
