"""Instantiate a spec's reference implementation (torchvision or timm), random init, no downloads.

Reference strings: ``torchvision.models.resnet50``, ``torchvision.models.googlenet(aux_logits=False)``,
``torchvision.models.segmentation.fcn_resnet50(aux_loss=True)`` (a dotted path below torchvision.models),
``timm:inception_v4``, ``timm:legacy_xception(drop_rate=0.0)``.
"""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any

from torch import nn

from cnncost.errors import SpecError

_REF = re.compile(r"^\s*(torchvision\.models\.|timm:)([A-Za-z_][A-Za-z0-9_.]*)\s*(\((.*)\))?\s*$", re.S)


def parse_reference(text: str) -> tuple[str, str, dict[str, Any]]:
    """``'timm:dpn68(num_classes=10)'`` → ('timm', 'dpn68', {'num_classes': 10})."""
    m = _REF.match(text)
    if not m:
        raise SpecError(
            f"bad reference {text!r}", expected="torchvision.models[.SUBMODULE].NAME(...) or timm:NAME(...)"
        )
    source = "timm" if m.group(1) == "timm:" else "torchvision"
    kwargs: dict[str, Any] = {}
    if m.group(4):
        call = ast.parse(f"f({m.group(4)})", mode="eval").body
        assert isinstance(call, ast.Call)
        for kw in call.keywords:
            if kw.arg is None:
                raise SpecError(f"bad reference {text!r}", expected="keyword arguments only")
            kwargs[kw.arg] = ast.literal_eval(kw.value)
    return source, m.group(2), kwargs


def _torchvision_builder(path: str) -> Any:
    """``'segmentation.fcn_resnet50'`` → ``torchvision.models.segmentation.fcn_resnet50``: each dotted part
    an attribute of the one before, from ``torchvision.models`` (its submodules: segmentation, detection...)."""
    import importlib

    import torchvision.models as tvm

    obj: Any = tvm
    for part in path.split("."):
        child = getattr(obj, part, None)
        if child is None and inspect.ismodule(obj):
            try:
                child = importlib.import_module(f"{obj.__name__}.{part}")
            except ImportError:
                child = None
        if child is None:
            raise SpecError(
                f"torchvision has no model {path!r}",
                expected="a builder of torchvision.models or of a submodule: segmentation.fcn_resnet50",
            )
        obj = child
    if not callable(obj) or inspect.ismodule(obj):
        raise SpecError(f"torchvision.models.{path} is not a model builder")
    return obj


def build_reference(text: str) -> nn.Module:
    """The reference model, randomly initialised: ``weights=None`` and, for builders that take one
    (segmentation, detection: ImageNet backbone weights by default), ``weights_backbone=None`` — nothing
    is ever downloaded."""
    source, name, kwargs = parse_reference(text)
    if source == "torchvision":
        fn = _torchvision_builder(name)
        defaults: dict[str, Any] = {"weights": None}
        try:
            if "weights_backbone" in inspect.signature(fn).parameters:
                defaults["weights_backbone"] = None
        except (TypeError, ValueError):  # no signature to read: the builder takes weights only
            pass
        model: nn.Module = fn(**{**defaults, **kwargs})
        return model
    import timm

    model = timm.create_model(name, pretrained=False, **kwargs)
    return model
