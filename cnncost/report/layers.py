"""The per-layer table of ``cnncost table``: columns, rows and the JSON document."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from cnncost.analysis.conventions import CONVENTIONS, OP_CLASSES
from cnncost.analysis.cost import Analysis, LayerCost
from cnncost.analysis.receptive import ReceptiveField, row_fields
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
    rf: bool = False,
) -> Report:
    """``rf``: also each row's receptive field, jump and first field's centre (``docs/receptive-field.md``)."""
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

    layers = a.collapsed(depth)
    rows = [row(r) for r in layers]
    if rf:
        columns += RF_COLUMNS
        for cells, field in zip(rows, row_fields(a, layers), strict=True):
            cells.update(rf_cells(field))
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
    if rf:
        caption += (
            " · RF: the input pixels one output position sees (rows×columns; at the borders clipped to the "
            "image), jump: input pixels between neighbouring positions, RF start: the centre of position 0's "
            "field (pixel centres at 0, 1, ...)"
        )
    return Report(
        title,
        columns,
        rows,
        footer,
        caption,
        data=table_json(a, depth, weights_only, convention, dtype, dtype_bytes, params, rf),
    )


RF_COLUMNS = [Column("rf", "RF"), Column("jump", "jump"), Column("rf_start", "RF start")]
WHOLE_INPUT = "whole input"


def rf_cells(field: ReceptiveField) -> dict[str, str]:
    """``7×7``, jump ``4``, start ``1.5``; one value where both axes agree; ``whole input`` where a
    layer mixes every position (global pooling, flatten, an SE gate)."""
    if field.whole:
        return {"rf": WHOLE_INPUT, "jump": "", "rf_start": ""}
    return {
        "rf": "×".join("whole" if n is None else str(n) for n in field.size),
        "jump": _pair(field.jump, "×"),
        "rf_start": _pair(field.start, ", "),
    }


def _pair(values: tuple[Fraction | None, Fraction | None], sep: str) -> str:
    text = ["" if v is None else exact_fraction(v) for v in values]
    return text[0] if text[0] == text[1] else sep.join(text)


def exact_fraction(v: Fraction) -> str:
    """``3``, ``-0.5``, ``1/3``: the decimal when it ends, else the fraction."""
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        digits = 0
        while (v * 10**digits).denominator != 1:
            digits += 1
        return f"{float(v):.{digits}f}" if digits < 16 else str(v)
    return f"{v.numerator}/{v.denominator}"


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


def _layers_json(a: Analysis, rows: list[LayerCost], dtype_bytes: int, rf: bool) -> list[dict[str, Any]]:
    out = [_layer_json(r, dtype_bytes) for r in rows]
    if rf:  # only when asked: the default document stays as it was
        for layer, field in zip(out, row_fields(a, rows), strict=True):
            layer.update(field.record())
    return out


def table_json(
    a: Analysis,
    depth: int | None,
    weights_only: bool,
    convention: str,
    dtype: str,
    dtype_bytes: int,
    params: str = "torch",
    rf: bool = False,
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
        "layers": _layers_json(a, a.collapsed(depth), dtype_bytes, rf),
        "totals": totals,
        "warnings": [{"path": w.path, "message": w.message, "line": w.line} for w in a.warnings],
    }
