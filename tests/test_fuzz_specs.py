"""Generated and mutated specs never produce a traceback or a hang (issue 13): only success or a one-line
``SpecError`` (the CLI: exit 2, one ``error:`` line), each case within a wall-clock bound.

* mutated zoo families (benchmarks/fuzz_specs.py makes the cases: deleted fields, values retyped int ↔ str
  ↔ list ↔ dict ↔ None, huge and negative integers, infinities, duplicated keys and items, extremes,
  edited YAML text), through ``load_model`` + ``analyze`` and, one case in four, the CLI's ``table``;
* specs generated from scratch (Hypothesis): random layer lists of every registered op with random field
  values, through the same pipeline.

The long run is ``python benchmarks/fuzz_specs.py N`` (its last result: benchmarks/results/fuzz_specs.json).
"""

from __future__ import annotations

import json
import warnings
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_specs import FAILURES, STRANGE_VALUES, fuzz, time_bound
from cnncost import SpecError, analyze, load_model
from cnncost.ops import REGISTRY

CASE_SECONDS = 10
DEFAULT_CASES = 600
"""About 25 s of CPU in the default tier (~40 ms a case)."""

KNOWN_BUGS: dict[str, str] = {}
"""Failures in files outside cnncost/ops (another owner's), by the start of the traceback's last line and
innermost cnncost frame; each is reproduced by a strict xfail below, which fails the day the bug is fixed
(then delete its entry here)."""


def unknown(failures: list[dict[str, Any]]) -> list[str]:
    return [
        f"seed {f['seed']} ({f['family']}: {'; '.join(f['mutations'])}): {f['outcome']}: {f['detail']}"
        for f in failures
        if not any(f["detail"].startswith(known) for known in KNOWN_BUGS)
    ]


def test_mutated_zoo_specs_fail_cleanly():
    counts, failures, slowest = fuzz(range(DEFAULT_CASES), timeout=CASE_SECONDS)
    assert sum(counts.values()) == DEFAULT_CASES
    problems = unknown(failures)
    assert not problems, f"{len(problems)} of {DEFAULT_CASES} cases:\n" + "\n".join(problems[:10])
    assert slowest < CASE_SECONDS
    # The mutations reach past the parser: both outcomes occur, and most cases are refused cleanly.
    assert counts["ok"] > 0 and counts["spec_error"] > DEFAULT_CASES // 3, counts
    assert not set(counts) - {"ok", "spec_error", *FAILURES}


@pytest.mark.slow
def test_mutated_zoo_specs_fail_cleanly_long():
    _, failures, _ = fuzz(range(DEFAULT_CASES, DEFAULT_CASES + 5000), timeout=CASE_SECONDS)
    problems = unknown(failures)
    assert not problems, f"{len(problems)} cases:\n" + "\n".join(problems[:10])


# -- known bugs outside cnncost/ops (minimal reproductions) ----------------------------------------------
def error_or_success(path) -> None:
    with time_bound(CASE_SECONDS), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            analyze(load_model(str(path)))
        except SpecError as exc:
            assert "\n" not in str(exc)


def test_a_dict_param_in_a_repeat_count_is_a_spec_error(write_spec):
    """Once a RecursionError (an unhashable value retried the memo forever), found by the fuzz run."""
    path = write_spec("input: [3, 8, 8]\nparams: {n: {a: 1}}\nlayers:\n  - {repeat: n, body: [relu]}\n")
    with pytest.raises(SpecError) as info:
        analyze(load_model(str(path)))
    assert str(info.value).endswith("net.yaml:4: repeat: got {'a': 1} (expected a non-negative integer)")


def test_a_huge_integer_tolerance_is_a_spec_error(write_spec):
    """Once an OverflowError (a 400-digit tolerance passed the range check, then float() overflowed)."""
    huge = "1" + "0" * 400
    path = write_spec(
        f"input: [3, 8, 8]\nlayers: [relu]\nreported:\n  - {{metric: params, value: 0, tolerance: {huge}}}\n"
    )
    with pytest.raises(SpecError, match=r"net\.yaml:4: reported: bad tolerance 1000.*\(expected a relative tolerance"):
        analyze(load_model(str(path)))


def test_a_dict_param_in_an_op_field_is_a_spec_error(write_spec):
    """The same value in an op field is refused cleanly (ops evaluate their fields themselves)."""
    with pytest.raises(SpecError, match=r"conv\.out: got \{'a': 1\} \(expected an integer\)"):
        analyze(
            load_model(str(write_spec("input: [3, 8, 8]\nparams: {n: {a: 1}}\nlayers:\n  - conv: {out: n, k: 1}\n")))
        )


# -- generated from scratch ----------------------------------------------------------------------------
def field_value() -> st.SearchStrategy[Any]:
    small = st.integers(-2, 9)
    return st.one_of(
        small,
        st.lists(small, min_size=1, max_size=5),
        st.sampled_from([v for v in STRANGE_VALUES if not isinstance(v, float) or v == v]),
        st.floats(allow_nan=False, width=32),
        st.sampled_from(["same", "valid", "in_ch", "in_ch // 2", "in_h", "nearest", "bilinear", "last", "flat"]),
        st.booleans(),
    )


KINDS = sorted({cls.kind: cls for cls in REGISTRY.values()})


@st.composite
def layer_items(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(KINDS))
    cls = REGISTRY[kind]
    names = list(cls.fields) + [a for f in cls.fields.values() for a in f.aliases] + ["bogus"]
    fields = draw(st.dictionaries(st.sampled_from(names), field_value(), max_size=4)) if names else {}
    if kind in ("concat", "add", "mul", "sub"):
        return {
            kind: draw(st.lists(st.sampled_from(["identity", ["relu"], [{"conv": {"out": 4, "k": 1}}]]), max_size=3))
        }
    return {kind: fields} if fields or draw(st.booleans()) else kind


_names = count()


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_specs")


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    shape=st.one_of(
        st.lists(st.integers(1, 9), min_size=3, max_size=3),
        st.lists(st.integers(1, 12), min_size=1, max_size=1),
        st.lists(st.integers(-1, 3), min_size=0, max_size=4),
    ),
    layers=st.lists(layer_items(), min_size=1, max_size=6),
)
def test_generated_specs_fail_cleanly(spec_dir, shape, layers):
    path = spec_dir / f"gen{next(_names)}.yaml"
    path.write_text(f"input: {json.dumps(shape)}\nlayers: {json.dumps(layers)}\n")
    error_or_success(path)
