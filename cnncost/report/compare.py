"""``cnncost compare``: models side by side, each figure also as a ratio to the first model,
and the per-stage breakdown that shows *where* two models differ.

The rich and markdown tables hold formatted text; ``--format csv`` is one table of raw values,
one row per model (``RawTable``), and the JSON document carries the same records plus the
stages (the CSV has no room for a second table: ``cnncost table MODEL --depth 1 -f csv`` gives
one model's stages)."""

from __future__ import annotations

from typing import Any

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.cost import Analysis
from cnncost.analysis.memory import OPTIMIZER_NAMES, Memory
from cnncost.ops.base import fmt_shape
from cnncost.report.numbers import human, human_bytes
from cnncost.report.sink import Column, RawTable, Report


def _figures(a: Analysis, m: Memory, convention: str) -> dict[str, Any]:
    t = a.totals
    return {
        "params": t.params,
        "count": t.count(convention),
        "activations": t.activations,
        "inference_total_bytes": m.inference_total_bytes,
        "training_total_bytes": m.training_total_bytes,
        "depth": a.depth,
    }


LABELS = {
    "params": ("params", lambda v: f"{v:,} ({human(v)})"),
    "count": ("", lambda v: f"{v:,} ({human(v)})"),
    "activations": ("activations (elements)", lambda v: f"{v:,}"),
    "inference_total_bytes": ("inference memory (params + peak live)", human_bytes),
    "training_total_bytes": ("training memory (one step)", human_bytes),
    "depth": ("depth (conv + linear layers)", lambda v: f"{v:,}"),
}

ACCURACY = ("top1_error", "top5_error")

INPUT_KEYS = ("input_c", "input_h", "input_w")

RAW_KEYS = [
    "model",
    *INPUT_KEYS,
    "batch",
    "dtype_bytes",
    "optimizer",
    "convention",
    *LABELS,
    *ACCURACY,
]
"""The CSV's columns, one row per model: raw numbers (``count`` under ``convention``)."""


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
    for metric in ACCURACY:
        values = [a.model.accuracy.get(metric) for a, _ in items]
        if any(v is not None for v in values):
            rows.append(
                {
                    "figure": f"published {metric.replace('_', ' ')} (%)",
                    **{n: "" if v is None else f"{v}" for n, v in zip(names, values, strict=True)},
                }
            )
    a0, m0 = items[0]
    optimizer = OPTIMIZER_NAMES.get(m0.optimizer, m0.optimizer)
    shapes = list(dict.fromkeys(fmt_shape(a.input_shape) for a, _ in items))
    declared = all(tuple(a.input_shape) == tuple(a.model.input) for a, _ in items)
    inputs = f"inputs as declared (first: {shapes[0]})" if declared else "input " + ", ".join(shapes)
    caption = f"{inputs}, batch {a0.batch}, {m0.dtype_bytes}-byte activations; ×N = ratio to {names[0]}"
    records = [
        {
            "model": n,
            **dict(zip(INPUT_KEYS, (*a.input_shape, None, None, None)[:3], strict=True)),
            "batch": a.batch,
            "dtype_bytes": m.dtype_bytes,
            "optimizer": m.optimizer,
            "convention": convention,
            **f,
            **{k: a.model.accuracy.get(k) for k in ACCURACY},
        }
        for n, f, (a, m) in zip(names, figures, items, strict=True)
    ]
    stage_rows, stage_data = [], []
    for a, _ in items:
        total_count = a.totals.count(convention) or 1
        for r in a.collapsed(1)[1:]:
            if not (r.params or r.count(convention)):
                continue
            share = r.count(convention) / total_count
            stage_data.append(
                {
                    "model": a.model.name,
                    "stage": r.name,
                    "output_shape": list(r.out_shape),
                    "params": r.params,
                    "count": r.count(convention),
                    "share": share,
                }
            )
            stage_rows.append(
                {**stage_data[-1], "output": fmt_shape(r.out_shape), "share": f"{share:.1%}"},
            )
    main = Report(
        f"cnncost compare — {optimizer}",
        columns,
        rows,
        None,
        caption,
        data={
            "models": [
                {**{k: v for k, v in rec.items() if k not in (*ACCURACY, *INPUT_KEYS)}, "input": list(a.input_shape)}
                | {"published_accuracy": a.model.accuracy}
                for rec, (a, _) in zip(records, items, strict=True)
            ],
            "convention": convention,
            "optimizer": m0.optimizer,
            "optimizer_name": optimizer,
            "stages": stage_data,
        },
        raw=RawTable([Column(k, k, k not in ("model", "optimizer", "convention")) for k in RAW_KEYS], records),
    )
    stages = Report(
        "per stage",
        [
            Column("model", "model"),
            Column("stage", "stage"),
            Column("output", "output", priority=-1),
            Column("params", "params", True),
            Column("count", CONVENTIONS[convention].header, True),
            Column("share", "share of ops", True, priority=-2),
        ],
        stage_rows,
        None,
        "stages = the spec's top-level named layers (the papers' table rows)",
        data={"stages": stage_data},
    )
    return [main, stages]
