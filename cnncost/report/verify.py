"""The ``cnncost verify`` table: one row per check — expected, got, delta — with sources."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cnncost.analysis.published import CheckResult
from cnncost.ops.base import fmt_shape
from cnncost.report.sink import Column, Report

MARK = {"pass": "✓", "fail": "✗", "erratum": "erratum", "differs": "differs"}

COLUMNS = [
    Column("status", ""),
    Column("model", "model"),
    Column("check", "check"),
    Column("expected", "published / torch", True),
    Column("got", "cnncost", True),
    Column("delta", "delta", True),
    Column("tol", "tolerance", True),
    Column("source", "source / detail"),
]


def paper_rows(results: list[CheckResult]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        e = r.entry
        check = "paper: " + e.metric + (f" [{e.layer}]" if e.layer else "")
        if e.input:
            check += f" @{fmt_shape(e.input)}"
        rows.append(
            {
                "status": MARK[r.status],
                "model": r.model,
                "check": check,
                "expected": int(e.value) if e.raw_value.isdigit() else e.raw_value,
                "got": int(r.computed) if float(r.computed).is_integer() else r.computed,
                "delta": f"{r.relative:+.2%}",
                "tol": f"±{e.tolerance:.1%}" if e.tolerance else "exact",
                "source": e.source + (f" — {e.convention}" if e.convention else ""),
            }
        )
    return rows


def torch_rows(checks: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for c in checks:
        delta = ""
        if isinstance(c.engine, int) and isinstance(c.oracle, int):
            delta = f"{c.engine - c.oracle:+,}"
        detail = "; ".join(c.details[:2]) + (f" (+{len(c.details) - 2} more)" if len(c.details) > 2 else "")
        if c.skipped:
            detail = "fvcore skips " + ", ".join(f"{op.removeprefix('aten::')}×{n}" for op, (n, _) in c.skipped.items())
        rows.append(
            {
                "status": "✓" if c.ok else "✗",
                "model": c.model,
                "check": c.check,
                "expected": c.oracle if isinstance(c.oracle, int) else str(c.oracle),
                "got": c.engine if isinstance(c.engine, int) else str(c.engine),
                "delta": delta,
                "tol": "exact",
                "source": detail,
            }
        )
    return rows


def verify_report(paper: list[CheckResult], checks: list[Any]) -> Report:
    rows = torch_rows(checks) + paper_rows(paper)
    n_fail = sum(r.status == "fail" for r in paper) + sum(not c.ok for c in checks)
    n_err = sum(r.status == "erratum" for r in paper)
    n_diff = sum(r.status == "differs" for r in paper)
    n_pass = len(rows) - n_fail - n_err - n_diff
    caption = (
        f"{len(rows)} checks: {n_pass} pass, {n_err} errata and {n_diff} other layouts "
        f"(each explained in its spec), {n_fail} fail"
    )
    data = {
        "checks": [
            {
                "model": c.model,
                "check": c.check,
                "engine": c.engine,
                "oracle": c.oracle,
                "ok": c.ok,
                "details": c.details,
                "fvcore_skips": {op: {"calls": n, "why": why} for op, (n, why) in c.skipped.items()},
            }
            for c in checks
        ],
        "paper": [
            {
                "model": r.model,
                "status": r.status,
                "computed": r.computed,
                "delta": r.delta,
                "relative": r.relative,
                **asdict(r.entry),
            }
            for r in paper
        ],
        "summary": {"total": len(rows), "pass": n_pass, "fail": n_fail, "erratum": n_err, "differs": n_diff},
    }
    return Report("cnncost verify", COLUMNS, rows, None, caption, data)
