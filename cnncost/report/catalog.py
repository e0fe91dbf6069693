"""The ``cnncost specs`` listing of the zoo."""

from __future__ import annotations

from cnncost.analysis.cost import analyze
from cnncost.report.numbers import human
from cnncost.report.sink import Column, Report
from cnncost.spec.catalog import family, spec_files


def specs_report(filter: str | None) -> Report:
    needle = (filter or "").lower()
    rows = []
    for f in spec_files():
        fam = family(f)
        for name in fam.model_names:
            m = fam.model(name)
            hay = " ".join([name, m.family, m.title, *m.aliases]).lower()
            if needle and needle not in hay:
                continue
            t = analyze(m).totals
            rows.append({"name": name, "family": m.family, "input": "×".join(map(str, m.input)),
                         "params": t.params, "macs": t.macs, "macs_h": human(t.macs),
                         "aliases": ", ".join(m.aliases), "reference": m.reference,
                         "title": m.title})
    columns = [Column("name", "model"), Column("family", "family"), Column("input", "input"),
               Column("params", "params", True), Column("macs", "MACs (conv+linear)", True),
               Column("macs_h", "≈", True), Column("aliases", "aliases"), Column("reference", "reference")]
    return Report(f"cnncost zoo ({len(rows)} models)", columns, rows, None, "",
                  data={"models": rows})
