"""Mutated zoo specs never produce a traceback or a hang (issue 13): writes benchmarks/results/fuzz_specs.json.

Each case takes a zoo family, mutates it (deletes fields, retypes values: int ↔ str ↔ list ↔ dict ↔ None,
huge and negative integers, infinities, duplicated keys and items, extreme sizes, swapped subtrees; some
mutations edit the YAML text itself), writes it to a temporary file and runs ``load_model`` + ``analyze``
and, for one case in four, the CLI's ``table`` (``cnncost.cli.main``). Allowed outcomes: success, or a
one-line ``SpecError`` (the CLI: exit 2 and a single ``error:`` line). Anything else — another exception, a
traceback, a multi-line error, a case over the time bound — is a failure, recorded with the mutated text.

Run: ``python benchmarks/fuzz_specs.py [N] [--seed S] [--timeout 10] [--out PATH]``. The default tier
runs a bounded number of the same cases (tests/test_fuzz_specs.py).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import platform
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPECS = ROOT / "specs"

FAMILIES = (
    "lecture_conv",
    "lenet",
    "alexnet",
    "nin",
    "unet",
    "resnet",
    "cifar_resnet",
    "inception_module",
    "squeezenet",
    "shufflenet_v2",
    "mnasnet",
    "densenet",
    "convnext",
    "dpn",
)
"""A handful of families: plain stacks, blocks with defaults, residuals, concat branches, refs, loops,
expressions, published numbers, several variants."""

STRANGE_VALUES: tuple[Any, ...] = (
    None,
    0,
    1,
    -1,
    -(2**63),
    2**64,
    10**30,
    10**4000,
    math.inf,
    -math.inf,
    math.nan,
    1e308,
    0.5,
    -0.5,
    True,
    False,
    "",
    "x",
    "same",
    "valid",
    "3x3",
    "in_ch * 1000000",
    "in_ch // 0",
    "2 ** 100000",
    "[0] * 1000000000",
    "range(10 ** 12)",
    "undefined_name + 1",
    "a" * 5000,
    "{i}",
    "ref: in",
    "\x1b[31mred",
    [],
    {},
    [1, 2],
    [1, 2, 3, 4],
    [[1]],
    [None],
    {"a": 1},
    {"conv": {"out": 4, "k": 3}},
    {"repeat": 10**9, "body": ["relu"]},
    ["relu"] * 3,
)
"""Values a mutation puts where something else was."""


@dataclass
class Case:
    seed: int
    family: str
    variant: str | None
    mutations: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class Result:
    outcome: str
    """ok | spec_error | crash | multi_line_error | timeout | cli_crash"""
    seconds: float
    detail: str = ""


# -- the data tree --------------------------------------------------------------------------------------
def _nodes(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, node) of a YAML tree, the root included."""
    out = [(path, tree)]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.extend(_nodes(v, (*path, k)))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.extend(_nodes(v, (*path, i)))
    return out


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = tree
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return tree


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        tree = tree[p]
    return tree


def _retype(value: Any, rng: random.Random) -> Any:
    """int ↔ str ↔ list ↔ dict ↔ None, and extremes of the same type."""
    if isinstance(value, bool):
        return rng.choice([not value, str(value).lower(), int(value), None])
    if isinstance(value, int):
        return rng.choice([str(value), [value], {"v": value}, None, -value, value * 10**12, 0, float(value) + 0.5])
    if isinstance(value, float):
        return rng.choice([str(value), int(value) if math.isfinite(value) else 0, math.inf, -value, [value]])
    if isinstance(value, str):
        return rng.choice([[value], {value: value}, None, len(value), value + value, value[::-1], value.upper()])
    if isinstance(value, list):
        return rng.choice([{str(i): v for i, v in enumerate(value)}, value[:1], value * 2, list(reversed(value)), None])
    if isinstance(value, dict):
        return rng.choice([list(value.values()), list(value), None, dict(reversed(list(value.items())))])
    return rng.choice(STRANGE_VALUES)


def _extreme(value: Any, rng: random.Random) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return rng.choice([0, -1, 1, 2**31, 10**6, 10**18, -(10**18), value * 1000, value - 10**6])
    if isinstance(value, float):
        return rng.choice([0.0, -0.0, 1e-300, 1e300, math.inf, math.nan, -1.0])
    if isinstance(value, list):
        return value * rng.choice([0, 50])
    return rng.choice(STRANGE_VALUES)


def mutate_tree(tree: Any, rng: random.Random) -> tuple[Any, str]:
    """One mutation of the parsed spec: (new tree, what it did)."""
    nodes = _nodes(tree)
    path, node = rng.choice(nodes[1:] or nodes)
    where = ".".join(str(p) for p in path) or "<root>"
    how = rng.choice(["delete", "replace", "retype", "extreme", "duplicate", "swap", "wrap"])
    if how == "delete" and path:
        parent = _parent(tree, path)
        del parent[path[-1]]
        return tree, f"delete {where}"
    if how == "replace":
        value = copy.deepcopy(rng.choice(STRANGE_VALUES))
        return _set(tree, path, value), f"replace {where} with {_short(value)}"
    if how == "retype":
        value = _retype(node, rng)
        return _set(tree, path, value), f"retype {where} to {_short(value)}"
    if how == "extreme":
        value = _extreme(node, rng)
        return _set(tree, path, value), f"extreme {where} = {_short(value)}"
    if how == "duplicate" and path:
        parent = _parent(tree, path)
        if isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(node))
            return tree, f"duplicate item {where}"
        parent[f"{path[-1]}_copy" if rng.random() < 0.5 else str(path[-1]).upper()] = copy.deepcopy(node)
        return tree, f"duplicate key {where}"
    if how == "swap":
        other_path, other = rng.choice(nodes)
        if other_path[: len(path)] != path and path[: len(other_path)] != other_path:
            a, b = copy.deepcopy(node), copy.deepcopy(other)
            _set(tree, path, b)
            _set(tree, other_path, a)
            return tree, f"swap {where} and {'.'.join(str(p) for p in other_path)}"
    if how == "wrap":
        return _set(tree, path, rng.choice([[node], {"seq": [node]}, {"repeat": 2, "body": [node]}])), f"wrap {where}"
    return _set(tree, path, None), f"null {where}"


def mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """A mutation of the YAML text itself: what a parsed tree cannot hold (duplicate keys, broken syntax)."""
    lines = text.splitlines()
    if not lines:
        return "x", "empty text"
    i = rng.randrange(len(lines))
    how = rng.choice(["dup_line", "drop_line", "indent", "truncate", "char", "anchor"])
    if how == "dup_line":
        lines.insert(i, lines[i])
    elif how == "drop_line":
        del lines[i]
    elif how == "indent":
        lines[i] = rng.choice(["  ", " ", "\t"]) + lines[i] if rng.random() < 0.7 else lines[i].lstrip()
    elif how == "truncate":
        lines = lines[:i]
    elif how == "char":
        line = lines[i]
        j = rng.randrange(len(line) + 1)
        lines[i] = (
            line[:j] + rng.choice([":", "[", "]", "{", "}", "-", "&a", "*a", "!!", "'", '"', "#", "\x00"]) + line[j:]
        )
    else:
        lines.insert(i, "x_anchor: &boom [1, 2, 3]")
        lines.insert(i + 1, "y_alias: *boom")
    return "\n".join(lines) + "\n", f"text {how} at line {i + 1}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def make_case(seed: int) -> Case:
    """The ``seed``-th case: a family, one of its variants, 1-3 mutations."""
    rng = random.Random(seed)
    family = rng.choice(FAMILIES)
    text = (SPECS / f"{family}.yaml").read_text()
    tree = yaml.safe_load(text)
    variants = list(tree.get("variants") or {}) if isinstance(tree, dict) else []
    variant = rng.choice(variants) if variants else None
    case = Case(seed, family, variant)
    for _ in range(rng.choice([1, 1, 2, 3])):
        if rng.random() < 0.8:
            tree, what = mutate_tree(tree, rng)
            case.mutations.append(what)
    try:
        out = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=100)
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:  # a tree PyYAML cannot write
        out = text
        case.mutations.append(f"(unwritable: {type(exc).__name__}; the original text)")
    if rng.random() < 0.25 or not case.mutations:
        out, what = mutate_text(out, rng)
        case.mutations.append(what)
    case.text = out
    return case


# -- running a case ----------------------------------------------------------------------------------------
class Hang(BaseException):
    """The case ran past its time bound (a BaseException: no ``except Exception`` on the way swallows it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


@contextlib.contextmanager
def time_bound(seconds: float):
    """SIGALRM after ``seconds`` of wall-clock time (Linux, main thread)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _last_line(exc: BaseException) -> str:
    """The traceback's last line, and the innermost cnncost frame it passed (file:function)."""
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1][:500]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/cnncost/" in f.filename.replace("\\", "/")]
    if not frames:
        return last
    f = frames[-1]
    return f"{last} [at {'cnncost/' + f.filename.replace(chr(92), '/').rsplit('/cnncost/', 1)[1]}:{f.name}]"


def run_library(path: str) -> tuple[str, str]:
    from cnncost import SpecError, analyze, load_model

    try:
        with contextlib.redirect_stderr(io.StringIO()), _no_warnings():
            analyze(load_model(path))
    except SpecError as exc:
        text = str(exc)
        return ("multi_line_error", text[:500]) if "\n" in text else ("spec_error", text[:300])
    return "ok", ""


@contextlib.contextmanager
def _no_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def run_cli(path: str) -> tuple[str, str]:
    """``cnncost table PATH`` through the console script's ``main``: exit 0, or 2 with one ``error:`` line."""
    from cnncost.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["cnncost", "table", path]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _no_warnings():
            main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    errors = [line for line in err.getvalue().splitlines() if not line.startswith("warning:")]
    if code == 0 and not errors:
        return "ok", ""
    if code == 2 and len(errors) == 1 and errors[0].startswith("error: "):
        return "spec_error", errors[0][:300]
    return "cli_crash", f"exit {code}: " + " | ".join(errors)[-800:]


def run_case(case: Case, directory: Path, timeout: float, cli: bool) -> Result:
    path = directory / f"fuzz{case.seed}.yaml"
    path.write_text(case.text)
    target = f"{path}:{case.variant}" if case.variant and case.variant in case.text else str(path)
    start = time.perf_counter()
    try:
        with time_bound(timeout):
            outcome, detail = run_library(target)
            if cli and outcome != "multi_line_error":
                cli_outcome, cli_detail = run_cli(target)
                if cli_outcome == "cli_crash" or (cli_outcome == "ok") != (outcome == "ok"):
                    outcome, detail = "cli_crash", f"library {outcome}, CLI {cli_outcome}: {cli_detail}"
    except Hang:
        outcome, detail = "timeout", f"over {timeout:g} s"
    except RecursionError as exc:
        outcome, detail = "crash", _last_line(exc)
    except Exception as exc:  # the bug this looks for: anything but a SpecError
        outcome, detail = "crash", _last_line(exc)
    finally:
        path.unlink(missing_ok=True)
    return Result(outcome, time.perf_counter() - start, detail)


FAILURES = ("crash", "multi_line_error", "timeout", "cli_crash")


def fuzz(seeds: range, timeout: float = 10.0, cli_every: int = 4) -> tuple[Counter[str], list[dict[str, Any]], float]:
    """Run the cases; (counts by outcome, failures, slowest case's seconds)."""
    counts: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    slowest = 0.0
    with tempfile.TemporaryDirectory(prefix="cnncost-fuzz-") as tmp:
        for seed in seeds:
            case = make_case(seed)
            result = run_case(case, Path(tmp), timeout, cli=seed % cli_every == 0)
            counts[result.outcome] += 1
            slowest = max(slowest, result.seconds)
            if result.outcome in FAILURES:
                failures.append({**asdict(case), **asdict(result)})
    return counts, failures, slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=2000, help="number of mutated specs")
    parser.add_argument("--seed", type=int, default=0, help="first case's seed (cases are seed, seed+1, ...)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fuzz_specs.json")
    args = parser.parse_args()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    start = time.perf_counter()
    counts, failures, slowest = fuzz(range(args.seed, args.seed + args.n), args.timeout)
    duration = time.perf_counter() - start
    result = {
        "command": "python benchmarks/fuzz_specs.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(duration, 1),
        "cases": args.n,
        "seeds": [args.seed, args.seed + args.n - 1],
        "timeout_s": args.timeout,
        "slowest_case_s": round(slowest, 3),
        "families": list(FAMILIES),
        "counts": dict(sorted(counts.items())),
        "failures": failures,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: result[k] for k in ("cases", "duration_s", "slowest_case_s", "counts")}))
    print(f"{len(failures)} failures → {args.out}")


if __name__ == "__main__":
    main()
