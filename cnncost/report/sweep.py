"""``cnncost sweep``: one row per variant — its axis values, then its figures — and the Pareto front.

The rich and markdown tables hold formatted text (``11.69M``, ``59.08 MiB``); ``--format csv`` is one
row per variant of raw values (lists as JSON, the input as ``input_c/h/w``, the field as ``rf_h/rf_w``)
and the JSON document carries the same rows as they are, with the axes and the settings."""

from __future__ import annotations

import json
from typing import Any

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.memory import OPTIMIZER_NAMES
from cnncost.analysis.sweep import Sweep, result_keys
from cnncost.ops.base import fmt_shape
from cnncost.report.numbers import human, human_bytes
from cnncost.report.sink import Column, RawTable, Report


def _value(v: Any) -> str:
    """An axis value as a cell: ``[2, 2, 2, 2]``, ``basic``, ``0.75``."""
    return v if isinstance(v, str) else json.dumps(v)


def _field(row: dict[str, Any]) -> str:
    """``435×435 at conv5_x.1.relu2`` (the last layer whose field is finite), ``… (output)`` when that is
    the output, ``whole input`` when no layer's is."""
    rf = row["receptive_field"]
    if rf is None:
        return "whole input"
    return f"{rf[0]}×{rf[1]}" + (" (output)" if row["rf_at_output"] else f" at {row['rf_layer']}")


def sweep_report(s: Sweep, front: list[int] | None = None, metrics: list[str] | None = None) -> Report:
    """The table of a sweep; ``front`` (row indices) marks the Pareto front of ``metrics``."""
    header = CONVENTIONS[s.convention].header
    on_front = set(front or [])
    axis_cols = [s.columns[a.name] for a in s.axes if a.kind not in ("input", "batch")]  # those have their own
    derived = [a.rule.depth for a in s.axes if a.rule] + [a.rule.width for a in s.axes if a.rule]
    columns = [Column("variant", "#", True)]
    columns += [Column(c, c, any(isinstance(r[c], int | float) for r in s.rows)) for c in [*axis_cols, *derived]]
    columns += [
        Column("input", "input", priority=1),
        *([Column("batch", "batch", True)] if any(a.kind == "batch" for a in s.axes) else []),
        Column("params", "params", True, priority=2),
        Column("count", header, True, priority=2),
        Column("activations", "activations", True, priority=-1),
        Column("peak", "peak live (inference)", True, priority=1),
        Column("training", "training (one step)", True, priority=1),
        Column("rf", "receptive field", priority=-2),
        Column("depth", "depth", True, priority=-1),
    ]
    if front is not None:
        columns.append(Column("pareto", "front", priority=3))
    if s.failed:
        columns.append(Column("error", "error", priority=2))
    rows = []
    for i, r in enumerate(s.rows):
        row: dict[str, Any] = {"variant": r["variant"], **{c: _value(r[c]) for c in [*axis_cols, *derived]}}
        row["input"] = fmt_shape(r["input"])
        row["batch"] = r["batch"]
        if r["error"]:
            row["error"] = r["error"]
        else:
            row |= {
                "params": human(r["params"]),
                "count": human(r[s.convention]),
                "activations": human(r["activations"]),
                "peak": human_bytes(r["peak_inference_bytes"]),
                "training": human_bytes(r["training_total_bytes"]),
                "rf": _field(r),
                "depth": r["depth"],
            }
        if front is not None:
            row["pareto"] = "★" if i in on_front else ""
        rows.append(row)
    optimizer = OPTIMIZER_NAMES.get(s.optimizer, s.optimizer)
    shown = f"{len(s.rows):,} of {s.grid_size:,}, seed {s.seed}" if s.sample is not None else f"{len(s.rows):,}"
    caption = (
        f"{shown} variants; batch {s.batch if not any(a.kind == 'batch' for a in s.axes) else 'as swept'}, "
        f"{s.dtype_bytes}-byte elements, training with {optimizer}; depth = conv + linear layers"
        + (f"; ★ = Pareto front of {', '.join(metrics or [])}" if front is not None else "")
        + (f"; {s.failed} variant(s) failed" if s.failed else "")
    )
    records = [{**r, **({"pareto": i in on_front} if front is not None else {})} for i, r in enumerate(s.rows)]
    data = {
        "model": s.model,
        "convention": s.convention,
        "convention_header": header,
        "optimizer": s.optimizer,
        "dtype_bytes": s.dtype_bytes,
        "axes": {s.columns[a.name]: [list(v) if a.kind == "input" else v for v in a.values] for a in s.axes},
        "grid_size": s.grid_size,
        "sample": s.sample,
        "seed": s.seed,
        "pareto": metrics if front is not None else None,
        "front": [s.rows[i]["variant"] for i in front] if front is not None else None,
        "rows": records,
    }
    return Report(
        f"cnncost sweep — {s.model}", columns, rows, None, caption, data, _raw(s, records, axis_cols, derived)
    )


def _raw(s: Sweep, records: list[dict[str, Any]], axis_cols: list[str], derived: list[str]) -> RawTable:
    """One CSV row per variant: raw numbers, lists as JSON text."""
    keys = ["variant", *axis_cols, *derived, "input_c", "input_h", "input_w", "batch"]
    keys += [k for k in result_keys(s.convention) if k != "receptive_field"] + ["rf_h", "rf_w"]
    keys += ["pareto"] if "pareto" in records[0] else []
    keys += ["error"] if s.failed else []
    flat = []
    for r in records:
        row = {k: (json.dumps(v) if isinstance(v, list) else v) for k, v in r.items()}
        row |= dict(zip(("input_c", "input_h", "input_w"), (*r["input"], None, None, None)[:3], strict=True))
        row |= dict(zip(("rf_h", "rf_w"), r["receptive_field"] or (None, None), strict=True))
        flat.append(row)
    text = {"rf_layer", "error", *(c for c in axis_cols if not all(isinstance(r[c], int | float) for r in records))}
    return RawTable([Column(k, k, k not in text) for k in keys], flat)
