"""Expand a model spec (blocks, repeats, branches) into a flat ``Graph`` with every shape known.

Shapes are inferred while expanding because spec fields may depend on them (``groups: in_ch`` for a
depthwise conv); costs are computed later, in ``analysis``. Items are parsed in ``items``, structures
expand in ``structures``, block calls in ``blocks``; this module turns items into ops and nodes.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping
from typing import Any

from cnncost import memo
from cnncost.errors import SpecError, SpecWarning, count, did_you_mean, shown
from cnncost.graph import Graph, Node, Segment
from cnncost.limits import BLOCK_DEPTH, LAYER_SIZE, LAYERS
from cnncost.ops import REGISTRY, Op, Shape
from cnncost.ops.base import fmt_shape, numel
from cnncost.spec.blocks import Shared, Template, TemplateKey, block_name, call_block, typed
from cnncost.spec.expr import evaluate, is_expression, names_in
from cnncost.spec.family import ModelSpec
from cnncost.spec.items import Item, Parser, own
from cnncost.spec.scope import At, Scope
from cnncost.spec.structures import MERGES, STRUCTURE_TYPES, STRUCTURES, check_keys, split_flat
from cnncost.spec.yamlload import LDict, LList

__all__ = ["MERGES", "STRUCTURES", "Expander", "expand"]

_MISSING = object()
_SHAPE_VARS: dict[str, Callable[[Shape], Any]] = {
    "in_ch": lambda s: s[0],
    "in_h": lambda s: s[1],
    "in_w": lambda s: s[2],
    "in_shape": lambda s: tuple(s),
}
"""How ``shape_env`` derives each shape variable (kept in step with it)."""


def _names(raw: Any) -> set[str]:
    if isinstance(raw, str):
        return set(names_in(raw)) if is_expression(raw) else set()
    if isinstance(raw, list):
        return {n for r in raw for n in _names(r)}
    return set()


def resolve(cls: type[Op], value: LDict | None, env: Mapping[str, Any]) -> Op:
    """``cls.resolve(value, env)``; its error points at the field's own line, and a mistyped field is answered
    with the close ones, aliases included (``kernal``: did you mean k (also kernel)?)."""
    try:
        return cls.resolve(value, env)
    except SpecError as exc:
        if not isinstance(value, LDict):
            raise
        spellings = {name: name for name in cls.fields}
        spellings.update({alias: name for name, f in cls.fields.items() for alias in f.aliases})
        for key in value:
            name = spellings.get(key)
            if name is None and exc.message == f"{cls.kind}: unknown field {key!r}":
                hint = did_you_mean(key, spellings)
                exc.expected = f"{hint} fields: {exc.expected}" if hint else exc.expected
            elif name is None or not exc.message.startswith((f"{cls.kind}.{name}:", f"{cls.kind}: field {name!r}")):
                continue
            exc.line = exc.line or value.line_of(key)
            break
        raise


def _shown_shape(shape: Shape) -> str:
    """``fmt_shape``, a side of 400 digits abbreviated."""
    return "×".join(str(d) if d < 10**18 else count(d) for d in shape)


def _shapes(shapes: tuple[Shape, ...]) -> str:
    return ", ".join(map(fmt_shape, shapes))


def expand(model: ModelSpec, input_shape: Shape | None = None) -> Graph:
    """Expand ``model`` at ``input_shape`` (default: the spec's) into a ``Graph``."""
    return Expander(model, tuple(input_shape or model.input)).run()


def _input_vars(shape: Shape) -> dict[str, int]:
    """The network input's size, visible to every expression (``upsample: {size: [input_h, input_w]}``)."""
    return {"input_ch": shape[0], **({"input_h": shape[1], "input_w": shape[2]} if len(shape) == 3 else {})}


class Memo:
    """What the expansions of one model share (per blocks dict, which a family's variants and a sweep's
    share): parsed items, resolved ops, evaluated expressions and block arguments, the sizes checked.
    Each entry is a pure function of its key; the keys that name a YAML node by ``id`` are of nodes the
    parser holds (its memo keeps each node it parsed), and ``sized`` names ops that ``resolved`` holds, so
    the two are emptied together. A parsed item is the same object at every expansion: what a structure's
    memo is keyed on (``At.item``)."""

    MAX = 65_536
    """Entries any one table may reach before all are emptied (a sweep of 10,000 ResNets makes ~3,000)."""

    def __init__(self, blocks: dict[str, Any]) -> None:
        self.blocks = blocks
        self.parser = Parser(set(REGISTRY) | set(STRUCTURES) | set(blocks), {b.name: b.params for b in blocks.values()})
        self.resolved: dict[tuple[Any, ...], Op] = {}
        self.evaluated: dict[tuple[Any, ...], Any] = {}
        self.field_names: dict[int, tuple[str, ...]] = {}
        self.args: dict[tuple[Any, ...], Any] = {}
        self.sized: set[tuple[int, Shape, int]] = set()

    def trim(self) -> None:
        if (
            max(len(self.resolved), len(self.evaluated), len(self.args), len(self.sized), len(self.parser.memo))
            > self.MAX
        ):
            for table in (self.resolved, self.evaluated, self.field_names, self.args, self.sized, self.parser.memo):
                table.clear()


_MEMOS: dict[tuple[int, int], Memo] = {}
memo.register(_MEMOS)
MEMOS_MAX = 64


def memo_for(blocks: dict[str, Any]) -> Memo:
    """The ``Memo`` of a model's blocks dict (and the registry it was parsed against), kept across expansions."""
    key = (id(blocks), len(REGISTRY))
    memo = _MEMOS.get(key)
    if memo is None or memo.blocks is not blocks:
        if len(_MEMOS) >= MEMOS_MAX:
            del _MEMOS[next(iter(_MEMOS))]
        memo = _MEMOS[key] = Memo(blocks)
    memo.trim()
    return memo


class Expander:
    """The state of one expansion: the nodes so far, named outputs for ``ref``, and the memo caches."""

    def __init__(self, model: ModelSpec, input_shape: Shape) -> None:
        self.m = model
        self.input_shape = input_shape
        self.nodes: list[Node] = []
        self.warnings: list[SpecWarning] = []
        self.aux_outputs: list[int] = []
        self.segments: list[Segment] = []  # the runs of nodes copied from plans (blocks._copy)
        memo = memo_for(model.blocks)
        self.resolved, self.evaluated, self.field_names = memo.resolved, memo.evaluated, memo.field_names
        self.args, self.sized = memo.args, memo.sized  # block arguments evaluated (blocks._arg); sizes checked
        self.templates: dict[TemplateKey, Template] = {}
        self.plans: dict[Template, Shared] = {}  # how replay copies each template
        self.outputs: dict[tuple[str, ...], int] = {}  # named item → its output node, for `ref`
        self.inputs: dict[tuple[str, ...], int] = {(): 0}  # block call → its input node, for `ref: in`
        self.groups: dict[tuple[str, ...], Scope] = {}  # named lists, for `continue: true`
        self.survival = 1.0  # product of the enclosing residual bodies' survival probabilities
        self.train_only = False  # inside a side head that runs only in training
        self.calls: list[str] = []  # the block calls being expanded, outermost first
        self.active: list[tuple[str, ...]] = []  # the memoised expansions under way (blocks.memoised), their paths
        self.outside: list[bool] = []  # for each: whether it looked up a name outside itself (then never copied)
        self.max_layers = LAYERS.value
        self.max_size = LAYER_SIZE.value
        self.max_depth = BLOCK_DEPTH.value
        self.shared_params: tuple[frozenset[str], int | None] | None = None  # blocks.shared_key
        self.base_env: dict[str, Any] = {**_input_vars(input_shape), **model.params}
        for name in set(_input_vars(input_shape)) & set(model.params):
            raise SpecError(
                f"param {name!r} has the name of the network input variable",
                file=model.file,
                expected="another name (input_ch, input_h, input_w are the network input's size)",
            )
        self.parser = memo.parser
        self.parse = self.parser.parse
        for block in model.blocks.values():
            if block.name in REGISTRY or block.name in STRUCTURES:
                raise SpecError(
                    f"block {block.name!r} has the name of a built-in layer type",
                    file=model.file,
                    line=block.line,
                    expected="another name",
                )

    def run(self) -> Graph:
        x = self.add_node(("input",), None, (), self.input_shape, None)  # too large: an error of the input, no file
        try:
            x = self.seq(self.m.layers, self.base_env, x, Scope(()))
        except SpecError as exc:
            if self.input_shape != tuple(self.m.input):  # the spec is fine at its own input: say which one broke it
                exc.message += f", at input {_shown_shape(self.input_shape)}, not the spec's {fmt_shape(self.m.input)}"
            raise exc.with_context(file=self.m.file) from None
        return Graph(
            self.m,
            self.input_shape,
            tuple(self.nodes),  # None where a copied block's nodes are not made yet: Graph.nodes makes them
            x,
            tuple(self.warnings),
            tuple(self.aux_outputs),
            tuple(self.segments),
        )

    # -- plumbing ---------------------------------------------------------------------
    def node(self, i: int) -> Node:
        """Node ``i``, made if it is in a copied block (``blocks._copy`` makes only a copy's output)."""
        n = self.nodes[i]
        if n is None:
            segments = self.segments
            k = bisect_right(segments, i, key=lambda seg: seg.start) - 1
            n = self.nodes[i] = segments[k].node(i)
        return n

    def made(self, start: int) -> list[Node]:
        """The nodes from ``start`` on, every copied block's among them made (for a plan, a memo's checks)."""
        nodes = self.nodes
        for seg in reversed(self.segments):
            if seg.end <= start:
                break
            seg.fill(nodes)  # type: ignore[arg-type]
        return nodes[start:]

    def add_node(
        self,
        path: tuple[str, ...],
        op: Op | None,
        inputs: tuple[int, ...],
        out: Shape,
        line: int | None,
        shares: int | None = None,
    ) -> int:
        nodes = self.nodes
        n = len(nodes)
        if n >= self.max_layers:
            raise LAYERS.exceeded(f"{n:,} layers and counting", line=line)
        if numel(out) > self.max_size:
            what = "the input" if op is None else "an output"
            raise LAYER_SIZE.exceeded(f"{what} of {_shown_shape(out)} = {count(numel(out))} elements", line=line)
        nodes.append(
            Node(
                n,
                path,
                op,
                inputs,
                tuple([nodes[i].out_shape for i in inputs]),
                out,
                line,
                self.survival,
                shares,
                self.train_only,
            )
        )
        return n

    def shape_env(self, env: Mapping[str, Any], x: int) -> dict[str, Any]:
        """Variables an expression may use: params, args, and the current input's shape."""
        shape = self.nodes[x].out_shape
        out = {**env, "in_ch": shape[0], "in_shape": list(shape)}
        if len(shape) == 3:
            out["in_h"], out["in_w"] = shape[1], shape[2]
        return out

    def eval(self, raw: Any, env: Mapping[str, Any]) -> Any:
        """Evaluate an expression, memoised on its text and the values of the names it reads."""
        if not isinstance(raw, str):
            return raw
        try:
            key = (raw, *[typed(env.get(n, _MISSING)) for n in names_in(raw)])
            cached = self.evaluated.get(key, _MISSING)
        except TypeError:  # a value that cannot be a cache key (a mapping): evaluated uncached
            return evaluate(raw, env)
        if cached is _MISSING:
            cached = self.evaluated[key] = evaluate(raw, env)
        return cached

    def eval_int(self, raw: Any, env: Mapping[str, Any], what: str) -> int:
        value = self.eval(raw, env)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SpecError(f"{what}: got {value!r}", expected="a non-negative integer")
        return value

    def warner(self, path: tuple[str, ...], line: int | None) -> Callable[[str], None]:
        def warn(message: str) -> None:
            self.warnings.append(SpecWarning(message, ".".join(path), self.m.file, line))

        return warn

    # -- items ------------------------------------------------------------------------
    def seq(self, items: Any, env: Mapping[str, Any], x: int, scope: Scope) -> int:
        """Expand a list of items (or one) in order, named in ``scope``."""
        if not isinstance(items, list):
            items = LList([items])
        scope.reserve(items)
        for idx, raw in enumerate(items):
            x = self.item(raw, env, x, scope, items.line_of(idx) if isinstance(items, LList) else None)
        return x

    def item(self, raw: Any, env: Mapping[str, Any], x: int, scope: Scope, line: int | None) -> int:
        """Expand one item of a sequence: skip it if ``when`` is false, else name it in ``scope``."""
        item = self.parse(raw, line)
        kind, value, mods, name, line = item
        if "when" in mods:  # decided before naming: exclusive alternatives may share a name
            try:
                if not self.eval(mods["when"], self.shape_env(env, x)):
                    return x
            except SpecError as exc:
                raise exc.with_context(line=line, path=".".join(scope.path) or None) from None
            item = item._replace(mods={k: v for k, v in mods.items() if k != "when"})
        if name is None and kind in ("repeat", "dense"):
            # An anonymous repeat adds no level: its repetitions are 0, 1, ... of the parent.
            return self.at(item, env, x, scope.path, scope)
        item, flat = split_flat(item)
        if flat:  # a structure that adds no level: its layers are named in this scope
            return self.at(item, env, x, scope.path, scope)
        if "continue" in item.mods:
            return self.resume(item, env, x, scope)
        try:
            label = block_name(self, value, self.shape_env(env, x)) if kind == "block" else kind
        except SpecError as exc:
            raise exc.with_context(line=line, path=".".join(scope.path) or None) from None
        path = (*scope.path, scope.name(name, label, line))
        return self.at(item, env, x, path)

    def resume(self, item: Item, env: Mapping[str, Any], x: int, scope: Scope) -> int:
        """``{down: [...], continue: true}``: more layers of a list named earlier at this level — a torch
        ``ModuleList`` whose modules run between others (a UNet's encoder, between its pools)."""
        flag = item.mods["continue"]
        if flag is not True or item.kind != "seq" or item.name is None:
            raise SpecError(
                f"continue: {flag!r} beside {'a ' + item.kind if item.name is None else item.name}",
                line=item.line,
                expected="continue: true beside a named list of layers, {down: [...], continue: true}",
            )
        path = (*scope.path, item.name)
        inner = self.groups.get(path)
        if inner is None:
            raise SpecError(
                f"continue: no list {item.name!r} earlier at this level",
                line=item.line,
                path=".".join(scope.path) or None,
                expected="the name of a list of layers given before, in the same list",
            )
        return self.at(item._replace(mods={k: v for k, v in item.mods.items() if k != "continue"}), env, x, path, inner)

    def at(self, item: Item, env: Mapping[str, Any], x: int, path: tuple[str, ...], scope: Scope | None = None) -> int:
        """Expand ``item`` whose own path is ``path`` (its children named in ``scope``, by default a new one)."""
        kind, value, mods, name, line = item
        try:
            mods = own(mods)
            if "when" in mods and not self.eval(mods.pop("when"), self.shape_env(env, x)):
                return x
            then = mods.pop("then", None)
            is_op = kind in REGISTRY and kind not in STRUCTURE_TYPES
            if is_op and not mods and then is None:
                x = self.outputs[path] = self.op(kind, value, env, x, path, line)  # the common case, kept lean
                return x
            inner = scope or Scope(path)
            if kind == "seq" and scope is None:
                self.groups[path] = inner  # a later {name: [...], continue: true} goes on here
            structure = STRUCTURE_TYPES.get(kind)
            if structure is not None:
                check_keys(kind, mods)
                here = At(env, x, inner, line, item if scope is None else None)
                x = structure.expand(self, Item(kind, value, mods, name, line), here)
            elif kind in self.m.blocks:
                x = call_block(self, Item(kind, value, mods, name, line), At(env, x, inner, line))
            else:
                x = self.shared_op(kind, value, mods, env, x, path, line)
            if then is not None:
                if is_op:
                    raise SpecError("'then' applies to blocks and structures, not to a single op")
                x = self.seq(then, env, x, inner)
            self.outputs[path] = x
            return x
        except SpecError as exc:
            raise exc.with_context(line=line, path=".".join(path)) from None

    # -- ops --------------------------------------------------------------------------
    def shared_op(
        self,
        kind: str,
        value: Any,
        mods: dict[str, Any],
        env: Mapping[str, Any],
        x: int,
        path: tuple[str, ...],
        line: int | None,
    ) -> int:
        """An op with keys beside it: only ``share`` is allowed there (and ``name``/``when``, taken before)."""
        share = mods.pop("share", None)
        if mods:
            raise SpecError(
                f"{kind}: unexpected key(s) {', '.join(mods)} beside the op",
                expected=f"fields inside it: {{{kind}: {{...}}}}; beside it: name, when, share",
            )
        owner = None if share is None else self.lookup("share", share, env, x, path)
        return self.op(kind, value, env, x, path, line, owner)

    def op(
        self,
        kind: str,
        value: Any,
        env: Mapping[str, Any],
        x: int,
        path: tuple[str, ...],
        line: int | None,
        owner: int | None = None,
    ) -> int:
        cls = REGISTRY[kind]
        if value is not None and not isinstance(value, LDict):
            raise SpecError(
                f"{kind}: expected a mapping of fields, got {shown(value)}",
                expected=f"{{{kind}: {{{', '.join(cls.fields)}}}}}",
            )
        op = self.resolved_op(cls, value, env, x)
        if cls.arity != 1:
            raise SpecError(f"{kind} merges branches", expected=f"{{{kind}: [branch, branch, ...]}}")
        nodes = self.nodes
        shape = nodes[x].out_shape
        out = op.infer([shape], self.warner(path, line))
        if (id(op), shape, self.max_size) not in self.sized:
            self.check_size(op, shape, out, line)
        if owner is not None:
            owner = self.check_share(op, [shape], owner)
        if len(nodes) >= self.max_layers:
            raise LAYERS.exceeded(f"{len(nodes):,} layers and counting", line=line)
        nodes.append(
            Node(
                len(nodes),
                path,
                op,
                (x,),
                (shape,),
                out,
                line,
                self.survival,
                owner,  # add_node, inlined
                self.train_only,
            )
        )
        return len(nodes) - 1

    def check_size(self, op: Op, shape: Shape, out: Shape, line: int | None) -> None:
        """Refuse a layer past ``LAYER_SIZE`` (``out: 10**400``): its output, each weight, its operations."""
        limit = self.max_size
        sizes = [("an output", out), *(("a weight", w) for w in op.weight_shapes([shape]))]
        for what, s in sizes:
            if numel(s) > limit:
                raise LAYER_SIZE.exceeded(f"{what} of {_shown_shape(s)} = {count(numel(s))} elements", line=line)
        ops = op.macs([shape], out) + op.other_ops([shape], out)
        if ops > limit:
            raise LAYER_SIZE.exceeded(f"{count(ops)} operations", line=line)
        self.sized.add((id(op), shape, self.max_size))

    def resolved_op(self, cls: type[Op], value: LDict | None, env: Mapping[str, Any], x: int) -> Op:
        """``cls.resolve(value, env)``, memoised on the YAML node and the variables it reads.

        A block repeated 36 times resolves its layers' fields once per distinct argument set (ops
        are immutable, so identical layers share one), which keeps ResNet-152's expansion within a
        few milliseconds.
        """
        if not value:
            key: tuple[Any, ...] = (cls, None)
        else:
            names = self.field_names.get(id(value))
            if names is None:
                names = self.field_names[id(value)] = tuple(sorted({n for v in value.values() for n in _names(v)}))
            shape = self.nodes[x].out_shape
            try:
                key = (
                    cls,
                    id(value),
                    *[typed(_SHAPE_VARS[n](shape) if n in _SHAPE_VARS else env.get(n, _MISSING)) for n in names],
                )
                hash(key)
            except (TypeError, IndexError):
                return resolve(cls, value, self.shape_env(env, x))
        cached = self.resolved.get(key)
        if cached is None:
            cached = self.resolved[key] = resolve(cls, value, self.shape_env(env, x) if value else env)
        return cached

    # -- ref and share ----------------------------------------------------------------
    def lookup(self, what: str, value: Any, env: Mapping[str, Any], x: int, path: tuple[str, ...]) -> int | None:
        """The node an earlier name refers to, searched from the innermost level of ``path`` outward.

        Braces hold expressions (``cells.{i - 2}``). ``ref`` also knows ``in`` and ``input``; for
        ``share`` the name must be one layer, and an empty name (a block argument left at "") is none.
        """
        shape_env = self.shape_env(env, x)
        text = re.sub(r"\{([^}]*)\}", lambda m: str(self.eval(m.group(1), shape_env)), str(value))
        parent = path[:-1]
        table = self.outputs
        if what == "share":
            if not text:
                return None
        elif text == "input":
            self.read_name(())
            return 0
        elif text == "in":
            table, text = self.inputs, ""
        key = tuple(text.split(".")) if text else ()
        for k in range(len(parent), -1, -1):
            found = table.get((*parent[:k], *key))
            if found is not None:
                self.read_name((*parent[:k], *key))
                node = self.node(found)  # made, if in a copied block: the caller reads its shape
                if what == "share" and node.path != (*parent[:k], *key):
                    raise SpecError(
                        f"share: {text!r} is a group of layers ending in {node.name}",
                        expected="the path of one conv, linear or bn layer",
                    )
                return found
        raise SpecError(
            f"{what}: no layer {text!r} before this point",
            expected="the name of an earlier layer, 'in' or 'input'"
            if what == "ref"
            else "the path of an earlier layer, relative to an enclosing level",
        )

    def read_name(self, name: tuple[str, ...]) -> None:
        """A ``ref``/``share`` found ``name`` (``()``: the network input): a memoised expansion under way
        that it is not inside of depends on where it runs, so it is not kept for copying."""
        for d, path in enumerate(self.active):
            if name[: len(path)] != path:
                self.outside[d] = True

    def check_share(self, op: Op, ins: list[Shape], owner: int) -> int:
        """The node that owns the weights ``op`` shares (following chains), if the shapes agree."""
        src = self.node(owner)
        mine = op.weight_shapes(ins)
        if not mine:
            raise SpecError(
                f"share: a {op.kind} layer has no weights to share", expected="share on a conv, linear or bn layer"
            )
        if src.op is None or type(src.op) is not type(op):
            raise SpecError(
                f"share: {src.name} is {'the input' if src.op is None else src.op.describe()}, not a {op.kind} layer",
                expected=f"the path of an earlier {op.kind} layer",
            )
        theirs = src.op.weight_shapes(list(src.in_shapes))
        if mine != theirs:
            raise SpecError(
                f"share: this {op.kind} needs weights {_shapes(mine)}, {src.name} has {_shapes(theirs)}",
                expected="a layer with the same weight shapes (same kernel, channels, groups, bias)",
            )
        return src.shares if src.shares is not None else owner
