"""A spec file as typed data: a family of variants sharing params, blocks and layers.

Only structure is checked here (which keys, which types); layers are validated when they
are expanded, where the input shape is known (see ``expand.py``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnncost.errors import SpecError
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
        for name, v in self.variants.items():
            for alias in v.get("aliases") or []:
                out[str(alias)] = name
        return out

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
                raise SpecError(
                    f"variant {name}: unknown parameter {key!r}",
                    file=self.file,
                    line=v.line_of(key),
                    expected="a key of params: "
                    + (", ".join(params) or "(none declared)")
                    + " or one of "
                    + ", ".join(sorted(META_KEYS)),
                )
            params[key] = value
        input_shape = _shape(v.get("input", d.get("input")), self.file, v.line_of("input"))
        reported = [
            _reported(r, self.file, i) for i, r in enumerate([*(d.get("reported") or []), *(v.get("reported") or [])])
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
            aliases=tuple(str(a) for a in (v.get("aliases") or [])),
            reported=reported,
            line=v.line,
            accuracy=dict(v.get("accuracy") or {}),
        )


def parse_family(path: Path) -> FamilySpec:
    """Read and structurally check one spec file."""
    file = str(path)
    data = load_yaml(path)
    _check_top(data, file)
    assert isinstance(data, LDict)
    family = str(data.get("family") or data.get("name") or path.stem)
    return FamilySpec(family, file, data, _blocks(data, file), _variants(data, file, path))


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


def _reported(r: Any, file: str, index: int) -> Reported:
    if not isinstance(r, LDict):
        raise SpecError(
            f"reported[{index}] must be a mapping", file=file, expected="{metric, value, source, tolerance, ...}"
        )
    for key in r:
        if key not in REPORTED_KEYS:
            raise SpecError(
                f"reported: unknown key {key!r}",
                file=file,
                line=r.line_of(key),
                expected=", ".join(sorted(REPORTED_KEYS)),
            )
    metric = str(r.get("metric", ""))
    if metric not in METRICS:
        raise SpecError(f"reported: unknown metric {metric!r}", file=file, line=r.line, expected=", ".join(METRICS))
    try:
        value = parse_quantity(r["value"], int(r.get("base", 1000)))
    except (KeyError, ValueError, TypeError):
        raise SpecError(
            f"reported: bad or missing value {r.get('value')!r}",
            file=file,
            line=r.line,
            expected="a number, optionally with K/M/G/B suffix",
        ) from None
    inp = _shape(r["input"], file, r.line_of("input")) if "input" in r else None
    return Reported(
        metric=metric,
        value=value,
        source=str(r.get("source", "")),
        convention=str(r.get("convention", "")),
        tolerance=float(r.get("tolerance", 0)),
        layer=str(r.get("layer", "")),
        input=inp,
        erratum=str(r.get("erratum", "")),
        differs=str(r.get("differs", "")),
        line=r.line,
        raw_value=str(r["value"]),
    )
