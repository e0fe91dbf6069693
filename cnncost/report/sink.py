"""One output sink: a titled table rendered as rich, markdown, csv or json.

Every command builds a ``Report`` (columns, rows of already-exact values, totals) and hands
it here; formatting choices live in this module only. ``json`` always parses.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from cnncost.errors import printable

FORMATS = ("rich", "markdown", "csv", "json")


@dataclass
class Column:
    key: str
    header: str
    numeric: bool = False


@dataclass
class Report:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    footer: dict[str, Any] | None = None
    caption: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    """The machine-readable document for ``--format json``."""


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


def _rich(report: Report, out: Any) -> None:
    """A box-drawn table in the style of ``rich.table``, drawn directly.

    rich measures and wraps every cell: 230 ms for ResNet-152's 516 rows, the whole time
    budget of ``cnncost table``. Cells here are short and single-width, so ``len`` is exact.
    """
    tty = hasattr(out, "isatty") and out.isatty()
    bold = (lambda t: f"\x1b[1m{t}\x1b[0m") if tty else (lambda t: t)
    cols = report.columns
    body = [[cell(row.get(c.key)) for c in cols] for row in report.rows]
    foot = [cell(report.footer.get(c.key)) for c in cols] if report.footer else None
    heads = [c.header for c in cols]
    widths = [max(len(x) for x in col) for col in zip(heads, *body, *([foot] if foot else []), strict=True)]

    def line(cells: list[str], edge: str, sep: str, style: Any = None) -> str:
        parts = [(x.rjust(w) if c.numeric else x.ljust(w)) for x, w, c in zip(cells, widths, cols, strict=True)]
        if style:
            parts = [style(p) for p in parts]
        return edge + " " + f" {sep} ".join(parts) + " " + edge

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    total = sum(widths) + 3 * len(widths) + 1
    lines = [bold(printable(report.title).center(total).rstrip())] if report.title else []
    lines += [rule("┏", "┳", "┓", "━"), line(heads, "┃", "┃", bold), rule("┡", "╇", "┩", "━")]
    lines += [line(r, "│", "│") for r in body]
    if foot:
        lines += [rule("├", "┼", "┤", "─"), line(foot, "│", "│", bold)]
    lines.append(rule("└", "┴", "┘", "─"))
    if report.caption:
        lines.append(printable(report.caption, newlines=True))
    out.write("\n".join(lines) + "\n")
