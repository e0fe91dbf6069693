"""Does ``cnncost bench`` measure what ``torch.utils.benchmark`` measures? Writes
benchmarks/results/bench_agreement.json.

For resnet18 and resnet50 on CPU, batch 1 and 8, the same threads: cnncost's median latency
(``bench_model``: its own spec-built model, eval, ``inference_mode``) against
``torch.utils.benchmark.Timer("model(x)", num_threads=T).blocked_autorange(min_run_time=S).median``
on another instance of the same spec-built model, also eval under ``inference_mode``, after the
same number of warm-up calls. The two run alternately, ``--rounds`` times (cnncost first in even
rounds, torch first in odd ones), so that drift in the machine's load hits both; the reported
medians are the medians of the per-round medians, ``relative_difference`` = cnncost / torch − 1
of those, and ``paired_relative_difference`` the median over rounds of each round's
cnncost / torch − 1 (the two timings of one round run back to back, so slow drift in the load
cancels). Target: within 5 %.

Run: ``python benchmarks/bench_agreement.py [--threads 1] [--min-time 2] [--rounds 8]``.
The project's machine is shared (2 cores): the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

from cnncost.spec.catalog import load_model
from cnncost.torch.bench import BenchConfig, Roof, bench_model, environment
from cnncost.torch.builder import build

HERE = Path(__file__).resolve().parent
NO_ROOF = Roof(None, "not measured", "", None, "")
"""The device peak is not what this compares: skip its measurement."""


def torch_median(model: torch.nn.Module, x: torch.Tensor, threads: int, warmup: int, min_time: float) -> float:
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        m = Timer("model(x)", globals={"model": model, "x": x}, num_threads=threads).blocked_autorange(
            min_run_time=min_time)
    return m.median


def cnncost_median(spec, batch: int, threads: int, warmup: int, min_time: float) -> tuple[float, dict]:
    cfg = BenchConfig(device="cpu", batches=(batch,), threads=threads, warmup=warmup, min_time=min_time)
    (r,) = bench_model(spec, cfg, NO_ROOF)
    return r.median_ms / 1e3, {"blocks": r.blocks, "block_size": r.block_size}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # warm-up calls too; both timers also set it for their timed region
    before = load()
    started = time.time()
    rows = []
    for name in args.models.split(","):
        spec = load_model(name)
        for batch in (int(b) for b in args.batches.split(",")):
            torch.manual_seed(0)  # the same weights as cnncost's instance (bench seeds with 0)
            with torch.no_grad():
                model = build(spec).eval()
            x = torch.randn(batch, *spec.input)
            rounds = []
            for i in range(args.rounds):
                got: dict[str, float] = {}
                order = ("cnncost", "torch") if i % 2 == 0 else ("torch", "cnncost")
                extra = {}
                for who in order:
                    if who == "cnncost":
                        got["cnncost"], extra = cnncost_median(spec, batch, args.threads, args.warmup, args.min_time)
                    else:
                        got["torch"] = torch_median(model, x, args.threads, args.warmup, args.min_time)
                rounds.append({"cnncost_ms": 1e3 * got["cnncost"], "torch_ms": 1e3 * got["torch"],
                               "first": order[0], "load_1min": load()[0], **extra})
            c = statistics.median(r["cnncost_ms"] for r in rounds)
            t = statistics.median(r["torch_ms"] for r in rounds)
            paired = statistics.median(r["cnncost_ms"] / r["torch_ms"] - 1 for r in rounds)
            row = {"model": name, "batch": batch, "threads": args.threads, "cnncost_median_ms": c,
                   "torch_median_ms": t, "relative_difference": (c - t) / t, "within_5pct": abs(c - t) / t <= 0.05,
                   "paired_relative_difference": paired, "rounds": rounds}
            rows.append(row)
            print(f"{name:9} batch {batch:2}: cnncost {c:9.2f} ms  torch.utils.benchmark {t:9.2f} ms  "
                  f"{(c - t) / t:+.1%} (paired {paired:+.1%}, load {load()[0]})", flush=True)
    env = environment(BenchConfig(threads=args.threads))
    env["threads"] = args.threads
    result = {
        "what": "cnncost bench median latency vs torch.utils.benchmark.Timer.blocked_autorange median, "
                "same spec-built model, CPU, eval + inference_mode, same threads",
        "settings": {"threads": args.threads, "warmup": args.warmup, "min_run_time_s": args.min_time,
                     "rounds": args.rounds, "median_of": "per-round medians"},
        "note": "the machine is shared (2 cores): per-round timings swing with other processes' load; "
                "load_1min is recorded per round",
        "target_relative_difference": 0.05,
        "results": rows,
        "all_within_target": all(r["within_5pct"] for r in rows),
        "max_abs_relative_difference": max(abs(r["relative_difference"]) for r in rows),
        "load_average_before": before,
        "load_average_after": load(),
        "wall_s": round(time.time() - started, 1),
        "environment": env,
    }
    out = HERE / "results" / "bench_agreement.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"max |difference| {result['max_abs_relative_difference']:.1%} (paired "
          f"{max(abs(r['paired_relative_difference']) for r in rows):.1%}); wrote {out}")


if __name__ == "__main__":
    main()
