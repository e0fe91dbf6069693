"""Overriding a model's params (``--set depths=[3,4,6,3]``, ``analyze(..., params={...})``), validated
exactly as a variant's overrides are: an unknown key is an error naming the known ones."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cnncost.errors import SpecError
from cnncost.spec.family import ModelSpec
from cnncost.spec.yamlload import load_yaml_text


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``['depths=[3,4,6,3]', 'width=0.75']`` → ``{'depths': [3, 4, 6, 3], 'width': 0.75}``: each value is
    YAML, read with the spec loader (safe, bounded)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise SpecError(
                f"--set {item!r}", expected="KEY=VALUE with a YAML value: --set depths=[3,4,6,3], --set block=basic"
            )
        if key in out:
            raise SpecError(f"--set {key} given twice")
        try:
            out[key] = load_yaml_text(value) if value.strip() else None
        except SpecError as exc:  # the value is one line: its line number says nothing
            raise SpecError(f"--set {key}={value!r}: {exc.message}", expected=exc.expected) from None
    return out


def with_params(spec: ModelSpec, overrides: Mapping[str, Any]) -> ModelSpec:
    """``spec`` with some params replaced; the name says which (``resnet18 [block=bottleneck]``)."""
    if not overrides:
        return spec
    for key in overrides:
        if key not in spec.params:
            close = difflib.get_close_matches(key, list(spec.params), n=3, cutoff=0.6)
            known = ", ".join(spec.params) or "(none)"
            raise SpecError(
                f"--set {key}: {spec.name} has no parameter {key!r}",
                expected=(f"did you mean {', '.join(close)}? " if close else "") + f"params: {known}",
            )
    shown = ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}" for k, v in overrides.items())
    return dataclasses.replace(spec, params={**spec.params, **overrides}, name=f"{spec.name} [{shown}]")
