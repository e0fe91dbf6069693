"""The ``cnncost specs`` listing of the zoo (formatting only: ``analysis.zoo`` computes it)."""

from __future__ import annotations

from cnncost.analysis.zoo import ZooEntry
from cnncost.ops.base import fmt_shape
from cnncost.report.numbers import human
from cnncost.report.sink import Column, Report

COLUMNS = [  # priority: which columns a narrow terminal leaves out first (the lowest)
    Column("name", "model"),
    Column("family", "family", priority=-1),
    Column("input", "input"),
    Column("params", "params", True),
    Column("macs", "MACs (conv+linear)", True),
    Column("macs_h", "≈", True, priority=-1),
    Column("aliases", "aliases", priority=-2),
    Column("reference", "reference", priority=-3),
]


def specs_report(entries: list[ZooEntry]) -> Report:
    rows = [
        {
            "name": e.name,
            "family": e.family,
            "input": fmt_shape(e.input),
            "params": e.params,
            "macs": e.macs,
            "macs_h": human(e.macs),
            "aliases": ", ".join(e.aliases),
            "reference": e.reference,
            "title": e.title,
        }
        for e in entries
    ]
    return Report(f"cnncost zoo ({len(rows)} models)", COLUMNS, rows, None, "", data={"models": rows})
