"""How fast is the analytical path? Writes benchmarks/results/table.json.

* end to end: ``cnncost table resnet152`` as a subprocess (interpreter start to exit),
  stdout to /dev/null, median of N runs;
* in process: ``analyze(spec)`` for ResNet-152 (expansion + shape inference + costs) with the
  spec file already parsed, median of N runs; and the first, cold call including YAML parsing.

Run: ``python benchmarks/bench_table.py [--runs 21]``. Targets (issue 2): ≤ 0.25 s end to end,
≤ 5 ms in process, on the project's 2-core machine.
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


def end_to_end(model: str, runs: int) -> list[float]:
    exe = shutil.which("cnncost") or str(Path(sys.executable).parent / "cnncost")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, "table", model], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def in_process(model: str, runs: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    from cnncost import analyze, load_model

    spec = load_model(model)
    analyze(spec)
    cold = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        analyze(spec)
        times.append(time.perf_counter() - start)
    return cold, times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--model", default="resnet152")
    args = parser.parse_args()
    e2e = end_to_end(args.model, args.runs)
    cold, warm = in_process(args.model, args.runs * 5)
    result = {
        "model": args.model,
        "end_to_end_s": {"median": statistics.median(e2e), "min": min(e2e), "max": max(e2e), "runs": len(e2e)},
        "in_process_ms": {
            "median": 1e3 * statistics.median(warm),
            "min": 1e3 * min(warm),
            "runs": len(warm),
            "cold_including_import_and_yaml_ms": 1e3 * cold,
        },
        "targets": {"end_to_end_s": 0.25, "in_process_ms": 5.0},
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    write("table", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
