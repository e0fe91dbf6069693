"""The per-layer table of ``cnncost table``: columns, rows and the JSON document."""

from __future__ import annotations

from typing import Any

from cnncost.analysis.conventions import CONVENTIONS, OP_CLASSES
from cnncost.analysis.cost import Analysis, LayerCost
from cnncost.ops.base import fmt_shape
from cnncost.report.numbers import exact, human, human_bytes, json_number
from cnncost.report.sink import Column, Report

PARAM_CONVENTIONS = ("torch", "keras")


def layer_table(
    a: Analysis,
    *,
    depth: int | None = None,
    weights_only: bool = False,
    convention: str = "macs",
    dtype: str = "fp32",
    dtype_bytes: int = 4,
    params: str = "torch",
) -> Report:
    conv = CONVENTIONS[convention]
    params_header = (
        "weights (no bias)"
        if weights_only
        else ("Param # (Keras: incl. BN moving stats)" if params == "keras" else "params")
    )
    columns = [
        Column("name", "layer"),
        Column("type", "type"),
        Column("output", "output"),
        Column("params", params_header, True),
        Column("count", conv.header, True),
        Column("activations", "activations (elements)", True),
        Column("memory", f"memory ({dtype})", True),
    ]

    def row(r: LayerCost) -> dict[str, Any]:
        return {
            "name": r.name,
            "type": r.label,
            "output": fmt_shape(r.out_shape),
            "params": r.weights if weights_only else r.param_count(params),
            "count": r.count(convention),
            "activations": r.activations,
            "memory": human_bytes(r.activations * dtype_bytes),
        }

    rows = [row(r) for r in a.collapsed(depth)]
    t = a.totals
    plural = "s" if a.depth != 1 else ""
    footer = {
        "name": "total",
        "type": f"{a.depth} weight layer{plural}",
        "output": "",
        "params": t.weights if weights_only else t.param_count(params),
        "count": t.count(convention),
        "activations": t.activations,
        "memory": human_bytes(t.activations * dtype_bytes),
    }
    batch = f", batch {a.batch}" if a.batch > 1 else ""
    title = f"{a.model.name} — input {fmt_shape(a.input_shape)}{batch}"
    caption = (
        f"params {human(t.params)} ({exact(t.weights)} weights + {exact(t.biases)} biases; "
        f"{exact(t.buffers)} buffer elements) · {conv.header}: {human(t.count(convention))} · "
        f"activations: input + every new tensor (in-place ops, dropout and views add none)"
    )
    step = a.training_step_macs
    if a.training_only_heads:
        caption += (
            f" · {a.mode} reading: the training-only side heads' weights are counted, their operations not "
            f"(--mode training: {human(step)} MACs)"
            if a.mode == "inference"
            else " · training reading: the training-only side heads run"
        )
    if t.train_macs != step:
        saved = 1 - t.train_macs / step
        caption += (
            f" · stochastic depth: expected training MACs {human(t.train_macs)} "
            f"({float(saved):.1%} less than every block running)"
        )
    if params == "keras":
        caption = (
            f"Total params: {t.param_count('keras'):,} · Trainable params: {t.params:,} · "
            f"Non-trainable params: {t.non_trainable:,} (Keras convention: BN moving mean and "
            f"variance are non-trainable parameters) · " + caption
        )
    if convention == "all":
        caption += " · by class: " + ", ".join(f"{k} {human(v)}" for k, v in t.ops.items() if v)
    return Report(
        title,
        columns,
        rows,
        footer,
        caption,
        data=table_json(a, depth, weights_only, convention, dtype, dtype_bytes, params),
    )


def _layer_json(r: LayerCost, dtype_bytes: int) -> dict[str, Any]:
    return {
        **r.record(),
        "input_shapes": [list(s) for s in r.in_shapes],
        "output_shape": list(r.out_shape),
        "ops": dict(r.ops),
        "non_trainable": r.non_trainable,
        "train_macs_expected": json_number(r.train_macs),
        "activation_bytes": r.activations * dtype_bytes,
        "line": r.line,
        "shares": r.shares,
    }


def table_json(
    a: Analysis,
    depth: int | None,
    weights_only: bool,
    convention: str,
    dtype: str,
    dtype_bytes: int,
    params: str = "torch",
) -> dict[str, Any]:
    t = a.totals
    totals = _layer_json(t, dtype_bytes)
    for key in ("name", "kind", "label", "input_shapes", "output_shape", "line", "shares"):
        totals.pop(key)
    totals["trainable_params"] = t.params
    totals["non_trainable_params"] = t.non_trainable
    totals.pop("counters", None)
    if weights_only:
        totals["params"] = t.weights
    elif params == "keras":
        totals["params"] = t.param_count("keras")
    totals["ops"] = {k: t.ops.get(k, 0) for k in OP_CLASSES}
    totals["param_bytes"] = t.params * dtype_bytes
    totals["weight_layers"] = a.depth
    return {
        "model": a.model.name,
        "family": a.model.family,
        "title": a.model.title,
        "spec": a.model.file,
        "input": list(a.input_shape),
        "batch": a.batch,
        "dtype": dtype,
        "dtype_bytes": dtype_bytes,
        "convention": convention,
        "convention_header": CONVENTIONS[convention].header,
        "weights_only": weights_only,
        "param_convention": params,
        "mode": a.mode,
        "depth": depth,
        "output_shape": list(a.layers[-1].out_shape),
        "layers": [_layer_json(r, dtype_bytes) for r in a.collapsed(depth)],
        "totals": totals,
        "warnings": [{"path": w.path, "message": w.message, "line": w.line} for w in a.warnings],
    }
