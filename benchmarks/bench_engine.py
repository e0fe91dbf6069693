"""How fast is the engine for design-space sweeps? Writes benchmarks/results/engine.json.

Figures (issue 15), each with the command that made it, medians of repeated runs:

* ``sweep``: a 10,000-variant ResNet grid (depths × block × width × input 128..320) through
  ``cnncost.analysis.sweep.sweep`` with ``--workers`` spawn processes (wall time, start-up included);
  each row: params, MACs, activations, peak inference and training bytes, receptive field;
* ``per_variant``: the same row's work in process (``sweep.evaluate``), against fvcore counting the
  same variant (torchvision ResNet with random init + ``FlopCountAnalysis(model, x).total()``, build
  and trace per variant), on ~10 variants, with both totals checked equal;
* ``analyze``: ``analyze("resnet152")`` in a fresh process: the first call (YAML parsed, nothing
  memoised) and warm calls (spec file cached, block expansions kept from the first call);
* ``cifar``: the CIFAR ResNets 20 … 1202 (``cnncost specs cifar``): time per analysis against depth,
  the slope (µs per weight layer) and R² of a least-squares line;
* ``end_to_end``: ``cnncost table resnet152`` against ``python -c "import torch"``, fresh processes,
  alternated.

``--baseline DIR`` also runs the in-process figures with ``PYTHONPATH=DIR`` (an older ``cnncost``
package, e.g. ``git archive HEAD cnncost | tar -x -C DIR``), alternated with this tree's, so that
before and after are measured side by side on a noisy machine.

Run: ``python benchmarks/bench_engine.py [--workers 2] [--baseline DIR]`` (with ``PYTHONPATH`` naming this
tree where the installed ``cnncost`` is another checkout: the script's own directory comes first on the path).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_io import machine, write

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = str(ROOT / "specs" / "resnet.yaml") + ":resnet50"
"""The sweep's spec, by path: a baseline package reads the same file."""

CIFAR = tuple(f"cifar_resnet{n}" for n in (20, 32, 44, 56, 110, 1202))
DEPTHS = [[a, b, c, 3] for a in (1, 2, 3, 4, 5) for b in (2, 4) for c in (2, 6, 12, 23, 36)]
BLOCKS = ["basic", "bottleneck"]
WIDTHS = [0.5, 0.75, 1, 1.5]
SIZES = list(range(128, 321, 8))
FVCORE_VARIANTS = [([2, 2, 2, 2], "basic", 160), ([3, 4, 6, 3], "basic", 224), ([3, 4, 6, 3], "bottleneck", 128),
                   ([3, 4, 6, 3], "bottleneck", 224), ([3, 4, 23, 3], "bottleneck", 192), ([1, 2, 2, 3], "basic", 256),
                   ([2, 4, 12, 3], "bottleneck", 320), ([5, 4, 36, 3], "bottleneck", 160), ([4, 2, 6, 3], "basic", 288),
                   ([3, 8, 36, 3], "bottleneck", 224)]  # fmt: skip


def _median_ms(times: list[float]) -> float:
    return round(1e3 * statistics.median(times), 4)


def _timed(f: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        out.append(time.perf_counter() - start)
    return out


def _row(spec: Any, params: dict[str, Any], size: int) -> tuple[int, int]:
    """A sweep row's work: ``sweep.evaluate`` (params, MACs, activations, peak inference and training bytes,
    last finite receptive field), or with the public API where a baseline has no sweep."""
    try:
        from cnncost.analysis.sweep import evaluate
        from cnncost.spec.overrides import with_params
    except ImportError:
        from cnncost import analyze
        from cnncost.analysis.memory import memory

        a = analyze(spec, (3, size, size), 1, params=params)
        m = memory(a)
        _ = a.receptive[-1], m.training_total_bytes
        return a.totals.params, a.totals.fvcore
    row = evaluate(with_params(spec, params), (3, size, size), 1, 4, "momentum", "fvcore")
    return row["params"], row["fvcore"]


# -- measurements run in a child process (this tree, or --baseline) ------------------------------
def child_analyze(runs: int) -> dict[str, Any]:
    start = time.perf_counter()
    from cnncost import analyze

    analyze("resnet152")
    cold = time.perf_counter() - start
    warm = _timed(lambda: analyze("resnet152"), runs)
    return {"cold_ms": round(1e3 * cold, 3), "warm_ms": _median_ms(warm)}


def child_cifar(runs: int) -> dict[str, Any]:
    from cnncost import analyze, load_model

    out = {}
    for name in CIFAR:
        spec = load_model(name)
        a = analyze(spec)
        out[name] = {
            "depth": a.depth,
            "nodes": len(a.graph.nodes),
            "ms": _median_ms(_timed(lambda spec=spec: analyze(spec), runs)),
        }
    return out


def child_variants(runs: int) -> dict[str, Any]:
    """Per-variant time of a sweep row, in process, on the fvcore variants (width 1): ``first`` = its first
    row in this process (what the variants before it left memoised, nothing of its own), ``ms`` = the
    median of ``runs`` more."""
    from cnncost import load_model

    spec = load_model(SPEC)
    out = {}
    for depths, block, size in FVCORE_VARIANTS:
        params = {"depths": depths, "block": block}
        first = _timed(lambda p=params, s=size: _row(spec, p, s), 1)
        out[f"{block} {depths} @{size}"] = {
            "first_ms": _median_ms(first),
            "ms": _median_ms(_timed(lambda p=params, s=size: _row(spec, p, s), runs)),
        }
    return out


def _grid_axes() -> list[Any]:
    from cnncost.analysis.sweep import Axis

    return [
        Axis("depths", tuple(DEPTHS)),
        Axis("block", tuple(BLOCKS)),
        Axis("width", tuple(WIDTHS)),
        Axis.inputs([(3, s, s) for s in SIZES]),
    ]


def child_serial(runs: int) -> dict[str, Any]:
    """The 10,000-variant grid in this process, one worker: wall time and per variant (everything the
    variant needs that an earlier one did not leave memoised is in its time: the amortised cost)."""
    from cnncost import load_model
    from cnncost.analysis.sweep import sweep

    spec = load_model(SPEC)
    start = time.perf_counter()
    result = sweep(spec, _grid_axes())
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 3), "ms_per_variant": round(1e3 * wall / len(result.rows), 4)}


CHILDREN = {"analyze": child_analyze, "cifar": child_cifar, "variants": child_variants, "serial": child_serial}


def _child(kind: str, runs: int, pythonpath: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, __file__, "--child", kind, "--runs", str(runs)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


# -- measurements in this process ---------------------------------------------------------------
def sweep_10k(workers: int) -> dict[str, Any]:
    from cnncost import load_model
    from cnncost.analysis.sweep import sweep

    spec = load_model(SPEC)
    start = time.perf_counter()
    result = sweep(spec, _grid_axes(), workers=workers)
    wall = time.perf_counter() - start
    errors = sum(1 for r in result.rows if r["error"])
    return {"variants": len(result.rows), "errors": errors, "workers": workers, "wall_s": round(wall, 3)}


def fvcore_variants() -> dict[str, Any]:
    """fvcore on the same variants: torchvision ResNet, random init, build + trace + count per variant."""
    import torch
    from fvcore.nn import FlopCountAnalysis
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    from cnncost import load_model

    torch.set_num_threads(1)
    spec = load_model(SPEC)
    out = {}
    for depths, block, size in FVCORE_VARIANTS:
        start = time.perf_counter()
        model = ResNet(BasicBlock if block == "basic" else Bottleneck, depths).eval()
        count = FlopCountAnalysis(model, torch.randn(1, 3, size, size))
        count.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = count.total()
        seconds = time.perf_counter() - start
        _, ours = _row(spec, {"depths": depths, "block": block}, size)
        out[f"{block} {depths} @{size}"] = {"fvcore_ms": round(1e3 * seconds, 1), "agrees": total == ours}
    return out


def end_to_end(runs: int) -> dict[str, Any]:
    exe = shutil.which("cnncost") or str(Path(sys.executable).parent / "cnncost")
    table, torch_import = [], []
    for _ in range(runs):  # alternated, so both see the same load
        for cmd, times in (
            ([exe, "table", "resnet152"], table),
            ([sys.executable, "-c", "import torch"], torch_import),
        ):
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
    t, i = statistics.median(table), statistics.median(torch_import)
    return {"table_s": round(t, 3), "import_torch_s": round(i, 3), "ratio": round(i / t, 2), "runs": runs}


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares line y = a + b·x: (b, a, R²)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    b = sxy / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return b, a, 1 - ss_res / ss_tot


def _merged(samples: list[dict[str, Any]]) -> Any:
    """The median of each number over repeated child runs (same keys)."""
    first = samples[0]
    if isinstance(first, dict):
        return {k: _merged([s[k] for s in samples]) for k in first}
    if isinstance(first, bool) or not isinstance(first, (int, float)):
        return first
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=list(CHILDREN))
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--rounds", type=int, default=3, help="child processes per figure (medians over them)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", help="a directory holding an older cnncost package, run side by side")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.runs)))
        return
    trees = {"after": None, **({"before": args.baseline} if args.baseline else {})}
    figures: dict[str, dict[str, Any]] = {}
    for kind in CHILDREN:
        samples: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
        for _ in range(1 if kind == "serial" else args.rounds):
            for tree, path in trees.items():  # alternated
                samples[tree].append(_child(kind, args.runs, path))
        figures[kind] = {tree: _merged(s) for tree, s in samples.items()}
    cifar = {}
    for tree, rows in figures["cifar"].items():
        slope, intercept, r2 = _fit([r["depth"] for r in rows.values()], [r["ms"] for r in rows.values()])
        cifar[tree] = {"rows": rows, "us_per_layer": round(1e3 * slope, 2), "intercept_ms": round(intercept, 3),
                       "r2": round(r2, 5)}  # fmt: skip
    result: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "python benchmarks/bench_engine.py " + " ".join(sys.argv[1:]),
        "analyze_resnet152": {
            "command": 'analyze("resnet152") in a fresh process: cold = the first call (YAML parsed, nothing '
            f"memoised), warm = median of {args.runs} more calls (spec cached); medians over {args.rounds} processes",
            **figures["analyze"],
            "target_ms": 2.0,
        },
        "cifar_linear_in_depth": {
            "command": f"analyze(name) for {', '.join(CIFAR)} (spec cached, median of {args.runs}); "
            "least squares of ms against depth (weight layers)",
            **cifar,
        },
        "per_variant": {
            "command": "one sweep row in process (sweep.evaluate: totals, memory, last finite receptive field), "
            f"spec cached: first_ms = the variant's first row (the variants before it in the list memoised), "
            f"ms = median of {args.runs} more; medians over {args.rounds} processes",
            **figures["variants"],
        },
        "sweep_serial": {
            "command": "sweep(resnet50, the 10,000-variant grid below) in one process, no workers: each variant's "
            "share of the whole run (what earlier variants left memoised is reused, everything else is paid)",
            **figures["serial"],
        },
    }
    fv = fvcore_variants()
    ours = figures["variants"]["after"]
    amortised = figures["serial"]["after"]["ms_per_variant"]
    median_fvcore = statistics.median(v["fvcore_ms"] for v in fv.values())
    warm = [v["fvcore_ms"] / ours[k]["ms"] for k, v in fv.items()]
    first = [v["fvcore_ms"] / ours[k]["first_ms"] for k, v in fv.items()]
    result["fvcore"] = {
        "command": "torchvision.models.resnet.ResNet(block, depths) random init + FlopCountAnalysis(model, "
        "torch.randn(1, 3, s, s)).total(), build + trace per variant, 1 torch thread; agrees: its total equals "
        "cnncost's fvcore convention",
        "variants": fv,
        "speedup_median": round(statistics.median(warm), 1),
        "speedup_min": round(min(warm), 1),
        "speedup_first_row_median": round(statistics.median(first), 1),
        "speedup_in_sweep": round(median_fvcore / amortised, 1),
        "speedup_note": "speedup_*: fvcore's time for a variant over one sweep row's (median and min over the "
        "variants: ms; first_row: first_ms); in_sweep: the median fvcore time over sweep_serial's time per variant",
        "target": 1000,
    }
    if not args.skip_sweep:
        result["sweep_10k"] = {
            "command": f"sweep(resnet50, depths {len(DEPTHS)} × block {len(BLOCKS)} × width {len(WIDTHS)} × "
            f"input {SIZES[0]}..{SIZES[-1]} step 8 ({len(SIZES)}), workers={args.workers}) — "
            f"`cnncost sweep resnet50 --workers {args.workers}` on the same grid",
            **sweep_10k(args.workers),
            "target_s": 10,
        }
    result["end_to_end"] = {
        "command": "`cnncost table resnet152` vs `python -c 'import torch'`, fresh processes, alternated, medians",
        **end_to_end(7),
        "target_ratio": 6,
    }
    write("engine", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
