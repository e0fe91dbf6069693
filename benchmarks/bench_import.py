"""Where the time of ``cnncost table SOURCE`` goes. Writes benchmarks/results/import.json.

Each run is a fresh interpreter (``python -c``) that times, in order: ``import torch`` (with
torchvision and timm), building the model (random init, the source's own cost), tracing it (torch.fx and
one meta-tensor run: shapes only), writing the spec, reading it back, and the analysis; plus the whole
``cnncost table SOURCE`` command end to end. Medians of N runs. The claim it checks: tracing must not
dominate construction (``trace / build`` is reported; below 1 holds it).

Run: ``python benchmarks/bench_import.py [--runs 5] [--source timm:resnet50]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_io import machine, write

HERE = Path(__file__).resolve().parent

STEPS = """
import json, time
t0 = time.perf_counter()
import torch, torchvision, timm
t1 = time.perf_counter()
from cnncost.torch.importer import import_source
from cnncost.analysis.cost import analyze
imp = import_source({source!r})
t2 = time.perf_counter()
a = analyze(imp.spec)
t3 = time.perf_counter()
print(json.dumps({{"import torch": t1 - t0, **imp.seconds, "analysis": t3 - t2, "params": a.totals.params}}))
"""


def one_run(source: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", STEPS.format(source=source)], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def end_to_end(source: str) -> float:
    exe = shutil.which("cnncost") or str(Path(sys.executable).parent / "cnncost")
    start = time.perf_counter()
    subprocess.run([exe, "table", source], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", action="append", help="torch sources (default: timm:resnet50 and two more)")
    args = parser.parse_args()
    sources = args.source or ["timm:resnet50", "torchvision:resnet50", "timm:efficientnet_b0"]
    results = {}
    for source in sources:
        runs = [one_run(source) for _ in range(args.runs)]
        steps = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "params"}
        total = [end_to_end(source) for _ in range(args.runs)]
        results[source] = {
            "median_seconds": {k: round(v, 4) for k, v in steps.items()},
            "end_to_end_seconds": round(statistics.median(total), 3),
            "trace_over_build": round(steps["trace"] / steps["build"], 3),
            "params": runs[0]["params"],
        }
        print(source, json.dumps(results[source]), flush=True)
    doc = {
        "command": "python benchmarks/bench_import.py --runs " + str(args.runs),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "note": "medians of fresh interpreters; build = the model's own construction (random init), "
        "trace = torch.fx + one meta-tensor run, write/read = the spec text, analysis = cnncost's engine",
        "results": results,
    }
    print(f"wrote {write('import', doc)}")


if __name__ == "__main__":
    main()
