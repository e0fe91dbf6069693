"""A call cnncost cannot count, kept so that a traced model still reads end to end."""

from __future__ import annotations

from cnncost.ops.base import SAVES_NOTHING, Example, Field, Op, Saved, Shape, Warn, fmt_shape, register
from cnncost.ops.window import GLOBAL, Window


@register
class Opaque(Op):
    """A call of a torch model cnncost has no op for, read with ``--allow-unsupported``: its output has
    the shape torch computed, and it counts nothing — no parameters, no operations, nothing saved — so
    every total is a lower bound; each one is a warning, and its row reads ``not counted``."""

    kind = "opaque"
    op_class = "shape"
    fields = {"shape": Field("ints", required=True, doc="the output shape torch computed, without the batch")}
    fvcore = "0: not counted (cnncost has no op for the call)"
    examples = (Example((3, 4, 4), "[opaque: {shape: [3, 4, 4]}]"),)

    shape: tuple[int, ...]

    def infer(self, ins: list[Shape], warn: Warn) -> Shape:
        warn(f"not counted: a call cnncost has no op for (output {fmt_shape(self.shape)}); totals are lower bounds")
        return tuple(self.shape)

    def saved(self, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """Nothing known: counted as nothing."""
        return SAVES_NOTHING

    def window(self, ins: list[Shape], out: Shape, arg: int = 0) -> Window:
        """Unknown: taken as every input position, the largest field it can have."""
        return GLOBAL

    def describe(self) -> str:
        return "opaque (not counted)"
