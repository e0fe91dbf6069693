"""Reading one layer item of a spec into an ``Item``: which kind it is, its value, its sibling keys, its name.

YAML gives several spellings of the same thing (``relu``, ``{relu: {}}``, ``{act: relu}``, ``{conv: ..., name: x}``);
parsing them once, here, lets the expander deal with one shape of record.
"""

from __future__ import annotations

import difflib
from typing import Any, NamedTuple

from cnncost.errors import SpecError, shown
from cnncost.ops import REGISTRY
from cnncost.spec.structures import STRUCTURES
from cnncost.spec.yamlload import LDict, LList

_LEADS = ("repeat", "dense", "block")
"""Structures whose other keys are their arguments (``{repeat: n, block: b, scale: 2}``), first one wins."""
_NOT_NAMES = ("when", "then", "share", "continue")
"""Keys that sit beside a named item without being its name: ``{conv1: ITEM, when: ...}``."""


class Item(NamedTuple):
    """One parsed layer item.

    * ``relu`` — an op (or block, or structure) with default fields;
    * ``{conv: {out: 64, k: 3}}`` — an op with fields; ``name:``, ``when:``, ``then:``, ``share:`` may sit beside it;
    * ``{conv1: <item>}`` — the same item, named ``conv1``;
    * ``[item, item]`` — a sequence (kind ``seq``).
    """

    kind: str
    """An op kind (or alias), a structure (``repeat``, ``concat``...) or a block of the file."""
    value: Any
    """What the kind's key holds: an op's fields, a structure's branches or count, a block's arguments."""
    mods: dict[str, Any]
    """The keys beside it (``when``, ``then``, ``share``, a structure's or block's keys), but not ``name``."""
    name: str | None
    """The explicit name (``name:`` or ``{name: item}``), or None for an auto name."""
    line: int | None
    """The item's line in the spec."""


def _is_field(kind: str, key: str) -> bool:
    fields = REGISTRY[kind].fields
    return key in fields or any(key in f.aliases for f in fields.values())


def beside(raw: LDict, drop: str | None = None) -> LDict:
    """The keys of ``raw`` but ``drop``, still knowing their lines (so an error can point at its key's line)."""
    out = LDict((k, v) for k, v in raw.items() if k != drop)
    out.line = raw.line
    out.key_lines = getattr(raw, "key_lines", {})
    return out


def own(mods: dict[str, Any]) -> dict[str, Any]:
    """A copy of an item's ``mods`` for a handler to pop from, keeping the lines of its keys."""
    if not mods:
        return {}
    if isinstance(mods, LDict):
        return beside(mods)
    return dict(mods)


class Parser:
    """Parses the items of one model, where ``kinds`` are the names of layer types (ops, structures, blocks)."""

    def __init__(self, kinds: set[str], blocks: dict[str, tuple[str, ...]] | None = None) -> None:
        self.kinds = kinds
        self.blocks = blocks or {}
        """The blocks of the file and their parameters: ``{se: {se: {...}}}`` is a layer named like a block."""
        self.memo: dict[int, tuple[Any, Item]] = {}
        """id of a YAML node → (the node, held so that its id stays its own; its item)."""

    def parse(self, raw: Any, line: int | None) -> Item:
        """``raw`` as an ``Item``; memoised per YAML node (a block body is parsed once, however often it runs)."""
        if isinstance(raw, (LDict, LList)):
            cached = self.memo.get(id(raw))
            if cached is None:
                cached = self.memo[id(raw)] = (raw, self._parse(raw, line))
            return cached[1]
        return self._parse(raw, line)

    def unknown(self, key: str, line: int | None) -> SpecError:
        """The error for a key that names no layer type, with the closest ones."""
        close = difflib.get_close_matches(str(key), sorted(self.kinds), n=3)
        return SpecError(
            f"unknown layer type {key!r}",
            line=line,
            expected=("did you mean " + ", ".join(close) + "?")
            if close
            else "an op ("
            + ", ".join(sorted(REGISTRY))
            + "), a structure ("
            + ", ".join(STRUCTURES)
            + ") or a block of this file",
        )

    def _parse(self, raw: Any, line: int | None) -> Item:
        if isinstance(raw, str):
            if raw not in self.kinds:
                raise self.unknown(raw, line)
            return Item(raw, None, {}, None, line)
        if isinstance(raw, list):
            return Item("seq", raw, {}, None, getattr(raw, "line", None) or line)
        if not isinstance(raw, LDict) or not raw:
            raise SpecError(
                f"cannot read layer {raw!r}",
                line=line,
                expected="a layer name, {kind: {fields}}, {name: layer} or a list",
            )
        return self._mapping(raw, raw.line or line)

    def _mapping(self, raw: LDict, line: int | None) -> Item:
        known = self._known(raw)
        if len(raw) == 1:
            named = self._named(raw, bool(known), line)
            if named is not None:
                return named
        rest = [k for k in raw if k not in _NOT_NAMES]
        if not known and len(rest) == 1 and len(raw) > 1:  # {conv1: ITEM, when: ...}: a named item
            inner = self.parse(raw[rest[0]], line)
            return Item(
                inner.kind, inner.value, {**inner.mods, **{k: raw[k] for k in raw if k != rest[0]}}, rest[0], line
            )
        if len(known) > 1:
            raise SpecError(
                f"keys {', '.join(map(repr, known))} all name layer types",
                line=line,
                expected="one layer type per item",
            )
        if not known:
            raise self.unknown(next(iter(raw)), line)
        kind = known[0]
        mods = beside(raw, kind)
        name = mods.pop("name", None)
        if isinstance(name, (dict, list)):
            raise SpecError(f"name: got {shown(name)}", line=raw.line_of("name"), expected="text: the layer's name")
        return Item(kind, raw[kind], mods, None if name is None else str(name), line)

    def _known(self, raw: LDict) -> list[str]:
        """The keys of ``raw`` that are layer types; one if it is a structure that takes the others as arguments."""
        known = [k for k in raw if k in self.kinds]
        for lead in _LEADS:
            if lead in known:
                return [lead]
        return known

    def _named(self, raw: LDict, known: bool, line: int | None) -> Item | None:
        """``{name: item}`` as the named item, or None if the one key is the item's kind."""
        key, value = next(iter(raw.items()))
        kinds = self.kinds
        # {fc: {linear: ...}}, {avgpool: [...]}, {flatten: flatten}: a name that is also an op type (or
        # alias), wrapping a layer (never for structures: {concat: [...]} are branches).
        wraps = (
            key in REGISTRY
            and key not in STRUCTURES
            and (
                isinstance(value, list)
                or (isinstance(value, str) and value in kinds)
                or (isinstance(value, LDict) and any(k in kinds and not _is_field(key, k) for k in value))
            )
        )
        # {dense: {linear: ...}}: a structure keyword used as a name (its values are never mappings).
        wraps = wraps or (key in STRUCTURES and isinstance(value, LDict) and any(k in kinds for k in value))
        # {se: {se: {sq: 4}}}: a name that is also a block of the file, wrapping a layer (a key that is a
        # layer type and not one of the block's parameters: those are its arguments).
        params = self.blocks.get(key)
        wraps = wraps or (
            params is not None and isinstance(value, LDict) and any(k in kinds and k not in params for k in value)
        )
        if known and not wraps:
            return None
        looks_like_fields = isinstance(value, LDict) and not any(k in kinds for k in value)
        if not isinstance(value, (str, list, LDict)) or looks_like_fields:
            raise self.unknown(key, line)  # {covn: {out: 8}}: a typo, not a name
        inner = self.parse(value, line)
        return Item(inner.kind, inner.value, inner.mods, str(key), line)
