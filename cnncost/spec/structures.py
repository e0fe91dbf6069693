"""The spec language's structures (``repeat``, ``concat``, ``residual``...): one registry of handlers.

Each entry says what its key holds, which keys it accepts beside it and what it does, so the
expander's dispatch, its error messages and the JSON schema all read the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from cnncost.errors import SpecError, shown
from cnncost.limits import LAYERS
from cnncost.ops import REGISTRY, Op
from cnncost.ops.base import fmt_shape
from cnncost.spec.blocks import Call, arg, block_name, invoke, item_words, memoised, shared_key, typed_env
from cnncost.spec.scope import At, Scope
from cnncost.spec.yamlload import LDict, LList

if TYPE_CHECKING:
    from cnncost.spec.expand import Expander
    from cnncost.spec.items import Item

    Handler = Callable[[Expander, Item, At], int]
    """Expands ``item`` (whose ``mods`` is its own copy: it pops what it takes) at ``at``; returns the output node."""


class Key(NamedTuple):
    """A key a structure accepts beside its own, with the type of its value and what it does.

    Types: ``layers`` (a list of items, or one), ``layer`` (one item), ``branches`` (a list of items or
    ``identity``), ``count`` (a non-negative integer or an expression), ``name`` (a block of the file, or an
    expression naming one), ``path`` (an earlier layer, as ``ref`` finds it), ``mapping``, ``list``,
    ``probability`` (a number in (0, 1] or an expression), ``condition`` (a boolean or an expression), ``text``,
    ``flag`` (true or false as written, never an expression).
    """

    type: str
    doc: str


@dataclass(frozen=True)
class Structure:
    """One structure: its handler, the type of what its own key holds, its keys beside it, its doc."""

    expand: Handler
    value: str
    """The type (as for ``Key``) of what the structure's key holds."""
    doc: str
    keys: Mapping[str, Key] = field(default_factory=dict)
    """Keys it accepts beside its own (besides the ``ITEM_KEYS``)."""
    op: str | None = None
    """The op that merges its branches; that op's fields may sit beside it too (``inplace``)."""
    open: bool = False
    """Other keys beside it are the block's arguments or the body's variables."""


ITEM_KEYS = {
    "name": Key("text", "the layer's name (default: its kind, numbered: conv1, conv2...)"),
    "when": Key("condition", "expand the item only if true (evaluated when the input shape is known)"),
    "then": Key("layers", "layers applied after a block or structure, named in its level"),
    "share": Key("path", "path of an earlier layer whose weights this op reuses"),
    "flat": Key("flag", "beside a structure: it adds no path level, its layers are named in the enclosing one"),
    "continue": Key(
        "flag", "true beside a named list of layers: more layers of the list of that name given earlier at this level"
    ),
}
"""Keys any item may have beside its kind (``then`` is for blocks and structures, ``share`` for ops, ``flat``
for structures, ``continue`` for a named list)."""


def key_line(mods: Mapping[str, Any], key: str) -> int | None:
    """The spec line of ``key`` among an item's keys, when they still know their lines (else None: the item's)."""
    return mods.line_of(key) if isinstance(mods, LDict) and key in mods else None


def check_keys(kind: str, mods: Mapping[str, Any]) -> None:
    """The keys beside structure ``kind`` whose type is fixed (``first: {...}``, ``args: [...]``), checked before
    it expands: a wrong one is an error at its line, never a traceback where it is read."""
    for key, spec in STRUCTURE_TYPES[kind].keys.items():
        value = mods.get(key)
        if value is None:
            continue
        if spec.type == "mapping" and not isinstance(value, dict):
            raise SpecError(
                f"{kind}: {key}: got {shown(value)}", line=key_line(mods, key), expected=f"a mapping: {spec.doc}"
            )
        if spec.type == "list" and not isinstance(value, list):
            raise SpecError(
                f"{kind}: {key}: got {shown(value)}", line=key_line(mods, key), expected=f"a list: {spec.doc}"
            )


def _check_override(kind: str, where: str, over: Any, line: int | None) -> None:
    """An override (``first:``, ``last:``, ``at: {i: ...}``) is a mapping of arguments or variables."""
    if over is not None and not isinstance(over, dict):
        raise SpecError(
            f"{kind}: {where}: got {shown(over)}",
            line=line,
            expected="a mapping of arguments or variables, e.g. {stride: 2}",
        )


def _no_extra(kind: str, mods: dict[str, Any], beside: tuple[str, ...] = ()) -> None:
    if mods:
        raise SpecError(
            f"{kind}: unexpected key(s) {', '.join(mods)}", expected=", ".join(("name", "when", "then", *beside))
        )


def _seq(ex: Expander, item: Item, at: At) -> int:
    _no_extra("seq", item.mods)
    return ex.seq(item.value, at.env, at.x, at.scope)


def _block(ex: Expander, item: Item, at: At) -> int:
    name = block_name(ex, item.value, at.env)
    positional = list(item.mods.pop("args", None) or [])
    return invoke(ex, Call(name, positional, item.mods), at.fresh())


def _overrides(kind: str, mods: dict[str, Any], n: int) -> dict[int, Any]:
    """``at: {i: {...}}`` by repetition index, negative indices counted from the end."""
    out: dict[int, Any] = {}
    at = mods.get("at") or {}
    for key, over in at.items():
        line = key_line(at, key) or key_line(mods, "at")
        try:
            idx = int(key)
        except ValueError:
            raise SpecError(
                f"{kind}: at: {shown(key)} is not a repetition index",
                line=line,
                expected="an integer: at: {2: {...}} (negative: from the end)",
            ) from None
        _check_override(kind, f"at.{key}", over, line)
        out[idx + n if idx < 0 else idx] = over
    return out


def _arguments(mods: dict[str, Any], variables: dict[str, Any], at: dict[int, Any], i: int, n: int) -> dict[str, Any]:
    """Repetition ``i``'s arguments: the variables, overridden by ``first``/``last``, then by ``at``."""
    kwargs = dict(variables)
    for flag, over in (("first", i == 0), ("last", i == n - 1)):
        if over and mods.get(flag):
            kwargs.update(mods[flag])
    kwargs.update(at.get(i) or {})
    return kwargs


def _loop(ex: Expander, item: Item, at: At) -> int:
    """``repeat`` (``x = body(x)``) or ``dense`` (``x = concat(x, body(x))``), ``n`` times.

    A named loop (its own level) is memoised as a block call is (``blocks.memoised``), keyed on its
    item, its count and the variables its keys can read: a sweep over depths × widths × inputs expands
    each distinct stage once and copies it in every variant that has it."""
    n = ex.eval_int(item.value, ex.shape_env(at.env, at.x), item.kind)
    if n > ex.max_layers:  # each repetition adds a layer or more (or none, forever: refuse it up front)
        raise LAYERS.exceeded(f"{item.kind}: {n:,} repetitions")
    mods = item.mods
    if (mods.get("body") is None) == (mods.get("block") is None):
        raise SpecError("repeat needs exactly one of 'body: [layers]' or 'block: name'")
    anchor = at.item
    if anchor is None:
        return _repeat(ex, item, at, n)
    local: tuple[Any, ...] | None
    try:
        local = (
            item.kind,
            id(anchor),
            n,
            typed_env(at.env, item_words(anchor)),
            ex.nodes[at.x].out_shape,
            ex.survival,
            ex.train_only,
        )
        hash(local)
    except TypeError:
        local = None
    return memoised(
        ex,
        local,
        lambda: shared_key(ex, local[:4], local[4]) if local else None,
        at.x,
        at.scope.path,
        lambda: _repeat(ex, item, at, n),
        anchor,
    )


def _repeat(ex: Expander, item: Item, at: At, n: int) -> int:
    mods = item.mods
    body, block = mods.get("body"), mods.get("block")
    variables = {k: v for k, v in mods.items() if k not in LOOP_KEYS}
    positional = list(mods.get("args") or [])
    overrides = _overrides(item.kind, mods, n)
    x, scope, line = at.x, at.scope, at.line
    for i in range(n):
        kwargs = _arguments(mods, variables, overrides, i, n)
        loop_env = {**at.env, "i": i, "n": n}
        path = (*scope.path, scope.index())
        here = At(loop_env, x, Scope(path), line)
        if block is not None:
            y = invoke(ex, Call(block_name(ex, block, loop_env), positional, kwargs), here)
        else:
            y = _body(ex, body, kwargs, here)
        x = _grow(ex, x, y, path, line) if item.kind == "dense" else y
    return x


def _body(ex: Expander, body: Any, kwargs: dict[str, Any], at: At) -> int:
    """One repetition of ``body:``, its variables evaluated in the enclosing scope."""
    caller = ex.shape_env(at.env, at.x)
    body_env = {**at.env, **{k: arg(v, caller) for k, v in kwargs.items()}}
    path = at.scope.path
    ex.inputs[path] = at.x
    y = ex.outputs[path] = ex.seq(body, body_env, at.x, at.scope)
    return y


def _grow(ex: Expander, x: int, y: int, path: tuple[str, ...], line: int | None) -> int:
    """DenseNet's ``concat(x, y)`` after repetition ``path``."""
    merge = REGISTRY["concat"]({})
    shapes = [ex.nodes[x].out_shape, ex.nodes[y].out_shape]
    return ex.add_node((*path, "concat"), merge, (x, y), merge.infer(shapes, ex.warner(path, line)), line)


def _merge_op(kind: str, mods: dict[str, Any], env: Mapping[str, Any]) -> Op:
    """The merge op, from its fields given beside the structure (``inplace: true``)."""
    cls = REGISTRY[kind]
    fields = {k: mods.pop(k) for k in list(mods) if k in cls.fields}
    return cls.resolve(LDict(fields), env)


def _branches(ex: Expander, item: Item, at: At) -> int:
    kind, value = item.kind, item.value
    if not isinstance(value, list) or len(value) < 2:
        raise SpecError(
            f"{kind} needs a list of at least two branches", expected=f"{{{kind}: [[layers...], [layers...]]}}"
        )
    op = _merge_op(kind, item.mods, at.env)
    _no_extra(kind, item.mods)
    outs = []
    for j, branch in enumerate(value):
        out = _branch(ex, j, branch, value.line_of(j) if isinstance(value, LList) else at.line, at)
        if out is not None:
            outs.append(out)
    if len(outs) < 2:
        raise SpecError(f"{kind}: {len(outs)} branch(es) left after 'when'", expected="at least two")
    return _merge(ex, kind, op, outs, at)


def split_flat(item: Item) -> tuple[Item, bool]:
    """``flat: true`` beside a structure: it adds no path level, its layers are named in the enclosing
    scope (torch names a functional add in a block ``layer1.0.add``, beside ``layer1.0.conv1``)."""
    if not item.mods or "flat" not in item.mods:
        return item, False
    flat = item.mods["flat"]
    if not isinstance(flat, bool):
        raise SpecError(f"flat: {flat!r}", line=item.line, expected="true or false")
    if flat and item.kind not in STRUCTURE_TYPES:
        raise SpecError(
            f"flat: a {item.kind} layer adds no level to flatten",
            line=item.line,
            expected="flat beside a structure (residual, add, concat, seq, ...)",
        )
    return item._replace(mods={k: v for k, v in item.mods.items() if k != "flat"}), flat


def _branch(ex: Expander, j: int, branch: Any, line: int | None, at: At) -> int | None:
    """Branch ``j``'s output, or None if its ``when`` is false."""
    if isinstance(branch, str) and branch == "identity":
        return at.x
    item = ex.parse(branch, line)
    if "when" in item.mods and not ex.eval(item.mods["when"], ex.shape_env(at.env, at.x)):
        return None  # a branch switched off is removed, not replaced by the identity
    item, flat = split_flat(item)
    if flat and item.kind == "ref":  # names nothing: looked up from this level
        found = ex.lookup("ref", item.value, at.env, at.x, (*at.scope.path, "ref"))
        assert found is not None
        return found
    if flat:
        return ex.at(item, at.env, at.x, at.scope.path, at.scope)
    name = at.scope.name(item.name or f"branch{j + 1}", "branch", line)
    return ex.at(item, at.env, at.x, (*at.scope.path, name))


def _merge(ex: Expander, kind: str, op: Op, outs: list[int], at: At) -> int:
    scope, line = at.scope, at.line
    path = (*scope.path, scope.name(None if kind in scope.used or kind in scope.reserved else kind, kind, line))
    try:
        shape = op.infer([ex.nodes[o].out_shape for o in outs], ex.warner(path, line))
    except SpecError as exc:
        raise exc.with_context(line=line, path=".".join(path)) from None
    node = ex.outputs[path] = ex.add_node(path, op, tuple(outs), shape, line)  # `ref: block.add` finds it
    return node


def _residual(ex: Expander, item: Item, at: At) -> int:
    """``body(x) + shortcut(x)``; the shortcut is the identity unless given.

    ``survival: p`` is stochastic depth (Huang et al. 2016): in training the body runs with
    probability p, so its expected cost is p times its cost; inference runs it always.
    """
    mods, env, x, scope, line = item.mods, at.env, at.x, at.scope, at.line
    shortcut = mods.pop("shortcut", "identity")
    survival = ex.eval(mods.pop("survival", 1), ex.shape_env(env, x))
    if isinstance(survival, bool) or not isinstance(survival, (int, float)) or not 0 < survival <= 1:
        raise SpecError(f"residual: survival {survival!r}", expected="a probability in (0, 1]")
    op = _merge_op("add", mods, env)
    _no_extra("residual", mods, ("shortcut", "survival", "inplace"))
    outer = ex.survival
    ex.survival = outer * survival
    try:
        y = ex.seq(item.value, env, x, scope)
    finally:
        ex.survival = outer
    s = x
    if shortcut not in (None, "identity"):
        short = ex.parse(shortcut, key_line(item.mods, "shortcut") or line)  # named: {downsample: [...]}
        s = ex.at(short, env, x, (*scope.path, scope.name(short.name or "shortcut", "", short.line)))
    body, short_shape = ex.nodes[y].out_shape, ex.nodes[s].out_shape
    if body != short_shape:  # said per side: which one gives what
        path = (*scope.path, scope.name(None if "add" in scope.used or "add" in scope.reserved else "add", "add", line))
        if body[0] != short_shape[0] and body[1:] == short_shape[1:]:
            found, expected = f"the body gives {body[0]} channels, the shortcut {short_shape[0]}", "channels"
        else:
            found, expected = f"the body gives {fmt_shape(body)}, the shortcut {fmt_shape(short_shape)}", "its shape"
        raise SpecError(
            f"{found}: they cannot be added",
            line=line,
            path=".".join(path),
            expected=f"a projection shortcut to match {expected}",
        )
    return _merge(ex, "add", op, [y, s], at)


def _aux(ex: Expander, item: Item, at: At) -> int:
    """A side output; ``train_only: true`` for heads that run only in training (GoogLeNet's and
    Inception-v3's auxiliary classifiers): the inference reading counts their weights, not their work."""
    train_only = ex.eval(item.mods.pop("train_only", False), ex.shape_env(at.env, at.x))
    if not isinstance(train_only, bool):
        raise SpecError(f"aux: train_only {train_only!r}", expected="true or false")
    _no_extra("aux", item.mods, ("train_only",))
    outer = ex.train_only
    ex.train_only = outer or train_only
    try:
        ex.aux_outputs.append(ex.seq(item.value, at.env, at.x, at.scope))
    finally:
        ex.train_only = outer
    return at.x


def _ref(ex: Expander, item: Item, at: At) -> int:
    _no_extra("ref", item.mods)
    found = ex.lookup("ref", item.value, at.env, at.x, at.scope.path)
    assert found is not None
    return found


_LOOP = {
    "body": Key("layers", "the layers repeated (variables beside it are evaluated per repetition)"),
    "block": Key("name", "the block repeated (keys beside it are its arguments)"),
    "first": Key("mapping", "arguments or variables overridden in the first repetition"),
    "last": Key("mapping", "arguments or variables overridden in the last repetition"),
    "at": Key("mapping", "{i: {...}}: overrides in repetition i (negative: from the end)"),
    "args": Key("list", "the block's positional arguments"),
}

STRUCTURE_TYPES: dict[str, Structure] = {
    "seq": Structure(_seq, "layers", "{seq: [...]}: a sequence, the same as [...]"),
    "repeat": Structure(
        _loop,
        "count",
        "{repeat: n, block: b, <args>} or {repeat: n, body: [...], <variables>}: "
        "n repetitions (i and n are variables), with first/last/at overrides",
        _LOOP,
        open=True,
    ),
    "block": Structure(
        _block,
        "name",
        "{block: b, <args>}: a call of a block of this file, the same as {b: {args}}",
        {"args": _LOOP["args"]},
        open=True,
    ),
    "concat": Structure(_branches, "branches", "parallel branches, concatenated along channels", op="concat"),
    "add": Structure(_branches, "branches", "parallel branches, added", op="add"),
    "mul": Structure(_branches, "branches", "parallel branches, multiplied (an SE gate broadcasts)", op="mul"),
    "sub": Structure(_branches, "branches", "parallel branches: the first minus the others", op="sub"),
    "residual": Structure(
        _residual,
        "layers",
        "{residual: [...], shortcut: identity | [...]}: body + shortcut",
        {
            "shortcut": Key("layer", "the shortcut's layers (default: identity)"),
            "survival": Key("probability", "stochastic depth: the probability the body runs in training (default 1)"),
        },
        op="add",
    ),
    "dense": Structure(
        _loop, "count", "{dense: n, block|body: ...}: DenseNet's x = concat(x, body(x)), n times", _LOOP, open=True
    ),
    "aux": Structure(
        _aux,
        "layers",
        "a side head (GoogLeNet's auxiliary classifiers): expanded and counted, but the "
        "main path goes on from its input",
        {
            "train_only": Key(
                "condition",
                "the head runs only in training: the inference reading "
                "counts its parameters, not its operations (default false)",
            ),
        },
    ),
    "ref": Structure(
        _ref,
        "path",
        "continue from an earlier layer's output: a name, looked up from the innermost "
        "level outward (braces hold expressions: cells.{i - 2}); in: the input of the enclosing block "
        "call or repetition; input: the network's input",
    ),
}
"""Every structure, in the order error messages list them."""

STRUCTURES = tuple(STRUCTURE_TYPES)
MERGES = tuple(name for name, s in STRUCTURE_TYPES.items() if s.op == name)
LOOP_KEYS = frozenset(_LOOP)
"""The keys of ``repeat``/``dense`` that are not the body's variables or the block's arguments."""
