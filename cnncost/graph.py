"""The expanded network: one ``Node`` per op, in execution order, every shape known.

The expander (``cnncost.spec``) writes it once; the analysis passes, the torch builder and the
cross-check only read it, so both records are frozen.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple, cast

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
    survival: float = 1.0
    train_only: bool = False

    def node(self, i: int) -> Node:
        """Node ``i`` (``start <= i < end``) as the copy places it."""
        rel_path, op, inputs, in_shapes, out, line, shares = self.plan.nodes[i - self.start]
        x, start = self.input, self.start
        return _new(
            Node,
            (
                i,
                self.path + rel_path,
                op,
                tuple([x if j < 0 else start + j for j in inputs]),
                in_shapes,
                out,
                line,
                self.survival,
                None if shares is None else start + shares,
                self.train_only,
            ),
        )

    def fill(self, nodes: list[Node | None]) -> None:
        """Write the copy's nodes not made yet (``None`` in ``nodes``) in place."""
        for i in range(self.start, self.end):
            if nodes[i] is None:
                nodes[i] = self.node(i)


_new = tuple.__new__  # Node(...) without its Python-level __new__: thousands per sweep


@dataclass(frozen=True)
class Graph:
    """A model expanded to ops, in execution order, with shapes.

    A copied block's nodes (``segments``) are made when first read: ``written`` has ``None`` there (the
    block's output aside), ``nodes`` is every node, made on first use. A sweep row's passes read
    ``written`` outside the segments and each segment's summary, so they never make them."""

    model: ModelSpec
    input_shape: Shape
    written: tuple[Node | None, ...] = field(repr=False)
    output: int
    warnings: tuple[SpecWarning, ...] = ()
    aux_outputs: tuple[int, ...] = ()
    """Side heads' outputs (GoogLeNet's auxiliary classifiers), returned after the main output."""
    segments: tuple[Segment, ...] = field(default=(), compare=False, repr=False)
    """The runs of nodes copied from a block call's plan (``spec.blocks._copy``), in order, disjoint: each
    reads only its input node and itself, so a pass can summarise it once per plan (and what the pass
    depends on) and reuse the summary wherever the plan is copied again."""

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, in execution order (node 0 is the input)."""
        if None not in self.written:
            return cast("tuple[Node, ...]", self.written)
        out = list(self.written)
        for seg in self.segments:
            seg.fill(out)
        return cast("tuple[Node, ...]", tuple(out))

    def node(self, i: int) -> Node:
        """Node ``i``, made alone if it is in a copied block not made yet."""
        n = self.written[i]
        if n is not None:
            return n
        made = self.__dict__.get("nodes")
        if made is not None:
            return cast(Node, made[i])
        starts = [seg.start for seg in self.segments]
        return self.segments[bisect_right(starts, i) - 1].node(i)

    def span(self, seg: Segment) -> list[Node]:
        """A copied block's nodes, made alone if the graph's are not made yet (a summary's first pass)."""
        made = self.__dict__.get("nodes")
        if made is not None:
            return list(made[seg.start : seg.end])
        return [n if n is not None else seg.node(i) for i, n in enumerate(self.written[seg.start : seg.end], seg.start)]

    @property
    def ops(self) -> tuple[Node, ...]:
        """Every node but the input: the layers."""
        return self.nodes[1:]
