"""The ``cnncost`` command: a thin Typer layer over the library (load → analyze → render).

Results go to stdout, warnings and errors to stderr; a user error exits 2, no traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from cnncost.errors import SpecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="What a CNN architecture costs: shapes, params, MACs, memory — from a YAML spec.")

F = TypeVar("F", bound=Callable[..., Any])

Model = Annotated[str, typer.Argument(help="Built-in model name (see `cnncost specs`) or path to a .yaml spec")]
InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="Input C×H×W, e.g. 3x224x224 (or H×W, or N)")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size (scales MACs and activations)")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Element type for memory: fp32, fp16, bf16, int8, ... or bytes")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="rich | markdown | csv | json")]
ConventionOpt = Annotated[str, typer.Option("--convention", "-c",
                                            help="macs (conv+linear) | flops (2×MACs) | all | fvcore")]


def user_errors(fn: F) -> F:
    """Print ``SpecError`` on stderr and exit 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
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


def dtype_bytes(dtype: str) -> int:
    from cnncost.analysis.conventions import DTYPES

    if dtype.isdigit() and int(dtype) > 0:
        return int(dtype)
    if dtype.lower() not in DTYPES:
        raise SpecError(f"unknown --dtype {dtype!r}", expected=", ".join(DTYPES) + " or a byte count")
    return DTYPES[dtype.lower()]


def check_choice(value: str, choices: tuple[str, ...] | list[str], option: str) -> str:
    if value not in choices:
        raise SpecError(f"unknown {option} {value!r}", expected=" | ".join(choices))
    return value


def print_warnings(warnings: Any) -> None:
    for w in warnings:
        print(str(w), file=sys.stderr)


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
    params: Annotated[str, typer.Option("--params", help="torch (trainable) | keras (+ BN moving stats, "
                                                          "as model.summary() counts)")] = "torch",
    format: FormatOpt = "rich",
) -> None:
    """Per-layer output shape, params, MACs and activation memory, with totals."""
    from cnncost.analysis.conventions import CONVENTIONS
    from cnncost.analysis.cost import analyze
    from cnncost.report.layers import PARAM_CONVENTIONS, layer_table
    from cnncost.report.sink import FORMATS, render
    from cnncost.spec.catalog import load_model

    check_choice(format, FORMATS, "--format")
    check_choice(convention, list(CONVENTIONS), "--convention")
    check_choice(params, PARAM_CONVENTIONS, "--params")
    spec = load_model(model)
    a = analyze(spec, parse_input(input, spec.input), batch)
    print_warnings(a.warnings)
    render(layer_table(a, depth=depth, weights_only=weights_only, convention=convention,
                       dtype=dtype, dtype_bytes=dtype_bytes(dtype), params=params), format)


@app.command()
@user_errors
def specs(
    filter: Annotated[str | None, typer.Argument(help="Substring of model, family or title")] = None,
    format: FormatOpt = "rich",
) -> None:
    """List the built-in zoo: name, family, input, params, MACs."""
    from cnncost.report.catalog import specs_report
    from cnncost.report.sink import FORMATS, render

    check_choice(format, FORMATS, "--format")
    render(specs_report(filter), format)


@app.command()
@user_errors
def verify(
    models: Annotated[list[str] | None, typer.Argument(help="Models to check")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Check every built-in spec")] = False,
    against: Annotated[str | None, typer.Option(
        help="Comma-separated: torch (shapes, params, buffers, FlopCounterMode), fvcore, reference, paper. "
             "Default: all four when torch is installed, else paper")] = None,
    format: FormatOpt = "rich",
) -> None:
    """Check specs exactly against torch, fvcore, the reference model, and published numbers."""
    import importlib.util

    from cnncost.analysis.published import check_model
    from cnncost.report.sink import FORMATS, render
    from cnncost.report.verify import verify_report
    from cnncost.spec.catalog import all_models as catalog
    from cnncost.spec.catalog import load_model

    check_choice(format, FORMATS, "--format")
    has_torch = importlib.util.find_spec("torch") is not None
    wanted = [a.strip() for a in (against or ("torch,fvcore,reference,paper" if has_torch else "paper")).split(",")
              if a.strip()]
    for a in wanted:
        check_choice(a, ("torch", "fvcore", "reference", "paper"), "--against")
    if set(wanted) - {"paper"} and not has_torch:
        raise SpecError("--against torch/fvcore/reference needs torch",
                        expected="pip install 'cnncost[torch]', or --against paper")
    names = list(models or [])
    if all_models:
        names = sorted({target for _, target in catalog().values()})
    if not names:
        raise SpecError("no model given", expected="MODEL ... or --all")
    specs = [load_model(n) for n in names]
    paper = [r for s in specs for r in check_model(s)] if "paper" in wanted else []
    checks: list[Any] = []
    torch_checks = [a for a in wanted if a != "paper"]
    if torch_checks:
        from rich.progress import Progress

        from cnncost.torch.crosscheck import crosscheck

        with Progress(transient=True, console=_stderr_console()) as progress:
            task = progress.add_task("instantiating models", total=len(specs))
            for s in specs:
                progress.update(task, description=f"checking {s.name}")
                checks += crosscheck(s, torch_checks)
                progress.advance(task)
    report = verify_report(paper, checks)
    render(report, format)
    if report.data["summary"]["fail"]:
        for c in checks:
            if not c.ok:
                for d in c.details:
                    print(f"  {c.model}: {d}", file=sys.stderr)
        raise typer.Exit(1)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@app.command()
def schema() -> None:
    """Print the JSON Schema of spec files (for editor completion and checking)."""
    import json

    from cnncost.spec.schema import json_schema

    print(json.dumps(json_schema(), indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
