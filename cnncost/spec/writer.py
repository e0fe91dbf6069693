"""Write traced layers as a spec a person can read and edit (``cnncost import``), torch-free.

The input is a ``Traced`` model: layers in execution order, each with its module path, op kind,
fields, input ids and the shape torch computed. The output is spec YAML in which

* the module hierarchy is the nesting, so every layer keeps its qualified name (``layer1.0.conv1``);
* a merge whose inputs are chains from one fork becomes a structure: ``residual`` (body + shortcut),
  or ``concat``/``add``/``mul`` branches; other connections are ``ref:``s, so any DAG can be written;
* modules of one class with the same structure fold into a parameterised block (the fields that differ
  are its arguments), and consecutive calls of a block in a ``Sequential`` into one ``repeat``.

The written spec goes back through the ordinary expander: numbers come from the engine, never from
the writer.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

MERGES = ("add", "concat", "mul", "sub")


class Layer(NamedTuple):
    """One traced op: where it is (module path), what it is, what it reads (0: the network input)."""

    path: tuple[str, ...]
    kind: str
    fields: dict[str, Any]
    inputs: tuple[int, ...]
    shape: tuple[int, ...]
    shares: tuple[str, ...] | None = None
    """The first call's path, for a module called again (its weights are shared)."""
    train_only: bool = False
    """Runs only in training (an auxiliary head the eval trace never called)."""


@dataclass(frozen=True)
class Traced:
    """A torch model read by the tracer: layers ``1..n`` in execution order (id 0 is the input)."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]
    output: int
    aux_outputs: tuple[int, ...] = ()
    classes: dict[tuple[str, ...], str] = field(default_factory=dict)
    unsupported: tuple[tuple[str, str], ...] = ()
    uncalled: tuple[tuple[str, int], ...] = ()
    """Modules holding parameters that never run (module, parameters): not in the spec, said in it."""


# -- the module tree ---------------------------------------------------------------------------
@dataclass
class Group:
    path: tuple[str, ...]
    units: list[Any] = field(default_factory=list)
    """Layer ids (int), sub-groups and structures, in execution order."""
    resumed: bool = False
    """A second (third...) run of a module's layers: ``{name: [...], continue: true}``."""
    reopened: bool = False
    """The first run of a module that runs again later: written as a plain list, for the others to continue."""


@dataclass
class Struct:
    """A merge whose inputs are chains of units from one fork: ``branches[i]`` feeds input ``i``."""

    merge: int
    branches: list[list[Any]]


def _tree(t: Traced) -> tuple[Group, dict[int, tuple[str, ...]]]:
    """Groups by module path. A module whose layers are not contiguous (a ``ModuleList`` run between
    other modules) opens again, as a second group of the same path: written ``continue: true``."""
    root = Group(())
    stack = [root]
    seen: set[tuple[str, ...]] = {()}
    first: dict[tuple[str, ...], Group] = {}
    paths: dict[int, tuple[str, ...]] = {}
    for lid, layer in enumerate(t.layers, 1):
        gpath = layer.path[:-1]
        while gpath[: len(stack[-1].path)] != stack[-1].path:
            stack.pop()
        while len(stack[-1].path) < len(gpath):
            p = (*stack[-1].path, gpath[len(stack[-1].path)])
            g = Group(p, resumed=p in seen)
            if g.resumed:
                first[p].reopened = True
            first.setdefault(p, g)
            seen.add(p)
            stack[-1].units.append(g)
            stack.append(g)
        paths[lid] = layer.path
        stack[-1].units.append(lid)
    return root, paths


# -- the writer --------------------------------------------------------------------------------
class _Ref:
    """A ref (or share) to layer ``target``, written ``key`` (relative to its scope), or ``in`` when it
    reads the input of a group that became a block."""

    def __init__(self, target: int, key: str) -> None:
        self.target = target
        self.key = key

    def __deepcopy__(self, memo: Any) -> _Ref:
        return self


@dataclass
class Writer:
    t: Traced
    paths: dict[int, tuple[str, ...]]
    known: set[tuple[str, ...]] = field(default_factory=set)
    entries: dict[tuple[str, ...], int] = field(default_factory=dict)
    """Each group's input (the tensor current when it starts)."""
    lists: set[tuple[str, ...]] = field(default_factory=set)
    """Groups that stay plain lists: modules that run in several runs (``continue: true``)."""

    def layer(self, lid: int) -> Layer:
        return self.t.layers[lid - 1]

    # -- units ---------------------------------------------------------------------------
    def first(self, u: Any) -> int:
        """The first layer id in a unit."""
        if isinstance(u, int):
            return u
        if isinstance(u, Struct):
            return next(self.first(x) for b in u.branches for x in b) if any(u.branches) else u.merge
        return self.first(u.units[0])

    def last(self, u: Any) -> int:
        if isinstance(u, int):
            return u
        if isinstance(u, Struct):
            return u.merge
        return self.last(u.units[-1])

    def entry(self, u: Any) -> int:
        """What a unit reads first: its first layer's first input."""
        if isinstance(u, Struct):
            return self.fork(u)
        return self.layer(self.first(u)).inputs[0]

    def fork(self, s: Struct) -> int:
        ins = self.layer(s.merge).inputs
        for b, _i in zip(s.branches, ins, strict=True):
            if b:
                return self.entry(b[0])
        return ins[0]

    def structure(self, units: list[Any]) -> list[Any]:
        """Fold every merge whose inputs are chains of the units just before it, from one fork."""
        units = list(units)
        j = 0
        while j < len(units):
            u = units[j]
            if isinstance(u, int) and self.layer(u).kind in MERGES and len(self.layer(u).inputs) >= 2:
                found = self._chains(units, j)
                if found is not None:
                    start, branches = found
                    units[start : j + 1] = [Struct(u, branches)]
                    j = start
            j += 1
        return units

    def _chains(self, units: list[Any], j: int) -> tuple[int, list[list[Any]]] | None:
        out_at = {self.last(u): k for k, u in enumerate(units[:j])}
        seqs = []
        for a in self.layer(units[j]).inputs:
            seq, t = [a], a
            while t in out_at:
                t = self.entry(units[out_at[t]])
                seq.append(t)
            seqs.append(seq)
        fork = next((x for x in seqs[0] if all(x in s for s in seqs[1:])), None)
        if fork is None:
            return None
        chains = [[out_at[x] for x in s[: s.index(fork)]][::-1] for s in seqs]
        claimed = sorted(k for c in chains for k in c)
        start = out_at[fork] + 1 if fork in out_at else 0
        if claimed != list(range(start, j)) or (not claimed and start != j):
            return None
        return start, [[units[k] for k in c] for c in chains]

    # -- refs ----------------------------------------------------------------------------
    def key(self, target: int, scope: tuple[str, ...]) -> str:
        """The shortest name ``ref`` resolves to ``target`` from ``scope`` (searched innermost outward)."""
        if target == 0:
            return "input"
        path = self.paths[target]
        common = 0
        while common < min(len(scope), len(path) - 1) and scope[common] == path[common]:
            common += 1
        for k in range(common, -1, -1):
            key = path[k:]
            hit = next((*scope[:kk], *key) for kk in range(len(scope), -1, -1) if (*scope[:kk], *key) in self.known)
            if hit == path:
                return ".".join(key)
        return ".".join(path)

    def ref(self, target: int, group: Group, entry: int) -> Any:
        return _Ref(target, self.key(target, group.path))

    # -- emission -----------------------------------------------------------------------
    def emit(self, group: Group, cur: int) -> list[Any]:
        """The group's items, starting from the tensor ``cur``."""
        entry = cur
        self.entries[group.path] = cur
        items: list[Any] = []
        for u in self.structure(group.units):
            items += self.unit(u, group, cur, entry)
            if not self.train_only(u):  # a side head: the main path goes on from its input
                cur = self.last(u)
        return items

    def train_only(self, u: Any) -> bool:
        return isinstance(u, Group) and all(self.layer(i).train_only for i in _layer_ids(u))

    def unit(self, u: Any, group: Group, cur: int, entry: int) -> list[Any]:
        pre: list[Any] = []
        if self.entry(u) != cur and not (isinstance(u, int) and self.layer(u).kind in MERGES):
            pre = [{"ref": self.ref(self.entry(u), group, entry)}]
            cur = self.entry(u)
        if isinstance(u, int):
            return [*pre, self.op(u, group, cur, entry)]
        if isinstance(u, Struct):
            return [*pre, self.struct(u, group, cur, entry, flat=True)]
        if not (u.resumed or u.reopened or self.train_only(u)):
            single = self.single_structure(u)  # written as that structure: the plain list is not needed
            if single is not None:
                self.entries[u.path] = cur
                return [*pre, named(u.path[-1], single)]
        inner = self.emit(u, cur)
        if u.resumed:
            return [*pre, {u.path[-1]: inner, "continue": True}]
        if u.reopened:
            self.lists.add(u.path)
            return [*pre, {u.path[-1]: inner}]
        if self.train_only(u):
            return [*pre, named(u.path[-1], {"aux": inner, "train_only": True})]
        if len(inner) == 1 and isinstance(inner[0], dict) and "repeat" in inner[0]:
            return [*pre, named(u.path[-1], inner[0])]
        return [*pre, named(u.path[-1], inner)]

    def single_structure(self, g: Group) -> Any:
        """A group that is one structure (and a tail): ``{residual: ..., then: [...]}``, no ``flat``."""
        units = self.structure(g.units)
        if not units or not isinstance(units[0], Struct):
            return None
        s = units[0]
        cur = self.fork(s)
        if cur != self.entry(g.units[0]):
            return None
        item = self.struct(s, g, cur, cur, flat=False)
        tail: list[Any] = []
        cur = s.merge
        for u in units[1:]:
            tail += self.unit(u, g, cur, self.fork(s))
            cur = self.last(u)
        if tail:
            item["then"] = tail
        return item

    def op(self, lid: int, group: Group, cur: int, entry: int) -> Any:
        layer = self.layer(lid)
        name = self.paths[lid][-1]
        if layer.kind in MERGES and len(layer.inputs) >= 2:
            # a ref branch adds no level (a list would be named branch1, branch2 in the scope)
            branches = [
                "identity" if i == cur else {"ref": self.ref(i, group, entry), "flat": True} for i in layer.inputs
            ]
            item: dict[str, Any] = {layer.kind: branches, "flat": True}
            if layer.fields.get("inplace"):
                item["inplace"] = True
            return item
        body = {layer.kind: dict(layer.fields)} if layer.fields else layer.kind
        item = named(name, body)
        if layer.shares is not None:
            owner = next(i for i, p in self.paths.items() if p == layer.shares)
            item["share"] = _Ref(owner, self.key(owner, group.path))
        return item

    def branch(self, units: list[Any], group: Group, fork: int, entry: int) -> Any:
        if not units:
            return "identity"
        items: list[Any] = []
        cur = fork
        for u in units:
            items += self.unit(u, group, cur, entry)
            cur = self.last(u)
        return items[0] if len(items) == 1 else {"seq": items, "flat": True}

    def struct(self, s: Struct, group: Group, cur: int, entry: int, flat: bool) -> dict[str, Any]:
        merge = self.layer(s.merge)
        fork = self.fork(s)
        extra: dict[str, Any] = {"inplace": True} if merge.fields.get("inplace") else {}
        if merge.kind == "add" and len(s.branches) == 2:
            body, short = sorted(s.branches, key=len, reverse=True)
            if len(short) <= 1:
                items: list[Any] = []
                c = fork
                for u in body:
                    items += self.unit(u, group, c, entry)
                    c = self.last(u)
                out: dict[str, Any] = {"residual": items}
                if short:
                    out["shortcut"] = self.branch(short, group, fork, entry)
                out.update(extra)
                if flat:
                    out["flat"] = True
                return out
        out = {merge.kind: [self.branch(b, group, fork, entry) for b in s.branches], **extra}
        if flat:
            out["flat"] = True
        return out


# -- folding into blocks --------------------------------------------------------------------
LEAF = (int, float, bool)


def _is_leaf(v: Any) -> bool:
    return isinstance(v, LEAF) or (isinstance(v, list) and bool(v) and all(isinstance(x, LEAF) for x in v))


def _leaves(item: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Positions of the values a block can take as arguments: numbers, booleans, lists of numbers."""
    if isinstance(item, dict):
        for k, v in item.items():
            if _is_leaf(v):
                yield (*at, k)
            else:
                yield from _leaves(v, (*at, k))
    elif isinstance(item, list):
        for i, v in enumerate(item):
            yield from _leaves(v, (*at, i))


def _refs(item: Any) -> Iterator[_Ref]:
    if isinstance(item, _Ref):
        yield item
    elif isinstance(item, dict):
        for v in item.values():
            yield from _refs(v)
    elif isinstance(item, list):
        for v in item:
            yield from _refs(v)


def _shape_key(item: Any, entry: int) -> str:
    def strip(v: Any) -> Any:
        if isinstance(v, _Ref):
            return "<in>" if v.target == entry else v.key
        if _is_leaf(v):
            return "?"
        if isinstance(v, dict):
            return {str(k): strip(x) for k, x in v.items()}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return json.dumps(strip(item))


def _get(item: Any, at: tuple[Any, ...]) -> Any:
    for k in at:
        item = item[k]
    return item


def _set(item: Any, at: tuple[Any, ...], value: Any) -> None:
    for k in at[:-1]:
        item = item[k]
    item[at[-1]] = value


def _arg_name(at: tuple[Any, ...], taken: set[str]) -> str:
    """An argument's name from its position: ``conv2_stride`` for the stride of layer conv2 (a position
    ``(..., 'conv2', 'conv', 'stride')``), ``stride`` for a layer named by a number, an inner block's
    argument by its own name."""
    from cnncost.ops import REGISTRY

    words = [str(k) for k in at if isinstance(k, str) and k not in _STRUCT_KEYS]
    field_name = words[-1] if words else "arg"
    layer = words[-3] if len(words) >= 3 and words[-2] in REGISTRY else None
    base = f"{layer}_{field_name}" if layer and not layer.isdigit() else field_name
    base = re.sub(r"\W", "_", base)
    if base[0].isdigit() or base in _RESERVED_ARGS:
        base = f"v_{base}"
    if base in REGISTRY or base in _KEYWORDS:  # {blk: {pad: 1}} would read pad as a layer
        base = "padding" if base == "pad" else f"{base}_arg"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    taken.add(name)
    return name


_RESERVED_ARGS = {"in_ch", "in_h", "in_w", "input_ch", "input_h", "input_w", "i", "n", "in", "input"}


_STRUCT_KEYS = ("seq", "residual", "then", "shortcut", "flat", "add", "concat", "mul", "sub")


def _snake(name: str) -> str:
    """A block's name from its module class: ``InvertedResidual`` → ``inverted_residual``; never the name
    of a layer type or a structure (torchvision's ``Permute`` module is block ``permute_block``)."""
    from cnncost.ops import REGISTRY

    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    s = re.sub(r"\W", "_", s) or "block"
    s = s if not s[0].isdigit() else f"b_{s}"
    return f"{s}_block" if s in REGISTRY or s in _KEYWORDS else s


_KEYWORDS = {"add", "aux", "block", "concat", "dense", "mul", "ref", "repeat", "residual", "seq", "sub", "name"}
"""Structure keywords: never a block's name, and a layer so named is written ``{..., name: block}``."""


def _with_entry(v: Any, entry: int) -> Any:
    """A block body: refs to the group's input read ``in``; elsewhere refs are their keys."""
    if isinstance(v, _Ref):
        return "in" if v.target == entry else v.key
    if isinstance(v, dict):
        return {k: _with_entry(x, entry) for k, x in v.items()}
    if isinstance(v, list):
        return [_with_entry(x, entry) for x in v]
    return v


def named(name: str, body: Any) -> dict[str, Any]:
    """The item ``{name: body}``; a name that is a structure keyword (``{block: [...]}`` is a block call)
    is written beside the body instead: ``{seq: [...], name: block}``."""
    if name not in _KEYWORDS:
        return {name: body}
    if isinstance(body, list):
        return {"seq": body, "name": name}
    if isinstance(body, str):
        return {body: {}, "name": name}
    return {**body, "name": name}


@dataclass
class Instance:
    """A group as written inline: where it sits (``seq[index]``), its path, class, input and body."""

    seq: list[Any]
    index: int
    path: tuple[str, ...]
    cls: str
    entry: int
    body: Any


def _is_op_item(it: Any) -> bool:
    """``{conv1: {conv: {...}}}`` or ``{bn1: bn}``: one named op, no group inside."""
    if not isinstance(it, dict) or len(it) != 1:
        return False
    body = next(iter(it.values()))
    return isinstance(body, str) or (isinstance(body, dict) and len(body) == 1 and _is_leafy(next(iter(body.values()))))


def _is_leafy(v: Any) -> bool:
    return isinstance(v, dict) and all(_is_leaf(x) or isinstance(x, str) for x in v.values())


CONTAINERS = ("", "Sequential", "ModuleList", "ModuleDict")
"""Module classes that only hold a list of modules: written as the list (repeats fold inside)."""


class Folder:
    """Replaces groups of one class and one structure by calls of a parameterised block."""

    def __init__(self, paths: dict[int, tuple[str, ...]], names: set[str], lists: set[tuple[str, ...]]) -> None:
        self.paths = paths
        self.lists = lists
        self.defs: dict[str, tuple[list[str], Any]] = {}
        self.taken = set(names)
        """Every layer and group name: a block never has one (``{se: {se: ...}}`` is ambiguous)."""

    def foldable(self, g: Instance) -> bool:
        """Only refs inside the group, or to its input: the body means the same wherever it is called."""
        n = len(g.path)
        if g.path in self.lists:
            return False
        if g.cls in CONTAINERS and not (isinstance(g.body, list) and all(_is_op_item(it) for it in g.body)):
            return False  # a list of blocks stays a list (its runs become repeats); a conv-bn-relu list folds
        return all(r.target == g.entry or (r.target != 0 and self.paths[r.target][:n] == g.path) for r in _refs(g.body))

    def fold(self, level: list[Instance]) -> None:
        buckets: dict[str, list[Instance]] = {}
        for g in level:
            if self.foldable(g):
                buckets.setdefault(f"{g.cls}|{_shape_key(g.body, g.entry)}", []).append(g)
        for members in buckets.values():
            if len(members) >= 2:
                self._define(members)

    def _define(self, members: list[Instance]) -> None:
        positions = list(_leaves(members[0].body))
        columns = {at: [_get(g.body, at) for g in members] for at in positions}
        names: dict[tuple[Any, ...], str] = {}
        params: list[str] = []
        taken: set[str] = set()
        by_column: dict[str, str] = {}
        for at in positions:
            col = columns[at]
            if all(v == col[0] for v in col):
                continue
            text = json.dumps(col)
            if text not in by_column:
                by_column[text] = _arg_name(at, taken)
                params.append(by_column[text])
            names[at] = by_column[text]
        template = copy.deepcopy(members[0].body)
        for at, name in names.items():
            _set(template, at, name)
        block = self._name(_snake(members[0].cls))
        self.defs[block] = (params, _with_entry(template, members[0].entry))
        for g in members:
            args = {name: _get(g.body, at) for at, name in names.items()}
            g.seq[g.index] = named(g.path[-1], {block: args} if args else {block: {}})

    def _name(self, base: str) -> str:
        name, n = base, 1
        while name in self.defs or name in self.taken:
            n += 1
            name = f"{base}_{n}"
        return name


def _instances(
    items: list[Any], w: Writer
) -> tuple[list[tuple[int, Instance]], list[tuple[dict[str, Any], str, list[Any]]]]:
    """Every written group, with where it sits and its height (1: no group inside)."""
    found: list[tuple[int, Instance]] = []

    def visit(seq: list[Any], scope: tuple[str, ...]) -> int:
        height = 0
        for i, it in enumerate(seq):
            if not isinstance(it, dict):
                continue
            keys = [k for k in it if k != "continue"]
            name = it.get("name") if "name" in it else (keys[0] if len(keys) == 1 else None)
            body = ({k: v for k, v in it.items() if k != "name"} if "name" in it else it.get(name)) if name else None
            if "name" in it and "seq" in it and len(it) == 2:
                body = it["seq"]
            path = (*scope, str(name)) if name is not None else None
            if path is not None and "continue" in it and isinstance(body, list):  # its groups fold, it does not
                height = max(height, visit(body, path))
                continue
            if path is not None and path in w.entries and isinstance(body, (list, dict)):
                inner = (
                    visit(body, path)
                    if isinstance(body, list)
                    else max([visit(sub, path) for sub in body.values() if isinstance(sub, list)] or [0])
                )
                found.append((inner + 1, Instance(seq, i, path, w.t.classes.get(path, ""), w.entries[path], body)))
                height = max(height, inner + 1)
                continue
            for key, sub in it.items():
                if isinstance(sub, list) and key != "ref":
                    height = max(height, visit(sub, scope))
                elif isinstance(sub, dict) and key in ("shortcut", "seq"):
                    holder = [sub]  # written back once folded
                    holders.append((it, key, holder))
                    height = max(height, visit(holder, scope))
        return height

    holders: list[tuple[dict[str, Any], str, list[Any]]] = []
    visit(items, ())
    return found, holders


def _fold(items: list[Any], w: Writer) -> tuple[list[Any], dict[str, tuple[list[str], Any]]]:
    """Fold bottom-up (a group's body is final once the groups inside it are calls), then runs of
    calls into repeats; refs left inline are written as their keys."""
    folder = Folder(w.paths, {p for path in w.known for p in path}, w.lists)
    by_height: dict[int, list[Instance]] = {}
    found, holders = _instances(items, w)
    for height, g in found:
        by_height.setdefault(height, []).append(g)
    for height in sorted(by_height):
        folder.fold(by_height[height])
    for parent, key, holder in holders:
        parent[key] = holder[0]
    items = _with_entry(items, -1)
    blocks = set(folder.defs)
    defs = {
        name: (params, _repeats(body, blocks) if isinstance(body, list) else _repeats([body], blocks)[0])
        for name, (params, body) in folder.defs.items()
    }
    return _repeats(items, blocks), defs


def _repeats(items: list[Any], blocks: set[str]) -> list[Any]:
    """Consecutive calls ``0, 1, 2`` of one block in one level become ``{repeat: n, block: b, ...}``,
    when a repeat would give its repetitions those names (the first free indices of the level)."""
    out: list[Any] = []
    used: set[str] = set()
    explicit = {str(next(iter(it))) for it in items if isinstance(it, dict) and len(it) == 1}
    i = 0
    while i < len(items):
        run = _run(items, i, used, explicit, blocks)
        if len(run) >= 2:
            out.append(_repeat_item([items[k] for k in run]))
            used.update(str(next(iter(items[k]))) for k in run)
            i = run[-1] + 1
            continue
        it = items[i]
        if isinstance(it, dict):
            for k, v in it.items():
                if isinstance(v, list) and k != "ref":
                    it[k] = _repeats(v, blocks)
                elif isinstance(v, dict):
                    for kk, vv in v.items():
                        if isinstance(vv, list):
                            v[kk] = _repeats(vv, blocks)
            if len(it) == 1:
                used.add(str(next(iter(it))))
        out.append(it)
        i += 1
    return out


def _call_of(it: Any, blocks: set[str]) -> tuple[str, str, dict[str, Any]] | None:
    if not isinstance(it, dict) or len(it) != 1:
        return None
    ((name, call),) = it.items()
    if isinstance(call, dict) and len(call) == 1:
        ((block, args),) = call.items()
        if block in blocks and isinstance(args, dict):
            return str(name), str(block), args
    return None


def _run(items: list[Any], i: int, used: set[str], explicit: set[str], blocks: set[str]) -> list[int]:
    first = _call_of(items[i], blocks)
    if first is None or not first[0].isdigit():
        return []
    expected = 0
    while str(expected) in used or (str(expected) in explicit and str(expected) != first[0]):
        expected += 1
    if first[0] != str(expected):
        return []
    run, k, nxt = [i], i + 1, expected + 1
    while k < len(items):
        c = _call_of(items[k], blocks)
        if c is None or c[1] != first[1] or c[0] != str(nxt) or str(nxt) in used:
            break
        run.append(k)
        k += 1
        nxt += 1
    return run


def _repeat_item(calls: list[Any]) -> dict[str, Any]:
    parsed = [_call_of(c, {next(iter(next(iter(c.values()))))}) for c in calls]
    args = [p[2] for p in parsed if p is not None]
    block = parsed[0][1] if parsed[0] else ""
    common = {k: v for k, v in args[0].items() if all(a.get(k) == v for a in args)}
    item: dict[str, Any] = {"repeat": len(calls), "block": block, **common}
    at = {j: d for j, a in enumerate(args) if (d := {k: v for k, v in a.items() if k not in common})}
    if list(at) == [0]:
        item["first"] = at[0]
    elif at:
        item["at"] = at
    return item


# -- YAML ----------------------------------------------------------------------------------
_PLAIN = re.compile(r"^[A-Za-z_][\w.\-]*$")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def scalar(v: Any) -> str:
    if isinstance(v, _Ref):
        return v.key
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        if "e" in text and "." not in text.split("e")[0]:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return text
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS:
        return s
    return json.dumps(s)


def flow(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    return scalar(v)


WIDTH = 116


def _has_items(v: Any) -> bool:
    """Whether a value holds a sequence of layers (written in block style, one layer a line)."""
    if isinstance(v, list):
        return any(isinstance(x, (dict, list)) for x in v) and not all(_is_leaf(x) for x in v)
    if isinstance(v, dict):
        return any(_has_items(x) for x in v.values())
    return False


def block_lines(v: Any, indent: int) -> list[str]:
    """YAML lines for a value at ``indent``: flow style when short and flat, block style otherwise."""
    pad = " " * indent
    if isinstance(v, list):
        out: list[str] = []
        for x in v:
            if isinstance(x, dict) and len(x) == 1:  # - name: {op: ...}, not - {name: {op: ...}}
                out += block_lines(x, indent + 2)
                out[-len(block_lines(x, indent + 2))] = f"{pad}- " + out[-len(block_lines(x, indent + 2))].lstrip()
                continue
            text = flow(x)
            if len(text) + indent + 2 <= WIDTH and not _deep(x):
                out.append(f"{pad}- {text}")
            else:
                sub = block_lines(x, indent + 2)
                out.append(f"{pad}- {sub[0].lstrip()}")
                out += sub[1:]
        return out
    if isinstance(v, dict):
        out = []
        for k, x in v.items():
            text = flow(x)
            if not isinstance(x, (dict, list)) or (len(text) + indent + len(str(k)) + 2 <= WIDTH and not _deep(x)):
                out.append(f"{pad}{scalar(k)}: {text}")
            else:
                out.append(f"{pad}{scalar(k)}:")
                out += block_lines(x, indent + 2)
        return out
    return [pad + scalar(v)]


def _deep(v: Any) -> bool:
    """Sequences of several layers and sub-groups are written one item a line."""
    if isinstance(v, list):
        return sum(1 for x in v if isinstance(x, (dict, list))) > 1 or any(_deep(x) for x in v)
    if isinstance(v, dict):
        return any(_deep(x) for x in v.values()) or (
            len(v) == 1 and isinstance(next(iter(v.values())), list) and len(next(iter(v.values()))) > 1
        )
    return False


# -- entry point ---------------------------------------------------------------------------
def write_spec(t: Traced, name: str, source: str, title: str = "", header: str = "") -> str:
    """The spec YAML of a traced model."""
    root, paths = _tree(t)
    w = Writer(t, paths)
    w.known = set(paths.values()) | {g.path for g in _groups(root)}
    items = w.emit(root, 0)
    main = [u for u in root.units if not w.train_only(u)]
    last = w.last(main[-1]) if main else 0
    if t.output != last:
        items.append({"ref": w.key(t.output, ())})
    for aux in t.aux_outputs:
        if not t.layers[aux - 1].train_only:  # a train-only head is its own aux item
            items.append({"aux": [{"ref": w.key(aux, ())}]})
    items, defs = _fold(items, w)
    lines = [f"# {header}"] if header else []
    lines += [f"# not written: {m} ({n:,} parameters) never runs in forward" for m, n in t.uncalled]
    lines += [
        f"name: {scalar(name)}",
        f"title: {scalar(title or name)}",
        f"reference: {scalar(source)}",
        f"input: {flow(list(t.input_shape))}",
    ]
    if defs:
        lines.append("blocks:")
        for bname, (params, body) in defs.items():
            sig = f"{bname}({', '.join(params)})" if params else bname
            lines += block_lines({sig: body}, 2)
    lines.append("layers:")
    lines += block_lines(items, 2)
    return "\n".join(lines) + "\n"


def _layer_ids(g: Group) -> Iterator[int]:
    for u in g.units:
        if isinstance(u, Group):
            yield from _layer_ids(u)
        else:
            yield u


def _groups(g: Group) -> Iterator[Group]:
    yield g
    for u in g.units:
        if isinstance(u, Group):
            yield from _groups(u)
