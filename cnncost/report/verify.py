"""The ``cnncost verify`` table: one row per check, reported vs computed vs delta, with sources."""

from __future__ import annotations

from dataclasses import asdict

from cnncost.analysis.published import CheckResult
from cnncost.report.sink import Column, Report

MARK = {"pass": "✓", "fail": "✗", "erratum": "erratum", "differs": "differs"}


def paper_report(results: list[CheckResult]) -> Report:
    columns = [Column("status", ""), Column("model", "model"), Column("metric", "metric"),
               Column("reported", "reported", True), Column("computed", "computed", True),
               Column("delta", "delta", True), Column("tol", "tolerance", True),
               Column("source", "source")]
    rows = []
    for r in results:
        e = r.entry
        metric = e.metric + (f" [{e.layer}]" if e.layer else "")
        if e.input:
            metric += f" @{'×'.join(map(str, e.input))}"
        rows.append({
            "status": MARK[r.status], "model": r.model, "metric": metric,
            "reported": int(e.value) if e.raw_value.isdigit() else e.raw_value,
            "computed": int(r.computed) if float(r.computed).is_integer() else r.computed,
            "delta": f"{r.relative:+.2%}", "tol": f"±{e.tolerance:.1%}" if e.tolerance else "exact",
            "source": e.source + (f" — {e.convention}" if e.convention else ""),
        })
    n_fail = sum(r.status == "fail" for r in results)
    n_err = sum(r.status == "erratum" for r in results)
    n_diff = sum(r.status == "differs" for r in results)
    n_pass = len(results) - n_fail - n_err - n_diff
    caption = (f"{len(results)} published numbers: {n_pass} pass, {n_err} errata and {n_diff} "
               f"other layouts (each explained in its spec), {n_fail} fail")
    data = {"checks": [{"model": r.model, "status": r.status, "computed": r.computed,
                        "delta": r.delta, "relative": r.relative, **asdict(r.entry)} for r in results],
            "summary": {"total": len(results), "pass": n_pass, "fail": n_fail, "erratum": n_err,
                        "differs": n_diff}}
    return Report("Published numbers (cnncost verify --against paper)", columns, rows, None, caption, data)
