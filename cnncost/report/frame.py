"""Analyses as pandas DataFrames, for notebooks and further analysis (pandas is imported lazily:
the CLI's fast path never loads it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnncost.analysis.cost import Analysis

if TYPE_CHECKING:
    import pandas as pd


def to_frame(a: Analysis, depth: int | None = None, rf: bool = False) -> pd.DataFrame:
    """One row per layer (or per group at ``depth``), exact integer columns; ``rf``: also the receptive
    field columns of the JSON table (``receptive_field``, ``jump``, ``rf_start``: [h, w], None for the
    whole input).

    >>> to_frame(analyze("resnet50"), depth=1).set_index("name").loc["conv4_x", "macs"]  # doctest: +SKIP
    1464336384
    """
    import pandas as pd

    layers = a.collapsed(depth)
    rows = [r.record() for r in layers]
    if rf:
        from cnncost.analysis.receptive import row_fields

        for row, field in zip(rows, row_fields(a, layers), strict=True):
            row.update(field.record())
    return pd.DataFrame(rows)
