"""The ``cnncost memory`` report: the three memory figures of each model, side by side."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cnncost.analysis.memory import OPTIMIZER_NAMES, Memory
from cnncost.report.numbers import human_bytes
from cnncost.report.sink import Column, RawTable, Report

ROWS = [
    ("param_bytes", "parameters"),
    ("buffer_bytes", "buffers (BN running stats)"),
    ("forward_activation_bytes", "forward activations (every new tensor)"),
    ("peak_inference_bytes", "peak live activations, inference (liveness)"),
    ("peak_cpu_bytes", "  … with torch CPU conv workspace (oneDNN reorders)"),
    ("inference_total_bytes", "inference total (params + buffers + peak)"),
    ("saved_activation_bytes", "training: activations saved for backward"),
    ("gradient_bytes", "training: gradients"),
    ("optimizer_bytes", "training: optimizer state"),
    ("training_total_bytes", "training total (one step)"),
]

SETTINGS = ("batch", "dtype_bytes", "amp", "optimizer")
"""The assumptions of every figure, in each machine-readable record."""


def record(name: str, m: Memory) -> dict[str, Any]:
    """One model's figures as raw values: the JSON document's and the CSV's record."""
    return {
        "model": name,
        **asdict(m),
        "inference_total_bytes": m.inference_total_bytes,
        "training_total_bytes": m.training_total_bytes,
        "backward_forward_ratio": m.backward_forward_ratio,
    }


def memory_report(models: list[tuple[str, Memory]]) -> Report:
    m0 = models[0][1]
    optimizer = OPTIMIZER_NAMES.get(m0.optimizer, m0.optimizer)
    columns = [Column("figure", "memory")] + [Column(name, name, True) for name, _ in models]
    rows: list[dict[str, Any]] = []
    for attr, label in ROWS:
        row: dict[str, Any] = {"figure": label}
        for name, m in models:
            row[name] = f"{human_bytes(getattr(m, attr))} ({getattr(m, attr):,} B)"
        rows.append(row)
    ratio: dict[str, Any] = {"figure": "saved for backward / forward (lecture: ~×2)"}
    where: dict[str, Any] = {"figure": "peak occurs at"}
    for name, m in models:
        ratio[name] = f"×{m.backward_forward_ratio:.2f}"
        where[name] = m.peak_at
    rows += [where, ratio]
    caption = f"batch {m0.batch}, {m0.dtype_bytes}-byte activations" + (
        " (AMP: fp16 activations, fp32 weights, gradients and optimizer state)" if m0.amp else ""
    )
    records = [record(name, m) for name, m in models]
    data = {"optimizer": m0.optimizer, "optimizer_name": optimizer, "models": records}
    keys = ["model", *SETTINGS, *(k for k in records[0] if k not in ("model", *SETTINGS))]
    raw = RawTable([Column(k, k, k not in ("model", "optimizer", "peak_at", "amp")) for k in keys], records)
    return Report(f"cnncost memory — {optimizer}", columns, rows, None, caption, data, raw)
