"""Analyses as pandas DataFrames, for notebooks and further analysis (pandas is imported lazily:
the CLI's fast path never loads it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnncost.analysis.cost import Analysis

if TYPE_CHECKING:
    import pandas as pd


def to_frame(a: Analysis, depth: int | None = None) -> pd.DataFrame:
    """One row per layer (or per group at ``depth``), exact integer columns.

    >>> to_frame(analyze("resnet50"), depth=1).set_index("name").loc["conv4_x", "macs"]  # doctest: +SKIP
    1464336384
    """
    import pandas as pd

    rows = [
        {
            "name": r.name,
            "kind": r.kind,
            "label": r.label,
            "output_shape": r.out_shape,
            "params": r.params,
            "weights": r.weights,
            "biases": r.biases,
            "buffers": r.buffers,
            "macs": r.macs,
            "flops": r.flops,
            "all_ops": r.all_ops,
            "fvcore": r.fvcore,
            "activations": r.activations,
        }
        for r in a.collapsed(depth)
    ]
    return pd.DataFrame(rows)
