"""``cnncost report``: one self-contained HTML file per call — summary, layer table, charts, conventions,
warnings and checks of each model, and a comparison first when there are several.

Every figure comes from the reporters the other commands use (``layer_table``, ``compare_reports``,
``memory_report``, ``verify_report``), so the page and ``cnncost table``/``compare``/``memory``/``verify``
cannot disagree. Nothing is fetched: the charts are inline SVG, the style and script inline (from
``html_assets``), and a Content-Security-Policy forbids the browser any network request. Every text
that comes from a spec (titles, names, warnings) is HTML-escaped.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.cost import Analysis, LayerCost
from cnncost.analysis.memory import OPTIMIZER_NAMES, Memory
from cnncost.analysis.published import CheckResult
from cnncost.errors import SpecError, printable
from cnncost.ops.base import fmt_shape
from cnncost.report.compare import LABELS, _figures, compare_reports
from cnncost.report.html_assets import CSS, JS
from cnncost.report.layers import layer_table
from cnncost.report.memory import memory_report
from cnncost.report.numbers import human_bytes
from cnncost.report.sink import Report, cell
from cnncost.report.verify import verify_report

NO_PLOT = "charts not drawn: matplotlib is not installed (pip install 'cnncost[plot]')"
NO_TORCH = "torch and fvcore checks not run: torch is not installed (pip install 'cnncost[torch]')"
NO_VERIFY = "checks not run: --no-verify"
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
"""The page may run its own inline style and script and nothing else: no request leaves the browser."""


@dataclass
class Verification:
    """One model's checks (``cnncost verify``'s rows), and a sentence for each kind that did not run."""

    paper: list[CheckResult] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)
    """``cnncost.torch.crosscheck.Check`` rows (torch shapes, params, buffers, FlopCounterMode, fvcore)."""
    not_run: list[str] = field(default_factory=list)


def esc(value: Any) -> str:
    """A cell as ``cnncost table`` writes it (``1,792``; control characters spelled out), HTML-escaped."""
    return html.escape(cell(value), quote=True)


def html_report(
    items: Sequence[tuple[Analysis, Memory]],
    *,
    convention: str = "macs",
    dtype: str = "fp32",
    depth: int | None = None,
    verification: Sequence[Verification] | None = None,
) -> str:
    """The whole page for (analysis, memory) pairs; ``verification``: one per model, or None (not run).

    >>> page = html_report([(a := analyze("lenet5"), memory(a))])  # doctest: +SKIP
    >>> page.count('<tr class="layer"') == len(a.layers)  # doctest: +SKIP
    True
    """
    names = ", ".join(a.model.name for a, _ in items)
    nav = "".join(f'<li><a href="#m{i}">{esc(a.model.name)}</a></li>' for i, (a, _) in enumerate(items))
    if len(items) > 1:
        nav = '<li><a href="#compare">comparison</a></li>' + nav
    body = [
        f"<h1>cnncost report — {esc(names)}</h1>",
        f'<p class="sub">{_setting(items, convention, dtype)}</p>',
        f'<nav><ul>{nav}<li><a href="#conventions">conventions</a></li></ul></nav>',
    ]
    if len(items) > 1:
        body.append(_comparison(items, convention))
    for i, (a, m) in enumerate(items):
        v = verification[i] if verification is not None else Verification(not_run=[NO_VERIFY])
        body.append(_model(i, a, m, convention, dtype, depth, v))
    body.append(_conventions(convention))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>cnncost report — {esc(names)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{JS}</script>\n</body></html>\n"
    )


def _setting(items: Sequence[tuple[Analysis, Memory]], convention: str, dtype: str) -> str:
    a0, m0 = items[0]
    return esc(
        f"batch {a0.batch} · {dtype} ({m0.dtype_bytes}-byte activations) · operations counted as "
        f"{CONVENTIONS[convention].header} · training memory with {OPTIMIZER_NAMES.get(m0.optimizer, m0.optimizer)}"
    )


def table(report: Report, cls: str = "") -> str:
    """Any reporter's table (its title, columns, rows, footer and caption) as HTML."""
    head = "".join(
        f'<th class="num">{esc(c.header)}</th>' if c.numeric else f"<th>{esc(c.header)}</th>" for c in report.columns
    )

    def tr(row: dict[str, Any]) -> str:
        return "<tr>" + "".join(_td(row.get(c.key), c.numeric) for c in report.columns) + "</tr>"

    foot = f"<tfoot>{tr(report.footer)}</tfoot>" if report.footer else ""
    return (
        f'<h3>{esc(report.title)}</h3><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(tr(row) for row in report.rows)
        + f"</tbody>{foot}</table>"
        + _caption(report.caption)
    )


def _td(value: Any, numeric: bool, raw: Any = None, cls: str = "") -> str:
    classes = " ".join(x for x in (cls, "num" if numeric else "") if x)
    attrs = f' class="{classes}"' if classes else ""
    if raw is not None:
        attrs += f' data-v="{html.escape(str(raw), quote=True)}"'
    return f"<td{attrs}>{esc(value)}</td>"


def _caption(text: str) -> str:
    if not text:
        return ""
    return '<p class="caption">' + "<br>".join(html.escape(printable(t)) for t in text.split("\n")) + "</p>"


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _comparison(items: Sequence[tuple[Analysis, Memory]], convention: str) -> str:
    main, stages = compare_reports(list(items), convention)
    analyses = [a for a, _ in items]
    charts: list[tuple[str, Callable[[Any], Any]]] = [("comparison", lambda p: p.compare_figure(analyses, convention))]
    if any(a.model.accuracy.get("top1_error") is not None for a in analyses):
        charts.append(("published accuracy", lambda p: p.accuracy_figure(analyses, convention)))
    return '<section id="compare"><h2>Comparison</h2>' + table(main) + _charts(charts) + table(stages) + "</section>"


def _model(i: int, a: Analysis, m: Memory, convention: str, dtype: str, depth: int | None, v: Verification) -> str:
    name = a.model.name
    dtype_bytes = m.dtype_bytes
    charts: list[tuple[str, Callable[[Any], Any]]] = [
        (f"{name}: per layer", lambda p: p.layers_figure(a, depth, convention, dtype_bytes)),
        (f"{name}: memory", lambda p: p.memory_figure(a, dtype_bytes, m.optimizer)),
        (f"{name}: receptive field", lambda p: p.rf_figure(a)),
    ]
    return (
        f'<section id="m{i}"><h2>{esc(name)}{" — " + esc(a.model.title) if a.model.title else ""}</h2>'
        + f'<div class="overview"><div>{_summary(a, m, convention, dtype)}</div>'
        + f"<div>{table(memory_report([(name, m)]))}</div></div>"
        + _warnings(a)
        + _charts(charts)
        + _layers(f"m{i}-layers", a, depth, convention, dtype, dtype_bytes)
        + _verification(v)
        + "</section>"
    )


def _summary(a: Analysis, m: Memory, convention: str, dtype: str) -> str:
    """The figures ``compare`` prints (``_figures``, formatted by its ``LABELS``), with the setting."""
    figures = _figures(a, m, convention)
    t = a.totals
    count_fmt = LABELS["count"][1]
    rows: list[tuple[str, str]] = [
        ("spec", a.model.file),
        ("input", fmt_shape(a.input_shape)),
        ("batch", cell(a.batch)),
        ("activation dtype", f"{dtype} ({m.dtype_bytes} bytes)"),
    ]
    for key, (label, fmt) in LABELS.items():
        rows.append((label or CONVENTIONS[convention].header, fmt(figures[key])))
        if key == "count":  # the chosen convention, then MACs and 2×MACs where it is neither
            rows += [(CONVENTIONS[c].header, count_fmt(t.count(c))) for c in ("macs", "flops") if c != convention]
        if key == "activations":
            rows.append(("peak live activations (inference)", f"{human_bytes(m.peak_inference_bytes)} at {m.peak_at}"))
    for metric in ("top1_error", "top5_error"):
        value = a.model.accuracy.get(metric)
        if value is not None:
            rows.append((f"published {metric.replace('_', ' ')} (%)", cell(value)))
    return '<dl class="summary">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>"


def _warnings(a: Analysis) -> str:
    if not a.warnings:
        return ""
    items = "".join(f"<li>{esc(str(w))}</li>" for w in a.warnings)
    return f'<h3>Warnings</h3><ul class="warnings">{items}</ul>'


def _charts(charts: list[tuple[str, Callable[[Any], Any]]]) -> str:
    """Each chart as inline SVG, or one line saying why there are none (matplotlib is optional)."""
    try:
        import matplotlib  # noqa: F401

        import cnncost.plot as plot
    except ImportError:
        return _note(NO_PLOT)
    out = []
    for title, make in charts:
        with warnings.catch_warnings(record=True) as caught:  # said under the chart, not on stderr
            warnings.simplefilter("always")
            try:
                text = plot.svg(make(plot))
            except SpecError as exc:
                out.append(_note(f"{title}: not drawn: {exc}"))
                continue
        notes = "".join(f'<figcaption class="caption">{esc(str(w.message))}</figcaption>' for w in caught)
        out.append(f'<figure aria-label="{esc(title)}">{text[text.index("<svg") :]}{notes}</figure>')
    return '<div class="charts">' + "".join(out) + "</div>"


def _layers(table_id: str, a: Analysis, depth: int | None, convention: str, dtype: str, dtype_bytes: int) -> str:
    """``cnncost table``'s rows nested by path: every path prefix is a group row (its sums, as ``--depth``
    prints them) that folds its children; numeric cells carry the exact value in ``data-v`` for sorting."""

    def report(d: int | None) -> Report:
        return layer_table(a, depth=d, convention=convention, dtype=dtype, dtype_bytes=dtype_bytes)

    main = report(depth)
    leaves = a.collapsed(depth)
    prefixes = {r.path[:d] for r in leaves for d in range(1, len(r.path))}
    levels = max((len(p) for p in prefixes), default=0) + 1
    groups: dict[tuple[str, ...], tuple[LayerCost, dict[str, Any]]] = {}
    for d in range(1, levels):
        for r, cells in zip(a.collapsed(d), report(d).rows, strict=True):
            if r.path in prefixes:
                groups[r.path] = (r, cells)
    children: dict[tuple[str, ...] | None, list[tuple[bool, tuple[str, ...], int]]] = {None: []}
    for n, leaf in enumerate(leaves):
        for d in range(1, len(leaf.path)):
            prefix = leaf.path[:d]
            if prefix not in children:
                children[prefix] = []
                children[prefix[:-1] if d > 1 else None].append((True, prefix, -1))
        children[leaf.path[:-1] if len(leaf.path) > 1 else None].append((False, leaf.path, n))
    rows: list[str] = []

    def emit(parent: tuple[str, ...] | None, parent_id: str) -> None:
        for is_group, path, n in children[parent]:
            r, cells = groups[path] if is_group else (leaves[n], main.rows[n])
            row_id = str(len(rows))
            rows.append(_layer_row(row_id, parent_id, len(path), is_group, r, cells, main, dtype_bytes))
            if is_group:
                emit(path, row_id)

    emit(None, "")
    head = "".join(
        f'<th class="num" title="click to sort">{esc(c.header)}</th>'
        if c.numeric
        else f'<th title="click to sort">{esc(c.header)}</th>'
        for c in main.columns
    )
    foot = (
        "".join(
            _td(main.footer.get(c.key), c.numeric, _raw(c.key, main.footer.get(c.key), a.totals, dtype_bytes))
            for c in main.columns
        )
        if main.footer
        else ""
    )
    select = ""
    if levels > 1:
        options = "".join(f'<option value="{d}">{d}</option>' for d in range(1, levels))
        select = (
            f'<p class="controls">show <select id="{table_id}-levels">{options}'
            '<option value="all" selected>all</option></select> levels · click a group to fold it, '
            "a header to sort (again: reverse, a third time: the network's order)</p>"
        )
    return (
        f"<h3>{esc(main.title)}</h3>{select}"
        f'<table class="layers" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + f"</tbody><tfoot><tr>{foot}</tr></tfoot></table>"
        + _caption(main.caption)
    )


def _raw(key: str, value: Any, r: LayerCost, dtype_bytes: int) -> Any:
    """A numeric cell's exact value: the memory column's bytes (its cell is ``human_bytes``), else the cell."""
    return r.activations * dtype_bytes if key == "memory" else value


def _layer_row(
    row_id: str,
    parent: str,
    level: int,
    group: bool,
    r: LayerCost,
    cells: dict[str, Any],
    main: Report,
    dtype_bytes: int,
) -> str:
    attrs = f'class="{"group" if group else "layer"}" data-id="{row_id}" data-i="{row_id}" data-parent="{parent}"'
    attrs += f' data-level="{level}"' + (' data-open="1"' if group else "")
    tds = []
    for c in main.columns:
        value = cells.get(c.key)
        if c.key == "name":
            indent = 0.6 + 1.2 * (level - 1)
            tds.append(f'<td class="name" style="padding-left: {indent:.1f}rem">{esc(value)}</td>')
        else:
            tds.append(_td(value, c.numeric, _raw(c.key, value, r, dtype_bytes) if c.numeric else None))
    return f"<tr {attrs}>{''.join(tds)}</tr>"


def _verification(v: Verification) -> str:
    out = "<h3>Checks</h3>"
    if v.paper or v.checks:
        report = verify_report(v.paper, v.checks)
        out += table(report, "checks").replace("<h3>cnncost verify</h3>", "", 1)
    elif not v.not_run:
        out += _note("no published numbers to check for this model (no `reported:` in its spec)")
    return out + "".join(_note(t) for t in v.not_run)


def _conventions(convention: str) -> str:
    """What each count means, from ``CONVENTIONS`` (the one place the rules are written)."""
    items = "".join(
        f"<li><b>{esc(c.header)}</b> "
        f"(<code>--convention {esc(c.name)}</code>{', this report' if c.name == convention else ''}): "
        f"{esc(c.doc)}</li>"
        for c in CONVENTIONS.values()
    )
    return (
        '<section id="conventions"><h2>Conventions</h2><ul>'
        + items
        + '</ul><p class="caption">params, activations and memory: as each table\'s caption says; every '
        "figure comes from the same code as <code>cnncost table</code>, <code>compare</code>, <code>memory</code> "
        "and <code>verify</code>.</p></section>"
    )
