"""Shape formulas against torch as the oracle (Hypothesis over size, kernel, stride, padding...)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncost.ops.formulas import conv_out_len, same_padding, unread_tail

torch = pytest.importorskip("torch")


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3))
def test_conv_out_len_matches_conv2d(n, k, s, p, d):
    eff = d * (k - 1) + 1
    if eff > n + 2 * p:
        assert conv_out_len(n, k, s, (p, p), d) == 0
        return
    conv = torch.nn.Conv2d(1, 1, k, s, p, d, bias=False)
    assert conv(torch.zeros(1, 1, n, n)).shape[-1] == conv_out_len(n, k, s, (p, p), d)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3), ceil=st.booleans())
def test_pool_out_len_matches_maxpool_with_ceil_mode(n, k, s, p, ceil):
    if p > k // 2 or k > n + 2 * p:
        return  # torch rejects these; the engine reports them as spec errors
    pool = torch.nn.MaxPool2d(k, s, p, ceil_mode=ceil)
    assert pool(torch.zeros(1, 1, n, n)).shape[-1] == conv_out_len(n, k, s, (p, p), 1, ceil)


def test_googlenet_ceil_mode_example():
    # GoogLeNet's 3×3/2 pools with ceil_mode: 112 → 56, 28 → 14, 14 → 7; floor would give 55, 13, 6.
    assert [conv_out_len(n, 3, 2, (0, 0), 1, True) for n in (112, 28, 14)] == [56, 14, 7]
    assert [conv_out_len(n, 3, 2, (0, 0), 1, False) for n in (112, 28, 14)] == [55, 13, 6]


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 3))
def test_same_padding_gives_ceil_n_over_s(n, k, s):
    before, after = same_padding(n, k, s)
    assert conv_out_len(n, k, s, (before, after)) == -(-n // s)
    assert after - before in (0, 1)


def test_lecture_stride_that_does_not_tile():
    # (7 - 3) / 3 + 1 = 2.33: the last row of a 7-wide input is never read.
    assert conv_out_len(7, 3, 3) == 2
    assert unread_tail(7, 3, 3, (0, 0)) == 1
    assert unread_tail(7, 3, 2, (0, 0)) == 0
    # ResNet's 7×7/2 stem on 224 with pad 3: the unread row is padding, no input is lost.
    assert unread_tail(224, 7, 2, (3, 3)) == 0
