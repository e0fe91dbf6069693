"""The ``cnncost bench`` table and JSON document (formatting only: no torch here).

Duck-typed over ``cnncost.torch.bench.BenchRun``; the method behind each field is docs/bench.md.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from cnncost.report.sink import Column, Report

COLUMNS = [  # priority: which columns a narrow terminal leaves out first (the lowest)
    Column("model", "model"),
    Column("impl", "impl", priority=-2),
    Column("device", "device", priority=-2),
    Column("dtype", "dtype"),
    Column("batch", "batch", True),
    Column("median", "median ms", True),
    Column("p10", "p10 ms", True, priority=-4),
    Column("p90", "p90 ms", True, priority=-4),
    Column("throughput", "samples/s", True),
    Column("gmacs", "GMAC/s", True, priority=-1),
    Column("peak", "% of peak", True, priority=-1),
    Column("bound", "bound (FLOP/B vs ridge)", priority=-3),
    Column("memory", "memory", priority=-3),
]

CONVENTIONS = {
    "latency": "ms per batch: median, p10, p90 of the timed blocks, one sample per block (block time / calls)",
    "throughput": "samples/s = batch / median latency",
    "macs": "the engine's MACs (conv + linear, no bias adds) × batch; training: × 3",
    "achieved": "MAC/s = macs_per_step / median; FLOP/s = 2 × MAC/s; peak_fraction = FLOP/s / peak FLOP/s",
    "roofline": "arithmetic_intensity = forward FLOPs / bytes_moved, bytes_moved = (params + activations × batch) "
    "× dtype bytes (a lower bound); compute-bound when ≥ ridge_point = peak FLOP/s / bandwidth",
    "memory": "peak_memory_bytes: CUDA max_memory_allocated per batch size, weights included (None on CPU); "
    "predicted_memory_bytes: cnncost memory's figure for the same step; "
    "cpu_maxrss_growth_bytes: CPU ru_maxrss growth",
    "page_faults_per_step": "CPU: minor page faults per timed call; thousands mean the allocator maps the "
    "activations afresh every step, and the latency includes it",
}

FAULTS_NOTE = 1000
"""Page faults per step above which the caption says the allocator, not only the model, is timed."""


def num(x: float | None) -> str:
    """3–4 significant digits without scientific notation: 1,234 · 41.2 · 3.14 · 0.123."""
    if x is None:
        return ""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def nbytes(n: float | None) -> str:
    if n is None:
        return ""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _row(r: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": r.model,
        "impl": r.impl,
        "device": r.device,
        "batch": r.batch,
        "dtype": r.dtype + (" cl" if r.channels_last else "") + (" compiled" if r.compile else ""),
    }
    if r.status != "ok":
        row["median"] = "OOM" if r.status == "oom" else r.status
        return row
    row.update(
        median=num(r.median_ms),
        p10=num(r.p10_ms),
        p90=num(r.p90_ms),
        throughput=num(r.samples_per_s),
        gmacs=num(r.achieved_macs_per_s / 1e9),
        peak="" if r.peak_fraction is None else f"{100 * r.peak_fraction:.1f}%",
    )
    if r.bound:
        sign = "≥" if r.bound == "compute-bound" else "<"
        row["bound"] = f"{r.bound.split('-')[0]} ({num(r.arithmetic_intensity)} {sign} {num(r.ridge_point)})"
    row["memory"] = (
        f"{nbytes(r.peak_memory_bytes)} (pred. {nbytes(r.predicted_memory_bytes)})"
        if r.peak_memory_bytes is not None
        else f"pred. {nbytes(r.predicted_memory_bytes)}"
    )
    return row


def _plain(obj: Any) -> Any:
    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else dict(obj)


ENV_COLUMNS = ("torch", "cuda_build", "cudnn", "cpu_model", "cpu_count", "cpu_capability", "python", "date")
"""Environment fields repeated on every CSV row (device name, threads, dtype... are result fields)."""


def bench_report(run: Any, raw: bool = False) -> Report:
    """The table; ``raw=True`` (for CSV): every result field, unformatted, plus the environment."""
    env, roof, cfg = run.environment, run.roof, run.config
    results = [r.to_dict() if hasattr(r, "to_dict") else _plain(r) for r in run.results]
    if raw:
        keys = list(results[0]) if results else []
        columns = [Column(k, k) for k in keys] + [Column(k, k) for k in ENV_COLUMNS]
        columns += [Column("peak_source", "peak_source"), Column("bandwidth_source", "bandwidth_source")]
        rows = [
            {
                **r,
                **{k: env.get(k) for k in ENV_COLUMNS},
                "peak_source": roof.flops_source,
                "bandwidth_source": roof.bandwidth_source,
            }
            for r in results
        ]
    else:
        columns, rows = COLUMNS, [_row(r) for r in run.results]
    flags = [f for f, on in (("channels_last", cfg.channels_last), ("compiled", cfg.compile)) if on]
    lines = [
        f"{env['device_name']} · torch {env['torch']}"
        + (f" (CUDA {env['cuda_build']})" if env.get("cuda_build") else "")
        + f" · {env['threads']} thread{'s' if env['threads'] != 1 else ''}"
        + f" · {cfg.dtype}{''.join(' ' + f for f in flags)} · {cfg.mode}"
        + f" · warm-up {cfg.warmup}, ≥ {cfg.min_time:g} s of timed blocks per batch size"
        + (f" · load {env['loadavg_1_5_15'][0]:g}" if env.get("loadavg_1_5_15") else ""),
    ]
    load, cores = (env.get("loadavg_1_5_15") or [0])[0], env.get("cpu_count") or 0
    if cfg.device == "cpu" and cores and load > cores:
        lines.append(
            f"warning: load average {load:g} > {cores} cores: other processes share the CPU, "
            "timings are noisy and multi-threaded runs can stall (try --threads 1)"
        )
    if roof.flops:
        peak = f"peak {num(roof.flops / 1e9)} GFLOP/s ({roof.flops_kind})"
        bw = f"bandwidth {num(roof.bandwidth / 1e9)} GB/s" if roof.bandwidth else "bandwidth unknown"
        ridge = f"ridge {num(roof.ridge)} FLOP/B" if roof.ridge else ""
        lines.append(" · ".join(x for x in (peak, bw, ridge) if x) + f" — {roof.flops_source}")
    lines.append(
        "GMAC/s = engine MACs (conv+linear) × batch / median (FLOP/s = 2×"
        + (", training step = 3× forward MACs" if cfg.mode == "training" else "")
        + "); bound: FLOPs / (params + activations × batch) bytes vs the ridge point; "
        + (
            "memory: torch.cuda.max_memory_allocated (the engine's prediction)"
            if cfg.device.startswith("cuda")
            else "memory: the engine's predicted peak, weights included (allocator not measured on CPU)"
        )
    )
    faulty = [r for r in run.results if (r.page_faults_per_step or 0) > FAULTS_NOTE]
    if faulty:
        worst = max(faulty, key=lambda r: r.page_faults_per_step)
        lines.append(
            f"note: {worst.model} batch {worst.batch}: {worst.page_faults_per_step:,.0f} page faults per step "
            "(4 KiB each): the allocator maps the activations afresh every step and the latency includes "
            "it; for steady-state timings see docs/bench.md (MALLOC_MMAP_THRESHOLD_, jemalloc)"
        )
    above = [r for r in run.results if (r.peak_fraction or 0) > 1]
    if above:
        best = max(above, key=lambda r: r.peak_fraction)
        lines.append(
            f"note: {best.model} batch {best.batch} runs at {100 * best.peak_fraction:.0f}% of the peak: the "
            f"peak ({roof.flops_source}) is not the device's ceiling (the model's kernels beat it), so "
            "read '% of peak' as relative to that figure"
        )
    n_oom = sum(r.status == "oom" for r in run.results)
    if n_oom:
        lines.append(f"{n_oom} batch size(s) ran out of memory (OOM); the sweep went on")
    roof_doc = {**_plain(roof), "ridge": roof.ridge}
    cfg_doc = _plain(cfg)
    cfg_doc["batches"] = list(cfg_doc["batches"])
    if cfg_doc.get("input_shape") is not None:
        cfg_doc["input_shape"] = list(cfg_doc["input_shape"])
    data = {
        "command": "cnncost bench",
        "environment": env,
        "config": cfg_doc,
        "roof": roof_doc,
        "results": results,
        "conventions": CONVENTIONS,
    }
    return Report(f"cnncost bench — {env['device_name']}", columns, rows, None, "\n".join(lines), data)
