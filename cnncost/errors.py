"""One error type for everything a user can get wrong, carrying where and what.

The CLI prints ``SpecError`` on stderr and exits 2; nothing else is a user error.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


class SpecError(Exception):
    """A bad spec or bad input: file, line, layer path, what was found, what was expected."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: str | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        self.expected = expected

    def with_context(self, *, file: str | None = None, line: int | None = None, path: str | None = None) -> SpecError:
        """Fill in context the raiser did not know (outer layers know the file and line)."""
        self.file = self.file or file
        self.line = self.line or line
        self.path = self.path or path
        return self

    def noted(self, note: str) -> SpecError:
        """A copy with ``note`` appended to the message (``' (--input 224 was read as ...)'``), its file, line,
        path and expectation kept; the original is left as it was."""
        new = copy.copy(self)
        new.message = self.message + note
        new.args = (new.message,)
        return new

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        text = where + (f"{_short_path(self.path)}: " if self.path else "") + _short(self.message, 600)
        if self.expected:
            text += f" (expected {_short(self.expected, 400)})"
        return text


def check_choice(value: str, choices: Collection[str], option: str) -> str:
    """``value`` if it is one of ``choices``, else a ``SpecError`` naming ``option`` and listing them."""
    if value not in choices:
        raise SpecError(f"unknown {option} {value!r}", expected=" | ".join(choices))
    return value


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL_BUT_NEWLINE = {c: v for c, v in _CONTROL.items() if c != 0x0A}


def printable(text: str, newlines: bool = False) -> str:
    """``text`` with control characters written as ``\\x1b``: a layer name or title can never drive the
    terminal (escape sequences) or break a one-line message (newlines, unless ``newlines``: a caption's
    own lines). JSON keeps the exact string."""
    if text.isprintable():
        return text
    return text.translate(_CONTROL_BUT_NEWLINE if newlines else _CONTROL)


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for a message, its middle cut when long: a 100 KB value is never a 100 KB message."""
    return _short(repr(value), limit)


def count(n: int) -> str:
    """``1,000`` or, for a number too long to read, ``~10^400`` (never 400 digits in a message)."""
    n = abs(n)
    return f"{n:,}" if n < 10**18 else f"~10^{round(math.log10(n))}"  # math.log10 takes any int


def did_you_mean(word: str, spellings: Mapping[str, str] | Collection[str], n: int = 3) -> str:
    """``'did you mean k (also kernel)?'`` for a typo, or ``''`` when nothing is close.

    ``spellings`` maps every accepted spelling (a name or an alias) to the name it stands for; the
    close ones are grouped by name, each with the aliases that matched: ``kernal`` → ``k (also kernel)``.
    """
    canonical = spellings if isinstance(spellings, Mapping) else {s: s for s in spellings}
    close = difflib.get_close_matches(str(word), list(canonical), n=n)
    groups: dict[str, list[str]] = {}
    for spelling in close:
        also = groups.setdefault(canonical[spelling], [])
        if spelling != canonical[spelling]:
            also.append(spelling)
    if not groups:
        return ""
    return (
        "did you mean "
        + ", ".join(name + (f" (also {', '.join(also)})" if also else "") for name, also in groups.items())
        + "?"
    )


def _short(text: str, limit: int) -> str:
    """Never a 100 KB message: the middle of a long text is cut."""
    return (
        text
        if len(text) <= limit
        else f"{text[: limit // 2]} … ({len(text) - limit:,} characters) … {text[-limit // 2 :]}"
    )


def _short_path(path: str) -> str:
    parts = path.split(".")
    return _short(path if len(parts) <= 8 else ".".join([*parts[:3], "…", *parts[-3:]]), 200)


@dataclass(frozen=True)
class SpecWarning:
    """Legal but surprising (a stride that leaves input rows unread, ...)."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        path = f"{_short_path(self.path)}: " if self.path else ""
        return f"warning: {where}{path}{_short(self.message, 600)}"
