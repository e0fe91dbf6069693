"""The timer of ``cnncost bench``: blocked_autorange's method, plus the page faults the timed calls take.

Ours rather than ``torch.utils.benchmark`` so that CPU and CUDA share one loop and the rusage counters
bracket exactly the timed blocks; method and its agreement check: docs/bench.md ("Timing").
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Timing:
    """Seconds per call, one sample per block of ``block_size`` calls."""

    samples: tuple[float, ...]
    block_size: int
    total_s: float
    page_faults: int | None = None
    """Minor page faults of the process during the timed blocks (Unix; None elsewhere)."""

    @property
    def page_faults_per_call(self) -> float | None:
        calls = len(self.samples) * self.block_size
        return None if self.page_faults is None or not calls else self.page_faults / calls

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def quantile(self, q: float) -> float:
        return percentile(self.samples, q)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default): ``q`` in [0, 1]."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def time_callable(
    fn: Callable[[], Any], *, cuda: bool = False, warmup: int = 5, min_time: float = 1.0, min_blocks: int = 3
) -> Timing:
    """Warm up, size the block like ``blocked_autorange``, then time blocks until ``min_time``."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit (and so torch.utils.benchmark) does while timing
    try:
        return _time_blocks(fn, cuda, warmup, min_time, min_blocks)
    finally:
        if gc_was_enabled:
            gc.enable()


def _time_blocks(fn: Callable[[], Any], cuda: bool, warmup: int, min_time: float, min_blocks: int) -> Timing:
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()

    def block(n: int) -> float:
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            sync()
            start.record()
            for _ in range(n):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - t0

    overhead = statistics.median(block(0) for _ in range(5))
    number = 1
    while True:
        took = block(number)
        if (took > 0 and overhead / took <= 1e-4 and took >= min_time / 1000) or took > min_time:
            break
        if number * 10 > 2**31 - 1:
            break
        number *= 10
    samples: list[float] = []
    total = 0.0
    faults = _minor_faults()
    while total < min_time or len(samples) < min_blocks:
        took = block(number)
        samples.append(took / number)
        total += took
    after = _minor_faults()
    return Timing(tuple(samples), number, total, None if faults is None or after is None else after - faults)


def _minor_faults() -> int | None:
    """The process's minor page faults so far: on CPU, a forward pass whose activations the
    allocator maps fresh each call (glibc returns large blocks to the OS) pays one per 4 KiB page."""
    return _rusage("ru_minflt")


def _rusage(name: str) -> int | None:
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    return int(getattr(resource.getrusage(resource.RUSAGE_SELF), name))


def maxrss_bytes() -> int | None:
    """The process's resident-set high-water mark (``ru_maxrss``), in bytes."""
    kib = _rusage("ru_maxrss")
    return None if kib is None else kib * 1024  # KiB on Linux
