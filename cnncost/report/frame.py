"""Results as pandas DataFrames, for notebooks and further analysis (pandas is imported lazily: the
CLI's fast path never loads it).

One function per result, each the table its command writes with ``--format csv`` (the same record
functions build both, so the columns cannot drift):

* ``to_frame(analysis)`` — the layer table (``cnncost table``), one row per layer or group;
* ``memory_frame([(name, memory), ...])`` — ``cnncost memory``, one row per model, exact bytes;
* ``compare_frame([(analysis, memory), ...])`` — ``cnncost compare``, one row per model;
  ``stages_frame(...)`` — its per-stage table, long: one row per model × stage;
* ``bench_frame(run)`` — ``cnncost bench``, one row per model × batch, from a ``BenchRun`` or the
  JSON document ``bench --save`` wrote (the document, or its path).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from cnncost.analysis.cost import Analysis
from cnncost.analysis.memory import Memory

if TYPE_CHECKING:
    import pandas as pd

    from cnncost.report.sink import Column, Report


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


def _csv_frame(report: Report) -> pd.DataFrame:
    """The table ``render(report, "csv")`` writes, with its headers, as a frame of the raw values."""
    import pandas as pd

    columns: list[Column] = report.raw.columns if report.raw else report.columns
    rows = report.raw.rows if report.raw else report.rows
    return pd.DataFrame([[row.get(c.key) for c in columns] for row in rows], columns=[c.header for c in columns])


def memory_frame(models: Iterable[tuple[str, Memory]]) -> pd.DataFrame:
    """``cnncost memory --format csv`` as a frame: one row per (name, ``Memory``), every byte figure exact.

    >>> memory_frame([("resnet50", memory(analyze("resnet50")))]).loc[0, "param_bytes"]  # doctest: +SKIP
    102228128
    """
    from cnncost.report.memory import memory_report

    return _csv_frame(memory_report(list(models)))


def compare_frame(items: Iterable[tuple[Analysis, Memory]], convention: str = "macs") -> pd.DataFrame:
    """``cnncost compare --format csv`` as a frame: one row per model, ``count`` under ``convention``."""
    from cnncost.report.compare import compare_reports

    return _csv_frame(compare_reports(list(items), convention)[0])


def stages_frame(items: Iterable[tuple[Analysis, Memory]], convention: str = "macs") -> pd.DataFrame:
    """``compare``'s per-stage table, long: one row per model × top-level stage (``model``, ``stage``,
    ``output_shape``, ``params``, ``count``, ``share`` of the model's count), as in its JSON ``stages``."""
    import pandas as pd

    from cnncost.report.compare import compare_reports

    return pd.DataFrame(compare_reports(list(items), convention)[0].data["stages"])


class _Fields(dict[str, Any]):
    """A saved JSON object read like the dataclass it was written from: ``bench_report`` reads attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def bench_frame(run: Any) -> pd.DataFrame:
    """``cnncost bench --format csv`` as a frame: every result field plus the environment, one row per
    model × batch. ``run``: a ``BenchRun``, or the document ``bench --save`` wrote (a dict, or its path)."""
    from cnncost.report.bench import bench_report

    if isinstance(run, str | os.PathLike):
        run = json.loads(Path(run).read_text())
    if isinstance(run, Mapping):
        run = SimpleNamespace(
            config=_Fields(run["config"]),
            environment=run["environment"],
            roof=_Fields(run["roof"]),
            results=[_Fields(r) for r in run["results"]],
        )
    return _csv_frame(bench_report(run, raw=True))
