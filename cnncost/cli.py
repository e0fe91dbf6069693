"""The ``cnncost`` command: a thin Typer layer over the library (load → analyze → render).

Results go to stdout, warnings and errors to stderr; a user error exits 2, no traceback.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import typer

from cnncost.errors import SpecError, check_choice, printable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="What a CNN architecture costs: shapes, params, MACs, memory — from a YAML spec.",
)

F = TypeVar("F", bound=Callable[..., Any])

Model = Annotated[str, typer.Argument(help="Built-in model name (see `cnncost specs`) or path to a .yaml spec")]
InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="Input C×H×W, e.g. 3x224x224 (or H×W, or N)")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size (scales MACs and activations)")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Element type for memory: fp32, fp16, bf16, int8, ... or bytes")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="rich | markdown | csv | json")]
ConventionOpt = Annotated[
    str, typer.Option("--convention", "-c", help="macs (conv+linear) | flops (2×MACs) | all | fvcore")
]
ModeOpt = Annotated[
    str,
    typer.Option(
        "--mode",
        help="inference (training-only side heads such as Inception-v3's "
        "aux: weights counted, not run) | training (they run)",
    ),
]


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    print(f"warning: {printable(str(message))}", file=sys.stderr)


def _version(value: bool) -> None:
    if value:
        from cnncost import __version__

        print(f"cnncost {__version__}")
        raise typer.Exit()


@app.callback()
def _setup(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """What a CNN architecture costs: shapes, params, MACs, memory — from a YAML spec."""
    from cnncost.spec.catalog import CatalogWarning

    warnings.simplefilter("always", CatalogWarning)
    warnings.showwarning = _show_warning


def user_errors(fn: F) -> F:
    """Print ``SpecError`` on stderr and exit 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            print(f"error: {printable(str(exc))}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def parse_input(text: str | None, default: tuple[int, ...]) -> tuple[int, ...] | None:
    """``3x224x224`` → (3, 224, 224); ``224`` → (C, 224, 224) with the spec's channels."""
    if text is None:
        return None
    try:
        dims = tuple(int(p) for p in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise SpecError(f"bad --input {text!r}", expected="C×H×W such as 3x224x224, H×W, or N") from None
    if any(d < 1 for d in dims) or not 1 <= len(dims) <= 3:
        raise SpecError(f"bad --input {text!r}", expected="positive C×H×W")
    if len(dims) == 1 and len(default) == 3:
        dims = (default[0], dims[0], dims[0])
    elif len(dims) == 2:
        dims = (default[0], *dims)
    return dims


def input_note(text: str | None, shape: tuple[int, ...] | None) -> str:
    """`` (--input 224 was read as 3×224×224, C from the model)`` when ``--input`` gave fewer parts than the
    shape it became (H×W or N): said with an error, which may come from reading it otherwise. Else ``''``."""
    if text is None or shape is None:
        return ""
    parts = len(text.lower().replace("×", "x").split("x"))
    if parts >= len(shape) or len(shape) != 3:
        return ""
    return f" (--input {text} was read as {'×'.join(map(str, shape))}, C from the model)"


@contextlib.contextmanager
def reading_input(text: str | None, shape: tuple[int, ...] | None) -> Iterator[None]:
    """A ``SpecError`` raised inside, with ``input_note`` appended to its message."""
    try:
        yield
    except SpecError as exc:
        note = input_note(text, shape)
        if not note:
            raise
        raise exc.noted(note) from None


AllowOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unsupported",
        help="Torch sources: count calls cnncost has no op for as zero (flagged, a warning each) instead of an error",
    ),
]


OptimizerOpt = Annotated[
    str,
    typer.Option(
        "--optimizer",
        help="Training memory's optimizer state: momentum (SGD with momentum) | sgd (plain: none) | adam | adamw",
    ),
]


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a param of the spec: KEY=VALUE, a YAML value (--set depths=[3,4,6,3]); repeatable"
    ),
]


def load(
    name: str, input: str | None = None, allow_unsupported: bool = False, sets: list[str] | None = None
) -> tuple[Any, tuple[int, ...] | None]:
    """A model (zoo name, spec file or torch source) and the input shape asked for. A source is traced at
    that input (its forward may compute sizes from it), a spec re-read there; ``sets`` override its params."""
    from cnncost.spec.catalog import load_model
    from cnncost.spec.overrides import parse_sets, with_params
    from cnncost.spec.sources import is_source

    spec = load_model(name, allow_unsupported)
    if sets:
        if is_source(name):
            raise SpecError(f"--set: {name} is a torch model, it has no params", expected="a zoo model or a spec file")
        spec = with_params(spec, parse_sets(sets))
    shape = parse_input(input, spec.input)
    if shape is not None and is_source(name) and tuple(shape) != tuple(spec.input):
        from cnncost.torch.importer import load_source

        with reading_input(input, shape):
            spec = load_source(name, tuple(shape), allow_unsupported)
    return spec, shape


def dtype_bytes(dtype: str) -> int:
    from cnncost.analysis.conventions import DTYPES

    if dtype.isdigit() and int(dtype) > 0:
        return int(dtype)
    if dtype.lower() not in DTYPES:
        raise SpecError(f"unknown --dtype {dtype!r}", expected=", ".join(DTYPES) + " or a byte count")
    return DTYPES[dtype.lower()]


def print_warnings(warnings: Any) -> None:
    for w in warnings:
        print(printable(str(w)), file=sys.stderr)


@app.command()
@user_errors
def table(
    model: Model,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    dtype: DtypeOpt = "fp32",
    depth: Annotated[int | None, typer.Option(min=1, help="Collapse layers below this path depth")] = None,
    weights_only: Annotated[bool, typer.Option("--weights-only", help="Params without biases (VGG paper)")] = False,
    convention: ConventionOpt = "macs",
    params: Annotated[
        str, typer.Option("--params", help="torch (trainable) | keras (+ BN moving stats, as model.summary() counts)")
    ] = "torch",
    mode: ModeOpt = "inference",
    rf: Annotated[bool, typer.Option("--rf", help="Receptive field, jump and start per row")] = False,
    set: SetOpt = None,
    allow_unsupported: AllowOpt = False,
    format: FormatOpt = "rich",
) -> None:
    """Per-layer output shape, params, MACs and activation memory, with totals."""
    from cnncost.analysis.conventions import CONVENTIONS
    from cnncost.analysis.cost import analyze
    from cnncost.report.layers import PARAM_CONVENTIONS, layer_table
    from cnncost.report.sink import FORMATS, render

    check_choice(format, FORMATS, "--format")
    check_choice(convention, list(CONVENTIONS), "--convention")
    check_choice(params, PARAM_CONVENTIONS, "--params")
    spec, shape = load(model, input, allow_unsupported, set)
    with reading_input(input, shape):
        a = analyze(spec, shape, batch, mode)
    print_warnings(a.warnings)
    render(
        layer_table(
            a,
            depth=depth,
            weights_only=weights_only,
            convention=convention,
            dtype=dtype,
            dtype_bytes=dtype_bytes(dtype),
            params=params,
            rf=rf,
        ),
        format,
    )


@app.command()
@user_errors
def specs(
    filter: Annotated[str | None, typer.Argument(help="Substring of model, family or title")] = None,
    format: FormatOpt = "rich",
) -> None:
    """List the built-in zoo: name, family, input, params, MACs."""
    from cnncost.analysis.zoo import zoo
    from cnncost.report.catalog import specs_report
    from cnncost.report.sink import FORMATS, render

    check_choice(format, FORMATS, "--format")
    render(specs_report(zoo(filter)), format)


@app.command()
@user_errors
def verify(
    models: Annotated[list[str] | None, typer.Argument(help="Models to check")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Check every built-in spec")] = False,
    against: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: torch (shapes, params, buffers, FlopCounterMode), fvcore, reference, paper, "
            "module:SOURCE (a real torch module, layer by layer: module:torchvision:resnet50). "
            "Default: torch, fvcore, reference and paper when torch is installed, else paper"
        ),
    ] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Input C×H×W for the torch checks (or H×W, or N: C from the model); the paper checks stay at "
            "the input each published number is for",
        ),
    ] = None,
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            "-b",
            min=1,
            help="Accepted for symmetry with table and memory; the torch checks always run at batch 1 (every "
            "count they compare is per sample) and the paper checks are batch-free",
        ),
    ] = 1,
    format: FormatOpt = "rich",
) -> None:
    """Check specs exactly against torch, fvcore, the reference model, and published numbers."""
    import importlib.util

    from cnncost.analysis.published import check_model
    from cnncost.report.sink import FORMATS, render
    from cnncost.report.verify import verify_report
    from cnncost.spec.catalog import all_models as catalog

    check_choice(format, FORMATS, "--format")
    has_torch = importlib.util.find_spec("torch") is not None
    from cnncost.spec.overrides import split_top

    # commas outside parentheses: module:timm:resnet50d(drop_rate=0.0, num_classes=10),paper
    wanted = [a for a in split_top(against or ("torch,fvcore,reference,paper" if has_torch else "paper")) if a]
    for a in wanted:
        if not a.startswith("module:"):
            check_choice(a, ("torch", "fvcore", "reference", "paper", "module:SOURCE"), "--against")
    if set(wanted) - {"paper"} and not has_torch:
        raise SpecError(
            "--against torch/fvcore/reference needs torch", expected="pip install 'cnncost[torch]', or --against paper"
        )
    names = list(models or [])
    if all_models:
        names = sorted({target for _, target in catalog().values()})
    if not names:
        raise SpecError("no model given", expected="MODEL ... or --all")
    loaded = [load(n, input) for n in names]
    paper = [r for s, _ in loaded for r in check_model(s)] if "paper" in wanted else []
    checks: list[Any] = []
    torch_checks = [a for a in wanted if a != "paper"]
    if torch_checks:
        checks = run_torch_checks(loaded, torch_checks, input)
    report = verify_report(paper, checks)
    render(report, format)
    if report.data["summary"]["fail"]:
        for c in checks:
            if not c.ok:
                for d in c.details:
                    print(f"  {c.model}: {d}", file=sys.stderr)
        raise typer.Exit(1)


def run_torch_checks(
    loaded: list[tuple[Any, tuple[int, ...] | None]], against: list[str], input: str | None
) -> list[Any]:
    """``verify``'s torch checks of each (spec, input shape); torch running out of memory is a ``SpecError``."""
    from cnncost.torch.bench import is_oom
    from cnncost.torch.crosscheck import crosscheck

    checks: list[Any] = []
    with _progress() as progress:
        task = progress.add_task("instantiating models", total=len(loaded))
        for spec, shape in loaded:
            progress.update(task, description=f"checking {spec.name}")
            try:
                with reading_input(input, shape):
                    checks += crosscheck(spec, against, shape)
            except (MemoryError, RuntimeError) as exc:
                if not is_oom(exc):
                    raise
                raise out_of_memory(spec, shape, exc) from None
            progress.advance(task)
    return checks


def out_of_memory(spec: Any, shape: tuple[int, ...] | None, exc: BaseException) -> SpecError:
    """The one-line error for torch running out of memory in ``verify``'s checks, with what they need."""
    from cnncost.analysis.cost import analyze
    from cnncost.analysis.memory import memory as memory_of
    from cnncost.ops.base import fmt_shape
    from cnncost.report.numbers import human_bytes

    a = analyze(spec, shape)
    needs = human_bytes(memory_of(a).inference_total_bytes)
    first = (str(exc).strip().splitlines() or [""])[0]
    return SpecError(
        f"{spec.name} at input {fmt_shape(a.input_shape)}: the torch checks need {needs} (parameters, buffers and "
        f"peak live activations, fp32, batch 1, before torch's own overhead) and ran out of memory: "
        f"{type(exc).__name__}: {first}".rstrip(": "),
        expected="a smaller --input, fewer --against checks, or a machine with more memory",
    )


def _progress() -> Any:
    """A transient progress line on stderr when it is a terminal; elsewhere none (not even its blank line:
    an error stays the one line on stderr)."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(transient=True, console=console, disable=not console.is_terminal)


@app.command()
@user_errors
def compare(
    models: Annotated[list[str], typer.Argument(help="Two or more models (names, aliases or spec paths)")],
    input: InputOpt = None,
    batch: BatchOpt = 1,
    dtype: DtypeOpt = "fp32",
    convention: ConventionOpt = "macs",
    optimizer: OptimizerOpt = "momentum",
    mode: ModeOpt = "inference",
    set: SetOpt = None,
    format: FormatOpt = "rich",
) -> None:
    """Models side by side: params, MACs, activations, memory, depth, and per-stage costs."""
    from cnncost.analysis.conventions import CONVENTIONS
    from cnncost.analysis.cost import analyze
    from cnncost.analysis.memory import memory as memory_of
    from cnncost.report.compare import compare_reports
    from cnncost.report.sink import FORMATS, render

    check_choice(format, FORMATS, "--format")
    check_choice(convention, list(CONVENTIONS), "--convention")
    if len(models) < 2:
        raise SpecError("compare needs at least two models", expected="cnncost compare resnet50 resnext50")
    items = []
    for name in models:
        spec, shape = load(name, input, sets=set)
        with reading_input(input, shape):
            a = analyze(spec, shape, batch, mode)
        items.append((a, memory_of(a, dtype_bytes(dtype), optimizer)))
    main, stages = compare_reports(items, convention)
    if format in ("json", "csv"):  # one document, one table: the stages are in the JSON, not the CSV
        render(main, format)
        return
    render(main, format)
    print()
    render(stages, format)


@app.command()
@user_errors
def memory(
    models: Annotated[list[str], typer.Argument(help="One or more models or spec paths")],
    input: InputOpt = None,
    batch: BatchOpt = 1,
    dtype: DtypeOpt = "fp32",
    optimizer: OptimizerOpt = "momentum",
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision: fp16 activations, fp32 master weights")] = False,
    set: SetOpt = None,
    format: FormatOpt = "rich",
) -> None:
    """Forward activations, peak inference memory and training memory for one step."""
    from cnncost.analysis.cost import analyze
    from cnncost.analysis.memory import memory as memory_of
    from cnncost.report.memory import memory_report
    from cnncost.report.sink import FORMATS, render

    check_choice(format, FORMATS, "--format")
    results = []
    for name in models:
        spec, shape = load(name, input, sets=set)
        with reading_input(input, shape):
            a = analyze(spec, shape, batch)
        results.append((spec.name, memory_of(a, dtype_bytes(dtype), optimizer, amp)))
    render(memory_report(results), format)


@app.command("import")
@user_errors
def import_(
    source: Annotated[
        str,
        typer.Argument(help="A torch model: torchvision:NAME, timm:NAME, package.module:callable, file.py:callable"),
    ],
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the spec here (default: stdout)")] = None,
    input: InputOpt = None,
    allow_unsupported: AllowOpt = False,
) -> None:
    """Trace a torch model (torch.fx) and write it as a spec: the module's names, blocks, repeats, structures."""
    from pathlib import Path

    from cnncost.analysis.cost import analyze
    from cnncost.spec.sources import is_source

    if not is_source(source):
        raise SpecError(
            f"{source!r} is not a torch model source",
            expected="torchvision:NAME, timm:NAME, package.module:callable or path/file.py:callable",
        )
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise SpecError("cnncost import needs torch", expected="pip install 'cnncost[torch]'")
    from cnncost.torch.importer import import_source

    shape = parse_input(input, (3, 224, 224)) if input else None
    imp = import_source(source, shape, allow_unsupported)
    a = analyze(imp.spec)
    print_warnings(a.warnings)
    if output:
        try:
            Path(output).write_text(imp.text)
        except OSError as exc:
            raise SpecError(f"cannot write {output!r}: {exc.strerror}") from None
        lines = imp.text.count("\n")
        print(
            f"wrote {output}: {lines} lines, {a.totals.params:,} params, {a.totals.macs:,} MACs (conv+linear) "
            f"at {'×'.join(map(str, a.input_shape))}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(imp.text)


@app.command()
def schema() -> None:
    """Print the JSON Schema of spec files (for editor completion and checking)."""
    import json

    from cnncost.spec.schema import json_schema

    print(json.dumps(json_schema(), indent=2))


@app.command()
@user_errors
def bench(
    models: Annotated[list[str], typer.Argument(help="Models to time (built-in names or spec files)")],
    device: Annotated[str, typer.Option("--device", "-d", help="cpu | cuda | cuda:N")] = "cpu",
    batch: Annotated[str, typer.Option("--batch", "-b", help="Comma-separated batch sizes, e.g. 1,8,32")] = "1",
    dtype: Annotated[str, typer.Option("--dtype", help="fp32 | bf16 | fp16 (fp16: CUDA only)")] = "fp32",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (compiled in warm-up)")] = False,
    mode: Annotated[
        str, typer.Option("--mode", help="inference (eval, inference_mode) | training (forward + backward + SGD step)")
    ] = "inference",
    impl: Annotated[
        str | None,
        typer.Option(
            "--impl",
            help="spec (the spec-built model) | reference (the torchvision/timm model the spec names). "
            "Default: reference for torch sources (the original module), else spec",
        ),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch intra-op threads")] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed calls per batch size")] = 5,
    min_time: Annotated[float, typer.Option("--min-time", help="Seconds of timed blocks per batch size")] = 1.0,
    input: InputOpt = None,
    set: SetOpt = None,
    format: FormatOpt = "rich",
    save: Annotated[str | None, typer.Option("--save", help="Also write the JSON document to this file")] = None,
) -> None:
    """Time models on CPU or CUDA: latency, throughput, achieved MAC/s vs the device peak, roofline."""
    import json
    from pathlib import Path

    from cnncost.report.bench import bench_report
    from cnncost.report.sink import FORMATS, render

    check_choice(format, FORMATS, "--format")
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise SpecError("cnncost bench needs torch", expected="pip install 'cnncost[torch]'")
    try:
        batches = tuple(int(b) for b in batch.replace(" ", "").split(",") if b)
    except ValueError:
        raise SpecError(f"bad --batch {batch!r}", expected="comma-separated positive integers such as 1,8,32") from None
    specs = [load(m, input, sets=set)[0] for m in models]
    shape = parse_input(input, specs[0].input) if input else None
    if impl is None:
        from cnncost.spec.sources import is_source

        impl = "reference" if any(is_source(m) for m in models) else "spec"

    from cnncost.torch.bench import BenchConfig, check
    from cnncost.torch.bench import bench as run_bench

    cfg = BenchConfig(
        device=device,
        batches=batches,
        dtype=dtype,
        channels_last=channels_last,
        compile=compile,
        mode=mode,
        impl=impl,
        threads=threads,
        warmup=warmup,
        min_time=min_time,
        input_shape=shape,
    )
    check(specs, cfg)
    jobs = [(s.name, b) for s in specs for b in batches]
    with _progress() as progress:
        task = progress.add_task(f"{device} peak, then {jobs[0][0]} batch {jobs[0][1]}", total=len(jobs))
        done = 0

        def advance(result: Any) -> None:
            nonlocal done
            done += 1
            progress.advance(task)
            if done < len(jobs):
                progress.update(task, description=f"{jobs[done][0]} batch {jobs[done][1]}")

        run = run_bench(specs, cfg, on_result=advance)
    report = bench_report(run, raw=format == "csv")
    if save:
        try:
            Path(save).write_text(json.dumps(report.data, indent=2, default=str) + "\n")
        except OSError as exc:
            raise SpecError(f"cannot write --save {save!r}: {exc.strerror}") from None
    render(report, format)


PLOT_KINDS = {
    "accuracy": "[MODEL...]: top-1 accuracy vs operations, bubble area = params (no model: every one with a "
    "published top-1)",
    "layers": "MODEL: params, operations and activation memory per layer (--depth N: per group)",
    "memory": "MODEL: live inference memory and a training step's memory, op by op, the peak named",
    "compare": "MODEL MODEL...: operations and params per stage, side by side",
    "rf": "MODEL: receptive field per layer, against the input size",
    "bench": "FILE.json...: latency and throughput vs batch size from cnncost bench --save",
}


@app.command()
@user_errors
def plot(
    kind: Annotated[str, typer.Argument(help=" | ".join(PLOT_KINDS))],
    targets: Annotated[list[str] | None, typer.Argument(help="Models (or, for bench, saved JSON files)")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="The image: FILE.png, .svg or .pdf")] = None,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    convention: ConventionOpt = "macs",
    dtype: DtypeOpt = "fp32",
    optimizer: OptimizerOpt = "momentum",
    depth: Annotated[int | None, typer.Option(min=1, help="layers: collapse below this path depth")] = None,
    style: Annotated[
        str, typer.Option(help="accuracy: canziani (accuracy vs ops, bubbles) | densenet (error vs params and ops)")
    ] = "canziani",
    set: SetOpt = None,
) -> None:
    """Charts as PNG, SVG or PDF: accuracy, layers, memory, compare, rf, bench (needs matplotlib: the plot extra)."""
    from cnncost.analysis.conventions import CONVENTIONS
    from cnncost.analysis.cost import analyze

    check_choice(kind, list(PLOT_KINDS), "plot kind")
    if output is None:
        raise SpecError("cnncost plot needs -o FILE", expected="-o FILE.png, FILE.svg or FILE.pdf")
    names = list(targets or [])
    low, high = PLOT_ARGS[kind]
    if not low <= len(names) <= (high or len(names)):
        raise SpecError(f"plot {kind} got {len(names)} argument(s)", expected=f"cnncost plot {kind} {PLOT_KINDS[kind]}")
    check_choice(convention, list(CONVENTIONS), "--convention")
    elem = dtype_bytes(dtype)
    import cnncost.plot as charts  # a SpecError when matplotlib is missing
    from cnncost.plot.base import check_output

    check_output(output)

    def analysis(name: str) -> Any:
        spec, shape = load(name, input, sets=set)
        with reading_input(input, shape):
            a = analyze(spec, shape, batch)
        print_warnings(a.warnings)
        return a

    figures: dict[str, Callable[[], Any]] = {
        "accuracy": lambda: charts.accuracy_figure(
            [analysis(n) for n in names or charts.published_models()], convention, style
        ),
        "layers": lambda: charts.layers_figure(analysis(names[0]), depth, convention, elem),
        "memory": lambda: charts.memory_figure(analysis(names[0]), elem, optimizer),
        "compare": lambda: charts.compare_figure([analysis(n) for n in names], convention),
        "rf": lambda: charts.rf_figure(analysis(names[0])),
        "bench": lambda: charts.bench_figure([read_json(n, "a cnncost bench --save FILE.json") for n in names]),
    }
    fig = figures[kind]()
    charts.save(fig, output)
    print(f"wrote {output} ({fig.get_label()})", file=sys.stderr)


PLOT_ARGS: dict[str, tuple[int, int | None]] = {
    "accuracy": (0, None),
    "layers": (1, 1),
    "memory": (1, 1),
    "compare": (2, None),
    "rf": (1, 1),
    "bench": (1, None),
}
"""How many MODEL (or FILE) arguments each plot kind takes: (at least, at most; None: any)."""


def read_json(path: str, expected: str) -> Any:
    """A JSON file's document; unreadable or not JSON is a one-line ``SpecError``."""
    import json
    from pathlib import Path

    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise SpecError(f"cannot read {path!r}: {exc.strerror}", expected=expected) from None
    except ValueError as exc:
        raise SpecError(f"{path} is not JSON: {exc}", expected=expected) from None


@app.command()
@user_errors
def report(
    models: Annotated[list[str], typer.Argument(help="One or more models (names, aliases or spec paths)")],
    output: Annotated[str, typer.Option("--output", "-o", help="The HTML file to write")] = "report.html",
    input: InputOpt = None,
    batch: BatchOpt = 1,
    dtype: DtypeOpt = "fp32",
    convention: ConventionOpt = "macs",
    optimizer: OptimizerOpt = "momentum",
    depth: Annotated[int | None, typer.Option(min=1, help="Collapse the layer table below this path depth")] = None,
    set: SetOpt = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the torch, fvcore and paper checks")] = False,
) -> None:
    """One self-contained HTML file: summary, sortable and foldable layer table, charts, conventions, checks."""
    import importlib.util
    from pathlib import Path

    from cnncost.analysis.conventions import CONVENTIONS
    from cnncost.analysis.cost import analyze
    from cnncost.analysis.memory import memory as memory_of
    from cnncost.analysis.published import check_model
    from cnncost.report.html import NO_TORCH, Verification, html_report

    check_choice(convention, list(CONVENTIONS), "--convention")
    loaded = [load(name, input, sets=set) for name in models]
    items = []
    for spec, shape in loaded:
        with reading_input(input, shape):
            a = analyze(spec, shape, batch)
        items.append((a, memory_of(a, dtype_bytes(dtype), optimizer)))
    checks = None
    if not no_verify:
        has_torch = importlib.util.find_spec("torch") is not None
        checks = [
            Verification(
                [] if set else check_model(spec),
                run_torch_checks([(spec, shape)], ["torch", "fvcore"], input) if has_torch else [],
                ([] if has_torch else [NO_TORCH]) + (["paper checks not run: --set changes the model"] if set else []),
            )
            for spec, shape in loaded
        ]
    text = html_report(items, convention=convention, dtype=dtype, depth=depth, verification=checks)
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot write {output!r}: {exc.strerror}") from None
    print(f"wrote {output}: {len(items)} model{'s' if len(items) > 1 else ''}, {len(text):,} bytes", file=sys.stderr)


@app.command()
@user_errors
def sweep(
    model: Model,
    set: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="An axis: KEY=V1,V2,... (YAML values, or start:stop:step): --set depths=[2,2,2,2],[3,4,6,3]"
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            "--scale",
            help="Compound scaling as one axis: efficientnet:phi=0:3:1 (depth ×1.2^φ, width ×1.1^φ, input ×1.15^φ)",
        ),
    ] = None,
    input: Annotated[
        str | None,
        typer.Option("--input", "-i", help="Inputs: 3x224x224,3x256x256, or square sides 128:320:32 (C: the model's)"),
    ] = None,
    batch: Annotated[str, typer.Option("--batch", "-b", help="Batch sizes: 8, or an axis 1,8,32 or 1:64:8")] = "1",
    sample: Annotated[
        int | None, typer.Option("--sample", help="Evaluate N variants drawn from the grid without replacement")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="The seed of --sample")] = 0,
    pareto: Annotated[
        str | None,
        typer.Option("--pareto", help="Mark the Pareto front: macs,max:input (each minimised unless max:NAME)"),
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Worker processes (default: none)")] = None,
    convention: ConventionOpt = "macs",
    dtype: DtypeOpt = "fp32",
    optimizer: OptimizerOpt = "momentum",
    plot: Annotated[
        str | None, typer.Option("--plot", help="Also draw the variants (matplotlib): FILE.png, .svg or .pdf")
    ] = None,
    format: FormatOpt = "rich",
) -> None:
    """A grid (or a sample) of a model's variants: params, ops, memory, receptive field; the Pareto front."""
    import importlib.util

    from cnncost.analysis import sweep as sw
    from cnncost.report.sink import FORMATS, render
    from cnncost.report.sweep import sweep_report
    from cnncost.spec.overrides import parse_axes, parse_values
    from cnncost.spec.sources import is_source

    check_choice(format, FORMATS, "--format")
    if plot is not None:
        if importlib.util.find_spec("matplotlib") is None:
            raise SpecError("--plot needs matplotlib", expected="pip install 'cnncost[plot]'")
        from cnncost.plot.base import check_output

        check_output(plot)
    if is_source(model) and (set or input or scale):
        raise SpecError(
            f"sweep: {model} is a torch model, traced at one input with no params",
            expected="`cnncost import` it to a spec file and sweep that",
        )
    spec, _ = load(model)
    axes = [sw.Axis(k, tuple(v)) for k, v in parse_axes(set or []).items()]
    if scale is not None:
        rule, _, phis = scale.partition(":")
        key, eq, values = phis.partition("=")
        if key.strip() not in ("phi", "φ") or not eq:
            raise SpecError(f"--scale {scale!r}", expected="RULE:phi=VALUES, e.g. efficientnet:phi=0:3:1")
        axes.append(sw.Axis.compound(rule.strip(), parse_values(values, "--scale phi")))
    if input is not None:
        shapes = [parse_input(str(v), spec.input) for v in parse_values(input, "--input")]
        axes.append(sw.Axis.inputs([s for s in shapes if s is not None]))
    sizes = parse_values(batch, "--batch")
    if len(sizes) > 1:
        axes.append(sw.Axis.batches(sizes))
    elif isinstance(sizes[0], bool) or not isinstance(sizes[0], int) or sizes[0] < 1:
        raise SpecError(f"bad --batch {batch!r}", expected="a positive integer, or an axis such as 1,8,32")
    metrics = sw.parse_metrics(pareto, sw.metric_names(axes, convention)) if pareto else None
    with _progress() as progress:
        task = progress.add_task(f"sweeping {spec.name}", total=None)
        result = sw.sweep(
            spec,
            axes,
            batch=sizes[0] if len(sizes) == 1 else 1,
            dtype_bytes=dtype_bytes(dtype),
            optimizer=optimizer,
            convention=convention,
            sample=sample,
            seed=seed,
            workers=workers,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    front = sw.pareto(result.rows, metrics) if metrics else None
    names = [("max:" if mx else "") + n for n, mx in metrics] if metrics else None
    render(sweep_report(result, front, names), format)
    if plot is not None:
        from cnncost.plot import save
        from cnncost.plot.sweep import sweep_figure

        x, y = (metrics[0][0], metrics[1][0]) if metrics and len(metrics) == 2 else ("params", convention)
        where = f", ★ front of {', '.join(names)}" if names else ""
        fig = sweep_figure(result.rows, x, y, front or [], f"{result.model}: {len(result.rows)} variants{where}")
        save(fig, plot)
        print(f"wrote {plot} ({fig.get_label()})", file=sys.stderr)


def main() -> None:
    """The console script: typer's own errors (a bad option value) in the one-line form, exit 2."""
    try:  # typer ≥ 0.26 vendors click as typer._click
        from typer._click import exceptions as cx
    except ImportError:  # pragma: no cover - older typer on real click
        from click import exceptions as cx  # type: ignore[no-redef]

    try:
        code = app(prog_name="cnncost", standalone_mode=False)
    except cx.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        code = 2
    except cx.ClickException as exc:
        ctx = getattr(exc, "ctx", None)  # a usage error knows its command; other click errors do not
        command = f"{ctx.command_path}: " if ctx else ""
        print(f"error: {command}{' '.join(exc.format_message().split())}", file=sys.stderr)
        code = 2
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
