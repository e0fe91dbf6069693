import pytest

from cnncost.errors import SpecError
from cnncost.spec.expr import evaluate, make_divisible


def test_arithmetic_is_exact_integer():
    assert evaluate("width * 4", {"width": 64}) == 256
    assert evaluate("2 ** 40 + 1", {}) == 1_099_511_627_777
    assert evaluate("c // 2 if c > 8 else c", {"c": 24}) == 12
    assert evaluate("depths[2]", {"depths": [3, 4, 6, 3]}) == 6
    assert evaluate("max(8, make_divisible(32 * 1.1))", {}) == 32
    assert evaluate("stride_at == '1x1'", {"stride_at": "1x1"}) is True


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "width.__class__",
        "[c for c in ().__class__.__bases__]",
        "lambda: 1",
        "open('/etc/passwd')",
        "exec('1')",
    ],
)
def test_rejects_anything_that_could_run_code(text):
    with pytest.raises(SpecError):
        evaluate(text, {"width": 1})


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(SpecError) as exc:
        evaluate("widht * 2", {"width": 3})
    assert "unknown name 'widht'" in str(exc.value)
    assert "width" in str(exc.value)


def test_make_divisible_matches_torchvision_rule():
    # torchvision _make_divisible: nearest multiple of 8, bumped up if that loses more than 10%.
    assert make_divisible(32 * 1.4) == 48
    assert make_divisible(12) == 16
    assert make_divisible(67) == 64
    assert make_divisible(10) == 16  # 8 would be < 0.9 * 10


def test_comprehensions_range_and_log():
    env = {"w0": 48, "wa": 27.89, "wm": 2.09, "d": 16}
    assert evaluate("[round(log((w0 + wa * j) / w0) / log(wm)) for j in range(d)]", env) == [
        0,
        1,
        1,
        1,
        2,
        2,
        2,
        2,
        2,
        2,
        3,
        3,
        3,
        3,
        3,
        3,
    ]
    assert evaluate("[x for x in range(3)]", {}) == [0, 1, 2]
    assert evaluate("[j for j in range(10) if j % 3 == 0 if j]", {}) == [3, 6, 9]
    assert evaluate("[[i, j] for i in range(3) for j in range(i)]", {}) == [[1, 0], [2, 0], [2, 1]]
    assert evaluate("[a * b for a, b in zip(xs, [10, 20, 30])]", {"xs": [1, 2]}) == [10, 40]
    assert evaluate("[k + v for k, v in enumerate([5, 6], 1)]", {}) == [6, 8]
    assert evaluate("sum(d for d in depths if d > 1)", {"depths": [1, 3, 6]}) == 9
    assert evaluate("depths[1:] + depths[:1]", {"depths": [1, 3, 6]}) == [3, 6, 1]
    assert evaluate("log(8, 2)", {}) == 3.0 and evaluate("exp(0)", {}) == 1.0


def test_comprehension_targets_are_local():
    env = {"j": 7, "xs": [1, 2]}
    assert evaluate("[j * x for x in xs] + [j]", env) == [7, 14, 7]
    assert evaluate("[j for j in xs] + [j]", env) == [1, 2, 7]  # the loop's j does not leak
    with pytest.raises(SpecError, match="unknown name 'x'"):
        evaluate("[x for x in xs] + [x]", env)


@pytest.mark.parametrize(
    ("text", "message", "budget"),
    [
        ("range(20000)", "range(20000) would have 20,000 elements: over the limit of 10,000", "EXPR_LIST"),
        ("range(0, 10**6, 2)", "500,000 elements: over the limit of 10,000", "EXPR_LIST"),
        ("[0] * 10001", "a repetition would have 10,001 elements: over the limit of 10,000", "EXPR_LIST"),
        ("'ab' * 6000", "a repetition would have 12,000 elements", "EXPR_LIST"),
        ("range(6000) + range(6000)", "a concatenation would have 12,000 elements", "EXPR_LIST"),
        ("sum([range(5000)] * 3, [])", "a sum of lists would have 15,000 elements", "EXPR_LIST"),
        ("[a for a in range(5000) for b in range(3)]", "a comprehension builds 10,001 elements", "EXPR_LIST"),
        ("[[0 for a in range(1000)] for b in range(1000)]", "over the limit of 100,000 steps", "EXPR_STEPS"),
        ("[big + big for i in range(100)]", "over the limit of 100,000 steps", "EXPR_STEPS"),
        ("9 ** 9 ** 9", "over the limit of 10,000 bits", "EXPR_INT_BITS"),
    ],
)
def test_sizes_are_bounded(text, message, budget):
    """Every budget is named, with the variable that raises it (cnncost.limits' convention)."""
    with pytest.raises(SpecError) as exc:
        evaluate(text, {"big": list(range(5000))})
    assert message in str(exc.value) and f"CNNCOST_MAX_{budget}=N" in str(exc.value)
    assert str(exc.value).startswith(f"in expression {text!r}: ")


def test_budgets_can_be_raised(monkeypatch):
    monkeypatch.setenv("CNNCOST_MAX_EXPR_LIST", "20000")
    assert len(evaluate("range(20000)", {})) == 20_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[x for x in 3]", "cannot iterate over 3"),
        ("[x for x.a in xs]", "cannot assign to Attribute"),
        ("[x for x, y in xs]", "cannot unpack 1 into 2 names"),
        ("[x.real for x in xs]", "Attribute is not allowed"),
        ("{x for x in xs}", "SetComp is not allowed"),
        ("{x: 1 for x in xs}", "DictComp is not allowed"),
        ("[(y := x) for x in xs]", "NamedExpr is not allowed"),
        ("range(1.5)", "cannot be interpreted as an integer"),
        ("log(0)", "math domain error"),
        ("exp(1000)", "math range error"),
    ],
)
def test_comprehension_errors_name_the_problem(text, message):
    with pytest.raises(SpecError) as exc:
        evaluate(text, {"xs": [1, 2]})
    assert message in str(exc.value)


def test_limits_allow_what_they_name():
    assert len(evaluate("range(10000)", {})) == 10_000
    assert len(evaluate("[0] * 10000", {})) == 10_000
    assert evaluate("2 ** 10000", {}) == 2**10_000
    assert evaluate("sum([[1, 2], [3]], [])", {}) == [1, 2, 3] and evaluate("sum([1.5, 2])", {}) == 3.5
