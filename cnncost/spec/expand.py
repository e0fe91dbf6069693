"""Expand a model spec (blocks, repeats, branches) into a flat graph with every shape known.

The graph is a list of nodes in execution order; each node is one op applied to earlier
nodes' outputs. Shapes are inferred while expanding because spec fields may depend on
them (``groups: in_ch`` for a depthwise conv); costs are computed later, in ``analysis``.

Layer items (see README "Spec language"):

* ``relu`` — an op (or block) with default fields;
* ``{conv: {out: 64, k: 3}}`` — an op with fields; ``name:`` and ``when:`` may sit beside it;
* ``{conv1: <item>}`` — the same item, named ``conv1``;
* ``[item, item]`` / ``{seq: [...]}`` — a sequence;
* ``{repeat: n, block: b, <args>, first: {...}, last: {...}, at: {i: {...}}}`` or
  ``{repeat: n, body: [...], <variables>}`` — repetition with per-repetition overrides;
* ``{bottleneck: {planes: 64}}`` / ``{block: bottleneck, planes: 64}`` — a block call;
* ``{concat|add|mul: [branch, ...]}`` — parallel branches merged;
* ``{residual: [...], shortcut: identity | [...], then: [...]}`` — body + shortcut, added;
* ``{dense: n, block|body: ...}`` — DenseNet: ``x = concat(x, body(x))``, n times;
* ``{aux: [...]}`` — a side head (GoogLeNet's auxiliary classifiers): computed from the
  current tensor and counted, but the main path continues from its input;
* ``{ref: name}`` — continue from an earlier named layer's output (``cells.{i - 2}``: braces hold
  expressions; ``in``: the input of the enclosing block call or repetition; ``input``: the network input).
* ``{conv: {...}, share: path}`` — an op that reuses an earlier layer's weights (PolyNet's shared
  convs, a recurrent unrolling): found as ``ref`` finds names; its parameters count once, at the owner.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from cnncost.errors import SpecError, SpecWarning
from cnncost.graph import Graph, Node
from cnncost.ops import REGISTRY, Op, Shape
from cnncost.ops.base import fmt_shape
from cnncost.spec.expr import evaluate, is_expression, names_in
from cnncost.spec.family import ModelSpec
from cnncost.spec.yamlload import LDict, LList

STRUCTURES = ("seq", "repeat", "block", "concat", "add", "mul", "sub", "residual", "dense", "aux", "ref")
MERGES = ("concat", "add", "mul", "sub")
_LOOP_KEYS = {"body", "block", "first", "last", "at", "args"}


def _names(raw: Any) -> set[str]:
    if isinstance(raw, str):
        return set(names_in(raw)) if is_expression(raw) else set()
    if isinstance(raw, list):
        return {n for r in raw for n in _names(r)}
    return set()


_MISSING = object()
_SHAPE_VARS = {"in_ch": lambda s: s[0], "in_h": lambda s: s[1], "in_w": lambda s: s[2],
               "in_shape": lambda s: tuple(s)}
"""How ``shape_env`` derives each shape variable (kept in step with it)."""


def _shapes(shapes: tuple[Shape, ...]) -> str:
    return ", ".join(map(fmt_shape, shapes))


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def _is_field(kind: str, key: str) -> bool:
    fields = REGISTRY[kind].fields
    return key in fields or any(key in f.aliases for f in fields.values())


class _Template(NamedTuple):
    """Where the first expansion of a block call lies in the node list, for ``replay``."""

    start: int
    end: int
    input: int
    output: int
    path: tuple[str, ...]
    warned: int
    warned_end: int
    aux: int
    aux_end: int


class _Scope:
    """Names the children of one level: explicit names as given, others ``conv1``, ``conv2``..."""

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.used: set[str] = set()
        self.reserved: set[str] = set()
        self.counts: dict[str, int] = {}

    def reserve(self, items: Any) -> None:
        """Reserve explicit names first, so ``[conv, conv1: ...]`` does not collide."""
        if isinstance(items, list):
            for it in items:
                if isinstance(it, LDict):
                    if isinstance(it.get("name"), str):
                        self.reserved.add(it["name"])
                    elif len(it) == 1:
                        self.reserved.add(next(iter(it)))

    def index(self) -> str:
        """The next repetition name: ``0``, ``1``, ... (continuing across anonymous repeats)."""
        n = self.counts.get("", 0)
        while str(n) in self.used or str(n) in self.reserved:
            n += 1
        self.counts[""] = n + 1
        self.used.add(str(n))
        return str(n)

    def name(self, explicit: str | None, kind: str, line: int | None) -> str:
        if explicit is not None:
            if explicit in self.used:
                raise SpecError(f"duplicate layer name {explicit!r}", line=line,
                                path=".".join(self.path) or None)
            self.used.add(explicit)
            return explicit
        n = self.counts.get(kind, 0)
        while True:
            n += 1
            candidate = f"{kind}{n}"
            if candidate not in self.used and candidate not in self.reserved:
                break
        self.counts[kind] = n
        self.used.add(candidate)
        return candidate


def expand(model: ModelSpec, input_shape: Shape | None = None) -> Graph:
    """Expand ``model`` at ``input_shape`` (default: the spec's) into a ``Graph``."""
    return _Expander(model, tuple(input_shape or model.input)).run()


class _Expander:
    def __init__(self, model: ModelSpec, input_shape: Shape) -> None:
        self.m = model
        self.input_shape = input_shape
        self.nodes: list[Node] = []
        self.warnings: list[SpecWarning] = []
        self.aux_outputs: list[int] = []
        self.resolved: dict[tuple[Any, ...], Op] = {}
        self.parsed: dict[int, tuple[str, Any, dict[str, Any], str | None]] = {}
        self.evaluated: dict[tuple[Any, ...], Any] = {}
        self.templates: dict[tuple[Any, ...], _Template] = {}
        self.outputs: dict[tuple[str, ...], int] = {}  # named item → its output node, for `ref`
        self.inputs: dict[tuple[str, ...], int] = {(): 0}  # block call → its input node, for `ref: in`
        self.field_names: dict[int, tuple[str, ...]] = {}
        self.survival = 1.0  # product of the enclosing residual bodies' survival probabilities
        self.base_env: dict[str, Any] = dict(model.params)
        self.kinds = set(REGISTRY) | set(STRUCTURES) | set(model.blocks)
        for block in model.blocks.values():
            if block.name in REGISTRY or block.name in STRUCTURES:
                raise SpecError(f"block {block.name!r} has the name of a built-in layer type",
                                file=model.file, line=block.line, expected="another name")

    def run(self) -> Graph:
        x = self.add_node(("input",), None, (), self.input_shape, None)
        try:
            x = self.seq(self.m.layers, self.base_env, x, _Scope(()))
        except SpecError as exc:
            raise exc.with_context(file=self.m.file) from None
        return Graph(self.m, self.input_shape, tuple(self.nodes), x, tuple(self.warnings), tuple(self.aux_outputs))

    # -- plumbing ---------------------------------------------------------------------
    def add_node(self, path: tuple[str, ...], op: Op | None, inputs: tuple[int, ...],
                 out: Shape, line: int | None, shares: int | None = None) -> int:
        ins = tuple(self.nodes[i].out_shape for i in inputs)
        self.nodes.append(Node(len(self.nodes), path, op, inputs, ins, out, line, self.survival, shares))
        return len(self.nodes) - 1

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
            key = (raw, *(_freeze(env.get(n)) for n in names_in(raw)))
            cached = self.evaluated.get(key, _MISSING)
        except TypeError:
            return self.eval(raw, env)
        if cached is _MISSING:
            cached = self.evaluated[key] = evaluate(raw, env)
        return cached

    def eval_int(self, raw: Any, env: Mapping[str, Any], what: str) -> int:
        value = self.eval(raw, env)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SpecError(f"{what}: got {value!r}", expected="a non-negative integer")
        return value

    # -- items ------------------------------------------------------------------------
    def seq(self, items: Any, env: Mapping[str, Any], x: int, scope: _Scope) -> int:
        if not isinstance(items, list):
            items = LList([items])
        scope.reserve(items)
        for idx, item in enumerate(items):
            line = items.line_of(idx) if isinstance(items, LList) else None
            x = self.item(item, env, x, scope, line)
        return x

    def parse(self, item: Any, line: int | None) -> tuple[str, Any, dict[str, Any], str | None]:
        """Split an item into (kind, value, sibling keys, explicit name); memoised per YAML node."""
        if isinstance(item, (LDict, LList)):
            cached = self.parsed.get(id(item))
            if cached is None:
                cached = self.parsed[id(item)] = self._parse(item, line)
            return cached
        return self._parse(item, line)

    def _parse(self, item: Any, line: int | None) -> tuple[str, Any, dict[str, Any], str | None]:
        if isinstance(item, str):
            if item not in self.kinds:
                raise self.unknown(item, line)
            return item, None, {}, None
        if isinstance(item, list):
            return "seq", item, {}, None
        if not isinstance(item, LDict) or not item:
            raise SpecError(f"cannot read layer {item!r}", line=line,
                            expected="a layer name, {kind: {fields}}, {name: layer} or a list")
        line = item.line or line
        known = [k for k in item if k in self.kinds]
        for lead in ("repeat", "dense", "block"):
            if lead in known:  # {repeat: n, block: b, scale: 2}: the other keys are its arguments
                known = [lead]
                break
        if len(item) == 1:
            key, value = next(iter(item.items()))
            # {fc: {linear: ...}}: a name that happens to be an alias, wrapping a layer.
            # {fc: {linear: ...}}, {avgpool: [...]}, {flatten: flatten}: a name that is also an
            # op type, wrapping a layer (never for structures: {concat: [...]} are branches).
            wraps = key in REGISTRY and key not in STRUCTURES and (
                isinstance(value, list) or (isinstance(value, str) and value in self.kinds)
                or (isinstance(value, LDict) and any(k in self.kinds and not _is_field(key, k) for k in value)))
            # {dense: {linear: ...}}: a structure keyword used as a name (its values are never mappings).
            wraps = wraps or (key in STRUCTURES and isinstance(value, LDict)
                              and any(k in self.kinds for k in value))
            named = not known or wraps
            if named:
                looks_like_fields = isinstance(value, LDict) and not any(k in self.kinds for k in value)
                if not isinstance(value, (str, list, LDict)) or looks_like_fields:
                    raise self.unknown(key, line)  # {covn: {out: 8}}: a typo, not a name
                kind, inner, mods, _ = self.parse(value, line)
                return kind, inner, mods, str(key)
        rest = [k for k in item if k not in ("when", "then", "share")]
        if not known and len(rest) == 1 and len(item) > 1:  # {conv1: ITEM, when: ...}: a named item
            kind, inner, mods, _ = self.parse(item[rest[0]], line)
            return kind, inner, {**mods, **{k: item[k] for k in item if k != rest[0]}}, rest[0]
        if len(known) > 1:
            raise SpecError(f"keys {', '.join(map(repr, known))} all name layer types", line=line,
                            expected="one layer type per item")
        if not known:
            raise self.unknown(next(iter(item)), line)
        kind = known[0]
        mods = {k: v for k, v in item.items() if k != kind}
        name = mods.pop("name", None)
        return kind, item[kind], mods, None if name is None else str(name)

    def unknown(self, key: str, line: int | None) -> SpecError:
        close = difflib.get_close_matches(str(key), sorted(self.kinds), n=3)
        return SpecError(f"unknown layer type {key!r}", line=line,
                         expected=("did you mean " + ", ".join(close) + "?") if close else
                         "an op (" + ", ".join(sorted(REGISTRY)) + "), a structure ("
                         + ", ".join(STRUCTURES) + ") or a block of this file")

    def item(self, item: Any, env: Mapping[str, Any], x: int, scope: _Scope,
             line: int | None) -> int:
        kind, value, mods, name = self.parse(item, line)
        line = getattr(item, "line", None) or line
        if "when" in mods:  # decided before naming: exclusive alternatives may share a name
            try:
                if not self.eval(mods["when"], self.shape_env(env, x)):
                    return x
            except SpecError as exc:
                raise exc.with_context(line=line, path=".".join(scope.path) or None) from None
            mods = {k: v for k, v in mods.items() if k != "when"}
        if name is None and kind in ("repeat", "dense"):
            # An anonymous repeat adds no level: its repetitions are 0, 1, ... of the parent.
            return self.at(kind, value, mods, env, x, scope.path, line, scope)
        label = self.block_name(value, self.shape_env(env, x)) if kind == "block" else kind
        path = (*scope.path, scope.name(name, label, line))
        return self.at(kind, value, mods, env, x, path, line)

    def at(self, kind: str, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
           path: tuple[str, ...], line: int | None, scope: _Scope | None = None) -> int:
        """Expand one parsed item whose own path is ``path`` (children named in ``scope``)."""
        try:
            mods = dict(mods)
            if "when" in mods and not self.eval(mods.pop("when"), self.shape_env(env, x)):
                return x
            then = mods.pop("then", None)
            if kind in REGISTRY and kind not in STRUCTURES and not mods and then is None:
                x = self.outputs[path] = self.op(kind, value, env, x, path, line)  # the common case, kept lean
                return x
            inner = scope or _Scope(path)
            if kind in STRUCTURES:
                x = getattr(self, "s_" + kind)(value, mods, env, x, inner, line)
            elif kind in self.m.blocks:
                x = self.call_block(kind, value, mods, env, x, path, line)
            else:
                share = mods.pop("share", None)
                if mods:
                    raise SpecError(f"{kind}: unexpected key(s) {', '.join(mods)} beside the op",
                                    expected=f"fields inside it: {{{kind}: {{...}}}}; beside it: name, when, share")
                owner = None if share is None else self.lookup(share, env, x, path, self.outputs, "share")
                x = self.op(kind, value, env, x, path, line, owner)
            if then is not None:
                if kind in REGISTRY and kind not in STRUCTURES:
                    raise SpecError("'then' applies to blocks and structures, not to a single op")
                x = self.seq(then, env, x, inner)
            self.outputs[path] = x
            return x
        except SpecError as exc:
            raise exc.with_context(line=line, path=".".join(path)) from None

    def op(self, kind: str, value: Any, env: Mapping[str, Any], x: int, path: tuple[str, ...],
           line: int | None, owner: int | None = None) -> int:
        cls = REGISTRY[kind]
        if value is not None and not isinstance(value, LDict):
            raise SpecError(f"{kind}: expected a mapping of fields, got {value!r}",
                            expected=f"{{{kind}: {{{', '.join(cls.fields)}}}}}")
        op = self.resolved_op(cls, value, env, x)
        if cls.arity != 1:
            raise SpecError(f"{kind} merges branches", expected=f"{{{kind}: [branch, branch, ...]}}")
        out = op.infer([self.nodes[x].out_shape], self.warner(path, line))
        if owner is not None:
            owner = self.check_share(op, [self.nodes[x].out_shape], owner)
        return self.add_node(path, op, (x,), out, line, owner)

    def check_share(self, op: Op, ins: list[Shape], owner: int) -> int:
        """The node that owns the weights ``op`` shares (following chains), if the shapes agree."""
        src = self.nodes[owner]
        mine = op.weight_shapes(ins)
        if not mine:
            raise SpecError(f"share: a {op.kind} layer has no weights to share",
                            expected="share on a conv, linear or bn layer")
        if src.op is None or type(src.op) is not type(op):
            raise SpecError(f"share: {src.name} is {'the input' if src.op is None else src.op.describe()}, "
                            f"not a {op.kind} layer", expected=f"the path of an earlier {op.kind} layer")
        theirs = src.op.weight_shapes(list(src.in_shapes))
        if mine != theirs:
            raise SpecError(f"share: this {op.kind} needs weights {_shapes(mine)}, {src.name} has {_shapes(theirs)}",
                            expected="a layer with the same weight shapes (same kernel, channels, groups, bias)")
        return src.shares if src.shares is not None else owner

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
                key = (cls, id(value), *(_freeze(_SHAPE_VARS[n](shape) if n in _SHAPE_VARS else env.get(n))
                                         for n in names))
                hash(key)
            except (TypeError, IndexError):
                return cls.resolve(value, self.shape_env(env, x))
        cached = self.resolved.get(key)
        if cached is None:
            cached = self.resolved[key] = cls.resolve(value, self.shape_env(env, x) if value else env)
        return cached

    def warner(self, path: tuple[str, ...], line: int | None) -> Any:
        def warn(message: str) -> None:
            self.warnings.append(SpecWarning(message, ".".join(path), self.m.file, line))
        return warn

    # -- blocks -----------------------------------------------------------------------
    def call_block(self, name: str, value: Any, mods: dict[str, Any], env: Mapping[str, Any],
                   x: int, path: tuple[str, ...], line: int | None) -> int:
        """``{name: {args}}``, ``{name: [positional]}`` or ``block: name`` with sibling args."""
        positional: list[Any] = []
        kwargs: dict[str, Any] = dict(mods)
        if isinstance(value, list):
            positional = list(value)
        elif isinstance(value, LDict):
            kwargs.update(value)
        elif value is not None:
            positional = [value]
        return self.invoke(name, positional, kwargs, env, x, path, line)

    def invoke(self, name: str, positional: list[Any], kwargs: Mapping[str, Any],
               env: Mapping[str, Any], x: int, path: tuple[str, ...], line: int | None) -> int:
        block = self.m.blocks.get(name)
        if block is None:
            raise self.unknown(name, line)
        sig = f"{name}({', '.join(block.params)})"
        if len(positional) > len(block.params):
            raise SpecError(f"{sig} takes {len(block.params)} arguments, got {len(positional)}")
        caller = self.shape_env(env, x)
        bound: dict[str, Any] = {}
        for pname, raw in zip(block.params, positional, strict=False):
            bound[pname] = self.arg(raw, caller)
        for key, raw in kwargs.items():
            if key not in block.params:
                raise SpecError(f"{sig}: unknown argument {key!r}",
                                expected="one of: " + ", ".join(block.params))
            if key in bound:
                raise SpecError(f"{sig}: argument {key!r} given twice")
            bound[key] = self.arg(raw, caller)
        block_env: dict[str, Any] = dict(self.base_env)
        defaults_env = self.shape_env(block_env, x)  # a default may read in_ch: project = in_ch != out
        for pname in block.params:
            if pname not in bound:
                if pname not in block.defaults:
                    raise SpecError(f"{sig}: missing argument {pname!r}")
                bound[pname] = self.eval(block.defaults[pname], {**defaults_env, **bound})
        block_env.update(bound)
        try:
            key: tuple[Any, ...] | None = (name, _freeze(sorted(bound.items())), self.nodes[x].out_shape,
                                           self.survival)
            hash(key)
        except TypeError:
            key = None
        self.inputs[path] = x
        template = self.templates.get(key) if key else None
        if template is not None:
            return self.replay(template, x, path)
        start, warned, aux = len(self.nodes), len(self.warnings), len(self.aux_outputs)
        body = block.body
        if isinstance(body, LDict) and len(body) >= 1:
            kind, value, bmods, _ = self.parse(body, block.line)
            out = self.at(kind, value, bmods, block_env, x, path, body.line)
        else:
            out = self.seq(body, block_env, x, _Scope(path))
        if key and all(i == x or i >= start for n in self.nodes[start:] for i in n.inputs) and all(
                n.shares is None or n.shares >= start for n in self.nodes[start:]):
            self.templates[key] = _Template(start, len(self.nodes), x, out, path, warned,
                                            len(self.warnings), aux, len(self.aux_outputs))
        self.outputs[path] = out
        return out

    def replay(self, t: _Template, x: int, path: tuple[str, ...]) -> int:
        """Copy an identical earlier block call (same block, arguments and input shape) under ``path``.

        ResNet-152's 36 identical conv4_x bottlenecks are expanded once and copied 35 times.
        """
        ids = {t.input: x}
        cut = len(t.path)
        for node in self.nodes[t.start:t.end]:
            new_path = (*path, *node.path[cut:])
            ids[node.id] = self.add_node(new_path, node.op, tuple(ids[i] for i in node.inputs),
                                         node.out_shape, node.line,
                                         None if node.shares is None else ids.get(node.shares, node.shares))
            for k in range(len(path), len(new_path) + 1):  # the last node under a name is its output
                self.outputs[new_path[:k]] = ids[node.id]
        for w in self.warnings[t.warned:t.warned_end]:
            rel = w.path.split(".")[cut:]
            self.warnings.append(SpecWarning(w.message, ".".join((*path, *rel)), w.file, w.line))
        self.aux_outputs.extend(ids[i] for i in self.aux_outputs[t.aux:t.aux_end])
        return ids[t.output]

    def arg(self, raw: Any, env: Mapping[str, Any]) -> Any:
        """Block arguments are expressions in the caller's scope; a non-expression string is text."""
        if isinstance(raw, str) and is_expression(raw):
            return evaluate(raw, env)
        if isinstance(raw, list):
            return [self.arg(r, env) for r in raw]
        return raw

    # -- structures -------------------------------------------------------------------
    def s_seq(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
              scope: _Scope, line: int | None) -> int:
        self.no_extra("seq", mods)
        return self.seq(value, env, x, scope)

    def s_block(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
                scope: _Scope, line: int | None) -> int:
        name = self.block_name(value, env)
        positional = list(mods.pop("args", None) or [])
        return self.invoke(name, positional, mods, env, x, scope.path, line)

    def block_name(self, value: Any, env: Mapping[str, Any]) -> str:
        if isinstance(value, str) and value in self.m.blocks:
            return value
        name = self.eval(value, env)
        if name not in self.m.blocks:
            raise SpecError(f"no block named {name!r}",
                            expected="one of: " + ", ".join(self.m.blocks) if self.m.blocks else
                            "a block defined under blocks:")
        return str(name)

    def s_repeat(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
                 scope: _Scope, line: int | None) -> int:
        n = self.eval_int(value, self.shape_env(env, x), "repeat")
        return self.loop(n, mods, env, x, scope, line, dense=False)

    def s_dense(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
                scope: _Scope, line: int | None) -> int:
        n = self.eval_int(value, self.shape_env(env, x), "dense")
        return self.loop(n, mods, env, x, scope, line, dense=True)

    def loop(self, n: int, mods: dict[str, Any], env: Mapping[str, Any], x: int, scope: _Scope,
             line: int | None, dense: bool) -> int:
        body, block = mods.get("body"), mods.get("block")
        if (body is None) == (block is None):
            raise SpecError("repeat needs exactly one of 'body: [layers]' or 'block: name'")
        variables = {k: v for k, v in mods.items() if k not in _LOOP_KEYS}
        positional = list(mods.get("args") or [])
        at: dict[int, Any] = {}
        for key, over in (mods.get("at") or {}).items():
            idx = int(key)
            at[idx + n if idx < 0 else idx] = over
        for i in range(n):
            kwargs = dict(variables)
            for flag, over in (("first", i == 0), ("last", i == n - 1)):
                if over and mods.get(flag):
                    kwargs.update(mods[flag])
            kwargs.update(at.get(i) or {})
            loop_env = {**env, "i": i, "n": n}
            path = (*scope.path, scope.index())
            if block is not None:
                y = self.invoke(self.block_name(block, loop_env), positional, kwargs, loop_env, x,
                                path, line)
            else:
                caller = self.shape_env(loop_env, x)
                body_env = {**loop_env, **{k: self.arg(v, caller) for k, v in kwargs.items()}}
                self.inputs[path] = x
                y = self.outputs[path] = self.seq(body, body_env, x, _Scope(path))
            if dense:
                merge = REGISTRY["concat"]({})
                shapes = [self.nodes[x].out_shape, self.nodes[y].out_shape]
                x = self.add_node((*path, "concat"), merge, (x, y),
                                  merge.infer(shapes, self.warner(path, line)), line)
            else:
                x = y
        return x

    def merge_op(self, kind: str, mods: dict[str, Any], env: Mapping[str, Any]) -> Op:
        cls = REGISTRY[kind]
        fields = {k: mods.pop(k) for k in list(mods) if k in cls.fields}
        return cls.resolve(LDict(fields), env)

    def s_concat(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
                 scope: _Scope, line: int | None, kind: str = "concat") -> int:
        if not isinstance(value, list) or len(value) < 2:
            raise SpecError(f"{kind} needs a list of at least two branches",
                            expected=f"{{{kind}: [[layers...], [layers...]]}}")
        op = self.merge_op(kind, mods, env)
        self.no_extra(kind, mods)
        outs = []
        for j, branch in enumerate(value):
            bline = value.line_of(j) if isinstance(value, LList) else line
            if isinstance(branch, str) and branch == "identity":
                outs.append(x)
                continue
            kind_b, inner, bmods, bname = self.parse(branch, bline)
            if "when" in bmods and not self.eval(bmods["when"], self.shape_env(env, x)):
                continue  # a branch switched off is removed, not replaced by the identity
            name = scope.name(bname or f"branch{j + 1}", "branch", bline)
            outs.append(self.at(kind_b, inner, bmods, env, x, (*scope.path, name), bline))
        if len(outs) < 2:
            raise SpecError(f"{kind}: {len(outs)} branch(es) left after 'when'", expected="at least two")
        return self.merge(kind, op, outs, scope, line)

    def merge(self, kind: str, op: Op, outs: list[int], scope: _Scope, line: int | None) -> int:
        path = (*scope.path, scope.name(None if kind in scope.used or kind in scope.reserved
                                        else kind, kind, line))
        try:
            shape = op.infer([self.nodes[o].out_shape for o in outs], self.warner(path, line))
        except SpecError as exc:
            raise exc.with_context(line=line, path=".".join(path)) from None
        return self.add_node(path, op, tuple(outs), shape, line)

    def s_add(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
              scope: _Scope, line: int | None) -> int:
        return self.s_concat(value, mods, env, x, scope, line, kind="add")

    def s_mul(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
              scope: _Scope, line: int | None) -> int:
        return self.s_concat(value, mods, env, x, scope, line, kind="mul")

    def s_ref(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
              scope: _Scope, line: int | None) -> int:
        """Continue from an earlier layer's output, looked up from the innermost scope outward."""
        self.no_extra("ref", mods)
        found = self.lookup(value, env, x, scope.path, self.outputs, "ref")
        assert found is not None
        return found

    def lookup(self, value: Any, env: Mapping[str, Any], x: int, path: tuple[str, ...],
               table: dict[tuple[str, ...], int], what: str) -> int | None:
        """The node an earlier name refers to, searched from the innermost level of ``path`` outward.

        Braces hold expressions (``cells.{i - 2}``). ``ref`` also knows ``in`` and ``input``; for
        ``share`` the name must be one layer, and an empty name (a block argument left at "") is none.
        """
        shape_env = self.shape_env(env, x)
        text = re.sub(r"\{([^}]*)\}", lambda m: str(self.eval(m.group(1), shape_env)), str(value))
        parent = path[:-1]
        if what == "share":
            if not text:
                return None
        elif text == "input":
            return 0
        elif text == "in":
            table, text = self.inputs, ""
        key = tuple(text.split(".")) if text else ()
        for k in range(len(parent), -1, -1):
            found = table.get((*parent[:k], *key))
            if found is not None:
                if what == "share" and self.nodes[found].path != (*parent[:k], *key):
                    raise SpecError(f"share: {text!r} is a group of layers ending in {self.nodes[found].name}",
                                    expected="the path of one conv, linear or bn layer")
                return found
        raise SpecError(f"{what}: no layer {text!r} before this point",
                        expected="the name of an earlier layer, 'in' or 'input'" if what == "ref" else
                        "the path of an earlier layer, relative to an enclosing level")

    def s_sub(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
              scope: _Scope, line: int | None) -> int:
        return self.s_concat(value, mods, env, x, scope, line, kind="sub")

    def s_residual(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
                   scope: _Scope, line: int | None) -> int:
        """``body(x) + shortcut(x)``; the shortcut is the identity unless given.

        ``survival: p`` is stochastic depth (Huang et al. 2016): in training the body runs with
        probability p, so its expected cost is p × its cost; inference runs it always.
        """
        shortcut = mods.pop("shortcut", "identity")
        survival = self.eval(mods.pop("survival", 1), self.shape_env(env, x))
        if isinstance(survival, bool) or not isinstance(survival, (int, float)) or not 0 < survival <= 1:
            raise SpecError(f"residual: survival {survival!r}", expected="a probability in (0, 1]")
        op = self.merge_op("add", mods, env)
        self.no_extra("residual", mods)
        outer = self.survival
        self.survival = outer * survival
        try:
            y = self.seq(value, env, x, scope)
        finally:
            self.survival = outer
        s = x
        if shortcut not in (None, "identity"):
            kind, inner, smods, sname = self.parse(shortcut, line)  # named: {downsample: [...]}
            s = self.at(kind, inner, smods, env, x, (*scope.path, scope.name(sname or "shortcut", "", line)),
                        getattr(shortcut, "line", line))
        return self.merge("add", op, [y, s], scope, line)

    def s_aux(self, value: Any, mods: dict[str, Any], env: Mapping[str, Any], x: int,
              scope: _Scope, line: int | None) -> int:
        """A side output: its layers are expanded (and costed) but the main path ignores them."""
        self.no_extra("aux", mods)
        self.aux_outputs.append(self.seq(value, env, x, scope))
        return x

    def no_extra(self, kind: str, mods: dict[str, Any]) -> None:
        if mods:
            raise SpecError(f"{kind}: unexpected key(s) {', '.join(mods)}",
                            expected="name, when, then" + (", shortcut, survival, inplace" if kind == "residual"
                                                           else ""))
