"""A spec file as typed data: a family of variants sharing params, blocks and layers.

Only structure is checked here (which keys, which types); layers are validated when they
are expanded, where the input shape is known (see ``expand.py``).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnncost.errors import SpecError, did_you_mean, shown
from cnncost.spec.yamlload import LDict, LList, load_yaml

TOP_KEYS = {
    "family",
    "name",
    "title",
    "cite",
    "url",
    "notes",
    "input",
    "params",
    "variants",
    "blocks",
    "layers",
    "reported",
    "reference",
    "differs",
    "aliases",
    "default",
}
"""Keys a spec file may have at top level."""

META_KEYS = {"title", "notes", "input", "reference", "reported", "differs", "aliases", "cite", "accuracy"}
"""Keys a variant may set besides params."""

TEXT_KEYS = ("family", "name", "title", "cite", "url", "notes", "reference", "differs", "default")
"""Metadata that is text (a number is read as its text; a mapping or a list is an error)."""

ACCURACY_KEYS = ("top1_error", "top5_error", "source")
"""What a variant's ``accuracy:`` may hold: published ImageNet errors in percent, and their source."""

_SIG = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.S)


@dataclass(frozen=True)
class BlockDef:
    """``bottleneck(planes, stride=1)``: a named, parameterised piece of network."""

    name: str
    params: tuple[str, ...]
    defaults: dict[str, Any]
    body: Any
    line: int

    @staticmethod
    def parse(signature: str, body: Any, line: int, file: str) -> BlockDef:
        m = _SIG.match(signature)
        if not m:
            raise SpecError(
                f"bad block signature {signature!r}", file=file, line=line, expected="name or name(arg, arg=default)"
            )
        name, inner = m.group(1), m.group(2)
        params: list[str] = []
        defaults: dict[str, Any] = {}
        if inner and inner.strip():
            try:
                fn = ast.parse(f"def f({inner}): pass").body[0]
            except SyntaxError:
                raise SpecError(
                    f"bad block signature {signature!r}", file=file, line=line, expected="name(arg, arg=default)"
                ) from None
            assert isinstance(fn, ast.FunctionDef)
            names = [a.arg for a in fn.args.args]
            params = names
            for arg_name, default in zip(names[len(names) - len(fn.args.defaults) :], fn.args.defaults, strict=True):
                defaults[arg_name] = ast.unparse(default)
        return BlockDef(name, tuple(params), defaults, body, line)


@dataclass(frozen=True)
class Reported:
    """A published number the model should reproduce (paper or lecture), with its convention."""

    metric: str
    value: float
    source: str = ""
    convention: str = ""
    tolerance: float = 0.0
    layer: str = ""
    input: tuple[int, ...] | None = None
    erratum: str = ""
    differs: str = ""
    line: int = 0
    raw_value: str = ""


@dataclass
class ModelSpec:
    """One concrete model: a variant of a family with its params bound."""

    name: str
    family: str
    file: str
    title: str
    cite: str
    input: tuple[int, ...]
    params: dict[str, Any]
    layers: Any
    blocks: dict[str, BlockDef]
    reference: str = ""
    differs: str = ""
    notes: str = ""
    aliases: tuple[str, ...] = ()
    reported: list[Reported] = field(default_factory=list)
    line: int = 0
    accuracy: dict[str, Any] = field(default_factory=dict)
    """Published ImageNet errors for `compare`: {top1_error, top5_error, source} (percent)."""


@dataclass
class FamilySpec:
    """A parsed spec file."""

    family: str
    file: str
    data: LDict
    blocks: dict[str, BlockDef]
    variants: dict[str, LDict]

    @property
    def model_names(self) -> list[str]:
        return list(self.variants)

    def aliases(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.variants:
            for alias in self._aliases(name):
                out[alias] = name
        return out

    def _aliases(self, name: str) -> tuple[str, ...]:
        """The variant's ``aliases:`` (a file of one model may give them at top level, as ``reference:``)."""
        v = self.variants[name]
        raw = v.get("aliases", self.data.get("aliases") if len(self.variants) == 1 else None)
        return tuple(str(a) for a in raw or ())

    def model(self, name: str) -> ModelSpec:
        """Bind variant ``name``: family params overridden by the variant's."""
        if name not in self.variants:
            raise SpecError(
                f"no model {name!r} in this file", file=self.file, expected="one of: " + ", ".join(self.variants)
            )
        v = self.variants[name]
        d = self.data
        params = dict(d.get("params") or {})
        for key, value in v.items():
            if key in META_KEYS:
                continue
            if key not in params:
                hint = did_you_mean(key, [*params, *META_KEYS])
                raise SpecError(
                    f"variant {name}: unknown parameter {key!r}",
                    file=self.file,
                    line=v.line_of(key),
                    expected=(hint + " " if hint else "")
                    + "a key of params: "
                    + (", ".join(params) or "(none declared)")
                    + " or one of "
                    + ", ".join(sorted(META_KEYS)),
                )
            params[key] = value
        input_shape = _shape(v.get("input", d.get("input")), self.file, v.line_of("input"))
        entries = [(r, rs, k) for rs in (d.get("reported") or [], v.get("reported") or []) for k, r in enumerate(rs)]
        reported = [
            _reported(r, self.file, i, rs.line_of(k) if isinstance(rs, LList) else v.line)
            for i, (r, rs, k) in enumerate(entries)
        ]
        return ModelSpec(
            name=name,
            family=self.family,
            file=self.file,
            title=str(v.get("title") or d.get("title") or name),
            cite=str(v.get("cite") or d.get("cite") or ""),
            input=input_shape,
            params=params,
            layers=d.get("layers"),
            blocks=self.blocks,
            reference=str(v.get("reference") or (d.get("reference") if len(self.variants) == 1 else "") or ""),
            differs=str(v.get("differs") or ""),
            notes=str(v.get("notes") or d.get("notes") or ""),
            aliases=self._aliases(name),
            reported=reported,
            line=v.line,
            accuracy=dict(v.get("accuracy") or {}),
        )


def parse_family(path: Path) -> FamilySpec:
    """Read and structurally check one spec file."""
    try:
        data = load_yaml(path)
    except SpecError as exc:
        raise _tab_named(exc, path) from None
    return parse_family_data(data, path)


def _tab_named(exc: SpecError, path: Path) -> SpecError:
    """A YAML syntax error on a line with a tab, said so: the parser only finds "a character that cannot
    start any token", which is a tab you cannot see in the editor."""
    if not exc.message.startswith("invalid YAML") or not exc.line:
        return exc
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return exc
    text = lines[exc.line - 1] if exc.line <= len(lines) else ""
    if "\t" not in text:
        return exc
    exc.message = f"invalid YAML: a tab character at column {text.index(chr(9)) + 1}"
    exc.expected = "spaces: YAML indents with spaces, never tabs (inside quotes, a tab is written \\t)"
    return exc


def parse_family_data(data: Any, path: Path) -> FamilySpec:
    """Structurally check a spec already read (from a file, or written in memory by ``cnncost import``)."""
    file = str(path)
    _check_top(data, file)
    assert isinstance(data, LDict)
    _check_meta(data, file, "")
    family = str(data.get("family") or data.get("name") or path.stem)
    return FamilySpec(family, file, data, _blocks(data, file), _variants(data, file, path))


def _check_meta(m: LDict, file: str, where: str) -> None:
    """The types of the file's (``where`` is ``""``) or a variant's (``"variant x: "``) metadata, so that a
    wrong one is an error at its line here, never a traceback where it is read."""
    for key in TEXT_KEYS:
        if key in m:
            _text(m[key], where + key, file, m.line_of(key))
    aliases = m.get("aliases")
    if aliases is not None and (
        not isinstance(aliases, list) or not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in aliases)
    ):
        raise SpecError(
            f"{where}aliases: got {shown(aliases)}",
            file=file,
            line=m.line_of("aliases"),
            expected="a list of names, e.g. aliases: [rn50]",
        )
    reported = m.get("reported")
    if reported is not None and not isinstance(reported, list):
        raise SpecError(
            f"{where}reported: got {shown(reported)}",
            file=file,
            line=m.line_of("reported"),
            expected="a list of published numbers, e.g. - {metric: params, value: 25.5M, source: ...}",
        )
    if "accuracy" in m:
        _accuracy(m["accuracy"], file, where, m.line_of("accuracy"))


def _text(value: Any, what: str, file: str, line: int) -> str:
    if isinstance(value, (dict, list)):
        raise SpecError(f"{what}: got {shown(value)}", file=file, line=line, expected="text")
    return "" if value is None else str(value)


def _accuracy(acc: Any, file: str, where: str, line: int) -> None:
    if not isinstance(acc, LDict):
        raise SpecError(
            f"{where}accuracy: got {shown(acc)}",
            file=file,
            line=line,
            expected="a mapping such as {top1_error: 23.9, top5_error: 7.1, source: ...} (percent)",
        )
    for key, value in acc.items():
        at = acc.line_of(key)
        if key not in ACCURACY_KEYS:
            raise SpecError(
                f"{where}accuracy: unknown key {key!r}", file=file, line=at, expected=", ".join(ACCURACY_KEYS)
            )
        if key == "source":
            _text(value, f"{where}accuracy.source", file, at)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise SpecError(f"{where}accuracy.{key}: got {shown(value)}", file=file, line=at, expected="a percentage")


def _check_top(data: Any, file: str) -> None:
    if not isinstance(data, LDict):
        raise SpecError("a spec file must be a mapping", file=file, expected="keys such as layers:, input:")
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(
                f"unknown top-level key {key!r}",
                file=file,
                line=data.line_of(key),
                expected=", ".join(sorted(TOP_KEYS)),
            )
    if not isinstance(data.get("layers"), LList):
        raise SpecError("missing or non-list 'layers'", file=file, line=data.line, expected="layers: a list of layers")
    if "input" not in data:
        raise SpecError("missing 'input'", file=file, line=data.line, expected="input: [C, H, W]")
    if not isinstance(data.get("params") or LDict(), dict):
        raise SpecError("'params' must be a mapping", file=file, line=data.line_of("params"))


def _blocks(data: LDict, file: str) -> dict[str, BlockDef]:
    blocks: dict[str, BlockDef] = {}
    raw_blocks = data.get("blocks") or LDict()
    if not isinstance(raw_blocks, LDict):
        raise SpecError("'blocks' must be a mapping of name(args): layers", file=file, line=data.line_of("blocks"))
    for sig, body in raw_blocks.items():
        block = BlockDef.parse(sig, body, raw_blocks.line_of(sig), file)
        if block.name in blocks:
            raise SpecError(f"block {block.name!r} defined twice", file=file, line=block.line)
        blocks[block.name] = block
    return blocks


def _empty(line: int) -> LDict:
    out = LDict()
    out.line = line
    out.key_lines = {}
    return out


def _variants(data: LDict, file: str, path: Path) -> dict[str, LDict]:
    variants = data.get("variants")
    if variants is None:
        variants = LDict({str(data.get("name") or path.stem): _empty(data.line)})
    elif not isinstance(variants, LDict) or not variants:
        raise SpecError(
            "'variants' must be a non-empty mapping name: {overrides}", file=file, line=data.line_of("variants")
        )
    checked: dict[str, LDict] = {}
    for name, v in variants.items():
        if v is None:
            v = _empty(variants.line_of(name))
        if not isinstance(v, LDict):
            raise SpecError(f"variant {name}: expected a mapping of overrides", file=file, line=variants.line_of(name))
        _check_meta(v, file, f"variant {name}: ")
        checked[name] = v
    return checked


def _shape(value: Any, file: str, line: int) -> tuple[int, ...]:
    if isinstance(value, str):
        value = value.replace("×", "x").split("x")
    if not isinstance(value, list) or not value:
        raise SpecError(f"bad input shape {value!r}", file=file, line=line, expected="[C, H, W]")
    if not all(
        (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, str) and x.strip().isdigit()) for x in value
    ):
        raise SpecError(f"bad input shape {value!r}", file=file, line=line, expected="[C, H, W] in whole numbers")
    shape = tuple(int(x) for x in value)
    if any(x < 1 for x in shape):
        raise SpecError(f"bad input shape {value!r}", file=file, line=line, expected="positive sizes")
    return shape


_SUFFIX = {"K": 1, "M": 2, "G": 3, "B": 3, "T": 4}


def parse_quantity(raw: Any, base: int = 1000) -> float:
    """``'159K'`` → 159·base, ``'3.8e9'`` → 3.8e9, ``'1.5G'`` → 1.5·base³."""
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, (int, float)):
        return float(raw)
    text = str(raw).strip().replace(",", "").replace("_", "")
    if text and text[-1].upper() in _SUFFIX:
        return float(text[:-1]) * base ** _SUFFIX[text[-1].upper()]
    return float(text)


REPORTED_KEYS = {"metric", "value", "base", "source", "convention", "tolerance", "layer", "input", "erratum", "differs"}
METRICS = (
    "params",
    "weights",
    "biases",
    "buffers",
    "macs",
    "flops",
    "activations",
    "activation_bytes",
    "model_bytes",
    "train_macs",
    "params_without_bn",
    "macs_with_bn",
    "keras_params",
    "keras_non_trainable",
)
"""What a published number may be compared with; ``*_bytes`` assume float32 (4 bytes)."""


def _reported(r: Any, file: str, index: int, line: int) -> Reported:
    if not isinstance(r, LDict):
        raise SpecError(
            f"reported[{index}] must be a mapping, got {shown(r)}",
            file=file,
            line=line,
            expected="{metric, value, source, tolerance, ...}",
        )
    for key in r:
        if key not in REPORTED_KEYS:
            raise SpecError(
                f"reported: unknown key {key!r}",
                file=file,
                line=r.line_of(key),
                expected=", ".join(sorted(REPORTED_KEYS)),
            )
    text = {key: _text(r.get(key), f"reported: {key}", file, r.line_of(key)) for key in _REPORTED_TEXT}
    metric = text["metric"]
    if metric not in METRICS:
        raise SpecError(
            f"reported: unknown metric {metric!r}", file=file, line=r.line_of("metric"), expected=", ".join(METRICS)
        )
    base = r.get("base", 1000)
    if base not in (1000, 1024) or isinstance(base, bool):
        raise SpecError(f"reported: bad base {shown(base)}", file=file, line=r.line_of("base"), expected="1000 or 1024")
    try:
        value = parse_quantity(r["value"], base)
    except (KeyError, ValueError, TypeError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise SpecError(
            f"reported: bad or missing value {shown(r.get('value'))}",
            file=file,
            line=r.line_of("value"),
            expected="a number, optionally with K/M/G/B suffix",
        )
    tolerance = r.get("tolerance", 0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance <= 1e6:
        raise SpecError(
            f"reported: bad tolerance {shown(tolerance)}",
            file=file,
            line=r.line_of("tolerance"),
            expected="a relative tolerance: a number ≥ 0, such as 0.005",
        )
    inp = _shape(r["input"], file, r.line_of("input")) if "input" in r else None
    return Reported(
        metric=metric,
        value=value,
        source=text["source"],
        convention=text["convention"],
        tolerance=float(tolerance),
        layer=text["layer"],
        input=inp,
        erratum=text["erratum"],
        differs=text["differs"],
        line=r.line,
        raw_value=str(r["value"]),
    )


_REPORTED_TEXT = ("metric", "source", "convention", "layer", "erratum", "differs")
