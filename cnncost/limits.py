"""Budgets for what a spec may ask of the machine, so hostile or absurd input fails fast and clearly.

Each limit is far above what any real network needs (the zoo's largest spec is 40 KB and expands to
3,000 layers) and can be raised with ``CNNCOST_MAX_<NAME>=N`` (e.g. ``CNNCOST_MAX_LAYERS=500000``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cnncost.errors import SpecError


@dataclass(frozen=True)
class Limit:
    name: str
    default: int
    what: str

    @property
    def env(self) -> str:
        return f"CNNCOST_MAX_{self.name.upper()}"

    @property
    def value(self) -> int:
        raw = os.environ.get(self.env, "")
        return int(raw) if raw.isdigit() and int(raw) > 0 else self.default

    def exceeded(self, found: str, file: str | None = None, line: int | None = None) -> SpecError:
        """The error for input over this budget: what was found, the budget, and how to raise it."""
        return SpecError(
            f"{found}: over the limit of {self.value:,} {self.what}",
            file=file,
            line=line,
            expected=f"a smaller spec, or {self.env}=N to raise the limit",
        )


SPEC_BYTES = Limit("spec_bytes", 8 * 2**20, "bytes per spec file")
YAML_NODES = Limit("yaml_nodes", 1_000_000, "YAML nodes once aliases are expanded")
YAML_DEPTH = Limit("yaml_depth", 100, "levels of YAML nesting")
LAYERS = Limit("layers", 200_000, "layers after expansion")
BLOCK_DEPTH = Limit("block_depth", 100, "nested block calls")
LAYER_SIZE = Limit("layer_size", 10**15, "elements or operations in one layer (batch excluded)")
"""How large one layer may be (``out: 10**400`` is past it): the zoo's largest is about 10¹⁰ operations, and
every number a report prints stays far within a float's range (a ratio of two models' MACs, a percentage)."""

EXPR_LIST = Limit("expr_list", 10_000, "elements in a list an expression builds")
"""The longest list (or string) an expression may build: a ``range``, a comprehension, ``[0] * n``, ``a + b``."""
EXPR_STEPS = Limit("expr_steps", 100_000, "steps of one expression (loop iterations and list elements built)")
"""The work one evaluation may do: comprehension iterations (nested ``for`` clauses multiply) plus
the elements of every list or string it builds (``[x + y for ...]`` copies ``x`` and ``y``)."""
EXPR_INT_BITS = Limit("expr_int_bits", 10_000, "bits in an integer power or product")
"""The largest integer power or product an expression may compute (``2 ** 10_001`` is past it, and so is
``x * x`` for a 5,001-bit ``x``: a block that squares its argument at every level of nesting)."""
SWEEP = Limit("sweep", 10_000, "variants in one sweep")
"""How many variants one sweep may evaluate (its grid, or its ``--sample``), and so how long one axis may be:
10,000 take a few seconds; a larger design space is a ``--sample``, or this limit raised."""
