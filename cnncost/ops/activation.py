"""Element-wise activations. One op per element in the all-ops count, whatever the function.

``inplace`` defaults to false, as torch's modules do (``nn.ReLU()``); a spec says
``inplace: true`` exactly where its reference implementation runs the activation in place
(``nn.ReLU(inplace=True)``, ``F.relu(x, inplace=True)``): an in-place activation writes no new
tensor, so it adds nothing to activation memory (relu, relu6, leaky_relu, elu, silu, hardswish,
hardsigmoid have both forms).
"""

from __future__ import annotations

from typing import ClassVar

from cnncost.ops.base import (
    SAVES_OUTPUT,
    Example,
    Field,
    Op,
    Saved,
    Shape,
    identity_window,
    numel,
    register,
    saves_input,
)
from cnncost.ops.window import Window, along

_NOT_COUNTED = "0: fvcore counts no activations"

INPLACE = Field("bool", False, doc="torch's default; true where the reference runs it in place")


class Activation(Op):
    op_class = "act"
    fields = {"inplace": INPLACE}
    fvcore = _NOT_COUNTED
    inplace: bool
    saves_output: ClassVar[bool] = False
    """Backward reads the output (relu, sigmoid, tanh) rather than the input."""
    inplace_copies: ClassVar[bool] = False
    """In place, torch first saves a copy of the input (relu6, silu, hardswish, hardsigmoid)."""

    window = identity_window

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def new_tensor(self, training: bool = False) -> bool:
        return not self.inplace

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The output (relu, sigmoid, tanh, and any in-place form), else the input; the in-place
        relu6/silu/hardswish/hardsigmoid save a copy of their input (a new tensor)."""
        if self.inplace and self.inplace_copies:
            return (Saved("new", elements=numel(out), tag="copy"),)
        return SAVES_OUTPUT if self.saves_output or self.inplace else saves_input()


def _examples(kind: str, inplace: bool = True) -> tuple[Example, ...]:
    """Each activation on a map, in place and not (where torch has both)."""
    out = (Example((3, 4, 5), f"[{kind}: {{inplace: true}}]" if inplace else f"[{kind}]"),)
    return (*out, Example((6,), f"[{kind}]")) if inplace else out


class PureActivation(Activation):
    """Activations torch cannot run in place (no ``inplace`` argument)."""

    fields = {}
    inplace = False


@register
class ReLU(Activation):
    """max(0, x)."""

    kind = "relu"
    saves_output = True
    examples = _examples("relu")


@register
class ReLU6(Activation):
    """min(max(0, x), 6) (MobileNet)."""

    kind = "relu6"
    inplace_copies = True
    fvcore_skips = {
        "aten::hardtanh": "relu6 is hardtanh(0, 6): activations are not counted by fvcore",
        "aten::hardtanh_": "relu6 in place: activations are not counted by fvcore",
    }
    examples = _examples("relu6")


@register
class LeakyReLU(Activation):
    """x, or negative_slope · x below 0."""

    kind = "leaky_relu"
    fields = {"inplace": INPLACE, "negative_slope": Field("float", 0.01)}
    fvcore_skips = {
        "aten::leaky_relu": "activations are not counted by fvcore",
        "aten::leaky_relu_": "activations are not counted by fvcore",
    }
    examples = (*_examples("leaky_relu"), Example((2, 3, 3), "[leaky_relu: {negative_slope: 0.2}]"))
    negative_slope: float


@register
class ELU(Activation):
    """x, or alpha · (eˣ − 1) below 0."""

    kind = "elu"
    fields = {"inplace": INPLACE, "alpha": Field("float", 1.0)}
    fvcore_skips = {
        "aten::elu": "activations are not counted by fvcore",
        "aten::elu_": "activations are not counted by fvcore",
    }
    examples = _examples("elu")
    alpha: float


@register
class SiLU(Activation):
    """x · sigmoid(x) (EfficientNet's swish)."""

    kind = "silu"
    aliases = ("swish",)
    inplace_copies = True
    fvcore_skips = {
        "aten::silu": "activations are not counted by fvcore",
        "aten::silu_": "activations are not counted by fvcore",
    }
    examples = _examples("silu")


@register
class Hardswish(Activation):
    """x · relu6(x + 3) / 6 (MobileNetV3)."""

    kind = "hardswish"
    aliases = ("hswish",)
    inplace_copies = True
    fvcore_skips = {
        "aten::hardswish": "activations are not counted by fvcore",
        "aten::hardswish_": "activations are not counted by fvcore",
    }
    examples = _examples("hardswish")


@register
class Hardsigmoid(Activation):
    """relu6(x + 3) / 6 (MobileNetV3's SE gate)."""

    kind = "hardsigmoid"
    aliases = ("hsigmoid",)
    inplace_copies = True
    fvcore_skips = {
        "aten::hardsigmoid": "activations are not counted by fvcore",
        "aten::hardsigmoid_": "activations are not counted by fvcore",
    }
    examples = _examples("hardsigmoid")


@register
class Sigmoid(PureActivation):
    """1 / (1 + e⁻ˣ) (SE gates)."""

    kind = "sigmoid"
    saves_output = True
    fvcore_skips = {"aten::sigmoid": "activations are not counted by fvcore"}
    examples = _examples("sigmoid", inplace=False)


@register
class Tanh(PureActivation):
    """tanh(x)."""

    kind = "tanh"
    saves_output = True
    fvcore_skips = {"aten::tanh": "activations are not counted by fvcore"}
    examples = _examples("tanh", inplace=False)


@register
class GELU(PureActivation):
    """x · Φ(x): exact (erf) form, or ``approximate: tanh`` (``nn.GELU(approximate="tanh")``)."""

    kind = "gelu"
    fields = {
        "approximate": Field(
            "choice", "none", choices=("none", "tanh"), doc="none: the erf form; tanh: the tanh approximation"
        )
    }
    fvcore_skips = {"aten::gelu": "activations are not counted by fvcore"}
    examples = (*_examples("gelu", inplace=False), Example((2, 5, 3), "[gelu: {approximate: tanh}]"))
    approximate: str

    def describe(self) -> str:
        return "gelu" if self.approximate == "none" else "gelu (tanh)"


@register
class Softmax(Op):
    """Softmax over classes: exp, sum and divide, 3 ops per element."""

    kind = "softmax"
    op_class = "softmax"
    fields = {"dim": Field("int", 0, doc="axis without batch; 0 = channels/classes")}
    fvcore = "0: fvcore has no softmax handle"
    fvcore_skips = {"aten::softmax": "softmax: fvcore has no handle (cnncost `all` counts 3 per element)"}
    examples = (Example((10,), "[softmax]"), Example((4, 3, 2), "[softmax: {dim: 1}]"))
    dim: int

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return 3 * numel(out)

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Every position of axis ``dim`` (the channels by default: positions stay apart)."""
        return along(len(ins[0]), self.dim)

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The output (softmax's gradient is written in terms of it)."""
        return SAVES_OUTPUT
