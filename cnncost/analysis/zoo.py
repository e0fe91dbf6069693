"""The built-in zoo with each model's headline costs, for ``cnncost specs`` and library users."""

from __future__ import annotations

from typing import NamedTuple

from cnncost.analysis.cost import analyze
from cnncost.ops.base import Shape
from cnncost.spec.catalog import family, spec_files


class ZooEntry(NamedTuple):
    name: str
    family: str
    title: str
    input: Shape
    aliases: tuple[str, ...]
    reference: str
    params: int
    macs: int


def zoo(filter: str | None = None) -> list[ZooEntry]:
    """Every model whose name, family, title or an alias contains ``filter`` (case-insensitive)."""
    needle = (filter or "").lower()
    out = []
    for f in spec_files():
        fam = family(f)
        for name in fam.model_names:
            m = fam.model(name)
            if needle and needle not in " ".join([name, m.family, m.title, *m.aliases]).lower():
                continue
            t = analyze(m).totals
            out.append(ZooEntry(name, m.family, m.title, m.input, m.aliases, m.reference, t.params, t.macs))
    return out
