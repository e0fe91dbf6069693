"""Block calls: binding arguments to a block's parameters, and replaying identical calls.

Deep nets call the same block with the same arguments many times (ResNet-152: 36 identical
bottlenecks in a row); expanding one and copying its nodes keeps expansion within milliseconds.
Across expansions (``analyze`` called again, a sweep's variants) an identical call, with the same
model params it can read, is copied from ``_SHARED`` instead of expanded again (``Shared``).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple

from cnncost import memo
from cnncost.errors import SpecError, SpecWarning, did_you_mean
from cnncost.graph import Segment
from cnncost.limits import BLOCK_DEPTH, LAYERS
from cnncost.ops.base import Op, Shape
from cnncost.spec.expr import evaluate, is_expression, names_in
from cnncost.spec.family import BlockDef
from cnncost.spec.scope import At
from cnncost.spec.yamlload import LDict

_BOOLEANS = ("true", "True", "false", "False")

if TYPE_CHECKING:
    from cnncost.spec.expand import Expander
    from cnncost.spec.items import Item

TemplateKey = tuple[Any, ...]
"""A block call's identity for replay: (block name, sorted bound arguments, input shape, survival, training-only)."""


class Call(NamedTuple):
    """A block call before binding: the block's name, its positional and its keyword arguments."""

    name: str
    positional: list[Any]
    kwargs: Mapping[str, Any]


class Template(NamedTuple):
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


class Shared(NamedTuple):
    """A block call's expansion as a copy plan: its nodes with ids relative to its first node (-1: the
    call's input) and paths relative to the call's. ``replay`` copies one within an expansion; across
    expansions (``_SHARED``) one is kept only where copying it is indistinguishable from expanding it
    again: it reads nothing outside itself, every name under the call names the last node under it (what
    a copy writes), and every node runs with the call's own survival and mode (no inner ``survival`` or
    ``train_only``).
    """

    blocks: dict[str, BlockDef]
    """The model's blocks, held so that the ``id`` in a ``_SHARED`` key names them while the entry lives."""
    nodes: tuple[PlanNode, ...]
    names: tuple[tuple[tuple[str, ...], int], ...]
    """Each name under the call (relative; ``()``: the call's own) and its output: the last node under it."""
    output: int
    warnings: tuple[tuple[str, tuple[str, ...], str | None, int | None], ...]
    aux: tuple[int, ...]
    blank: tuple[Any, ...] = ()
    """``None`` for each node: what a copy puts in the node list until its nodes are read."""
    name_ids: tuple[int, ...] = ()
    """Each name's output (``names``' second column)."""
    anchor: Any = None
    """What its ``_SHARED`` key names by ``id`` besides the blocks (a loop's parsed item), held alive with it."""


PlanNode = tuple[tuple[str, ...], "Op | None", tuple[int, ...], tuple[Shape, ...], Shape, int | None, int | None]
"""(relative path, op, relative inputs, input shapes, output shape, line, relative owner of shared weights)."""


_SHARED: dict[tuple[Any, ...], Shared] = {}
SHARED_MAX = 4096
"""Entries ``_SHARED`` keeps (the oldest go first): a ResNet sweep over depths, widths and 7 resolutions
makes a few hundred; each holds one block's nodes."""
_READS: dict[int, tuple[dict[str, BlockDef], frozenset[str]]] = {}
_WORD = re.compile(r"\w+")


def _words(value: Any, out: set[str]) -> None:
    """Every word in the strings of ``value`` (keys included): a superset of the names it can read."""
    if isinstance(value, str):
        out.update(_WORD.findall(value))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _words(k, out)
            _words(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _words(v, out)


def _reads(blocks: dict[str, BlockDef]) -> frozenset[str]:
    """The model params a block body may read: any word in any block's body or defaults (a block may call
    any other, by an expression), so a sweep's ``depths`` that no block reads does not split the cache."""
    kept = _READS.get(id(blocks))
    if kept is None or kept[0] is not blocks:
        words: set[str] = set()
        for b in blocks.values():
            _words(b.body, words)
            _words(b.defaults, words)
        if len(_READS) >= SHARED_MAX:
            _READS.clear()
        kept = _READS[id(blocks)] = (blocks, frozenset(words))
    return kept[1]


_ITEM_WORDS: dict[int, tuple[Any, tuple[str, ...]]] = {}


def item_words(item: Any) -> tuple[str, ...]:
    """Every word of a parsed item's keys beside its kind (a loop's arguments, variables, body,
    overrides), sorted: a superset of the variables its expansion reads from its scope."""
    kept = _ITEM_WORDS.get(id(item))
    if kept is None or kept[0] is not item:
        words: set[str] = set()
        _words(item.mods, words)
        if len(_ITEM_WORDS) >= SHARED_MAX:
            _ITEM_WORDS.clear()
        kept = _ITEM_WORDS[id(item)] = (item, tuple(sorted(words)))
    return kept[1]


def typed_env(env: Mapping[str, Any], words: tuple[str, ...]) -> tuple[Any, ...]:
    """The typed values of the ``words`` that are variables of ``env``: part of an exact cache key."""
    return tuple([(w, typed(env[w])) for w in words if w in env])


def typed(value: Any) -> Any:
    """``value`` as an exact cache key: lists as tuples, each number with its type (1, 1.0 and True differ)."""
    if isinstance(value, list | tuple):
        return (type(value), tuple(typed(v) for v in value))
    return (type(value), value)


_PREFIXES: dict[tuple[Any, ...], int] = {}
"""Each distinct constant part of the ``_SHARED`` keys (blocks, file, the params they read, limits), as a
small number: a key holds the number, so it hashes in a few steps (a tuple does not keep its hash)."""


def shared_key(ex: Expander, what: tuple[Any, ...], shape: Shape) -> tuple[Any, ...] | None:
    """Everything an expansion depends on: ``what`` (a block call: its name and bound arguments; a loop: its
    item, count and the variables it can read), the input shape, survival, mode, call depth, and what is
    fixed for the expansion (``_PREFIXES``): the model's blocks and file, the params the blocks can read,
    and the limits it was checked under."""
    blocks = ex.m.blocks
    reads = _reads(blocks)
    kept = ex.shared_params  # fixed for the expansion: made once
    if kept is None or kept[0] is not reads:
        params = tuple((k, typed(v)) for k, v in ex.base_env.items() if k in reads)
        try:
            fixed = (id(blocks), ex.m.file, params, ex.max_depth, ex.max_size)
            if len(_PREFIXES) >= SHARED_MAX:  # the numbers name entries of _SHARED: both go
                _PREFIXES.clear()
                _SHARED.clear()
            token: int | None = _PREFIXES.setdefault(fixed, len(_PREFIXES))
        except TypeError:
            token = None
        kept = ex.shared_params = (reads, token)
    if kept[1] is None:
        return None
    return (kept[1], *what, shape, ex.survival, ex.train_only, len(ex.calls))


def _keep(
    ex: Expander,
    key: tuple[Any, ...],
    start: int,
    x: int,
    out: int,
    path: tuple[str, ...],
    before: tuple[int, int, int],
    anchor: Any,
) -> None:
    """Keep the call expanded from node ``start`` in ``_SHARED``, if copying it would give the same graph
    (``anchor``: what the key names by ``id``, held by the plan)."""
    nodes = ex.made(start)
    cut = len(path)
    written = len(ex.outputs) - before[0]
    if any(n.path[:cut] != path or n.survival != ex.survival or n.train_only != ex.train_only for n in nodes):
        return
    plan = _plan(
        ex, Template(start, len(ex.nodes), x, out, path, before[1], len(ex.warnings), before[2], len(ex.aux_outputs))
    )
    rule = {path + rel: start + i for rel, i in plan.names}
    if written != len(rule) or dict(islice(reversed(ex.outputs.items()), written)) != rule:
        return  # a name under the call that is not its last node (a ref, an aux head, an empty list)
    if not (out == x or out >= start) or any(i < start for i in ex.aux_outputs[before[2] :]):
        return
    if any(w.path.split(".")[:cut] != list(path) or w.extra for w in ex.warnings[before[1] :]):
        return
    if len(_SHARED) >= SHARED_MAX:
        del _SHARED[next(iter(_SHARED))]
    _SHARED[key] = plan._replace(anchor=anchor)


def _plan(ex: Expander, t: Template) -> Shared:
    """The copy plan of a block call's expansion (``t``: its nodes, warnings and side-head outputs)."""
    start, x, path = t.start, t.input, t.path
    cut = len(path)
    nodes = ex.made(start)[: t.end - start]

    def rel(i: int) -> int:
        return -1 if i == x else i - start

    names: dict[tuple[str, ...], int] = {}
    for n in nodes:
        tail = n.path[cut:]
        for k in range(len(tail) + 1):  # the last node under a name is its output
            names[tail[:k]] = n.id - start
    return Shared(
        ex.m.blocks,
        tuple(
            (
                n.path[cut:],
                n.op,
                tuple(map(rel, n.inputs)),
                n.in_shapes,
                n.out_shape,
                n.line,
                None if n.shares is None else rel(n.shares),
            )
            for n in nodes
        ),
        tuple(names.items()),
        rel(t.output),
        tuple(
            (w.message, tuple(w.path.split(".")[cut:]), w.file, w.line) for w in ex.warnings[t.warned : t.warned_end]
        ),
        tuple(map(rel, ex.aux_outputs[t.aux : t.aux_end])),
        (None,) * len(nodes),
        tuple(names.values()),
    )


_KEYS: dict[tuple[int, tuple[str, ...]], tuple[Shared, tuple[tuple[str, ...], ...]]] = {}
memo.register(_SHARED, _PREFIXES, _READS, _ITEM_WORDS, _KEYS)


def _name_keys(plan: Shared, path: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The names a copy of ``plan`` under ``path`` writes (a sweep copies each stage at the same path)."""
    kept = _KEYS.get((id(plan), path))
    if kept is None or kept[0] is not plan:
        if len(_KEYS) >= SHARED_MAX:
            _KEYS.clear()
        kept = _KEYS[id(plan), path] = (plan, tuple([path + rel for rel, _ in plan.names]))
    return kept[1]


def _copy(ex: Expander, plan: Shared, x: int, path: tuple[str, ...]) -> int:
    """Add a plan's nodes under ``path`` reading ``x``, with the current survival and mode, as the
    expansion that made it did; return its output. The nodes are made when read (``Segment``): only
    the output is made now, the others are ``None`` in ``ex.nodes`` until ``ex.node`` or the graph asks."""
    nodes = ex.nodes
    start = len(nodes)
    size = len(plan.nodes)
    if start + size > ex.max_layers:  # the error the node past the limit would raise
        raise LAYERS.exceeded(f"{ex.max_layers:,} layers and counting", line=plan.nodes[ex.max_layers - start][5])
    if size:
        seg = Segment(start, start + size, x, plan, path, ex.survival, ex.train_only)
        nodes.extend(plan.blank)
        if plan.output >= 0:
            nodes[start + plan.output] = seg.node(start + plan.output)
        ex.segments.append(seg)
    ex.outputs.update(zip(_name_keys(plan, path), map(start.__add__, plan.name_ids), strict=True))
    if plan.warnings:
        ex.warnings.extend(SpecWarning(m, ".".join(path + rel), file, line) for m, rel, file, line in plan.warnings)
    if plan.aux:
        ex.aux_outputs.extend(start + i for i in plan.aux)
    return x if plan.output < 0 else start + plan.output


def is_word(text: str, env: Mapping[str, Any]) -> bool:
    """A bare word that names no variable (``none``, ``bilinear``): text, where an argument is read."""
    word = text.strip()
    return word.isidentifier() and not keyword.iskeyword(word) and word not in env and word not in _BOOLEANS


def arg(raw: Any, env: Mapping[str, Any]) -> Any:
    """Block arguments are expressions in the caller's scope; a non-expression string is text, and so is a
    bare word that is not a variable (``act: none`` is the text ``'none'``)."""
    if isinstance(raw, str) and is_expression(raw) and not is_word(raw, env):
        return evaluate(raw, env)
    if isinstance(raw, list):
        return [arg(r, env) for r in raw]
    return raw


_MISSING = object()


def _arg(ex: Expander, raw: Any, env: Mapping[str, Any]) -> Any:
    """``arg``, memoised for the expansion on the text and the typed values (or absence) of the names it
    reads: ResNet-152's 50 block calls pass the same few argument expressions."""
    if not isinstance(raw, str) or not is_expression(raw):
        return arg(raw, env)
    try:
        key = (raw, *[typed(env.get(n, _MISSING)) for n in names_in(raw)])
        value = ex.args.get(key, _MISSING)
    except TypeError:  # a value that cannot be a key (a mapping): evaluated uncached
        return arg(raw, env)
    if value is _MISSING:
        value = ex.args[key] = arg(raw, env)
    return value


def block_name(ex: Expander, value: Any, env: Mapping[str, Any]) -> str:
    """The block a ``block:`` key names: a block of this file, or an expression giving one."""
    if isinstance(value, str) and value in ex.m.blocks:
        return value
    name = value.strip() if isinstance(value, str) and is_word(value, env) else ex.eval(value, env)
    if not isinstance(name, str) or name not in ex.m.blocks:
        hint = did_you_mean(name, list(ex.m.blocks)) if isinstance(name, str) else ""
        raise SpecError(
            f"no block named {name!r}",
            expected=(hint + " " if hint else "") + "one of: " + ", ".join(ex.m.blocks)
            if ex.m.blocks
            else "a block defined under blocks:",
        )
    return name


def call_block(ex: Expander, item: Item, at: At) -> int:
    """``{name: {args}}``, ``{name: [positional]}`` or ``{name: value}``, with sibling keys as arguments."""
    positional: list[Any] = []
    kwargs = LDict(item.mods)  # with the lines of its keys, for the errors of _bind
    kwargs.line = getattr(item.mods, "line", 0)
    kwargs.key_lines = dict(getattr(item.mods, "key_lines", {}))
    value = item.value
    if isinstance(value, list):
        positional = list(value)
    elif isinstance(value, LDict):
        kwargs.update(value)
        kwargs.key_lines.update({k: value.line_of(k) for k in value})
    elif value is not None:
        positional = [value]
    return invoke(ex, Call(item.kind, positional, kwargs), at.fresh())


def _bind(ex: Expander, block: BlockDef, call: Call, at: At) -> dict[str, Any]:
    """The block's parameters bound: arguments evaluated in the caller's scope, then defaults."""
    sig = f"{call.name}({', '.join(block.params)})"
    if len(call.positional) > len(block.params):
        raise SpecError(f"{sig} takes {len(block.params)} arguments, got {len(call.positional)}")
    caller = ex.shape_env(at.env, at.x)
    bound: dict[str, Any] = {}
    for pname, raw in zip(block.params, call.positional, strict=False):
        bound[pname] = _arg(ex, raw, caller)
    kwargs = call.kwargs
    for key, raw in kwargs.items():
        line = kwargs.line_of(key) if isinstance(kwargs, LDict) and key in kwargs.key_lines else None
        if key not in block.params:
            hint = did_you_mean(key, block.params)
            raise SpecError(
                f"{sig}: unknown argument {key!r}",
                line=line,
                expected=(hint + " " if hint else "") + "one of: " + ", ".join(block.params),
            )
        if key in bound:
            raise SpecError(f"{sig}: argument {key!r} given twice", line=line)
        try:
            bound[key] = _arg(ex, raw, caller)
        except SpecError as exc:
            raise exc.with_context(line=line) from None
    env: dict[str, Any] | None = None  # the params, the input's shape (project = in_ch != out) and the bound
    for pname in block.params:
        if pname not in bound:
            if pname not in block.defaults:
                raise SpecError(f"{sig}: missing argument {pname!r}")
            if env is None:  # made once, then kept equal to {**shape_env(base_env, x), **bound}
                env = {**ex.shape_env(ex.base_env, at.x), **bound}
            default = block.defaults[pname]
            try:
                value = default.strip() if is_word(default, env) else ex.eval(default, env)
            except SpecError as exc:  # the default's own line: the block's signature
                raise exc.with_context(line=block.line) from None
            bound[pname] = env[pname] = value
    return bound


def invoke(ex: Expander, call: Call, at: At) -> int:
    """Expand a block call under ``at.scope`` (a fresh level), or replay an identical earlier one."""
    block = ex.m.blocks.get(call.name)
    if block is None:
        raise ex.parser.unknown(call.name, at.line)
    bound = _bind(ex, block, call, at)
    x, path = at.x, at.scope.path
    local: TemplateKey | None
    try:
        args = tuple([(k, typed(v)) for k, v in sorted(bound.items())])
        local = (call.name, args, ex.nodes[x].out_shape, ex.survival, ex.train_only)
        hash(local)
    except TypeError:
        local = None
    ex.inputs[path] = x

    def expand() -> int:
        if len(ex.calls) >= ex.max_depth:
            chain = " → ".join([*ex.calls[:3], "...", *ex.calls[-3:]])
            raise BLOCK_DEPTH.exceeded(f"block calls {chain} (a block that calls itself with no end?)", line=at.line)
        ex.calls.append(call.name)
        try:
            body, block_env = block.body, {**ex.base_env, **bound}
            if isinstance(body, LDict) and len(body) >= 1:
                return ex.at(ex.parse(body, block.line), block_env, x, path, at.scope)
            return ex.seq(body, block_env, x, at.scope)
        finally:
            ex.calls.pop()

    out = ex.outputs[path] = memoised(
        ex, local, lambda: shared_key(ex, local[:2], local[2]) if local else None, x, path, expand
    )
    return out


def memoised(
    ex: Expander,
    local: TemplateKey | None,
    shared: Callable[[], tuple[Any, ...] | None],
    x: int,
    path: tuple[str, ...],
    expand: Callable[[], int],
    anchor: Any = None,
) -> int:
    """``expand()`` (a block call or a named loop at ``path`` reading ``x``), or a copy of an identical
    earlier one: ``local`` keys it within the expansion (``replay``), ``shared()`` across expansions
    (``_SHARED``). Kept only when the expansion read nothing outside itself, by node or by name."""
    template = ex.templates.get(local) if local else None
    if template is not None:
        return replay(ex, template, x, path)
    shared_key = shared() if local else None
    if shared_key is not None and local is not None:
        kept = _SHARED.get(shared_key)
        # Past the layer limit the expansion's own error says where: expand it then.
        if kept is not None and kept.blocks is ex.m.blocks and len(ex.nodes) + len(kept.nodes) <= ex.max_layers:
            start, warned, aux = len(ex.nodes), len(ex.warnings), len(ex.aux_outputs)
            out = _copy(ex, kept, x, path)
            ex.templates[local] = Template(
                start, len(ex.nodes), x, out, path, warned, len(ex.warnings), aux, len(ex.aux_outputs)
            )
            ex.plans[ex.templates[local]] = kept
            return out
    start, before = len(ex.nodes), (len(ex.outputs), len(ex.warnings), len(ex.aux_outputs))
    ex.active.append(path)
    ex.outside.append(False)
    try:
        out = expand()
    finally:
        ex.active.pop()
        outside = ex.outside.pop()
    if local and not outside and _self_contained(ex, start, x):
        ex.outputs[path] = out  # the call's own name, as a copy writes it
        ex.templates[local] = Template(
            start, len(ex.nodes), x, out, path, before[1], len(ex.warnings), before[2], len(ex.aux_outputs)
        )
        if shared_key is not None:
            _keep(ex, shared_key, start, x, out, path, before, anchor)
    return out


def _self_contained(ex: Expander, start: int, x: int) -> bool:
    """Whether the nodes from ``start`` read only ``x`` and each other (so they can be copied elsewhere)."""
    nodes = ex.made(start)
    return all(i == x or i >= start for n in nodes for i in n.inputs) and all(
        n.shares is None or n.shares >= start for n in nodes
    )


def replay(ex: Expander, t: Template, x: int, path: tuple[str, ...]) -> int:
    """Copy an identical earlier block call (same block, arguments and input shape) under ``path``.

    ResNet-152's 36 identical conv4_x bottlenecks are expanded once and copied 35 times (from a plan
    made at the first copy: relative ids and paths, each name's output).
    """
    plan = ex.plans.get(t)
    if plan is None:
        plan = ex.plans[t] = _plan(ex, t)
    return _copy(ex, plan, x, path)
