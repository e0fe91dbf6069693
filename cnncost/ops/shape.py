"""Layers that move or drop data without arithmetic: flatten, dropout, identity, padding, slicing,
permuting and shuffling channels; and the scalings that sit beside them (constant, learnable per channel)."""

from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.ops.base import (
    SAVES_NOTHING,
    Example,
    Field,
    Op,
    ParamCount,
    Saved,
    Shape,
    Warn,
    fmt_shape,
    identity_window,
    numel,
    register,
    require_chw,
    saves_input,
)
from cnncost.ops.window import GLOBAL, NOTHING, STEP, Axis, Window, sliding, spatial

_MOVES = "0: moves data"


@register
class Flatten(Op):
    """Flatten C×H×W to C·H·W. A view in torch: no new tensor."""

    kind = "flatten"
    op_class = "shape"
    fvcore = "0: a view"
    examples = (Example((3, 2, 4), "[flatten, linear: {out: 2}]"),)

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        return (numel(ins[0]),)

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """The flat vector has no positions left: taken as a whole, it reads every position."""
        return GLOBAL

    def new_tensor(self, training: bool = False) -> bool:
        return False

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing (a view)."""
        return SAVES_NOTHING


@register
class Dropout(Op):
    """Dropout: the identity at inference, so no new tensor and no cost in the analysis."""

    kind = "dropout"
    op_class = "shape"
    fields = {"p": Field("float", 0.5), "inplace": Field("bool", False)}
    fvcore = "0: the identity at inference"
    window = identity_window
    fvcore_skips = {"aten::dropout_": "in-place dropout: identity at inference"}
    examples = (
        Example((10,), "[dropout: {p: 0.3}]"),
        Example((3, 4, 4), "[dropout: {p: 0.2, inplace: true}]"),
        Example((5,), "[dropout: {p: 0}]"),
    )
    p: float
    inplace: bool

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if not 0.0 <= self.p <= 1.0:
            raise SpecError(f"dropout: p={self.p}", expected="a probability in [0, 1]")
        return ins[0]

    def new_tensor(self, training: bool = False) -> bool:
        """At inference, none; in training, the masked output (unless in place or p = 0)."""
        return training and self.p > 0 and not self.inplace

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The mask (in the activation dtype), when p > 0."""
        return (Saved("new", elements=numel(out), tag="mask"),) if self.p > 0 else SAVES_NOTHING


@register
class Identity(Op):
    """The input, unchanged (a placeholder a block can switch to)."""

    kind = "identity"
    op_class = "shape"
    fvcore = "0: no op"
    window = identity_window
    examples = (Example((3, 4, 4), "[identity, conv: {out: 2, k: 1}]"),)

    def new_tensor(self, training: bool = False) -> bool:
        return False

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing."""
        return SAVES_NOTHING


@register
class ZeroPad(Op):
    """Explicit zero padding (TF-ported nets): int, [h, w] or [top, bottom, left, right]."""

    kind = "zeropad"
    aliases = ("zero_pad",)
    op_class = "shape"
    fields = {"pad": Field("pad", required=True, aliases=("padding", "p"))}
    fvcore = _MOVES
    examples = (Example((2, 5, 6), "[zeropad: {pad: [0, 1, 2, 1]}]"), Example((2, 3, 3), "[zeropad: {pad: 1}]"))
    pad: str | tuple[int, int, int, int]

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        if isinstance(self.pad, str):
            raise SpecError("zeropad: pad must be numbers", expected="int, [h, w] or [t, b, l, r]")
        return padded_size(self.kind, (c, h, w), self.pad)

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the gradient is a slice."""
        return SAVES_NOTHING

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        return shifted(self.pad)


def shifted(pad: str | tuple[int, int, int, int]) -> Window:
    """Padding (or cropping, negative): output (y, x) is input (y − top, x − left)."""
    assert not isinstance(pad, str)
    return spatial(sliding(1, 1, pad[0]), sliding(1, 1, pad[2]), mixes_channels=False)


def padded_size(kind: str, chw: tuple[int, int, int], pad: tuple[int, int, int, int]) -> Shape:
    """C×H×W after zero padding (negative: cropping), with torch's limit: a crop removes at most the whole
    axis before the padding is added (``F.pad``'s narrow), and the output has at least one row and column."""
    c, h, w = chw
    for n, sides, name in ((h, pad[:2], "rows"), (w, pad[2:], "columns")):
        crop = -sum(min(p, 0) for p in sides)
        if crop > n:
            raise SpecError(
                f"{kind}: cropping {crop} of {n} {name} (pad {list(pad)})",
                expected=f"negative padding that removes at most the {n} {name}",
            )
    t, b, left, r = pad
    oh, ow = h + t + b, w + left + r
    if oh < 1 or ow < 1:
        raise SpecError(
            f"{kind}: output {oh}×{ow} from {h}×{w} (pad {list(pad)})", expected="an output of at least 1×1"
        )
    return (c, oh, ow)


@register
class Scale(Op):
    """Multiply by a constant (Inception-ResNet's residual scaling, ``out * 0.17``): 1 op per element."""

    kind = "scale"
    op_class = "elementwise"
    fields = {"value": Field("float", required=True, aliases=("factor",)), "inplace": Field("bool", False)}
    fvcore = "0: fvcore does not count element-wise products"
    fvcore_skips = {
        "aten::mul": "constant scaling: not counted by fvcore",
        "aten::mul_": "in-place constant scaling: not counted by fvcore",
    }
    examples = (Example((3, 4, 4), "[scale: {value: 0.17}]"), Example((3, 4, 4), "[scale: {value: 2, inplace: true}]"))
    value: float
    inplace: bool

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Position for position; by 0 (the ResNet paper's zero channels, ``out * 0``) it reads nothing."""
        return tuple(Axis(j, NOTHING if self.value == 0 else STEP) for j in range(len(ins[0])))

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def new_tensor(self, training: bool = False) -> bool:
        return not self.inplace

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the factor is a constant."""
        return SAVES_NOTHING


@register
class ChannelPad(Op):
    """Zero channels appended (the ResNet paper's option-A shortcut): ``F.pad`` over channels."""

    kind = "chanpad"
    op_class = "shape"
    fields = {"out": Field("int", required=True, doc="output channels (≥ input channels)")}
    fvcore = _MOVES
    window = identity_window
    examples = (Example((3, 4, 4), "[chanpad: {out: 5}]"),)
    out: int

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if self.out < ins[0][0]:
            raise SpecError(
                f"chanpad: out={self.out} < {ins[0][0]} input channels", expected="at least the input channels"
            )
        return (self.out, *ins[0][1:])

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the gradient is a slice."""
        return SAVES_NOTHING


@register
class ChannelSlice(Op):
    """Channels ``start:stop`` of the input (DPN's split of residual and dense paths): a view."""

    kind = "slice"
    op_class = "shape"
    fields = {"start": Field("int", 0, min=0), "stop": Field("int", required=True)}
    fvcore = "0: a view"
    window = identity_window
    examples = (Example((6, 3, 3), "[slice: {start: 1, stop: 4}]"),)
    start: int
    stop: int

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        start, stop, c = self.start, self.stop, ins[0][0]
        if not 0 <= start < stop <= c:
            raise SpecError(f"slice: channels {start}:{stop} of {c}", expected="0 <= start < stop <= channels")
        return (stop - start, *ins[0][1:])

    def new_tensor(self, training: bool = False) -> bool:
        return False

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing (a view)."""
        return SAVES_NOTHING


@register
class Permute(Op):
    """Reorder the axes (batch axis excluded): ``order: [1, 2, 0]`` makes C×H×W channels-last H×W×C, as
    torchvision's ConvNeXt does with ``Permute([0, 2, 3, 1])``. A view: no new tensor."""

    kind = "permute"
    op_class = "shape"
    fields = {
        "order": Field(
            "ints", required=True, doc="the input axis at each output position, without the batch axis: [1, 2, 0]"
        )
    }
    fvcore = "0: a view (fvcore ignores aten::permute)"
    examples = (
        Example((3, 5, 4), "[permute: {order: [1, 2, 0]}]"),
        Example((4, 3, 2), "[permute: {order: [2, 0, 1]}]"),
    )
    order: tuple[int, ...]

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        shape = ins[0]
        if sorted(self.order) != list(range(len(shape))):
            raise SpecError(
                f"permute: order {list(self.order)} for a {fmt_shape(shape)} input",
                expected=f"a permutation of {list(range(len(shape)))} (axes without the batch)",
            )
        return tuple(shape[i] for i in self.order)

    def new_tensor(self, training: bool = False) -> bool:
        return False

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing (a view)."""
        return SAVES_NOTHING

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Output axis j is input axis ``order[j]``: after ``[1, 2, 0]`` the spatial axes are the first two."""
        return tuple(Axis(i, STEP) for i in self.order)

    def describe(self) -> str:
        return "permute " + ",".join(str(i) for i in self.order)


@register
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle: view as groups × C/groups, transpose, ``contiguous``, view back
    (torchvision's ``channel_shuffle``): one new tensor, unless ``groups`` is 1 (then a view)."""

    kind = "channel_shuffle"
    op_class = "shape"
    fields = {"groups": Field("int", required=True, aliases=("g",), doc="divides the channels, below them")}
    fvcore = "0: moves data (aten::view, transpose and contiguous, all ignored by fvcore)"
    window = identity_window
    examples = (
        Example((6, 3, 5), "[channel_shuffle: {groups: 2}]"),
        Example((6, 2, 3), "[channel_shuffle: {groups: 3}]"),
        Example((4, 3, 3), "[channel_shuffle: {groups: 1}]"),
    )
    groups: int

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, _, _ = require_chw(self.kind, ins[0])
        g = self.groups
        if g < 1 or c % g:
            raise SpecError(
                f"channel_shuffle: groups={g} does not divide the {c} channels",
                expected="a positive divisor of the channels",
            )
        if g == c > 1:
            raise SpecError(
                f"channel_shuffle: groups={g} equals the channels: one channel per group, nothing moves",
                expected="fewer groups than channels (or an identity)",
            )
        return ins[0]

    def new_tensor(self, training: bool = False) -> bool:
        """One group (or one channel per group, refused in ``infer``) transposes a size-1 axis:
        ``contiguous`` then returns the input itself."""
        return self.groups > 1

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing: the gradient is the inverse shuffle."""
        return SAVES_NOTHING

    def describe(self) -> str:
        return f"channel shuffle g{self.groups}"


PAD_MODES = ("constant", "reflect", "replicate", "circular")


@register
class Pad(Op):
    """``F.pad`` of the spatial axes: ``constant`` (with ``value``; negative padding crops), ``reflect``,
    ``replicate`` or ``circular``; pad is int, [h, w] or [top, bottom, left, right]."""

    kind = "pad"
    op_class = "shape"
    fields = {
        "pad": Field("pad", required=True, aliases=("padding", "p"), doc="int, [h, w] or [top, bottom, left, right]"),
        "mode": Field("choice", "constant", choices=PAD_MODES),
        "value": Field("float", 0.0, doc="the fill of mode constant"),
    }
    fvcore = "0: aten::pad moves data"
    fvcore_skips = {"aten::pad": "F.pad moves data (constant, reflect, replicate, circular)"}
    examples = (
        Example((2, 5, 6), "[pad: {pad: [0, 1, 2, 1], value: 0.5}]"),
        Example((2, 6, 7), "[pad: {pad: [-1, -2, 1, -3]}]"),
        Example((3, 5, 4), "[pad: {pad: [4, 1, 3, 0], mode: reflect}]"),
        Example((2, 3, 2), "[pad: {pad: [5, 0, 2, 3], mode: replicate}]"),
        Example((2, 4, 3), "[pad: {pad: [4, 1, 3, 2], mode: circular}]"),
    )
    pad: str | tuple[int, int, int, int]
    mode: str
    value: float

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        c, h, w = require_chw(self.kind, ins[0])
        if isinstance(self.pad, str):
            raise SpecError(f"pad: pad must be numbers, got {self.pad!r}", expected="int, [h, w] or [t, b, l, r]")
        if self.value != 0 and self.mode != "constant":
            raise SpecError(f"pad: value {self.value:g} with mode {self.mode}", expected="mode constant, or no value")
        if self.mode != "constant":
            self._check_fits((h, w), self.pad)
        return padded_size(self.kind, (c, h, w), self.pad)

    def _check_fits(self, hw: tuple[int, int], pad: tuple[int, int, int, int]) -> None:
        """torch's limits beyond constant padding's (``padded_size``): the other modes take no negative
        padding, reflect pads less than the size, circular at most the size."""
        if min(pad) < 0:
            raise SpecError(
                f"pad: negative padding {list(pad)} with mode {self.mode}",
                expected="mode constant to crop, or padding ≥ 0",
            )
        limit = {"reflect": -1, "circular": 0}.get(self.mode)
        for n, sides, name in ((hw[0], pad[:2], "rows"), (hw[1], pad[2:], "columns")):
            if limit is not None and max(sides) > n + limit:
                bound = f"below {n}" if limit else f"at most {n}"
                raise SpecError(
                    f"pad: {self.mode} padding {max(sides)} of {n} {name}",
                    expected=f"padding {bound} per side (torch's {self.mode} limit)",
                )

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input for ``reflect`` and ``replicate`` (torch's reflection and replication backward take it);
        nothing for ``constant`` and ``circular`` (slices)."""
        return saves_input() if self.mode in ("reflect", "replicate") else SAVES_NOTHING

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """A shift by the top and left padding. Reflect, replicate and circular fill the border from
        inside the map: that changes only the fields that reach a border, not the interior ones."""
        return shifted(self.pad)

    def describe(self) -> str:
        return f"pad {self.mode}"


@register
class LayerScale(Op):
    """A learnable per-channel multiplier γ (ConvNeXt's ``layer_scale``, CaiT's LayerScale): C params,
    shape C×1×1 over channels (torchvision's CNBlock) or C over the last axis; 1 op per element."""

    kind = "layer_scale"
    aliases = ("layerscale",)
    op_class = "elementwise"
    fields = {
        "init": Field("float", 1e-6, aliases=("value",), doc="γ's initial value (no effect on the counts)"),
        "dims": Field(
            "choice",
            "channels",
            choices=("channels", "last"),
            doc="channels: γ is C×1×1 for a C×H×W map; last: γ has the size of the last axis",
        ),
    }
    fvcore = "0: fvcore does not count element-wise products"
    window = identity_window
    fvcore_skips = {"aten::mul": "a learnable per-channel scale (layer_scale): not counted by fvcore"}
    examples = (
        Example((5, 3, 4), "[layer_scale]"),
        Example((4, 1, 1), "[layer_scale: {init: 0.1}]"),
        Example((3, 4, 5), "[permute: {order: [1, 2, 0]}, layer_scale: {dims: last}]"),
        Example((6,), "[layer_scale: {dims: last}]"),
    )
    init: float
    dims: str

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        if self.dims == "channels":
            require_chw(self.kind, ins[0])
        return ins[0]

    def weight_shapes(self, ins: list[Shape]) -> tuple[Shape, ...]:
        return ((ins[0][0], 1, 1),) if self.dims == "channels" else ((ins[0][-1],),)

    def params(self, ins: list[Shape]) -> ParamCount:
        return ParamCount(numel(self.weight_shapes(ins)[0]))

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The input (γ's gradient is the sum of input × incoming gradient)."""
        return saves_input()

    def describe(self) -> str:
        return "layer scale"
