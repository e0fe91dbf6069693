"""Where an item expands: the naming scope of its level and the context handed to each handler.

Auto names (``conv1``, ``conv2``, repetitions ``0``, ``1``) are what layer paths, ``ref`` and
``share`` are written in, so they are decided in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from cnncost.errors import SpecError
from cnncost.spec.yamlload import LDict


class Scope:
    """Names the children of one level: explicit names as given, others ``conv1``, ``conv2``..."""

    __slots__ = ("counts", "path", "reserved", "used")

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.used: set[str] = set()
        self.reserved: set[str] = set()
        self.counts: dict[str, int] = {}

    def reserve(self, items: Any) -> None:
        """Reserve explicit names first, so ``[conv, conv1: ...]`` does not collide."""
        if isinstance(items, list):
            for it in items:
                if isinstance(it, LDict):
                    if isinstance(it.get("name"), str):
                        self.reserved.add(it["name"])
                    elif len(it) == 1:
                        self.reserved.add(next(iter(it)))

    def index(self) -> str:
        """The next repetition name: ``0``, ``1``, ... (continuing across anonymous repeats)."""
        n = self.counts.get("", 0)
        while str(n) in self.used or str(n) in self.reserved:
            n += 1
        self.counts[""] = n + 1
        self.used.add(str(n))
        return str(n)

    def name(self, explicit: str | None, kind: str, line: int | None) -> str:
        """``explicit`` if given (once per level), else the first free ``{kind}{n}``."""
        if explicit is not None:
            if explicit in self.used:
                raise SpecError(f"duplicate layer name {explicit!r}", line=line, path=".".join(self.path) or None)
            self.used.add(explicit)
            return explicit
        n = self.counts.get(kind, 0)
        while True:
            n += 1
            candidate = f"{kind}{n}"
            if candidate not in self.used and candidate not in self.reserved:
                break
        self.counts[kind] = n
        self.used.add(candidate)
        return candidate


class At(NamedTuple):
    """The place a structure or block call expands at: what every handler is given beside its item."""

    env: Mapping[str, Any]
    """Variables in scope: the model's params, block arguments, loop variables."""
    x: int
    """The node whose output is the current tensor."""
    scope: Scope
    """The level the item's children are named in (its ``path`` is the item's own path)."""
    line: int | None
    """The spec line errors point at."""
    item: Any = None
    """The parsed item expanding here when the level is its own (a named item, not flat, not an anonymous
    repeat): the same object at every expansion of the spec, so a structure's memo can be keyed on it."""

    def fresh(self) -> At:
        """The same place with a new, empty naming scope of the same path: a block call's own level."""
        return At(self.env, self.x, Scope(self.scope.path), self.line)
