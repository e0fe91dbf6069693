"""``cnncost compare``: models side by side, each figure also as a ratio to the first model,
and the per-stage breakdown that shows *where* two models differ."""

from __future__ import annotations

from typing import Any

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.cost import Analysis
from cnncost.analysis.memory import Memory
from cnncost.ops.base import fmt_shape
from cnncost.report.numbers import human, human_bytes
from cnncost.report.sink import Column, Report


def _figures(a: Analysis, m: Memory, convention: str) -> dict[str, Any]:
    t = a.totals
    return {
        "params": t.params,
        "count": t.count(convention),
        "activations": t.activations,
        "peak_inference_bytes": m.inference_total_bytes,
        "training_bytes": m.training_total_bytes,
        "depth": a.depth,
    }


LABELS = {
    "params": ("params", lambda v: f"{v:,} ({human(v)})"),
    "count": ("", lambda v: f"{v:,} ({human(v)})"),
    "activations": ("activations (elements)", lambda v: f"{v:,}"),
    "peak_inference_bytes": ("inference memory (params + peak live)", human_bytes),
    "training_bytes": ("training memory (one step)", human_bytes),
    "depth": ("depth (conv + linear layers)", lambda v: f"{v:,}"),
}


def compare_reports(items: list[tuple[Analysis, Memory]], convention: str) -> list[Report]:
    names = [a.model.name for a, _ in items]
    figures = [_figures(a, m, convention) for a, m in items]
    columns = [Column("figure", "")] + [Column(n, n, True) for n in names]
    rows = []
    for key, (label, fmt) in LABELS.items():
        row: dict[str, Any] = {"figure": label or CONVENTIONS[convention].header}
        for n, f in zip(names, figures, strict=True):
            base = figures[0][key]
            ratio = f" ×{f[key] / base:.2f}" if base and n != names[0] else ""
            row[n] = fmt(f[key]) + ratio
        rows.append(row)
    for metric in ("top1_error", "top5_error"):
        values = [a.model.accuracy.get(metric) for a, _ in items]
        if any(v is not None for v in values):
            rows.append(
                {
                    "figure": f"published {metric.replace('_', ' ')} (%)",
                    **{n: "" if v is None else f"{v}" for n, v in zip(names, values, strict=True)},
                }
            )
    a0, m0 = items[0]
    caption = (
        f"input as each spec declares (first: {fmt_shape(a0.input_shape)}), batch {a0.batch}, "
        f"{m0.dtype_bytes}-byte activations, optimizer {m0.optimizer}; ×N = ratio to {names[0]}"
    )
    main = Report(
        "cnncost compare",
        columns,
        rows,
        None,
        caption,
        data={
            "models": [
                {"model": n, **f, "published_accuracy": a.model.accuracy}
                for n, f, (a, _) in zip(names, figures, items, strict=True)
            ],
            "convention": convention,
        },
    )
    stage_rows = []
    for a, _ in items:
        total_count = a.totals.count(convention) or 1
        for r in a.collapsed(1)[1:]:
            if not (r.params or r.count(convention)):
                continue
            stage_rows.append(
                {
                    "model": a.model.name,
                    "stage": r.name,
                    "output": fmt_shape(r.out_shape),
                    "params": r.params,
                    "count": r.count(convention),
                    "share": f"{r.count(convention) / total_count:.1%}",
                }
            )
    stages = Report(
        "per stage",
        [
            Column("model", "model"),
            Column("stage", "stage"),
            Column("output", "output"),
            Column("params", "params", True),
            Column("count", CONVENTIONS[convention].header, True),
            Column("share", "share of ops", True),
        ],
        stage_rows,
        None,
        "stages = the spec's top-level named layers (the papers' table rows)",
        data={"stages": stage_rows},
    )
    main.data["stages"] = stage_rows
    return [main, stages]
