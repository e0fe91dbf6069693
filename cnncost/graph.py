"""The expanded network: one ``Node`` per op, in execution order, every shape known.

The expander (``cnncost.spec``) writes it once; the analysis passes, the torch builder and the
cross-check only read it, so both records are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cnncost.errors import SpecWarning
from cnncost.ops.base import Op, Shape
from cnncost.spec.family import ModelSpec


class Node(NamedTuple):
    """One op applied to earlier nodes' outputs. Node 0 is the network input (``op`` None).

    A NamedTuple because a deep net has thousands and dataclass(frozen) is 3× slower to build.
    """

    id: int
    path: tuple[str, ...]
    op: Op | None
    inputs: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    line: int | None = None
    survival: float = 1.0
    """Probability this layer runs in a training step (stochastic depth); 1 at inference."""
    shares: int | None = None
    """The node whose weights (and buffers) this layer uses (``share:``): its params count there."""
    train_only: bool = False
    """Part of a side head that runs only in training (``aux: ..., train_only: true``: GoogLeNet's and
    Inception-v3's auxiliary classifiers): its weights exist at inference, its operations do not run."""

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Graph:
    """A model expanded to ops, in execution order, with shapes."""

    model: ModelSpec
    input_shape: Shape
    nodes: tuple[Node, ...]
    output: int
    warnings: tuple[SpecWarning, ...] = ()
    aux_outputs: tuple[int, ...] = ()
    """Side heads' outputs (GoogLeNet's auxiliary classifiers), returned after the main output."""

    @property
    def ops(self) -> tuple[Node, ...]:
        """Every node but the input: the layers."""
        return self.nodes[1:]
