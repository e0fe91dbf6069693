"""``cnncost bench``: what to run (``BenchConfig``) and the sweep over models × batch sizes.

Timing, environment and device roof live beside it (timing, environment, roof); the torch-free figures
in ``cnncost.analysis.roofline``. The method, field by field: docs/bench.md.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from cnncost.analysis.cost import Analysis, analyze
from cnncost.analysis.roofline import Roof, achieved, predicted_memory, step_cost
from cnncost.errors import SpecError, check_choice
from cnncost.spec.family import ModelSpec
from cnncost.torch.environment import device_name, environment, threads
from cnncost.torch.roof import device_roof
from cnncost.torch.timing import maxrss_bytes, time_callable

TORCH_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
"""The dtypes a run may use; their sizes in bytes are ``cnncost.analysis.conventions.DTYPES``."""
MODES = ("inference", "training")
IMPLS = ("spec", "reference")


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
        check_choice(self.dtype, tuple(TORCH_DTYPES), "--dtype")
        check_choice(self.mode, MODES, "--mode")
        check_choice(self.impl, IMPLS, "--impl")
        if not self.batches or any(b < 1 for b in self.batches):
            raise SpecError(
                f"bad --batch {','.join(map(str, self.batches))!r}", expected="positive batch sizes such as 1,8,32"
            )
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
                raise SpecError(
                    f"--device {self.device}: CUDA is not available (torch {torch.__version__} {built}, "
                    "no GPU visible)",
                    expected="--device cpu, or a machine with an NVIDIA GPU and driver",
                )
            if index and int(index) >= torch.cuda.device_count():
                raise SpecError(
                    f"--device {self.device}: only {torch.cuda.device_count()} CUDA device(s)",
                    expected=f"cuda:0 … cuda:{torch.cuda.device_count() - 1}",
                )
        elif self.dtype == "fp16":
            raise SpecError(
                "--dtype fp16 on CPU is not benchmarked: torch's fp16 CPU kernels are mostly "
                "unvectorized fallbacks, so the time would not be the model's",
                expected="--dtype bf16 or fp32 on CPU, fp16 on --device cuda",
            )
        if self.dtype == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
            raise SpecError(
                f"--dtype bf16: {torch.cuda.get_device_name(self.device)} has no bf16 support",
                expected="--dtype fp16 or fp32",
            )

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.dtype]


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
    """The engine's prediction of the same peak (``cnncost.analysis.roofline.predicted_memory``)."""
    predicted_memory_note: str = ""
    cpu_maxrss_growth_bytes: int | None = None
    """CPU: growth of the process's ``ru_maxrss`` high-water mark during this batch size."""
    page_faults_per_step: float | None = None
    """CPU: minor page faults per timed call; thousands mean the allocator maps the activations afresh
    every step (docs/bench.md, "Page faults")."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchRun:
    """A whole sweep: the environment, the device roof, and one result per model × batch."""

    config: BenchConfig
    environment: dict[str, Any]
    roof: Roof
    results: list[BenchResult] = field(default_factory=list)


_OOM_MESSAGES = ("out of memory", "can't allocate memory", "not enough memory", "defaultcpuallocator")
"""How torch words a failed allocation: CUDA's ``CUDA out of memory``, the CPU allocator's
``[enforce fail at alloc_cpu.cpp] ... DefaultCPUAllocator: can't allocate memory`` (or ``not enough memory``)."""


def is_oom(exc: BaseException) -> bool:
    """A failed allocation, on CUDA or on the CPU (Python's ``MemoryError`` too)."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    if isinstance(exc, MemoryError) or (oom is not None and isinstance(exc, oom)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MESSAGES)


# --------------------------------------------------------------------------- running


def instantiate(spec: ModelSpec, cfg: BenchConfig, input_shape: tuple[int, ...]) -> nn.Module:
    """The spec-built SpecNet or the spec's reference model, on the device, in the dtype and mode.

    Seeded: every run times the same random weights (weight values change CPU timings a little)."""
    torch.manual_seed(0)
    if cfg.impl == "reference":
        if not spec.reference:
            raise SpecError(
                f"{spec.name} names no reference implementation",
                expected="--impl spec, or a model whose spec has `reference:` (see `cnncost specs`)",
            )
        from cnncost.torch.reference import build_reference

        model = build_reference(spec.reference)
    else:
        from cnncost.torch.builder import build

        model = build(spec, input_shape)
    model = model.to(device=cfg.device, dtype=cfg.torch_dtype)
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
        loss = sum(o.float().mean() for o in _outputs(model(x)))
        loss.backward()  # type: ignore[union-attr]
        opt.step()

    return step


def _outputs(out: Any) -> list[torch.Tensor]:
    """Every tensor a model returns: one, a tuple (aux heads), or a dict (torchvision's segmentation)."""
    if isinstance(out, torch.Tensor):
        return [out]
    values = out.values() if isinstance(out, dict) else out
    return [t for v in values for t in _outputs(v)]


def bench_model(
    spec: ModelSpec, cfg: BenchConfig, roof: Roof | None = None, on_result: Callable[[BenchResult], None] | None = None
) -> list[BenchResult]:
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


def _oom_result(spec: ModelSpec, cfg: BenchConfig, roof: Roof, a: Analysis, batch: int, error: str) -> BenchResult:
    r = _result(spec, cfg, roof, a, batch)
    r.status, r.error = "oom", error
    return r


def _result(spec: ModelSpec, cfg: BenchConfig, roof: Roof, a: Analysis, batch: int) -> BenchResult:
    """A row with everything the analysis and the roof know; the timing fields still empty."""
    predicted, predicted_note = predicted_memory(a, batch, cfg.dtype, cfg.mode, cfg.is_cuda)
    return BenchResult(
        model=spec.name,
        impl=cfg.impl,
        device=cfg.device,
        device_name=device_name(cfg.device),
        dtype=cfg.dtype,
        mode=cfg.mode,
        batch=batch,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        threads=torch.get_num_threads(),
        status="ok",
        **asdict(step_cost(a, batch, cfg.dtype, cfg.mode, roof.ridge)),
        peak_flops_per_s=roof.flops,
        peak_kind=roof.flops_kind,
        bandwidth_bytes_per_s=roof.bandwidth,
        predicted_memory_bytes=predicted,
        predicted_memory_note=predicted_note,
        peak_memory_note=(
            "torch.cuda.max_memory_allocated, reset before this batch size, weights included"
            if cfg.is_cuda
            else "allocator not measured on CPU; cpu_maxrss_growth_bytes is the "
            "growth of the process's ru_maxrss high-water mark"
        ),
    )


def _bench_batch(
    spec: ModelSpec,
    cfg: BenchConfig,
    roof: Roof,
    a: Analysis,
    model: nn.Module,
    input_shape: tuple[int, ...],
    batch: int,
) -> BenchResult:
    r = _result(spec, cfg, roof, a, batch)
    rss_before = None if cfg.is_cuda else maxrss_bytes()
    _release(cfg)
    if cfg.is_cuda:
        torch.cuda.reset_peak_memory_stats(cfg.device)
    x = step = None
    oom = False
    try:
        x = torch.randn(batch, *input_shape, device=cfg.device).to(cfg.torch_dtype)
        if cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        step = make_step(model, x, cfg.mode)
        ctx = torch.inference_mode() if cfg.mode == "inference" else contextlib.nullcontext()
        with ctx:
            t = time_callable(
                step, cuda=cfg.is_cuda, warmup=cfg.warmup, min_time=cfg.min_time, min_blocks=cfg.min_blocks
            )
    except Exception as exc:
        if not is_oom(exc):
            if cfg.compile:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise SpecError(
                    f"--compile failed for {spec.name}: {type(exc).__name__}: {first}",
                    expected="a working torch.compile toolchain (a C++ compiler on CPU), or run without --compile",
                ) from exc
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
        after = maxrss_bytes()
        r.cpu_maxrss_growth_bytes = (after - rss_before) if after is not None else None
    med = t.median
    r.median_ms, r.p10_ms, r.p90_ms = 1e3 * med, 1e3 * t.quantile(0.1), 1e3 * t.quantile(0.9)
    r.min_ms = 1e3 * min(t.samples)
    r.blocks, r.block_size, r.timed_s = len(t.samples), t.block_size, t.total_s
    if not cfg.is_cuda:
        r.page_faults_per_step = t.page_faults_per_call
    r.samples_per_s = batch / med
    rate = achieved(r.macs_per_step, med, roof.flops)
    r.achieved_macs_per_s, r.achieved_flops_per_s = rate.macs_per_s, rate.flops_per_s
    r.peak_fraction = rate.peak_fraction
    return r


def check(specs: Sequence[ModelSpec], cfg: BenchConfig) -> None:
    """Every user error a sweep can hit, raised before anything runs."""
    cfg.validate()
    if cfg.impl == "reference":
        missing = [s.name for s in specs if not s.reference]
        if missing:
            verb = "names" if len(missing) == 1 else "name"
            raise SpecError(
                f"--impl reference: {', '.join(missing)} {verb} no reference implementation",
                expected="--impl spec, or models whose spec has `reference:` (see `cnncost specs`)",
            )


def bench(
    specs: Sequence[ModelSpec], cfg: BenchConfig, on_result: Callable[[BenchResult], None] | None = None
) -> BenchRun:
    """The whole sweep: validate, record the environment, measure the roof once, time every model."""
    check(specs, cfg)
    with threads(cfg.threads):
        roof = device_roof(cfg)
        run = BenchRun(cfg, environment(cfg), roof)
        for spec in specs:
            run.results += bench_model(spec, cfg, roof, on_result)
    return run
