"""Element-wise activations. One op per element in the all-ops count, whatever the function.

``inplace`` defaults to true where torch allows it (relu, relu6, leaky_relu, elu, silu,
hardswish, hardsigmoid): an in-place activation writes no new tensor, so it adds nothing
to activation memory, as in the VGG lecture table and torchvision's models.
"""

from __future__ import annotations

from cnncost.ops.base import Field, Op, Shape, numel, register


class Activation(Op):
    op_class = "act"
    fields = {"inplace": Field("bool", True)}
    torch_name = ""

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def new_tensor(self) -> bool:
        return not self.v.get("inplace", False)


class PureActivation(Activation):
    """Activations torch cannot run in place (no ``inplace`` argument)."""

    fields = {}


@register
class ReLU(Activation):
    kind = "relu"


@register
class ReLU6(Activation):
    kind = "relu6"


@register
class LeakyReLU(Activation):
    kind = "leaky_relu"
    fields = {"inplace": Field("bool", True), "negative_slope": Field("float", 0.01)}


@register
class ELU(Activation):
    kind = "elu"
    fields = {"inplace": Field("bool", True), "alpha": Field("float", 1.0)}


@register
class SiLU(Activation):
    kind = "silu"
    aliases = ("swish",)


@register
class Hardswish(Activation):
    kind = "hardswish"
    aliases = ("hswish",)


@register
class Hardsigmoid(Activation):
    kind = "hardsigmoid"
    aliases = ("hsigmoid",)


@register
class Sigmoid(PureActivation):
    kind = "sigmoid"


@register
class Tanh(PureActivation):
    kind = "tanh"


@register
class GELU(PureActivation):
    kind = "gelu"


@register
class Softmax(Op):
    """Softmax over classes: exp, sum and divide, 3 ops per element."""

    kind = "softmax"
    op_class = "softmax"
    fields = {"dim": Field("int", 0, doc="axis without batch; 0 = channels/classes")}

    def other_ops(self, ins: list[Shape], out: Shape) -> int:
        return 3 * numel(out)
