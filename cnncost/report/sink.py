"""One output sink: a titled table rendered as rich, markdown, csv or json.

Every command builds a ``Report`` (columns, rows of already-exact values, totals) and hands
it here; formatting choices live in this module only. ``json`` always parses; ``csv`` is one
table of raw values (``Report.raw``, when the human table holds formatted text).

``rich`` fits the terminal: wider than ``COLUMNS`` (or the terminal, when the output is one),
text cells and headers wrap at spaces, then the columns of lowest ``Column.priority`` (the
rightmost first) are left out and a footnote names them; ``CNNCOST_WIDE=1`` prints every column
at full width whatever the terminal.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any

from cnncost.errors import printable

FORMATS = ("rich", "markdown", "csv", "json")

WIDE_ENV = "CNNCOST_WIDE"
"""Set to 1: rich tables at full width, whatever ``COLUMNS`` or the terminal say."""


@dataclass
class Column:
    key: str
    header: str
    numeric: bool = False
    priority: int = 0
    """When a rich table is wider than the terminal, columns of lower priority are left out first
    (among equals the rightmost first); the first column is always shown."""


@dataclass
class RawTable:
    """The machine-readable table ``--format csv`` writes: one row per record, raw values only."""

    columns: list[Column]
    rows: list[dict[str, Any]]


@dataclass
class Report:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    footer: dict[str, Any] | None = None
    caption: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    """The machine-readable document for ``--format json``."""
    raw: RawTable | None = None
    """The table ``--format csv`` writes instead of the rows (when the rows hold formatted text)."""


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return printable(str(value))


def render(report: Report, fmt: str, out: Any = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump(report.data, out, indent=2, default=str)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        if report.raw is not None:
            writer.writerow([c.header for c in report.raw.columns])
            for row in report.raw.rows:
                writer.writerow([_csv(row.get(c.key)) for c in report.raw.columns])
            return
        writer.writerow([c.header for c in report.columns])
        for row in [*report.rows, *([report.footer] if report.footer else [])]:
            writer.writerow([_csv(row.get(c.key)) for c in report.columns])
    elif fmt == "markdown":
        out.write(to_markdown(report))
    else:
        _rich(report, out)


def _csv(value: Any) -> Any:
    """Raw values (CSV quotes what needs it), control characters written out as in the other formats."""
    if value is None:
        return ""
    return printable(value) if isinstance(value, str) else value


def to_markdown(report: Report) -> str:
    buf = io.StringIO()
    buf.write(f"**{printable(report.title)}**\n\n")
    buf.write("| " + " | ".join(c.header for c in report.columns) + " |\n")
    buf.write("|" + "|".join("---:" if c.numeric else "---" for c in report.columns) + "|\n")
    rows = list(report.rows)
    for row in rows:
        buf.write("| " + " | ".join(cell(row.get(c.key)) for c in report.columns) + " |\n")
    if report.footer:
        buf.write(
            "| "
            + " | ".join(
                f"**{cell(report.footer.get(c.key))}**" if report.footer.get(c.key) not in (None, "") else ""
                for c in report.columns
            )
            + " |\n"
        )
    if report.caption:
        buf.write("\n" + printable(report.caption, newlines=True) + "\n")
    return buf.getvalue()


def terminal_width(out: Any) -> int | None:
    """The width a rich table must fit, or None for no limit: ``CNNCOST_WIDE=1`` → None; else
    ``COLUMNS`` when set (as rich and the shells read it); else the terminal's, when ``out`` is one."""
    if os.environ.get(WIDE_ENV, "").strip() not in ("", "0"):
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if hasattr(out, "isatty") and out.isatty():
        try:
            return os.get_terminal_size(out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return None
    return None


def _frame(widths: list[int]) -> int:
    """Characters of a table whose columns are ``widths`` wide: the borders and one space each side."""
    return sum(widths) + 3 * len(widths) + 1


_BREAK = {
    "space": re.compile(r"\s+|\S+"),
    "name": re.compile(r"\s+|[^\s._]*[._]+|[^\s._]+"),
    "number": re.compile(r"\s+(?=[(×])|(?:\S|\s(?![(×]))+"),
}
"""Where text may wrap: at spaces; as a last resort also after a dot or an underscore, as in layer
paths (``conv2_x.0.`` | ``shortcut.conv1``) and op names (``global_`` | ``avgpool``). A number
cell only before its parenthesis or its ratio (``97.49 MiB`` | ``(102,228,128 B)``)."""


def _longest_chunk(texts: list[str], how: str) -> int:
    return max((len(w) for x in texts for w in _BREAK[how].findall(x) if not w.isspace()), default=0)


def _fit(
    heads: list[str], cells: list[list[str]], numeric: list[bool], priority: list[int], limit: int
) -> tuple[list[int], list[int], list[str]]:
    """(columns kept, their widths, how each wraps) of a table that fits ``limit`` characters where it
    can. Columns narrow, the widest first, in three rounds: headers wrap at spaces; then cells (a
    number never breaks: "97.49 MiB (102,228,128 B)" wraps before its parenthesis); then text also
    after dots and underscores. Where even that is too wide, the lowest-priority columns go first."""
    n = len(heads)
    natural = [max([len(heads[i]), *(len(r[i]) for r in cells)]) for i in range(n)]
    if _frame(natural) <= limit:
        return list(range(n)), natural, ["number" if x else "space" for x in numeric]
    longest_cell = [max((len(r[i]) for r in cells), default=0) for i in range(n)]
    head = [max(_longest_chunk([heads[i]], "space"), longest_cell[i]) for i in range(n)]
    # A text column wraps into at most about two lines at spaces, and gives up at most a third more
    # of its width where it breaks after dots: past that, leaving a column out reads better.
    base = ["number" if numeric[i] else "space" for i in range(n)]
    words = [max(_longest_chunk([heads[i]], "space"), _longest_chunk([r[i] for r in cells], base[i])) for i in range(n)]
    spaced = [max(words[i], -(-head[i] // 2)) for i in range(n)]  # "97.49 MiB" | "(102,228,128 B)"
    named = [
        spaced[i]
        if numeric[i]
        else max(
            _longest_chunk([heads[i]], "space"), _longest_chunk([r[i] for r in cells], "name"), -(-2 * spaced[i] // 3)
        )
        for i in range(n)
    ]
    floors = [head, spaced, named]
    keep = list(range(n))
    drop_order = sorted(range(1, n), key=lambda i: (priority[i], -i))
    while _frame([floors[-1][i] for i in keep]) > limit and drop_order:
        keep.remove(drop_order.pop(0))
    widths = [natural[i] for i in keep]
    hows = [base[i] for i in keep]
    for level, floor in enumerate(floors):
        while _frame(widths) > limit:  # narrow the widest column that can still wrap, one character at a time
            wrappable = [j for j in range(len(keep)) if widths[j] > floor[keep[j]]]
            if not wrappable:
                break
            j = max(wrappable, key=lambda j: widths[j])
            widths[j] -= 1
            if level == 2 and not numeric[keep[j]]:
                hows[j] = "name"
    return keep, widths, hows


def _wrap(text: str, width: int, how: str = "space") -> list[str]:
    """Greedy lines of at most ``width`` characters, broken where ``_BREAK[how]`` allows (a chunk
    longer than ``width`` stays whole: ``_fit`` never narrows a column below its longest chunk)."""
    if len(text) <= width:
        return [text]
    lines, current = [], ""
    for chunk in _BREAK[how].findall(text):
        if len(current) + len(chunk) > width and current.strip():
            lines.append(current.rstrip())
            current = chunk.lstrip()
        else:
            current += chunk
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]


def _rich(report: Report, out: Any) -> None:
    """A box-drawn table in the style of ``rich.table``, drawn directly, fitted to the terminal.

    rich measures and wraps every cell: 230 ms for ResNet-152's 516 rows, the whole time
    budget of ``cnncost table``. Cells here are short and single-width, so ``len`` is exact.
    """
    tty = hasattr(out, "isatty") and out.isatty()
    bold = (lambda t: f"\x1b[1m{t}\x1b[0m") if tty else (lambda t: t)
    columns = report.columns
    body = [[cell(row.get(c.key)) for c in columns] for row in report.rows]
    foot = [cell(report.footer.get(c.key)) for c in columns] if report.footer else None
    heads = [c.header for c in columns]
    limit = terminal_width(out)
    everything = [*body, *([foot] if foot else [])]
    if limit is None:
        keep = list(range(len(columns)))
        widths = [max(len(x) for x in col) for col in zip(heads, *everything, strict=True)]
        hows = ["space"] * len(keep)
    else:
        keep, widths, hows = _fit(heads, everything, [c.numeric for c in columns], [c.priority for c in columns], limit)
    cols = [columns[i] for i in keep]
    left_out = [columns[i] for i in range(len(columns)) if i not in keep]

    def line(cells: list[str], edge: str, sep: str, style: Any = None, head: bool = False) -> list[str]:
        parts = [_wrap(cells[i], w, "space" if head else how) for i, w, how in zip(keep, widths, hows, strict=True)]
        drawn = []
        for k in range(max(len(p) for p in parts)):
            texts = [p[k] if k < len(p) else "" for p in parts]
            row = [(x.rjust(w) if c.numeric else x.ljust(w)) for x, w, c in zip(texts, widths, cols, strict=True)]
            if style:
                row = [style(p) for p in row]
            drawn.append(edge + " " + f" {sep} ".join(row) + " " + edge)
        return drawn

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    total = _frame(widths)
    lines = []
    if report.title:
        title = printable(report.title)
        lines += [bold(t.center(total).rstrip()) for t in (_wrap(title, total) if limit else [title])]
    lines += [rule("┏", "┳", "┓", "━"), *line(heads, "┃", "┃", bold, head=True), rule("┡", "╇", "┩", "━")]
    for r in body:
        lines += line(r, "│", "│")
    if foot:
        lines += [rule("├", "┼", "┤", "─"), *line(foot, "│", "│", bold)]
    lines.append(rule("└", "┴", "┘", "─"))
    notes = printable(report.caption, newlines=True).split("\n") if report.caption else []
    if left_out:
        notes.append(
            f"{len(left_out)} column{'s' if len(left_out) > 1 else ''} left out to fit {limit} columns: "
            + ", ".join(c.header or c.key for c in left_out)
            + f" ({WIDE_ENV}=1 or a wider COLUMNS shows every column; --format csv or json has them all)"
        )
    for note in notes:
        lines += textwrap.wrap(note, limit, break_on_hyphens=False) or [""] if limit else [note]
    out.write("\n".join(lines) + "\n")
