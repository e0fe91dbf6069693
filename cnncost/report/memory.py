"""The ``cnncost memory`` report: the three memory figures of each model, side by side."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cnncost.analysis.memory import Memory
from cnncost.report.numbers import human_bytes
from cnncost.report.sink import Column, Report

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


def memory_report(models: list[tuple[str, Memory]]) -> Report:
    columns = [Column("figure", "memory")] + [Column(name, name, True) for name, _ in models]
    rows: list[dict[str, Any]] = []
    for attr, label in ROWS:
        row: dict[str, Any] = {"figure": label}
        for name, m in models:
            row[name] = f"{human_bytes(getattr(m, attr))} ({getattr(m, attr):,} B)"
        rows.append(row)
    ratio: dict[str, Any] = {"figure": "saved-for-backward / forward activations (lecture: ~×2)"}
    where: dict[str, Any] = {"figure": "peak occurs at"}
    for name, m in models:
        ratio[name] = f"×{m.backward_forward_ratio:.2f}"
        where[name] = m.peak_at
    rows += [where, ratio]
    m0 = models[0][1]
    caption = (
        f"batch {m0.batch}, {m0.dtype_bytes} bytes per activation"
        + (" (AMP: fp16 activations, fp32 weights, gradients and optimizer state)" if m0.amp else "")
        + f", optimizer {m0.optimizer}"
    )
    data = {
        "models": [
            {
                "model": name,
                **asdict(m),
                "inference_total_bytes": m.inference_total_bytes,
                "training_total_bytes": m.training_total_bytes,
                "backward_forward_ratio": m.backward_forward_ratio,
            }
            for name, m in models
        ]
    }
    return Report("cnncost memory", columns, rows, None, caption, data)
