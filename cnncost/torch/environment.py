"""What a bench run ran on, saved with its results: two timings compare only if their environments do.

Also the one switch ``cnncost bench`` changes in torch (intra-op threads), restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from cnncost.torch.bench import BenchConfig

ALLOCATOR_ENV = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_ARENA_MAX",
    "LD_PRELOAD",
    "PYTORCH_CUDA_ALLOC_CONF",
)
"""Settings that change CPU timings by ~10% (glibc mapping activations afresh each step) or CUDA's."""


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """``torch.cuda.get_device_name`` for ``cuda``/``cuda:N``, the CPU model otherwise."""
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_model()


def environment(cfg: BenchConfig) -> dict[str, Any]:
    """Everything a reader needs to compare two runs."""
    cuda = torch.cuda.is_available()
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_driver_devices": torch.cuda.device_count() if cuda else 0,
        "device": cfg.device,
        "device_name": device_name(cfg.device),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "dtype": cfg.dtype,
        "channels_last": cfg.channels_last,
        "compile": cfg.compile,
        "mode": cfg.mode,
        "impl": cfg.impl,
        "warmup": cfg.warmup,
        "min_time_s": cfg.min_time,
        "allocator": {k: os.environ[k] for k in ALLOCATOR_ENV if k in os.environ},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if cfg.is_cuda:
        env["tf32_convs"] = bool(torch.backends.cudnn.allow_tf32)
    with contextlib.suppress(OSError):
        env["loadavg_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    return env


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Set torch's intra-op threads for a block, restore after."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
