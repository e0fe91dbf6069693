"""One error type for everything a user can get wrong, carrying where and what.

The CLI prints ``SpecError`` on stderr and exits 2; nothing else is a user error.
"""

from __future__ import annotations

from collections.abc import Collection
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

    def with_context(self, *, file: str | None = None, line: int | None = None,
                     path: str | None = None) -> SpecError:
        """Fill in context the raiser did not know (outer layers know the file and line)."""
        self.file = self.file or file
        self.line = self.line or line
        self.path = self.path or path
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        text = where + (f"{self.path}: " if self.path else "") + self.message
        if self.expected:
            text += f" (expected {self.expected})"
        return text


def check_choice(value: str, choices: Collection[str], option: str) -> str:
    """``value`` if it is one of ``choices``, else a ``SpecError`` naming ``option`` and listing them."""
    if value not in choices:
        raise SpecError(f"unknown {option} {value!r}", expected=" | ".join(choices))
    return value


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
        return f"warning: {where}{self.path + ': ' if self.path else ''}{self.message}"
