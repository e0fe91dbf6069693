"""Build an ``nn.Module`` from a spec graph, with module names equal to the spec's layer paths.

>>> model = build("resnet50")            # doctest: +SKIP
>>> dict(model.named_modules())["conv2_x.0.conv1"]
Conv2d(64, 64, kernel_size=(1, 1), stride=(1, 1), bias=False)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnncost.errors import SpecError
from cnncost.graph import Graph
from cnncost.ops.base import Shape
from cnncost.spec.catalog import load_model
from cnncost.spec.expand import expand
from cnncost.spec.family import ModelSpec
from cnncost.torch.layers import to_module


class _Container(nn.Module):
    """A named level of the spec (stage, block, branch): holds children, runs nothing itself."""


def _tie(module: nn.Module, owner: nn.Module) -> None:
    """Make ``module`` use ``owner``'s parameters and buffers — the same tensors, one set of weights
    (``share:``); ``model.parameters()`` then yields them once. The engine checked the shapes."""

    def slots(m: nn.Module) -> list[tuple[dict[str, Any], str]]:
        tables: list[dict[str, Any]] = [t for sub in m.modules() for t in (sub._parameters, sub._buffers)]
        return [(table, name) for table in tables for name, t in table.items() if t is not None]

    for (table, name), (src, src_name) in zip(slots(module), slots(owner), strict=True):
        table[name] = src[src_name]


def _free_schedule(graph: Graph, training: bool) -> dict[int, list[int]]:
    """Node → the values to drop after it runs (their last reader), in one mode."""
    last_use: dict[int, int] = {}
    for node in graph.ops:
        if training or not node.train_only:
            for i in node.inputs:
                last_use[i] = node.id
    keep = {graph.output, *graph.aux_outputs}
    return {n: [i for i, last in last_use.items() if last == n and i not in keep] for n in range(len(graph.nodes))}


_NAMES = "a torch module name: not empty, no '.', not an nn.Module attribute (training, forward, eval, ...)"


def _name_error(path: tuple[str, ...], k: int, why: str, file: str | None, line: int | None) -> SpecError:
    where = ".".join(path[:k])
    return SpecError(
        f"layer name {path[k]!r}{f' in {where}' if where else ''} cannot be built in torch: {why}",
        file=file if file and not file.startswith("<") else None,
        line=line,
        expected=f"{_NAMES}: rename the layer",
    )


def _check_name(parent: nn.Module, path: tuple[str, ...], k: int, file: str | None, line: int | None) -> None:
    """The layer name ``path[k]`` as torch's ``add_module`` takes it, or a ``SpecError`` saying why not."""
    part = path[k]
    if not part:
        raise _name_error(path, k, "torch module names cannot be empty", file, line)
    if "." in part:
        raise _name_error(path, k, "torch module names cannot contain '.' (module paths are dotted)", file, line)
    if part in parent._modules:
        return
    if hasattr(nn.Module, part) or part in _MODULE_STATE:
        raise _name_error(path, k, f"{part!r} is an attribute of every torch nn.Module", file, line)
    if isinstance(parent, SpecNet) and part in SpecNet.OWN:
        raise _name_error(path, k, f"{part!r} is an attribute of the SpecNet that runs the spec", file, line)


_MODULE_STATE = frozenset(vars(nn.Module()))
"""What ``nn.Module.__init__`` sets on every module (``training``, ``_parameters``...)."""


class SpecNet(nn.Module):
    """Runs the spec's graph node by node; tensors are freed after their last reader. In eval mode the
    side heads marked ``train_only`` do not run (torchvision's Inception-v3 skips its aux head so)."""

    OWN = ("graph", "paths", "_free_after", "_modules_by_node")
    """Its own attributes: no top-level layer may be named so."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        self.paths: list[str] = []
        for node in graph.ops:
            assert node.op is not None
            self._place(node.path, to_module(node.op, list(node.in_shapes), node.out_shape), node.line)
            self.paths.append(".".join(node.path))
        self._free_after = {mode: _free_schedule(graph, mode) for mode in (False, True)}
        self._modules_by_node = [self.get_submodule(p) for p in self.paths]
        for node, module in zip(graph.nodes[1:], self._modules_by_node, strict=True):
            if node.shares is not None:
                _tie(module, self._modules_by_node[node.shares - 1])

    def _place(self, path: tuple[str, ...], module: nn.Module, line: int | None = None) -> None:
        parent: nn.Module = self
        for k, part in enumerate(path):
            last = k == len(path) - 1
            child = module if last else parent._modules.get(part)
            if last or child is None:
                child = _Container() if child is None else child
                _check_name(parent, path, k, self.graph.model.file, line)
                try:
                    parent.add_module(part, child)
                except (KeyError, AttributeError, ValueError, TypeError) as exc:
                    raise _name_error(path, k, f"torch refuses it ({exc})", self.graph.model.file, line) from None
            parent = child

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The main output, or ``(main, *aux)`` when the spec has side heads that run in this mode."""
        values: dict[int, torch.Tensor] = {0: x}
        free_after = self._free_after[self.training]
        for node, module in zip(self.graph.ops, self._modules_by_node, strict=True):
            if node.train_only and not self.training:
                continue
            values[node.id] = module(*(values[i] for i in node.inputs))
            for i in free_after[node.id]:
                values.pop(i, None)
        aux = [values[i] for i in self.graph.aux_outputs if i in values]
        return (values[self.graph.output], *aux) if aux else values[self.graph.output]


def build(model: ModelSpec | str | Graph, input_shape: Shape | None = None) -> SpecNet:
    """Instantiate a spec with random init (no weights are ever downloaded)."""
    if isinstance(model, Graph):
        return SpecNet(model)
    spec = load_model(model) if isinstance(model, str) else model
    return SpecNet(expand(spec, input_shape))
