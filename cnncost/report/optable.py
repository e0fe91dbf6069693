"""Markdown tables of the op registry, for the docs (``tests/readme.py`` keeps them current).

Formatting only, torch-free. One function per table, one small helper per column: everything
comes from the op classes (``register`` guarantees each one says it), so a new op's row appears
by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cnncost.ops import Field, Op, op_classes


def ops_markdown() -> str:
    """One row per op class: its name, aliases, cost class, fields with defaults, what it is, what fvcore counts."""
    header = ["op", "aliases", "class", "fields (defaults)", "what it is", "fvcore counts"]
    rows = [
        [_code(cls.kind), _aliases(cls), _op_class(cls), _fields(cls), _summary(cls), _rst(cls.fvcore)]
        for cls in op_classes()
    ]
    return _table(header, rows)


def saves_markdown() -> str:
    """What autograd keeps for backward, per op; ops with the same rule share a row."""
    groups: dict[str, list[str]] = {}
    for cls in op_classes():
        groups.setdefault(_saved(cls), []).append(_code(cls.kind))
    rows = [[", ".join(kinds), text] for text, kinds in groups.items()]
    return _table(["op", "saved for backward (besides parameters)"], rows)


def functions_markdown() -> str:
    """The functions an expression may call, from the interpreter's whitelist."""
    from cnncost.spec.expr import FUNCTIONS

    return "Functions: " + " ".join(_code(name) for name in sorted(FUNCTIONS)) + ".\n"


def limits_markdown() -> str:
    """Every named budget on untrusted input, its default and how to raise it."""
    from cnncost import limits

    rows = [
        [_code(lim.name), f"{lim.default:,}", lim.what, _code(f"{lim.env}=N")]
        for lim in vars(limits).values()
        if isinstance(lim, limits.Limit)
    ]
    return _table(["limit", "default", "of", "to raise it"], rows)


# -- columns ----------------------------------------------------------------------------
def _aliases(cls: type[Op]) -> str:
    return ", ".join(_code(a) for a in cls.aliases)


def _op_class(cls: type[Op]) -> str:
    return cls.op_class + (" (weight layer)" if cls.weight_layer else "")


def _fields(cls: type[Op]) -> str:
    return "; ".join(_field(name, f) for name, f in cls.fields.items()) or "—"


def _field(name: str, f: Field) -> str:
    """Name, default (or ``required``) and aliases in brackets, doc: ``k`` (required; also ``kernel``): window."""
    notes = ["required"] if f.required else []
    if not notes and f.default is not None:
        notes.append(_value(f.default))
    if f.aliases:
        notes.append("also " + ", ".join(_code(a) for a in f.aliases))
    if f.choices:
        notes.append(" \\| ".join(f.choices))
    text = _code(name) + (f" ({'; '.join(notes)})" if notes else "")
    return f"{text}: {_rst(f.doc)}" if f.doc else text


def _summary(cls: type[Op]) -> str:
    return _rst(_first_paragraph(_own_doc(cls)))


def _saved(cls: type[Op]) -> str:
    """The first paragraph of the class's ``saved()`` docstring (what autograd keeps for backward)."""
    return _rst(_first_paragraph(cls.saved.__doc__ or "")) or "—"


# -- helpers ----------------------------------------------------------------------------
def _own_doc(cls: type) -> str:
    """The docstring of ``cls`` or of its nearest op base class (never ``Op``'s own)."""
    for klass in cls.__mro__:
        if klass is Op or klass is object:
            break
        if klass.__doc__:
            return klass.__doc__
    return ""


def _first_paragraph(doc: str) -> str:
    lines = []
    for line in doc.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


def _value(v: Any) -> str:
    """A default as a spec would write it: ``true``, ``1`` for ``(1, 1)``, ``[1, 2]``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        if v and all(x == v[0] for x in v):
            return _value(v[0])
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _code(text: str) -> str:
    return f"`{text}`"


def _rst(text: str) -> str:
    """Docstrings use RST's double backticks; markdown wants single ones."""
    return text.replace("``", "`")


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n"

    return line(header) + "|" + "---|" * len(header) + "\n" + "".join(line(r) for r in rows)
