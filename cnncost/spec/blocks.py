"""Block calls: binding arguments to a block's parameters, and replaying identical calls.

Deep nets call the same block with the same arguments many times (ResNet-152: 36 identical
bottlenecks in a row); expanding one and copying its nodes keeps expansion within milliseconds.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from cnncost.errors import SpecError, SpecWarning, did_you_mean
from cnncost.limits import BLOCK_DEPTH
from cnncost.spec.expr import evaluate, is_expression
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


def freeze(value: Any) -> Any:
    """``value`` with its lists made tuples, so that it can be part of a cache key."""
    return tuple(freeze(v) for v in value) if isinstance(value, list) else value


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
        bound[pname] = arg(raw, caller)
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
            bound[key] = arg(raw, caller)
        except SpecError as exc:
            raise exc.with_context(line=line) from None
    defaults_env = ex.shape_env(ex.base_env, at.x)  # a default may read in_ch: project = in_ch != out
    for pname in block.params:
        if pname not in bound:
            if pname not in block.defaults:
                raise SpecError(f"{sig}: missing argument {pname!r}")
            env = {**defaults_env, **bound}
            default = block.defaults[pname]
            try:
                bound[pname] = default.strip() if is_word(default, env) else ex.eval(default, env)
            except SpecError as exc:  # the default's own line: the block's signature
                raise exc.with_context(line=block.line) from None
    return bound


def invoke(ex: Expander, call: Call, at: At) -> int:
    """Expand a block call under ``at.scope`` (a fresh level), or replay an identical earlier one."""
    block = ex.m.blocks.get(call.name)
    if block is None:
        raise ex.parser.unknown(call.name, at.line)
    bound = _bind(ex, block, call, at)
    block_env = {**ex.base_env, **bound}
    x, path = at.x, at.scope.path
    cache_key: TemplateKey | None
    try:
        cache_key = (call.name, freeze(sorted(bound.items())), ex.nodes[x].out_shape, ex.survival, ex.train_only)
        hash(cache_key)
    except TypeError:
        cache_key = None
    ex.inputs[path] = x
    template = ex.templates.get(cache_key) if cache_key else None
    if template is not None:
        return replay(ex, template, x, path)
    start, warned, aux = len(ex.nodes), len(ex.warnings), len(ex.aux_outputs)
    if len(ex.calls) >= BLOCK_DEPTH.value:
        chain = " → ".join([*ex.calls[:3], "...", *ex.calls[-3:]])
        raise BLOCK_DEPTH.exceeded(f"block calls {chain} (a block that calls itself with no end?)", line=at.line)
    ex.calls.append(call.name)
    try:
        body = block.body
        if isinstance(body, LDict) and len(body) >= 1:
            out = ex.at(ex.parse(body, block.line), block_env, x, path, at.scope)
        else:
            out = ex.seq(body, block_env, x, at.scope)
    finally:
        ex.calls.pop()
    if cache_key and _self_contained(ex, start, x):
        ex.templates[cache_key] = Template(
            start, len(ex.nodes), x, out, path, warned, len(ex.warnings), aux, len(ex.aux_outputs)
        )
    ex.outputs[path] = out
    return out


def _self_contained(ex: Expander, start: int, x: int) -> bool:
    """Whether the nodes from ``start`` read only ``x`` and each other (so they can be copied elsewhere)."""
    nodes = ex.nodes[start:]
    return all(i == x or i >= start for n in nodes for i in n.inputs) and all(
        n.shares is None or n.shares >= start for n in nodes
    )


def replay(ex: Expander, t: Template, x: int, path: tuple[str, ...]) -> int:
    """Copy an identical earlier block call (same block, arguments and input shape) under ``path``.

    ResNet-152's 36 identical conv4_x bottlenecks are expanded once and copied 35 times.
    """
    ids = {t.input: x}
    cut = len(t.path)
    outputs = ex.outputs
    for node in ex.nodes[t.start : t.end]:
        new_path = (*path, *node.path[cut:])
        ids[node.id] = ex.add_node(
            new_path,
            node.op,
            tuple(ids[i] for i in node.inputs),
            node.out_shape,
            node.line,
            None if node.shares is None else ids.get(node.shares, node.shares),
        )
        for k in range(len(path), len(new_path) + 1):  # the last node under a name is its output
            outputs[new_path[:k]] = ids[node.id]
    for w in ex.warnings[t.warned : t.warned_end]:
        rel = w.path.split(".")[cut:]
        ex.warnings.append(SpecWarning(w.message, ".".join((*path, *rel)), w.file, w.line))
    ex.aux_outputs.extend(ids[i] for i in ex.aux_outputs[t.aux : t.aux_end])
    return ids[t.output]
