"""Where an op's output positions read their input: the geometry the receptive-field pass composes.

Pure arithmetic, like ``formulas``. Along one axis an op is ``Taps``: the input positions output
position ``o`` reads, periodic in ``o`` (a conv reads ``o·s − p + d·t``: period 1, shift ``s``; a
stride-2 transposed conv reads a different tap set at even and odd outputs: period 2, shift 1). An
op's ``window`` says, for each output axis, which input axis it comes from and its taps there
(``None``: every position of that axis, a reduction); ``IDENTITY`` and ``GLOBAL`` name the two
commonest answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import NamedTuple


@dataclass(frozen=True)
class Taps:
    """Input positions read by output position ``o`` along one axis: ``taps[o % period]`` shifted by
    ``(o // period) · shift`` (on an unbounded axis: padding positions are positions too)."""

    period: int
    shift: int
    taps: tuple[tuple[int, ...], ...]

    def at(self, o: int) -> tuple[int, ...]:
        q, r = divmod(o, self.period)
        return tuple(i + q * self.shift for i in self.taps[r])


STEP = Taps(1, 1, ((0,),))
"""Output position ``o`` reads input position ``o``."""

NOTHING = Taps(1, 1, ((),))
"""No input position: an output that does not depend on the input (a scale by 0)."""

BROADCAST = Taps(1, 0, ((0,),))
"""Every output position reads input position 0 (a size-1 axis broadcast: an SE gate)."""


def sliding(k: int, stride: int, pad_before: int, dilation: int = 1) -> Taps:
    """A conv or pool window: ``o`` reads ``o·stride − pad_before + dilation·t``, t < k (ceil_mode only
    adds a last window, which reads by the same rule)."""
    return Taps(1, stride, (tuple(-pad_before + dilation * t for t in range(k)),))


def transposed(k: int, stride: int, pad: int, dilation: int = 1) -> Taps:
    """A transposed conv: input ``i`` writes ``i·stride − pad + dilation·t``, so ``o`` reads every ``i``
    with ``o + pad − dilation·t = i·stride``; the set depends on ``o mod stride`` (it may be empty:
    an output that only gets the bias)."""
    rows = []
    for r in range(stride):
        starts = [r + pad - dilation * t for t in range(k)]
        rows.append(tuple(sorted({x // stride for x in starts if x % stride == 0})))
    return Taps(stride, 1, tuple(rows))


def periodic(ratio: Fraction, reads: Callable[[int], Iterable[int]]) -> Taps:
    """Taps of a resampling whose source coordinate is linear in ``o`` with slope ``ratio = a/b``:
    period ``b`` outputs, shift ``a`` inputs; ``reads(o)`` gives output ``o``'s input positions."""
    period = ratio.denominator
    return Taps(period, ratio.numerator, tuple(tuple(reads(o)) for o in range(period)))


def nearest(ratio: Fraction) -> Taps:
    """torch's ``upsample_nearest2d``: ``o`` reads ``floor(o · ratio)`` (ratio: input/output size, or
    1/scale when the scale is given)."""
    return periodic(ratio, lambda o: (math.floor(o * ratio),))


def bilinear(ratio: Fraction, align_corners: bool) -> Taps:
    """torch's ``upsample_bilinear2d``: source ``(o + ½)·ratio − ½`` (``o·ratio`` with align_corners),
    its two neighbours, or one when the source falls on a position (the other's weight is 0)."""

    def reads(o: int) -> tuple[int, ...]:
        src = o * ratio if align_corners else (o + Fraction(1, 2)) * ratio - Fraction(1, 2)
        low = math.floor(src)
        return (low,) if src == low else (low, low + 1)

    return periodic(ratio, reads)


def adaptive(n_in: int, n_out: int) -> Taps:
    """torch's adaptive pooling: ``o`` reads ``floor(o·n/m) .. ceil((o+1)·n/m) − 1``."""
    ratio = Fraction(n_in, n_out)
    return periodic(ratio, lambda o: range(math.floor(o * ratio), math.ceil((o + 1) * ratio)))


class Axis(NamedTuple):
    """One output axis of an op: the input axis it comes from (batch excluded) and the taps along it;
    ``taps`` None: every position of that axis (a reduction along it)."""

    source: int
    taps: Taps | None


class Reach(Enum):
    """The two windows most ops have."""

    IDENTITY = "identity"
    """Each output axis is the same input axis, position for position (element-wise ops)."""
    GLOBAL = "global"
    """Every output element reads every input position (global pooling, flatten, group norm)."""


IDENTITY = Reach.IDENTITY
GLOBAL = Reach.GLOBAL

Window = Reach | tuple[Axis, ...]
"""What ``Op.window`` returns for one input."""


def spatial(h: Taps | None, w: Taps | None, mixes_channels: bool = True) -> tuple[Axis, ...]:
    """The window of a C×H×W → C×H×W op: ``h`` and ``w`` taps; the channel axis is read whole
    (``mixes_channels``, a conv) or channel for channel (a pool)."""
    return (Axis(0, None if mixes_channels else STEP), Axis(1, h), Axis(2, w))


def along(rank: int, axis: int) -> tuple[Axis, ...]:
    """Every position of ``axis`` (batch excluded; negative counts from the end), the others kept:
    ``linear``/``layernorm`` over the last axis, ``softmax`` over ``dim``."""
    axis %= rank
    return tuple(Axis(j, None if j == axis else STEP) for j in range(rank))
