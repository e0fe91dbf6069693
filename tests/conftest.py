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
