"""Shared fixtures: the catalogue, and a helper that writes a spec to a temp file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cnncost.spec.catalog import all_models


def layer(a, *path: str):
    """The single op at ``path`` of an analysis (``Analysis.within`` sums a whole group instead)."""
    (row,) = [r for r in a.layers if r.path == path]
    return row


def affordable_shape(spec, macs_budget: float, largest: int | None = None) -> tuple[int, ...]:
    """The spec's input if a forward pass there costs at most ``macs_budget`` MACs (and its sides are at
    most ``largest``), else the largest square-ish size below it, in steps of 32, that fits and that
    the network accepts. The costs and the torch checks do not depend on the size, only the time does."""
    from cnncost import analyze
    from cnncost.errors import SpecError

    shape = tuple(spec.input)
    if len(shape) != 3:
        return shape
    c, h, w = shape
    macs = analyze(spec).totals.macs
    if macs <= macs_budget and max(h, w) <= (largest or max(h, w)):
        return shape
    scale = min((macs_budget / macs) ** 0.5 if macs else 1.0, (largest or h) / max(h, w), 1.0)
    for side in range(int(h * scale) // 32 * 32, 31, -32):
        candidate = (c, side, max(32, round(w * side / h / 32) * 32))
        try:
            if analyze(spec, candidate).totals.macs <= macs_budget:
                return candidate
        except SpecError:
            continue
    return shape


HUGE_PARAMS = 300e6
"""A model this large is slow to build whatever the input (RegNetY-128GF: 645M random weights): its torch
checks run in the slow tier only (the analytic checks, e.g. against torchvision's metadata, always run)."""


def huge(spec) -> bool:
    from cnncost import analyze

    return analyze(spec).totals.params > HUGE_PARAMS


def by_cost(models: list[str], fast) -> list:
    """One pytest param per model: at the affordable size in the default tier, and — for a model whose
    affordable size is not its own — once more at its own size in the ``slow`` tier."""
    from cnncost.spec.catalog import load_model

    out = []
    for model in models:
        spec = load_model(model)
        shape = fast(spec)
        out.append(pytest.param(model, shape, id=model, marks=[pytest.mark.slow] if huge(spec) else []))
        if shape != tuple(spec.input):
            out.append(pytest.param(model, tuple(spec.input), id=f"{model}-full", marks=pytest.mark.slow))
    return out


def catalogue() -> list[str]:
    """Every built-in model (canonical names, no aliases)."""
    return sorted({target for _, target in all_models().values()})


@pytest.fixture
def write_spec(tmp_path: Path):
    def write(text: str, name: str = "net.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write
