"""The device's roof for a bench run: a GPU's datasheet peak when it is listed, else measured here.

Measured in the run's own dtype, threads and timer, so that "% of peak" compares like with like; see docs/bench.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from cnncost.analysis import devices
from cnncost.analysis.roofline import Roof
from cnncost.torch.timing import Timing, time_callable

if TYPE_CHECKING:
    from cnncost.torch.bench import BenchConfig

PEAK_KIND = {
    "fp32": "FP32 (CUDA cores)",
    "tf32": "TF32 tensor (cuDNN convs use TF32 by default)",
    "bf16": "BF16 tensor",
    "fp16": "FP16 tensor",
}
"""How the caption names a datasheet peak, per math mode."""

_ROOF_CACHE: dict[tuple[Any, ...], Roof] = {}


def device_roof(cfg: BenchConfig) -> Roof:
    """Datasheet peaks for a known GPU; otherwise measure a matmul and a copy in this process."""
    if cfg.is_cuda:
        name = torch.cuda.get_device_name(cfg.device)
        entry = devices.lookup(name)
        if entry is not None:
            mode = cfg.dtype
            if cfg.dtype == "fp32" and torch.backends.cudnn.allow_tf32:
                mode = "tf32"
            peak = entry.peak(mode)
            return Roof(
                peak,
                PEAK_KIND[mode] + ", dense",
                f"{entry.source}; {entry.note}" if entry.note else entry.source,
                entry.bandwidth,
                entry.source,
            )
    n = max(cfg.peak_matmul_n, 8192) if cfg.is_cuda else cfg.peak_matmul_n
    key = (cfg.device, cfg.dtype, torch.get_num_threads(), n, cfg.copy_mib)
    if key not in _ROOF_CACHE:
        _ROOF_CACHE[key] = _measure_roof(cfg, n)
    return _ROOF_CACHE[key]


def _time_matmul(dev: torch.device, dt: torch.dtype, n: int, cuda: bool, budget: float) -> Timing:
    a, b = torch.randn(n, n, device=dev).to(dt), torch.randn(n, n, device=dev).to(dt)
    c = torch.empty(n, n, device=dev, dtype=dt)
    with torch.inference_mode():
        return time_callable(lambda: torch.mm(a, b, out=c), cuda=cuda, warmup=1, min_time=budget)


def _time_copy(dev: torch.device, elements: int, cuda: bool, budget: float) -> Timing:
    src = torch.ones(elements, device=dev)
    dst = torch.empty_like(src)
    with torch.inference_mode():
        return time_callable(lambda: dst.copy_(src), cuda=cuda, warmup=1, min_time=budget)


def _measure_roof(cfg: BenchConfig, n: int) -> Roof:
    dev, budget = torch.device(cfg.device), min(cfg.min_time, 0.5)
    mm = _time_matmul(dev, cfg.torch_dtype, n, cfg.is_cuda, budget)
    elements = cfg.copy_mib * 2**20 // 4
    cp = _time_copy(dev, elements, cfg.is_cuda, budget)
    nbytes = elements * 4
    nt = torch.get_num_threads()
    threads = f", {nt} thread{'s' if nt != 1 else ''}" if not cfg.is_cuda else ""
    return Roof(
        2 * n**3 / mm.median,
        f"{cfg.dtype} matmul {n}×{n}, measured{threads}",
        f"measured in this run: 2·{n}³ FLOP / median of {len(mm.samples)} timed blocks",
        2 * nbytes / cp.median,
        f"measured in this run: copy of {cfg.copy_mib} MiB fp32, read + write (2 × {cfg.copy_mib} MiB) / median",
    )
