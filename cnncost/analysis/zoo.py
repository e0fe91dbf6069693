"""The built-in zoo with each model's headline costs, for ``cnncost specs`` and library users."""

from __future__ import annotations

import warnings
from typing import NamedTuple

from cnncost.analysis.cost import analyze
from cnncost.errors import SpecError
from cnncost.ops.base import Shape
from cnncost.spec.catalog import CatalogWarning, families


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
    for _, fam in families():
        for name in fam.model_names:
            try:
                m = fam.model(name)
                if needle and needle not in " ".join([name, m.family, m.title, *m.aliases]).lower():
                    continue
                t = analyze(m).totals
            except SpecError as exc:  # one broken spec (on CNNCOST_PATH) does not hide the others
                warnings.warn(f"skipped {name}: {exc}", CatalogWarning, stacklevel=2)
                continue
            out.append(ZooEntry(name, m.family, m.title, m.input, m.aliases, m.reference, t.params, t.macs))
    return out
