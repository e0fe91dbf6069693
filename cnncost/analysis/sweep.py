"""Sweeps: one model over a grid of its params, inputs and batch sizes — one exact result row per variant,
and the Pareto front of any of their figures.

An axis is one knob with its values: a param (``--set depths=[2,2,2,2],[3,4,6,3]``), the input, the batch,
or EfficientNet's compound coefficient φ, which moves depth, width and resolution together. The grid is
the axes' cartesian product, the last axis varying fastest (``itertools.product``), or a seeded sample of
it. Every variant is costed by ``evaluate``, the figures of the public ``analyze``/``memory``/``receptive``
API; the variants can run in worker processes (``workers``) or on any ``concurrent.futures.Executor``
(``distributed.Client(...).get_executor()`` for a dask cluster), in chunks, with the same rows in the
same order as a serial run.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cnncost.analysis.conventions import CONVENTIONS
from cnncost.analysis.cost import graph_totals
from cnncost.analysis.memory import DEFAULT_OPTIMIZER, OPTIMIZER_STATE, graph_memory
from cnncost.analysis.receptive import last_finite_field
from cnncost.errors import SpecError, check_choice, count
from cnncost.spec.expand import expand
from cnncost.spec.family import ModelSpec
from cnncost.spec.overrides import SWEEP, over_limit, with_params

__all__ = ["COMPOUND", "SWEEP", "Axis", "Compound", "Sweep", "evaluate", "grid_size", "pareto", "sweep"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Compound:
    """A compound-scaling rule (EfficientNet, Tan & Le 2019, Eq. 3): at coefficient φ, depth × α^φ,
    width × β^φ, resolution × γ^φ, mapped onto the spec's own multiplier params. The spec then rounds as
    torchvision's ``_MBConvConfig`` does: ``adjust_depth`` = ceil(n · depth_mult) layers per stage,
    ``adjust_channels`` = make_divisible(c · width_mult, 8) channels."""

    name: str
    alpha: Fraction
    beta: Fraction
    gamma: Fraction
    depth: str
    width: str
    source: str

    @staticmethod
    def scaled(base: float, coefficient: Fraction, phi: int | float) -> float:
        """``base · coefficient^φ``: the float nearest the exact value when φ is an integer (1.2² is 1.44,
        not 1.4399999999999999), else in float arithmetic."""
        if isinstance(phi, int):
            return float(Fraction(base) * coefficient**phi)
        return base * float(coefficient) ** phi

    def apply(self, spec: ModelSpec, shape: Shape, phi: int | float) -> tuple[dict[str, float], Shape]:
        """The params and input of the spec scaled by φ, relative to its own: from EfficientNet-B0 (1.0,
        1.0, 224) φ = 1 gives depth_mult 1.2, width_mult 1.1 and round(224 · 1.15) = round(257.6) = 258."""
        if isinstance(phi, float) and phi.is_integer():  # 2.0 from a range 0:3:0.5 is exact as 2
            phi = int(phi)
        overrides = {
            self.depth: self.scaled(spec.params[self.depth], self.alpha, phi),
            self.width: self.scaled(spec.params[self.width], self.beta, phi),
        }
        if isinstance(phi, int):  # exact: 224·1.15^φ to the nearest pixel, halves up
            scale = self.gamma**phi
            sides = tuple(math.floor(s * scale + Fraction(1, 2)) for s in shape[1:])
        else:
            sides = tuple(math.floor(s * float(self.gamma) ** phi + 0.5) for s in shape[1:])
        return overrides, (shape[0], *sides)


COMPOUND: dict[str, Compound] = {
    "efficientnet": Compound(
        "efficientnet",
        alpha=Fraction(6, 5),
        beta=Fraction(11, 10),
        gamma=Fraction(23, 20),
        depth="depth_mult",
        width="width_mult",
        source="Tan & Le 2019 (arXiv:1905.11946) Eq. 3 and §3.3: α = 1.2, β = 1.1, γ = 1.15",
    )
}
"""The compound-scaling rules ``--scale RULE:phi=...`` knows, by name."""


@dataclass(frozen=True)
class Axis:
    """One knob of a sweep and its values, in order. ``kind``: ``param`` (a spec param, ``name`` its key),
    ``input`` (C×H×W shapes), ``batch`` (positive ints) or ``compound`` (φ values of ``rule``)."""

    name: str
    values: tuple[Any, ...]
    kind: str = "param"
    rule: Compound | None = None

    @classmethod
    def inputs(cls, shapes: Sequence[Shape]) -> Axis:
        return cls("input", tuple(tuple(s) for s in shapes), "input")

    @classmethod
    def batches(cls, sizes: Sequence[int]) -> Axis:
        return cls("batch", tuple(sizes), "batch")

    @classmethod
    def compound(cls, rule: str, phis: Sequence[int | float]) -> Axis:
        check_choice(rule, list(COMPOUND), "--scale rule")
        return cls("phi", tuple(phis), "compound", COMPOUND[rule])


RESULT_KEYS = (
    "params",
    "count",
    "activations",
    "peak_inference_bytes",
    "inference_total_bytes",
    "training_total_bytes",
    "receptive_field",
    "rf_layer",
    "rf_at_output",
    "depth",
)
"""A row's figures, in order (``count`` is named after the convention: ``macs``, ``flops``, ...)."""


def result_keys(convention: str) -> tuple[str, ...]:
    return tuple(convention if k == "count" else k for k in RESULT_KEYS)


def evaluate(
    spec: ModelSpec, shape: Shape | None, batch: int, dtype_bytes: int, optimizer: str, convention: str
) -> dict[str, Any]:
    """One variant's figures, those of ``analyze`` and ``memory`` (by their totals-only paths): params, the
    operation count under ``convention``, activations, peak and total inference bytes, training bytes for
    one step with ``optimizer``, depth, and the receptive field of the last layer whose field is finite (its name;
    ``rf_at_output`` when that is the output, none at all when every layer sees the whole input)."""
    g = expand(spec, shape)  # what analyze does, but only the totals: copied blocks' rows are not placed
    t = graph_totals(g, batch)
    m = graph_memory(t, g, batch, dtype_bytes, optimizer, False)
    found = last_finite_field(g)
    return {
        "input": list(g.input_shape),
        "batch": batch,
        "params": t.params,
        convention: t.count(convention),
        "activations": t.activations,
        "peak_inference_bytes": m.peak_inference_bytes,
        "inference_total_bytes": m.inference_total_bytes,
        "training_total_bytes": m.training_total_bytes,
        "receptive_field": None if found is None else list(found[1].size),
        "rf_layer": None if found is None else g.node(found[0]).name,
        "rf_at_output": found is not None and found[0] == len(g.written) - 1,
        "depth": t.weight_layers,
    }


@dataclass(frozen=True)
class Job:
    """What a worker needs for one variant (picklable): the params to set, the input, the batch."""

    overrides: dict[str, Any]
    shape: Shape | None
    batch: int


@dataclass(frozen=True)
class Settings:
    dtype_bytes: int
    optimizer: str
    convention: str


def _run_one(spec: ModelSpec, job: Job, s: Settings) -> dict[str, Any]:
    """A variant's figures, or ``{"error": ...}`` when it is not a valid network (a spec error)."""
    try:
        return evaluate(
            with_params(spec, job.overrides), job.shape, job.batch, s.dtype_bytes, s.optimizer, s.convention
        )
    except SpecError as exc:
        return {"error": str(exc)}


_SEEN: dict[str, ModelSpec] = {}
"""In a worker: the spec of the sweep it last ran a chunk of, by token. Every chunk brings its own
unpickled copy; running the first copy again keeps the engine's per-object caches warm (~25% faster)."""


def run_chunk(spec: ModelSpec, jobs: list[Job], settings: Settings, token: str = "") -> list[dict[str, Any]]:
    """A worker's task: several variants of one spec (sent once per chunk, not once per variant)."""
    if token:
        if token not in _SEEN:
            _SEEN.clear()
        spec = _SEEN.setdefault(token, spec)  # one read-modify step: safe in a thread pool too
    return [_run_one(spec, job, settings) for job in jobs]


@dataclass
class Sweep:
    """The rows of a sweep, in grid order, and what they are of."""

    model: str
    axes: tuple[Axis, ...]
    rows: list[dict[str, Any]]
    grid_size: int
    sample: int | None
    seed: int
    convention: str
    optimizer: str
    dtype_bytes: int
    batch: int
    columns: dict[str, str] = field(default_factory=dict)
    """Axis name → its column in the rows (the name, or ``set.NAME`` where a figure has that name)."""

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.get("error"))


def grid_size(axes: Sequence[Axis]) -> int:
    return math.prod(len(a.values) for a in axes)


def _indices(axes: Sequence[Axis], sample: int | None, seed: int) -> list[int]:
    """The grid positions to evaluate: all of them, or ``sample`` of them drawn without replacement
    (``random.Random(seed).sample``), in grid order."""
    n = grid_size(axes)
    if sample is not None and sample < 1:
        raise SpecError(f"--sample {sample}", expected="a positive number of variants")
    wanted = n if sample is None else min(sample, n)
    if wanted > SWEEP.value:
        raise over_limit(f"--sample {count(sample)}" if sample is not None else f"a grid of {count(n)} variants")
    if sample is None or sample >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), sample))


def _values_at(axes: Sequence[Axis], index: int) -> list[Any]:
    """The axis values at grid position ``index`` (mixed radix, the last axis fastest)."""
    out: list[Any] = []
    for axis in reversed(axes):
        index, r = divmod(index, len(axis.values))
        out.append(axis.values[r])
    return out[::-1]


def _check_axes(spec: ModelSpec, axes: Sequence[Axis]) -> None:
    """Every axis and value valid before anything runs: a known param of the right kind, one axis per
    knob, a compound rule's params present and not also swept."""
    seen: set[str] = set()
    for axis in axes:
        if not axis.values:
            raise SpecError(f"sweep axis {axis.name!r} has no values", expected="at least one value")
        if axis.name in seen:
            raise SpecError(f"sweep axis {axis.name!r} given twice", expected="each knob once")
        seen.add(axis.name)
        if axis.kind == "param":
            for v in axis.values:
                with_params(spec, {axis.name: v})  # unknown key or wrong kind: the overrides module's error
        elif axis.kind == "batch":
            for b in axis.values:
                if isinstance(b, bool) or not isinstance(b, int) or b < 1:
                    raise SpecError(f"bad --batch value {b!r}", expected="positive integers such as 1,8,32 or 1:64:8")
        elif axis.rule is not None:
            _check_compound(spec, axis, axes)


def _check_compound(spec: ModelSpec, axis: Axis, axes: Sequence[Axis]) -> None:
    rule = axis.rule
    assert rule is not None
    missing = [p for p in (rule.depth, rule.width) if p not in spec.params]
    if missing:
        raise SpecError(
            f"--scale {rule.name} scales params {rule.depth} and {rule.width}; "
            f"{spec.name} has no {' or '.join(missing)}",
            expected="a model with both (efficientnet_b0 … b7)",
        )
    for phi in axis.values:
        if isinstance(phi, bool) or not isinstance(phi, int | float):
            raise SpecError(f"--scale {rule.name}: phi {phi!r} is not a number", expected="phi=0:3:1 or phi=0,1,2")
    clash = [a.name for a in axes if a.name in ("input", rule.depth, rule.width)]
    if clash:
        raise SpecError(
            f"--scale {rule.name} sets depth, width and resolution; {', '.join(clash)} is also swept",
            expected=f"--scale without --input, --set {rule.depth} or --set {rule.width}",
        )


def _job(spec: ModelSpec, axes: Sequence[Axis], values: list[Any], batch: int) -> tuple[Job, dict[str, Any]]:
    """A grid point's job, and the params a compound axis derived there (shown in its row)."""
    overrides: dict[str, Any] = {}
    derived: dict[str, Any] = {}
    shape: Shape | None = None
    for axis, v in zip(axes, values, strict=True):
        if axis.kind == "param":
            overrides[axis.name] = v
        elif axis.kind == "input":
            shape = v
        elif axis.kind == "batch":
            batch = v
    for axis, v in zip(axes, values, strict=True):
        if axis.kind == "compound" and axis.rule is not None:
            derived, shape = axis.rule.apply(spec, shape or tuple(spec.input), v)
            overrides.update(derived)
    return Job(overrides, shape, batch), derived


def sweep(
    spec: ModelSpec,
    axes: Sequence[Axis],
    *,
    batch: int = 1,
    dtype_bytes: int = 4,
    optimizer: str = DEFAULT_OPTIMIZER,
    convention: str = "macs",
    sample: int | None = None,
    seed: int = 0,
    executor: concurrent.futures.Executor | None = None,
    workers: int | None = None,
    chunk: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sweep:
    """Every variant of ``spec`` on the grid of ``axes`` (or ``sample`` of them), one row each.

    ``executor`` (any ``concurrent.futures.Executor``) or ``workers`` > 1 (a spawn ``ProcessPoolExecutor``)
    run chunks of ``chunk`` variants per task; ``progress(done, total)`` is called as they finish. A
    variant that is not a valid network is a row with its ``error``; when every variant fails, that is
    the error. ``sweep(load_model("resnet18"), [Axis("depths", ([1, 1, 1, 1], [2, 2, 2, 2]))])``.
    """
    check_choice(convention, list(CONVENTIONS), "--convention")
    check_choice(optimizer, list(OPTIMIZER_STATE), "--optimizer")
    if workers is not None and workers < 1:
        raise SpecError(f"--workers {workers}", expected="a positive number of processes")
    axes = tuple(axes)
    _check_axes(spec, axes)
    indices = _indices(axes, sample, seed)
    points = [_values_at(axes, i) for i in indices]
    planned = [_job(spec, axes, values, batch) for values in points]
    jobs = [job for job, _ in planned]
    results = _run(spec, jobs, Settings(dtype_bytes, optimizer, convention), executor, workers, chunk, progress)
    keys = result_keys(convention)
    columns = axis_columns(axes, convention)
    rows: list[dict[str, Any]] = []
    for i, values, (job, derived), result in zip(indices, points, planned, results, strict=True):
        row: dict[str, Any] = {"variant": i}
        row.update({columns[a.name]: list(v) if a.kind == "input" else v for a, v in zip(axes, values, strict=True)})
        row.update(derived)
        if "error" in result:
            shape = job.shape or tuple(spec.input)
            row.update({"input": list(shape), "batch": job.batch, **dict.fromkeys(keys), "error": result["error"]})
        else:
            row.update({**result, "error": None})
        rows.append(row)
    if rows and all(r["error"] for r in rows):
        raise SpecError(f"every variant of {spec.name} failed; the first: {rows[0]['error']}")
    return Sweep(
        spec.name, axes, rows, grid_size(axes), sample, seed, convention, optimizer, dtype_bytes, batch, columns
    )


def _run(
    spec: ModelSpec,
    jobs: list[Job],
    settings: Settings,
    executor: concurrent.futures.Executor | None,
    workers: int | None,
    chunk: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    """Each job's result, in order: here, or in chunks on ``executor`` (or a pool of ``workers``)."""
    total = len(jobs)
    if executor is None and (workers or 1) <= 1:
        out = []
        for job in jobs:
            out.append(_run_one(spec, job, settings))
            if progress:
                progress(len(out), total)
        return out
    lanes = workers or os.cpu_count() or 1
    size = chunk or max(1, math.ceil(total / (4 * lanes)))  # ~4 tasks per worker balances the load
    # Variants at one input go together: each block's and stage's memo key holds its input shape, so a
    # worker that gets all of an input's variants expands each of its distinct blocks once (a stable sort:
    # grid order within an input).
    order = sorted(range(total), key=lambda i: (jobs[i].shape or (), jobs[i].batch))
    chunks = [[jobs[i] for i in order[k : k + size]] for k in range(0, total, size)]
    own = None
    if executor is None:  # spawn: nothing inherited, everything sent is pickled (as a dask worker needs)
        own = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
        executor = own
    try:
        token = uuid.uuid4().hex
        futures = {executor.submit(run_chunk, spec, c, settings, token): n for n, c in enumerate(chunks)}
        results: list[list[dict[str, Any]]] = [[] for _ in chunks]
        done = 0
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
            done += len(chunks[futures[future]])
            if progress:
                progress(done, total)
    finally:
        if own is not None:
            own.shutdown(cancel_futures=True)
    placed: list[dict[str, Any]] = [{} for _ in jobs]
    for i, r in zip(order, (r for c in results for r in c), strict=True):
        placed[i] = r
    return placed


# -- Pareto fronts ------------------------------------------------------------------------------
FIGURES = (
    "params",
    "activations",
    "peak_inference_bytes",
    "inference_total_bytes",
    "training_total_bytes",
    "depth",
    "rf",
    "input",
    "batch",
)
"""Metrics every row has (with the convention's count: ``macs``, ``flops``, ``all``, ``fvcore``); ``rf`` is
the larger side of ``receptive_field``, ``input`` the pixels H·W."""


def parse_metrics(text: str, known: Sequence[str]) -> list[tuple[str, bool]]:
    """``'macs,max:input'`` → ``[('macs', False), ('input', True)]``: each metric minimised unless
    written ``max:NAME`` (``min:NAME`` is the default, written out)."""
    out: list[tuple[str, bool]] = []
    for part in (p.strip() for p in text.split(",")):
        sense, _, name = part.rpartition(":")
        if sense not in ("", "min", "max") or name not in known:
            raise SpecError(
                f"unknown --pareto metric {part!r}", expected="NAME or max:NAME, NAME one of " + ", ".join(known)
            )
        out.append((name, sense == "max"))
    if not out:
        raise SpecError("--pareto needs a metric", expected="e.g. --pareto macs,max:input")
    return out


def axis_columns(axes: Sequence[Axis], convention: str) -> dict[str, str]:
    """Each axis's column in the rows: its name, ``set.NAME`` where a figure has that name (DenseNet's
    ``depth`` param is not the ``depth`` figure), ``input`` for the input axis."""
    keys = {*result_keys(convention), "variant", "input", "error"}
    return {a.name: "input" if a.kind == "input" else f"set.{a.name}" if a.name in keys else a.name for a in axes}


def metric_names(axes: Sequence[Axis], convention: str) -> list[str]:
    """The metrics ``--pareto`` accepts for a sweep of ``axes``: the figures and the numeric axes."""
    columns = axis_columns(axes, convention)
    numeric = [
        columns[a.name]
        for a in axes
        if a.kind in ("param", "compound")
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in a.values)
    ]
    derived = [p for a in axes if a.rule for p in (a.rule.depth, a.rule.width)]
    return list(dict.fromkeys([*FIGURES[:1], convention, *FIGURES[1:], *numeric, *derived]))


def metric(row: Mapping[str, Any], name: str) -> int | float | None:
    """A row's value of a metric, None where it has none (a failed variant, a field that is the whole input)."""
    if row.get("error"):
        return None
    if name == "input":
        return math.prod(row["input"][1:])
    if name == "rf":
        rf = row.get("receptive_field")
        return None if rf is None else max(rf)
    value = row.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def pareto(rows: Sequence[Mapping[str, Any]], metrics: Sequence[tuple[str, bool] | str]) -> list[int]:
    """Indices (in row order) of the rows no other row dominates — at least as good on every metric and
    better on one — minimising each metric, or maximising a ``(name, True)`` one (a plain ``"name"`` or
    ``"max:name"`` works too). Rows without every metric take no part. Equal rows are all on the front.
    Sorted lexicographically, a row can only be dominated by an earlier one, and then by one on the
    front: each row is compared with the front only."""
    wanted = [(m.rpartition(":")[2], m.startswith("max:")) if isinstance(m, str) else m for m in metrics]
    keyed = []
    for i, row in enumerate(rows):
        values = [metric(row, name) for name, _ in wanted]
        if all(v is not None for v in values):
            keyed.append((tuple(-v if mx else v for v, (_, mx) in zip(values, wanted, strict=True)), i))  # type: ignore[operator]
    keyed.sort()
    front: list[tuple[tuple[Any, ...], int]] = []
    for key, i in keyed:
        if not any(f != key and all(a <= b for a, b in zip(f, key, strict=True)) for f, _ in front):
            front.append((key, i))
    return sorted(i for _, i in front)
