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

    rows = [r.record() for r in a.collapsed(depth)]
    return pd.DataFrame(rows)
