"""The expanded network: one ``Node`` per op, in execution order, every shape known.

The expander (``cnncost.spec``) writes it once; the analysis passes, the torch builder and the
cross-check only read it, so both records are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from cnncost.errors import SpecWarning
from cnncost.ops.base import Op, Shape
from cnncost.spec.family import ModelSpec

if TYPE_CHECKING:
    from cnncost.spec.blocks import Shared


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


class Segment(NamedTuple):
    """Nodes ``start`` … ``end - 1``, a copy of ``plan`` reading node ``input``, all with one survival and mode."""

    start: int
    end: int
    input: int
    plan: Shared
    path: tuple[str, ...]
    """The block call's path: each node's is this and its plan's relative path."""


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
    segments: tuple[Segment, ...] = field(default=(), compare=False, repr=False)
    """The runs of nodes copied from a block call's plan (``spec.blocks._copy``), in order, disjoint: each
    reads only its input node and itself, so a pass can summarise it once per plan (and what the pass
    depends on) and reuse the summary wherever the plan is copied again."""

    @property
    def ops(self) -> tuple[Node, ...]:
        """Every node but the input: the layers."""
        return self.nodes[1:]
