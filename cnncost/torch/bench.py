"""Measure a model's latency and throughput, and tie them to the analysis (``cnncost bench``).

For each model and batch size:

* **Timing** as ``torch.utils.benchmark.Timer.blocked_autorange`` does it: ``warmup`` calls,
  then a block size chosen by growing it ×10 until one block takes ≥ ``min_time``/1000 and the
  timer's own overhead is ≤ 10⁻⁴ of it (this also warms up), then blocks of that many calls until
  ``min_time`` seconds are spent (and at least ``min_blocks`` blocks, so that p10/p90 mean
  something). One sample per block: block time / calls. The garbage collector is off while
  timing, as in ``timeit``. CPU blocks are timed with ``time.perf_counter``; CUDA blocks with
  CUDA events after a ``torch.cuda.synchronize()``, waiting on the end event. Median, p10 and
  p90 (linear interpolation) in ms per batch; throughput = batch / median.
* **Inference**: ``model.eval()`` and ``torch.inference_mode()`` around the warm-up and the timed
  region. **Training**: ``model.train()``; one call = ``zero_grad`` + forward + loss (the mean of
  the outputs: a trivial loss, the timed work is the network's) + backward + ``SGD(momentum=0.9)``
  step. Model and input are cast to the dtype (no autocast).
* **Achieved MAC/s** = the engine's MACs (conv + linear, ``analyze(spec).totals.macs``) × batch /
  median latency; training counts 3× the forward MACs (forward, input gradients, weight
  gradients). FLOP/s = 2 × MAC/s; ``peak_fraction`` = achieved FLOP/s / the device's peak.
* **Peak**: on CUDA the datasheet table in ``cnncost.torch.devices`` (fp32 uses the TF32 tensor
  peak when cuDNN may use TF32 for convolutions, torch's default; bf16/fp16 the tensor-core
  peak); on CPU (or an unknown GPU) a square matmul measured in the same run, timed the same
  way, in the benchmark's dtype and threads: 2·n³ / median.
* **Roofline**: arithmetic intensity = forward FLOPs / bytes, with bytes = params × dtype bytes
  + activations × dtype bytes × batch (the engine's activations: the input plus every tensor a
  layer writes; each weight read once, each activation written once: a lower bound on traffic).
  Compared with the ridge point peak FLOP/s / bandwidth: at or above it ``compute-bound``, below
  ``memory-bound``. Bandwidth: datasheet on CUDA; on CPU a large tensor copy measured in the
  same run, counting read + write (2 × bytes, as STREAM's Copy does).
* **Memory**: CUDA ``torch.cuda.max_memory_allocated`` (peak stats reset before each batch size;
  weights included). CPU: the allocator is not measured; the row carries the engine's activation
  bytes and the growth of the process's ``ru_maxrss`` high-water mark during that batch size.
* **OOM** (``torch.cuda.OutOfMemoryError`` or a ``RuntimeError`` saying "out of memory") is
  caught per batch size: the row has status ``oom`` and the sweep goes on.
* fp16 on CPU is refused: torch's CPU kernels for fp16 are mostly unvectorized fallbacks (a
  2048² fp16 matmul ran at 0.16 GFLOP/s against 37 fp32 and 86 bf16 on the project's machine),
  so a timing would measure the fallback, not the model. bf16 is allowed on CPU.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from cnncost.analysis.cost import analyze, analyze_graph
from cnncost.analysis.memory import memory
from cnncost.errors import SpecError
from cnncost.spec.family import ModelSpec
from cnncost.torch import devices

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
MODES = ("inference", "training")
IMPLS = ("spec", "reference")
TRAIN_MAC_FACTOR = 3
"""A training step ≈ 3 × the forward MACs: forward, gradient w.r.t. inputs, gradient w.r.t. weights."""


@dataclass(frozen=True)
class BenchConfig:
    """What to run and how to time it; ``validate()`` turns every bad value into a ``SpecError``."""

    device: str = "cpu"
    batches: tuple[int, ...] = (1,)
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    mode: str = "inference"
    impl: str = "spec"
    threads: int | None = None
    """torch intra-op threads for the run (None: leave torch's current setting)."""
    warmup: int = 5
    min_time: float = 1.0
    """Seconds of timed blocks per batch size (``blocked_autorange``'s ``min_run_time``)."""
    min_blocks: int = 3
    input_shape: tuple[int, ...] | None = None
    """C×H×W; None: the spec's input."""
    peak_matmul_n: int = 2048
    """Side of the square matmul measured as the CPU peak (8192 on an unknown GPU)."""
    copy_mib: int = 128
    """Size of the tensor copied to measure CPU memory bandwidth."""

    def validate(self) -> None:
        _choice(self.dtype, tuple(DTYPES), "--dtype")
        _choice(self.mode, MODES, "--mode")
        _choice(self.impl, IMPLS, "--impl")
        if not self.batches or any(b < 1 for b in self.batches):
            raise SpecError(f"bad --batch {','.join(map(str, self.batches))!r}",
                            expected="positive batch sizes such as 1,8,32")
        if self.warmup < 0 or not self.min_time > 0 or self.min_blocks < 1:
            raise SpecError("bad timing options", expected="--warmup ≥ 0 and --min-time > 0")
        if self.threads is not None and self.threads < 1:
            raise SpecError(f"bad --threads {self.threads}", expected="a positive thread count")
        kind, _, index = self.device.partition(":")
        if kind not in ("cpu", "cuda") or (index and (kind != "cuda" or not index.isdigit())):
            raise SpecError(f"unknown --device {self.device!r}", expected="cpu | cuda | cuda:N")
        if kind == "cuda":
            if not torch.cuda.is_available():
                built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
                raise SpecError(f"--device {self.device}: CUDA is not available (torch {torch.__version__} {built}, "
                                "no GPU visible)", expected="--device cpu, or a machine with an NVIDIA GPU and driver")
            if index and int(index) >= torch.cuda.device_count():
                raise SpecError(f"--device {self.device}: only {torch.cuda.device_count()} CUDA device(s)",
                                expected=f"cuda:0 … cuda:{torch.cuda.device_count() - 1}")
        elif self.dtype == "fp16":
            raise SpecError("--dtype fp16 on CPU is not benchmarked: torch's fp16 CPU kernels are mostly "
                            "unvectorized fallbacks, so the time would not be the model's",
                            expected="--dtype bf16 or fp32 on CPU, fp16 on --device cuda")
        if self.dtype == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
            raise SpecError(f"--dtype bf16: {torch.cuda.get_device_name(self.device)} has no bf16 support",
                            expected="--dtype fp16 or fp32")

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


def _choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise SpecError(f"unknown {option} {value!r}", expected=" | ".join(choices))


# --------------------------------------------------------------------------- timing

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


def time_callable(fn: Callable[[], Any], *, cuda: bool = False, warmup: int = 5, min_time: float = 1.0,
                  min_blocks: int = 3) -> Timing:
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


# --------------------------------------------------------------------------- device peak

@dataclass(frozen=True)
class Roof:
    """The device's peak FLOP/s and memory bandwidth for this dtype, and where they come from."""

    flops: float | None
    flops_kind: str
    flops_source: str
    bandwidth: float | None
    bandwidth_source: str

    @property
    def ridge(self) -> float | None:
        """FLOP per byte above which a kernel is compute-bound."""
        return self.flops / self.bandwidth if self.flops and self.bandwidth else None


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
            kind = {"fp32": "FP32 (CUDA cores)", "tf32": "TF32 tensor (cuDNN convs use TF32 by default)",
                    "bf16": "BF16 tensor", "fp16": "FP16 tensor"}[mode] + ", dense"
            return Roof(peak, kind, f"{entry.source}; {entry.note}" if entry.note else entry.source,
                        entry.bandwidth, entry.source)
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
    mm = _time_matmul(dev, DTYPES[cfg.dtype], n, cfg.is_cuda, budget)
    elements = cfg.copy_mib * 2**20 // 4
    cp = _time_copy(dev, elements, cfg.is_cuda, budget)
    nbytes = elements * 4
    nt = torch.get_num_threads()
    threads = f", {nt} thread{'s' if nt != 1 else ''}" if not cfg.is_cuda else ""
    return Roof(2 * n**3 / mm.median, f"{cfg.dtype} matmul {n}×{n}, measured{threads}",
                f"measured in this run: 2·{n}³ FLOP / median of {len(mm.samples)} timed blocks",
                2 * nbytes / cp.median,
                f"measured in this run: copy of {cfg.copy_mib} MiB fp32, read + write "
                f"(2 × {cfg.copy_mib} MiB) / median")


# --------------------------------------------------------------------------- results

@dataclass
class BenchResult:
    """One model × batch size. Times in ms per batch; rates per second; ``None`` where not measured."""

    model: str
    impl: str
    device: str
    device_name: str
    dtype: str
    mode: str
    batch: int
    channels_last: bool
    compile: bool
    threads: int
    status: str
    """``ok`` or ``oom``."""
    error: str | None = None
    median_ms: float | None = None
    p10_ms: float | None = None
    p90_ms: float | None = None
    min_ms: float | None = None
    blocks: int = 0
    block_size: int = 0
    timed_s: float = 0.0
    samples_per_s: float | None = None
    """batch / median latency."""
    macs_per_sample: int = 0
    """The engine's forward MACs (conv + linear) for one sample."""
    macs_per_step: int = 0
    """MACs of one timed call: forward × batch, × 3 in training."""
    achieved_macs_per_s: float | None = None
    achieved_flops_per_s: float | None = None
    peak_flops_per_s: float | None = None
    peak_kind: str = ""
    peak_fraction: float | None = None
    """achieved FLOP/s / peak FLOP/s."""
    params: int = 0
    activations_per_sample: int = 0
    dtype_bytes: int = 4
    bytes_moved: int = 0
    """params × dtype bytes + activations × dtype bytes × batch (forward pass)."""
    arithmetic_intensity: float = 0.0
    """forward FLOPs / bytes_moved."""
    bandwidth_bytes_per_s: float | None = None
    ridge_point: float | None = None
    bound: str | None = None
    activation_bytes: int = 0
    """The engine's activations × dtype bytes × batch."""
    peak_memory_bytes: int | None = None
    """CUDA: ``torch.cuda.max_memory_allocated`` over warm-up and timing; None on CPU."""
    peak_memory_note: str = ""
    predicted_memory_bytes: int = 0
    """The engine's prediction of the same peak (see ``predicted_memory``)."""
    predicted_memory_note: str = ""
    cpu_maxrss_growth_bytes: int | None = None
    """CPU: growth of the process's ``ru_maxrss`` high-water mark during this batch size."""
    page_faults_per_step: float | None = None
    """CPU: minor page faults per timed call. Thousands mean the allocator maps the activations
    afresh every step (glibc's default for blocks over its mmap threshold) and the latency includes
    the kernel zeroing those pages; see README "bench" for steady-state allocator settings."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchRun:
    """A whole sweep: the environment, the device roof, and one result per model × batch."""

    config: BenchConfig
    environment: dict[str, Any]
    roof: Roof
    results: list[BenchResult] = field(default_factory=list)


def is_oom(exc: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(cfg: BenchConfig) -> str:
    return torch.cuda.get_device_name(cfg.device) if cfg.is_cuda else cpu_model()


ALLOCATOR_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX", "LD_PRELOAD",
                 "PYTORCH_CUDA_ALLOC_CONF")
"""Settings that change CPU timings by ~10% (glibc mapping activations afresh each step) or CUDA's."""


def environment(cfg: BenchConfig) -> dict[str, Any]:
    """Everything a reader needs to compare two runs."""
    cuda = torch.cuda.is_available()
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_driver_devices": torch.cuda.device_count() if cuda else 0,
        "device": cfg.device,
        "device_name": device_name(cfg),
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


# --------------------------------------------------------------------------- running

def instantiate(spec: ModelSpec, cfg: BenchConfig, input_shape: tuple[int, ...]) -> nn.Module:
    """The spec-built SpecNet or the spec's reference model, on the device, in the dtype and mode.

    Seeded: every run times the same random weights (weight values change CPU timings a little)."""
    torch.manual_seed(0)
    if cfg.impl == "reference":
        if not spec.reference:
            raise SpecError(f"{spec.name} names no reference implementation",
                            expected="--impl spec, or a model whose spec has `reference:` (see `cnncost specs`)")
        from cnncost.torch.reference import build_reference

        model = build_reference(spec.reference)
    else:
        from cnncost.torch.builder import build

        model = build(spec, input_shape)
    model = model.to(device=cfg.device, dtype=DTYPES[cfg.dtype])
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train(cfg.mode == "training")
    return model


def make_step(model: nn.Module, x: torch.Tensor, mode: str) -> Callable[[], Any]:
    """One timed call: a forward pass (inference) or a full SGD training step."""
    if mode == "inference":
        return lambda: model(x)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = model(x)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum(o.float().mean() for o in outs)
        loss.backward()  # type: ignore[union-attr]
        opt.step()

    return step


def _maxrss_bytes() -> int | None:
    kib = _rusage("ru_maxrss")
    return None if kib is None else kib * 1024  # KiB on Linux


def bench_model(spec: ModelSpec, cfg: BenchConfig, roof: Roof | None = None,
                on_result: Callable[[BenchResult], None] | None = None) -> list[BenchResult]:
    """Time ``spec`` at every batch size of ``cfg``; one ``BenchResult`` per batch size."""
    cfg.validate()
    with threads(cfg.threads):
        roof = roof or device_roof(cfg)
        a = analyze(spec, cfg.input_shape, 1)
        input_shape = a.input_shape
        try:
            model = instantiate(spec, cfg, input_shape)
        except Exception as exc:  # the weights alone do not fit: every batch size is an OOM
            if not is_oom(exc):
                raise
            error = f"{type(exc).__name__} while loading the model: {str(exc).splitlines()[0]}"
            _release(cfg, force=True)
            results = [_oom_result(spec, cfg, roof, a, batch, error) for batch in cfg.batches]
            for r in results:
                if on_result:
                    on_result(r)
            return results
        if cfg.compile:
            model = torch.compile(model)  # type: ignore[assignment]
        results = []
        for batch in cfg.batches:
            r = _bench_batch(spec, cfg, roof, a, model, input_shape, batch)
            results.append(r)
            if on_result:
                on_result(r)
        del model
        _release(cfg)
    return results


def _release(cfg: BenchConfig, force: bool = False) -> None:
    """Return freed memory to the device: CUDA (or after an OOM) only; a full ``gc.collect`` costs
    0.1–0.4 s with torch loaded, and CPU tensors are freed by reference counting anyway."""
    if cfg.is_cuda or force:
        gc.collect()
    if cfg.is_cuda:
        torch.cuda.empty_cache()


def _oom_result(spec: ModelSpec, cfg: BenchConfig, roof: Roof, a: Any, batch: int, error: str) -> BenchResult:
    r = _result(spec, cfg, roof, a, batch)
    r.status, r.error = "oom", error
    return r


def _result(spec: ModelSpec, cfg: BenchConfig, roof: Roof, a: Any, batch: int) -> BenchResult:
    """A row with everything the analysis and the roof know; the timing fields still empty."""
    b = DTYPE_BYTES[cfg.dtype]
    macs1, params, acts1 = a.totals.macs, a.totals.params, a.totals.activations
    bytes_moved = params * b + acts1 * b * batch
    intensity = 2 * macs1 * batch / bytes_moved if bytes_moved else 0.0
    ridge = roof.ridge
    r = BenchResult(
        model=spec.name, impl=cfg.impl, device=cfg.device, device_name=device_name(cfg), dtype=cfg.dtype,
        mode=cfg.mode, batch=batch, channels_last=cfg.channels_last, compile=cfg.compile,
        threads=torch.get_num_threads(), status="ok",
        macs_per_sample=macs1, macs_per_step=macs1 * batch * (TRAIN_MAC_FACTOR if cfg.mode == "training" else 1),
        peak_flops_per_s=roof.flops, peak_kind=roof.flops_kind, params=params, activations_per_sample=acts1,
        dtype_bytes=b, bytes_moved=bytes_moved, arithmetic_intensity=intensity,
        bandwidth_bytes_per_s=roof.bandwidth, ridge_point=ridge,
        bound=(("compute-bound" if intensity >= ridge else "memory-bound") if ridge else None),
        activation_bytes=acts1 * b * batch,
        **predicted_memory(a, cfg, batch),
        peak_memory_note=("torch.cuda.max_memory_allocated, reset before this batch size, weights included"
                          if cfg.is_cuda else "allocator not measured on CPU; cpu_maxrss_growth_bytes is the "
                                              "growth of the process's ru_maxrss high-water mark"),
    )
    return r


def predicted_memory(a: Any, cfg: BenchConfig, batch: int) -> dict[str, Any]:
    """What ``cnncost memory`` predicts for this step: weights + buffers + the liveness peak of the
    activations (inference; on CPU with the modelled oneDNN conv workspace), or weights + buffers +
    gradients + SGD momentum + saved-for-backward (training). A lower bound on CUDA: cuDNN's
    workspaces, the caching allocator's block rounding and backward's transients are not modelled."""
    m = memory(analyze_graph(a.graph, batch), dtype_bytes=DTYPE_BYTES[cfg.dtype], optimizer="momentum")
    fixed = m.param_bytes + m.buffer_bytes
    if cfg.mode == "training":
        return {"predicted_memory_bytes": m.training_total_bytes,
                "predicted_memory_note": "params + buffers + gradients + SGD momentum + saved-for-backward "
                                         "activations (cnncost memory); backward transients not modelled"}
    if cfg.is_cuda:
        return {"predicted_memory_bytes": fixed + m.peak_inference_bytes,
                "predicted_memory_note": "params + buffers + liveness peak of the activations at "
                                         f"{m.peak_at} (cnncost memory); cuDNN workspaces not modelled"}
    return {"predicted_memory_bytes": fixed + m.peak_cpu_bytes,
            "predicted_memory_note": "params + buffers + liveness peak with torch's CPU (oneDNN) conv "
                                     "workspace (cnncost memory)"}


def _bench_batch(spec: ModelSpec, cfg: BenchConfig, roof: Roof, a: Any, model: nn.Module,
                 input_shape: tuple[int, ...], batch: int) -> BenchResult:
    r = _result(spec, cfg, roof, a, batch)
    rss_before = None if cfg.is_cuda else _maxrss_bytes()
    _release(cfg)
    if cfg.is_cuda:
        torch.cuda.reset_peak_memory_stats(cfg.device)
    x = step = None
    oom = False
    try:
        x = torch.randn(batch, *input_shape, device=cfg.device).to(DTYPES[cfg.dtype])
        if cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        step = make_step(model, x, cfg.mode)
        ctx = torch.inference_mode() if cfg.mode == "inference" else contextlib.nullcontext()
        with ctx:
            t = time_callable(step, cuda=cfg.is_cuda, warmup=cfg.warmup, min_time=cfg.min_time,
                              min_blocks=cfg.min_blocks)
    except Exception as exc:
        if not is_oom(exc):
            if cfg.compile:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise SpecError(f"--compile failed for {spec.name}: {type(exc).__name__}: {first}",
                                expected="a working torch.compile toolchain (a C++ compiler on CPU), "
                                         "or run without --compile") from exc
            raise
        r.status = "oom"
        oom = True
        r.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'out of memory'}"
        return r
    finally:
        del x, step
        if cfg.mode == "training":
            model.zero_grad(set_to_none=True)
        if cfg.is_cuda and r.status == "ok":
            r.peak_memory_bytes = torch.cuda.max_memory_allocated(cfg.device)
        _release(cfg, force=oom)
    if rss_before is not None:
        after = _maxrss_bytes()
        r.cpu_maxrss_growth_bytes = (after - rss_before) if after is not None else None
    med = t.median
    r.median_ms, r.p10_ms, r.p90_ms = 1e3 * med, 1e3 * t.quantile(0.1), 1e3 * t.quantile(0.9)
    r.min_ms = 1e3 * min(t.samples)
    r.blocks, r.block_size, r.timed_s = len(t.samples), t.block_size, t.total_s
    if not cfg.is_cuda:
        r.page_faults_per_step = t.page_faults_per_call
    r.samples_per_s = batch / med
    r.achieved_macs_per_s = r.macs_per_step / med
    r.achieved_flops_per_s = 2 * r.achieved_macs_per_s
    r.peak_fraction = r.achieved_flops_per_s / roof.flops if roof.flops else None
    return r


def check(specs: Sequence[ModelSpec], cfg: BenchConfig) -> None:
    """Every user error a sweep can hit, raised before anything runs."""
    cfg.validate()
    if cfg.impl == "reference":
        missing = [s.name for s in specs if not s.reference]
        if missing:
            verb = "names" if len(missing) == 1 else "name"
            raise SpecError(f"--impl reference: {', '.join(missing)} {verb} no reference implementation",
                            expected="--impl spec, or models whose spec has `reference:` (see `cnncost specs`)")


def bench(specs: Sequence[ModelSpec], cfg: BenchConfig,
          on_result: Callable[[BenchResult], None] | None = None) -> BenchRun:
    """The whole sweep: validate, record the environment, measure the roof once, time every model."""
    check(specs, cfg)
    with threads(cfg.threads):
        roof = device_roof(cfg)
        run = BenchRun(cfg, environment(cfg), roof)
        for spec in specs:
            run.results += bench_model(spec, cfg, roof, on_result)
    return run
