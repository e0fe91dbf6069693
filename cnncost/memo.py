"""The engine's memos, in one list: every table that keeps work across calls (block expansions, copied
blocks' summaries, parsed items) registers here, so that one call empties them all.

Each memo is bounded and exact (``docs/engine.md``): emptying them changes no number, only the time the
next calls take. A long-lived process that swept a large grid can give the memory back with ``clear()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_TABLES: list[Any] = []


def register(*tables: Any) -> None:
    """Tables (dicts, sets, ``functools.lru_cache`` functions) to empty on ``clear``."""
    _TABLES.extend(tables)


def clear() -> None:
    """Empty every memo of the engine."""
    for table in _TABLES:
        clearing: Callable[[], None] = table.cache_clear if hasattr(table, "cache_clear") else table.clear
        clearing()
