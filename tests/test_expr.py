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


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "width.__class__", "[x for x in range(3)]",
    "lambda: 1", "open('/etc/passwd')", "exec('1')",
])
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
