"""Instantiate a spec's reference implementation (torchvision or timm), random init, no downloads.

Reference strings: ``torchvision.models.resnet50``, ``torchvision.models.googlenet(aux_logits=False)``,
``timm:inception_v4``, ``timm:legacy_xception(drop_rate=0.0)``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from torch import nn

from cnncost.errors import SpecError

_REF = re.compile(r"^\s*(torchvision\.models\.|timm:)([A-Za-z_][A-Za-z0-9_.]*)\s*(\((.*)\))?\s*$", re.S)


def parse_reference(text: str) -> tuple[str, str, dict[str, Any]]:
    """``'timm:dpn68(num_classes=10)'`` → ('timm', 'dpn68', {'num_classes': 10})."""
    m = _REF.match(text)
    if not m:
        raise SpecError(f"bad reference {text!r}",
                        expected="torchvision.models.NAME(...) or timm:NAME(...)")
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


def build_reference(text: str) -> nn.Module:
    source, name, kwargs = parse_reference(text)
    if source == "torchvision":
        import torchvision.models as tvm

        fn = getattr(tvm, name, None)
        if fn is None:
            raise SpecError(f"torchvision has no model {name!r}")
        return fn(weights=None, **kwargs)
    import timm

    model: nn.Module = timm.create_model(name, pretrained=False, **kwargs)
    return model
