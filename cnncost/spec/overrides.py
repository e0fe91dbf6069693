"""Overriding a model's params (``--set depths=[3,4,6,3]``, ``analyze(..., params={...})``), validated
exactly as a variant's overrides are: an unknown key is an error naming the known ones, and a value must
be of the kind the param's default is (a number for a number, a list of numbers for a list of numbers).

A sweep (``cnncost sweep``) reads the same ``--set`` with several values per key: ``KEY=V1,V2,...``,
split at top-level commas, each value YAML or a range ``start:stop:step``."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from cnncost.errors import SpecError, count, shown
from cnncost.limits import SWEEP
from cnncost.spec.family import ModelSpec
from cnncost.spec.yamlload import load_yaml_text

_SET_FORM = "KEY=VALUE with a YAML value: --set depths=[3,4,6,3], --set block=basic"
_AXIS_FORM = "KEY=V1,V2,... with YAML values or a range start:stop:step: --set depths=[2,2,2,2],[3,4,6,3]"


def _key_value(item: str, form: str) -> tuple[str, str]:
    """``'depths=[3,4,6,3]'`` → ``('depths', '[3,4,6,3]')``, or the error saying what ``form`` is."""
    key, eq, value = item.partition("=")
    key = key.strip()
    if not eq or not key.isidentifier():
        raise SpecError(f"--set {item!r}", expected=form)
    return key, value


def _yaml_value(key: str, value: str) -> Any:
    try:
        return load_yaml_text(value) if value.strip() else None
    except SpecError as exc:  # the value is one line: its line number says nothing
        raise SpecError(f"--set {key}={value!r}: {exc.message}", expected=exc.expected) from None


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``['depths=[3,4,6,3]', 'width=0.75']`` → ``{'depths': [3, 4, 6, 3], 'width': 0.75}``: each value is
    YAML, read with the spec loader (safe, bounded)."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = _key_value(item, _SET_FORM)
        if key in out:
            raise SpecError(f"--set {key} given twice")
        out[key] = _yaml_value(key, value)
    return out


def parse_axes(items: Iterable[str]) -> dict[str, list[Any]]:
    """``['depths=[2,2,2,2],[3,4,6,3]', 'width_mult=0.5:1.5:0.25']`` → each key's list of values, in order:
    ``parse_sets`` with several values per key (``parse_values``)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, value = _key_value(item, _AXIS_FORM)
        if key in out:
            raise SpecError(f"--set {key} given twice")
        out[key] = parse_values(value, f"--set {key}")
    return out


def split_top(text: str) -> list[str]:
    """Split on commas outside brackets, braces, parentheses and quotes, each part stripped (empty parts
    kept, for the caller to refuse): ``[2,2],[3,4],'a,b'`` → ``['[2,2]', '[3,4]', "'a,b'"]``."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER}):({_NUMBER})(?::({_NUMBER}))?$")


def expand_range(text: str, option: str) -> list[int | float] | None:
    """``'128:320:32'`` → 128, 160, …, 320; ``'0.5:1.5:0.25'`` → 0.5, 0.75, 1.0, 1.25, 1.5 (``start:stop``
    steps by 1). The stop is included when it lands on the grid; each value is ``start + k·step`` computed
    exactly (in fractions) and rounded once, so ``0.1:0.3:0.1`` ends at 0.3, not 0.30000000000000004.
    Integers when all three are integers, else floats. None when ``text`` is not a range."""
    m = _RANGE.match(text.replace(" ", ""))
    if m is None:
        return None
    start, stop, step = (Fraction(g) for g in (m[1], m[2], m[3] or "1"))
    if step <= 0 or stop < start:
        raise SpecError(
            f"{option}: bad range {text!r}", expected="start:stop:step with start ≤ stop and step > 0, e.g. 128:320:32"
        )
    n = math.floor((stop - start) / step) + 1
    if n > SWEEP.value:
        raise over_limit(f"{option}: range {text!r} has {count(n)} values")
    integral = all(re.fullmatch(r"[+-]?\d+", g) for g in (m[1], m[2], m[3] or "1"))
    values = (start + k * step for k in range(n))
    return [int(v) if integral else float(v) for v in values]


def parse_values(text: str, option: str) -> list[Any]:
    """One axis of a sweep: ``'[2,2,2,2],[3,4,6,3]'`` → two lists; ``'basic,bottleneck'`` → two strings;
    a part that is a range (``expand_range``) → its values. Every part is YAML (``load_yaml_text``)."""
    values: list[Any] = []
    for part in split_top(text):
        if not part:
            raise SpecError(f"{option}: an empty value in {text!r}", expected="V1,V2,... with no empty value")
        expanded = expand_range(part, option)
        if expanded is not None:
            values += expanded
        else:
            try:
                values.append(load_yaml_text(part))
            except SpecError as exc:  # one line: its line number says nothing
                raise SpecError(f"{option}: {part!r}: {exc.message}", expected=exc.expected) from None
        if len(values) > SWEEP.value:
            raise over_limit(f"{option}: {count(len(values))} values")
    return values


def over_limit(found: str) -> SpecError:
    """The error for a sweep over ``SWEEP``: what was found, the limit, and the ways out."""
    return SpecError(
        f"{found}: over the limit of {SWEEP.value:,} {SWEEP.what}",
        expected=f"fewer values, --sample N, or {SWEEP.env}=N to raise the limit",
    )


def with_params(spec: ModelSpec, overrides: Mapping[str, Any]) -> ModelSpec:
    """``spec`` with some params replaced; the name says which (``resnet18 [block=bottleneck]``)."""
    if not overrides:
        return spec
    for key, value in overrides.items():
        if key not in spec.params:
            close = difflib.get_close_matches(key, list(spec.params), n=3, cutoff=0.6)
            known = ", ".join(spec.params) or "(none)"
            raise SpecError(
                f"--set {key}: {spec.name} has no parameter {key!r}",
                expected=(f"did you mean {', '.join(close)}? " if close else "") + f"params: {known}",
            )
        check_kind(spec, key, value)
    shown_sets = ", ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}" for k, v in overrides.items()
    )
    return dataclasses.replace(spec, params={**spec.params, **overrides}, name=f"{spec.name} [{shown_sets}]")


def check_kind(spec: ModelSpec, key: str, value: Any) -> None:
    """A ``SpecError`` unless ``value`` is of the kind of the param's default: the same of bool, number
    (int or float: the zoo's variants mix them, DenseNet's ``compression`` is 1 or 0.5), text, list or
    mapping, and a list's items of the kind of the default's when those are all of one kind."""
    default = spec.params[key]
    wrong = _mismatch(default, value)
    if wrong is not None:
        raise SpecError(
            f"--set {key}={_json(value)}: {wrong}",
            expected=f"{_describe(default)} like {spec.name}'s {key}: {_json(default)}",
        )


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list | tuple):
        return "list"
    if isinstance(v, Mapping):
        return "mapping"
    return "null" if v is None else type(v).__name__


def _describe(v: Any) -> str:
    """``'a list of numbers'``, ``'a number'``, ``'text'``: the kind of a default, as a message says it."""
    kind = _kind(v)
    if kind == "list":
        inner = {_kind(x) for x in v}
        if len(inner) == 1 and v:
            return "a list of " + {"bool": "booleans", "number": "numbers", "text": "strings", "list": "lists"}.get(
                inner.pop(), "mappings"
            )
        return "a list"
    return {"bool": "true or false", "number": "a number", "text": "text", "mapping": "a mapping"}.get(kind, kind)


def _mismatch(default: Any, value: Any) -> str | None:
    """What is wrong with ``value`` for a param whose default is ``default``, or None. A null default (or
    value) says nothing of the kind."""
    if default is None or value is None:
        return None
    if _kind(default) != _kind(value):
        return f"{_describe(value)} where the param is {_describe(default)}"
    if _kind(default) == "list" and default:
        inner = {_kind(x) for x in default}
        if len(inner) == 1:
            for i, item in enumerate(value):
                wrong = _mismatch(default[0], item)
                if wrong is not None:
                    return f"item {i} ({_json(item)}): {wrong}"
    return None


def _json(v: Any) -> str:
    """A value as the user wrote it, more or less (JSON), its middle cut when long."""
    text = json.dumps(v, default=str)
    return text if len(text) <= 80 else shown(text)
