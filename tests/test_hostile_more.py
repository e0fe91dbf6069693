"""More hostile input (issue 13): wrong metadata types, failing expressions, huge sizes, messages that help."""

from __future__ import annotations

import json

import pytest

from cnncost import SpecError, analyze, load_model
from cnncost.spec.expr import evaluate
from tests.test_hostile_input import error_of, run_cli

BLOCK = "input: [3, 8, 8]\nblocks:\n  b(c=4): [conv: {out: c, k: 1}]\nlayers:\n"


# -- metadata and structure keys of the wrong type ----------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "input: [3, 8, 8]\nlayers: [relu]\nreported: 5\n",
            ":3: reported: got 5 "
            "(expected a list of published numbers, e.g. - {metric: params, value: 25.5M, source: ...})",
        ),
        (
            "input: [3, 8, 8]\nlayers: [relu]\naliases: 5\n",
            ":3: aliases: got 5 (expected a list of names, e.g. aliases: [rn50])",
        ),
        (
            "input: [3, 8, 8]\nlayers: [relu]\nvariants:\n  a: {aliases: mine}\n",
            ":4: variant a: aliases: got 'mine' (expected a list of names, e.g. aliases: [rn50])",
        ),
        (
            "input: [3, 8, 8]\nlayers: [relu]\nvariants:\n  a: {accuracy: 5}\n",
            ":4: variant a: accuracy: got 5 (expected a mapping such as "
            "{top1_error: 23.9, top5_error: 7.1, source: ...} (percent))",
        ),
        (
            "input: [3, 8, 8]\nlayers: [relu]\nvariants:\n  a:\n    accuracy:\n      top1_error: high\n",
            ":6: variant a: accuracy.top1_error: got 'high' (expected a percentage)",
        ),
        (
            "input: [3, 8, 8]\nlayers: [relu]\nvariants:\n  a: {title: [x]}\n",
            ":4: variant a: title: got ['x'] (expected text)",
        ),
        (
            "input: [3, 8, 8]\nlayers: [relu]\nreported:\n  - {metric: params, value: 1,\n     tolerance: abc}\n",
            ":5: reported: bad tolerance 'abc' (expected a relative tolerance: a number ≥ 0, such as 0.005)",
        ),
        (
            "input: [3, 8, 8]\nlayers: [relu]\nreported:\n  - {metric: params, value: 1}\n  - 5\n",
            ":5: reported[1] must be a mapping, got 5 (expected {metric, value, source, tolerance, ...})",
        ),
        (
            BLOCK + "  - repeat: 3\n    block: b\n    at: {x: {c: 2}}\n",
            ":7: repeat: at: 'x' is not a repetition index "
            "(expected an integer: at: {2: {...}} (negative: from the end))",
        ),
        (
            BLOCK + "  - repeat: 3\n    block: b\n    at:\n      1: 5\n",
            ":8: repeat: at.1: got 5 (expected a mapping of arguments or variables, e.g. {stride: 2})",
        ),
        (
            BLOCK + "  - repeat: 3\n    block: b\n    first: 5\n",
            ":7: repeat: first: got 5 (expected a mapping: arguments or variables overridden in the first repetition)",
        ),
        (
            BLOCK + "  - repeat: 3\n    block: b\n    args: 8\n",
            ":7: repeat: args: got 8 (expected a list: the block's positional arguments)",
        ),
        (
            "input: [3, 8, 8]\nlayers:\n  - {relu: {}, name: [a]}\n",
            ":3: name: got ['a'] (expected text: the layer's name)",
        ),
        (
            BLOCK + "  - block: b\n    args: 8\n",
            ":6: b1: block: args: got 8 (expected a list: the block's positional arguments)",
        ),
    ],
)
def test_metadata_and_keys_of_the_wrong_type(write_spec, text, message):
    assert error_of(write_spec(text)).endswith(message)


def test_a_wrong_type_is_exit_code_2(write_spec, monkeypatch, capsys):
    path = write_spec("input: [3, 8, 8]\nlayers: [relu]\nvariants:\n  a: {aliases: 5}\n")
    code, out, err = run_cli(monkeypatch, capsys, "table", str(path))
    assert (code, out) == (2, "")
    assert err == f"error: {path}:4: variant a: aliases: got 5 (expected a list of names, e.g. aliases: [rn50])\n"


def test_top_level_aliases_name_the_only_model(write_spec):
    from cnncost.spec.family import parse_family

    fam = parse_family(write_spec("input: [3, 8, 8]\nlayers: [relu]\naliases: [tiny]\n"))
    assert fam.aliases() == {"tiny": "net"} and fam.model("net").aliases == ("tiny",)


# -- expressions ---------------------------------------------------------------------------
FLOAT_MAX = "(expected a result within ±1.8e308 (integer arithmetic is exact: 10 ** 400 is fine, 10.0 ** 400 is not))"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a' < 3", "cannot compare 'a' < 3 (expected two numbers, two texts or two lists)"),
        ("x >= [1]", "cannot compare 1 >= [1] (expected two numbers, two texts or two lists)"),
        ("'a' in 3", "cannot look for 'a' in 3 (expected a list or a text after in)"),
        ("-'x'", "cannot apply - to 'x' (expected a number)"),
        ("+[1]", "cannot apply + to [1] (expected a number)"),
        ("1e308 * 10", f"too large for a float (gives inf) {FLOAT_MAX}"),
        ("2.0 ** 10000", f"too large for a float {FLOAT_MAX}"),
        ("exp(1000)", f"too large for a float (math range error) {FLOAT_MAX}"),
        ("10 ** 400 * 1.0", f"too large for a float (int too large to convert to float) {FLOAT_MAX}"),
        ("1 + x * 1e308 * 10", f"x * 1e+308 * 10: too large for a float (gives inf) {FLOAT_MAX}"),
        ("make_divisible(8, 0)", "integer division or modulo by zero (expected a non-zero divisor)"),
        ("x % 0", "integer modulo by zero (expected a non-zero divisor)"),
        ("(-8) ** 0.5", "gives the complex number"),
        ("float('nan')", "gives nan (expected a number)"),
        ("x is 1", "Is is not allowed in a spec expression (expected == or != to compare values)"),
        ("round(x, 'a')", "'str' object cannot be interpreted as an integer"),
    ],
)
def test_failing_expressions_name_the_expression(text, message):
    with pytest.raises(SpecError) as info:
        evaluate(text, {"x": 1})
    assert str(info.value).startswith(f"in expression {text!r}: {message}")
    assert not isinstance(info.value.__cause__, Exception)


def test_what_expressions_still_do():
    assert evaluate("not 'x'", {}) is False and evaluate("-x", {"x": 2}) == -2 and evaluate("-True", {}) == -1
    assert evaluate("[1, 2] < [1, 3]", {}) and evaluate("3 < x < 5", {"x": 4}) and evaluate("'%s' % 5", {}) == "5"
    assert evaluate("2 ** -1", {}) == 0.5 and evaluate("range(5, 0, -2)", {}) == [5, 3, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'%999999999s' % 'a'", "a % formatting would have 1,000,000,010 elements: over the limit of 10,000"),
        ("range(10 ** 400)", "would have ~10^400 elements: over the limit of 10,000"),
        ("2 ** 9000 * 2 ** 9000", "a product of 9,001 and 9,001 bits: over the limit of 10,000 bits in an integer"),
        ("-" * 100_000 + "1", "is nested too deeply (expected a simpler expression)"),
        ("1" + " + 1" * 3000, "is nested too deeply (expected a simpler expression)"),
    ],
)
def test_expression_bombs_are_refused(text, message):
    with pytest.raises(SpecError) as info:
        evaluate(text, {})
    assert message in str(info.value) and len(str(info.value)) < 1200


def test_an_expression_error_in_a_spec(write_spec, monkeypatch, capsys):
    path = write_spec('input: [3, 8, 8]\nlayers:\n  - scale: {value: "1e308 * 10"}\n')
    code, _, err = run_cli(monkeypatch, capsys, "table", str(path))
    assert code == 2
    expression = "scale1: scale.value: in expression '1e308 * 10'"
    assert err == f"error: {path}:3: {expression}: too large for a float (gives inf) {FLOAT_MAX}\n"


# -- huge numbers in the reports -----------------------------------------------------------
HUGE_CONV = 'input: [3, 8, 8]\nlayers:\n  - conv: {out: "10**400", k: 1}\n'
SIZE_LIMIT = (
    "over the limit of 1,000,000,000,000,000 elements or operations in one layer (batch excluded) "
    "(expected a smaller spec, or CNNCOST_MAX_LAYER_SIZE=N to raise the limit)"
)


@pytest.mark.parametrize(
    "command",
    [
        ["table"],
        ["table", "--format", "json"],
        ["table", "--format", "csv"],
        ["table", "--format", "markdown"],
        ["memory"],
        ["compare", "vgg11"],
    ],
)
def test_an_absurd_layer_is_refused_with_its_limit(write_spec, monkeypatch, capsys, command):
    path = write_spec(HUGE_CONV)
    args = [
        command[0],
        *(["vgg11", str(path)] if command[0] == "compare" else [str(path)]),
        *command[2 if command[0] == "compare" else 1 :],
    ]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert (code, out) == (2, "")
    assert err == f"error: {path}:3: conv1: an output of ~10^400×8×8 = ~10^402 elements: {SIZE_LIMIT}\n"


@pytest.mark.parametrize(
    ("layer", "found"),
    [
        ('avgpool: {k: "10**400", pad: "5*10**399"}', "avgpool1: ~10^800 operations"),
        (
            "conv: {out: 1000000000, k: 1000}",
            "conv1: a weight of 1000000000×3×1000×1000 = 3,000,000,000,000,000 elements",
        ),
        ("upsample: {scale: 1e10}", "upsample1: an output of 3×80000000000×80000000000 = ~10^22 elements"),
    ],
)
def test_every_kind_of_layer_size_is_bounded(write_spec, layer, found):
    size = 1000 if "k: 1000" in layer else 8
    message = error_of(write_spec(f"input: [3, {size}, {size}]\nlayers:\n  - {layer}\n"))
    assert message.endswith(f":3: {found}: {SIZE_LIMIT}")


def test_the_size_limit_can_be_raised(write_spec, monkeypatch):
    path = write_spec("input: [3, 1000, 1000]\nlayers:\n  - conv: {out: 1000000000, k: 1000}\n")
    monkeypatch.setenv("CNNCOST_MAX_LAYER_SIZE", str(10**19))
    assert analyze(load_model(str(path))).totals.params == 3 * 10**15 + 10**9


def test_a_huge_input_is_refused(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "table", "vgg16", "--input", "3x" + "9" * 30 + "x4")
    assert code == 2
    assert err == f"error: the input of 3×~10^30×4 = ~10^31 elements: {SIZE_LIMIT}\n"


BIG = "1" + "0" * 400


@pytest.mark.parametrize(
    "command",
    [
        ["table", "resnet18"],
        ["table", "resnet18", "--format", "json"],
        ["table", "resnet18", "--format", "csv"],
        ["table", "resnet18", "--format", "markdown"],
        ["memory", "resnet18"],
        ["memory", "resnet18", "--format", "json"],
        ["compare", "resnet18", "vgg11"],
        ["compare", "resnet18", "vgg11", "--format", "json"],
    ],
)
def test_a_huge_batch_is_formatted(monkeypatch, capsys, command):
    code, out, err = run_cli(monkeypatch, capsys, *command, "--batch", BIG)
    assert (code, err) == (0, "")
    if "json" in command:
        json.loads(out)
    elif command[0] == "table" and len(command) == 2:
        assert "MACs (conv+linear): 1.814e+409" in out


def test_numbers_format_any_size():
    from fractions import Fraction

    from cnncost.report.numbers import exact, human, human_bytes, json_number, scientific

    assert (exact(1792), human(138357544), human_bytes(61_950_432)) == ("1,792", "138.4M", "59.08 MiB")
    assert (exact(10**400), human(-(10**400)), human_bytes(10**400)) == ("1e+400", "-1e+400", "1e+400 B")
    assert human(Fraction(10**400, 3)) == "3.333e+399" and scientific(99996 * 10**400) == "1e+405"
    assert json_number(Fraction(1, 2)) == 0.5 and json_number(Fraction(10**400, 1)) == 10**400


# -- messages that help --------------------------------------------------------------------
def test_a_field_typo_suggests_the_field_and_its_alias(write_spec):
    message = error_of(write_spec("input: [3, 8, 8]\nlayers:\n  - conv:\n      out: 4\n      kernal: 3\n"))
    assert message.endswith(
        ":5: conv1: conv: unknown field 'kernal' "
        "(expected did you mean k (also kernel)? fields: out, k, stride, pad, dilation, groups, bias)"
    )


def test_typos_of_arguments_params_and_blocks(write_spec):
    spec = BLOCK.replace("input:", "params: {depth: 2}\ninput:")
    message = error_of(write_spec(spec + "  - b:\n      cc: 2\n"))
    assert message.endswith(":7: b1: b(c): unknown argument 'cc' (expected did you mean c? one of: c)")
    message = error_of(write_spec(spec + "  - block: bb\n"))
    assert message.endswith(":6: no block named 'bb' (expected did you mean b? one of: b)")
    message = error_of(write_spec(spec + "  - relu\nvariants:\n  x: {dept: 3}\n"))
    assert ":8: variant x: unknown parameter 'dept' (expected did you mean depth? a key of params: depth" in message


def test_a_tab_is_named(write_spec, monkeypatch, capsys):
    path = write_spec("input: [3, 8, 8]\nlayers:\n\t- relu\n")
    code, _, err = run_cli(monkeypatch, capsys, "table", str(path))
    assert code == 2
    assert err == (
        f"error: {path}:3: invalid YAML: a tab character at column 1 "
        "(expected spaces: YAML indents with spaces, never tabs (inside quotes, a tab is written \\t))\n"
    )


def test_an_error_at_another_input_says_which(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "table", "vgg16", "--input", "3x224")
    assert code == 2
    assert err.startswith("error: ") and err.endswith(
        ": stage2.pool: maxpool: kernel 2 is larger than the padded input 1+0+0 = 1 (rows), "
        "at input 3×3×224, not the spec's 3×224×224 (--input 3x224 was read as 3×3×224, C from the model) "
        "(expected a kernel that fits its padded input)\n"
    )


def test_long_values_are_abbreviated(write_spec):
    long = "a" * 100_000
    for layer in (f"conv: {{out: {long}, k: 1}}", f"conv: {{out: 4, k: 1, {long}: 1}}", f"{long}: {{conv: 5}}"):
        message = error_of(write_spec(f"input: [3, 8, 8]\nlayers:\n  - {layer}\n"))
        assert len(message) < 1500, len(message)
    message = error_of(write_spec(f"input: [3, 8, 8]\nlayers: [relu]\naliases: {long}\n"))
    assert len(message) < 300 and "characters)" in message


def test_the_line_is_the_item_at_fault(write_spec):
    spec = "input: [3, 8, 8]\nblocks:\n  b(c, d=c + 'x'):\n    - conv: {out: c, k: 1}\nlayers:\n"
    message = error_of(write_spec(spec + "  - relu\n  - b:\n      c: 4\n      d: nope + 1\n"))
    assert ":9: b1: in expression 'nope + 1': unknown name 'nope'" in message
    message = error_of(write_spec(spec + "  - b: {c: 4}\n"))
    assert message.split(": ", 1)[0].endswith(":3") and "cannot apply" not in message
    message = error_of(write_spec("input: [3, 8, 8]\nlayers:\n  - conv:\n      out: 4\n      k: 1\n      stride: 0\n"))
    assert message.endswith(":6: conv1: conv.stride: got [0, 0] (expected a positive integer (each))")


def test_a_residual_says_which_side_gives_what(write_spec):
    spec = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 64, k: 1}\n  - residual:\n      - conv: {out: 256, k: 1}\n"
    assert error_of(write_spec(spec)).endswith(
        ":4: residual1.add: the body gives 256 channels, the shortcut 64: they cannot be added "
        "(expected a projection shortcut to match channels)"
    )
    strided = spec.replace("k: 1}\n", "k: 1, stride: 2}\n", 2).replace("out: 64, k: 1, stride: 2", "out: 64, k: 1")
    assert error_of(write_spec(strided)).endswith(
        ":4: residual1.add: the body gives 256×4×4, the shortcut 64×8×8: they cannot be added "
        "(expected a projection shortcut to match its shape)"
    )


# -- bare words as block arguments, layers named like blocks -------------------------------
WORDS = (
    "input: [8, 8, 8]\n"
    "blocks:\n"
    "  b(act, mode=bilinear):\n"
    "    - conv: {out: 8, k: 1}\n"
    "    - {relu: {}, when: \"act == 'relu'\"}\n"
    "    - {upsample: {scale: 2, mode: mode}}\n"
    "  se(sq):\n"
    "    mul:\n"
    "      - identity\n"
    "      - [gap, conv: {out: sq, k: 1}, relu, conv: {out: 8, k: 1}, sigmoid]\n"
    "layers:\n"
)


def test_a_bare_word_argument_is_text(write_spec):
    a = analyze(load_model(str(write_spec(WORDS + "  - b: {act: none}\n  - b: {act: relu, mode: nearest}\n"))))
    assert [r.label for r in a.layers[1:]] == [
        "conv 1×1",
        "upsample bilinear ×2",
        "conv 1×1",
        "relu",
        "upsample nearest ×2",
    ]
    quoted = analyze(load_model(str(write_spec(WORDS + "  - b: {act: \"'none'\"}\n")))).totals
    assert quoted == analyze(load_model(str(write_spec(WORDS + "  - b: {act: none}\n")))).totals


def test_a_bare_word_that_is_a_variable_is_its_value(write_spec):
    spec = WORDS.replace("input:", "params: {none: relu}\ninput:") + "  - b: {act: none}\n"
    assert "relu" in [r.label for r in analyze(load_model(str(write_spec(spec)))).layers]


def test_a_layer_named_like_a_block(write_spec):
    a = analyze(load_model(str(write_spec(WORDS + "  - se: {se: {sq: 4}}\n  - se: {sq: 2}\n"))))
    paths = {".".join(r.path) for r in a.layers}
    assert {"se.mul", "se1.mul"} <= paths, paths
    message = error_of(write_spec(WORDS + "  - se: {se: {sq: 4}, zz: 1}\n"))
    assert message.endswith(":12: se: se(sq): unknown argument 'zz' (expected one of: sq)")
