"""What every benchmark writes beside its figures: the machine it ran on, and the results file itself."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Timings mean little without the machine: the interpreter, the CPU, its cores, the OS."""
    return {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }


def write(name: str, doc: dict[str, Any]) -> Path:
    """``benchmarks/results/NAME.json``, indented, one trailing newline."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out
