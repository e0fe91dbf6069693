"""Pure shape arithmetic, exactly as torch computes it. No spec, no I/O: numbers in, numbers out."""

from __future__ import annotations


def conv_out_len(n: int, k: int, s: int = 1, pad: tuple[int, int] = (0, 0), d: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a conv/pool window along one axis.

    ``floor((n + p0 + p1 - d·(k-1) - 1) / s) + 1`` (torch ``Conv2d``/``MaxPool2d``); with
    ``ceil_mode`` the division rounds up (Caffe, GoogLeNet), but a window that would start
    inside the right padding is dropped, as torch does (so a kernel up to stride - 1 larger than the
    padded input still gives one window). 0: no window fits. E.g. AlexNet conv1: (227-11)/4+1 = 55.
    """
    span = n + pad[0] + pad[1] - d * (k - 1) - 1
    if ceil_mode:  # torch's pooling_output_shape: a window may overhang the end by up to stride - 1 ...
        out = (span + s - 1) // s + 1  # ... even past a kernel larger than the input (floor division)
        if (out - 1) * s >= n + pad[0]:
            out -= 1
        return max(out, 0)
    if span < 0:
        return 0
    return span // s + 1


def same_padding(n: int, k: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding: output ``ceil(n/s)``, the odd pixel of padding goes at the end.

    For stride 1 and an odd kernel this is torch's symmetric ``padding='same'``.
    """
    out = -(-n // s)  # ceil(n / s), exact for any integer (a float division is not, past 2**53)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def unread_tail(n: int, k: int, s: int, pad: tuple[int, int], d: int = 1) -> int:
    """Input rows past the last window that no window reads (padding rows not counted).

    The lecture's example: 7 wide, k 3, stride 3 → (7-3)/3+1 = 2.33: the last row is never read.
    """
    span = n + pad[0] + pad[1] - d * (k - 1) - 1
    if span < 0:
        return 0
    return max(0, span % s - pad[1])
