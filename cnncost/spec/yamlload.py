"""Safe YAML loading that remembers line numbers, so every error can point at its line.

Only plain YAML (``SafeLoader``: maps, lists, scalars); no Python tags, ever.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from cnncost.errors import SpecError
from cnncost.limits import SPEC_BYTES, YAML_DEPTH, YAML_NODES

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LDict(dict):  # type: ignore[type-arg]
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line) if hasattr(self, "key_lines") else self.line


class LList(list):  # type: ignore[type-arg]
    """A sequence that knows its line and each item's line."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        lines = getattr(self, "item_lines", [])
        return lines[index] if 0 <= index < len(lines) else self.line


class _Loader(_Base):  # type: ignore[misc,valid-type]
    pass


# Dates stay text (`title: 2024-13-45` is a title, not a bad date): no implicit timestamp resolution.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}


def _checked_scalar(construct: Any, what: str) -> Any:
    """A scalar constructor whose failure (``!!float abc``, a 5,000-digit integer) is a spec error at its line."""

    def run(loader: Any, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError, TypeError) as exc:
            line = node.start_mark.line + 1
            if len(node.value) > sys.get_int_max_str_digits() and node.value.strip("+-_0123456789") == "":
                raise SpecError(
                    f"a {len(node.value):,}-digit integer",
                    line=line,
                    expected=f"at most {sys.get_int_max_str_digits():,} digits",
                ) from None
            text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            raise SpecError(f"cannot read {text!r} as {what} ({exc})", line=line) from None

    return run


for _tag, _what in (
    ("int", "an integer"),
    ("float", "a number"),
    ("bool", "true or false"),
    ("timestamp", "a date"),
    ("binary", "base64 data"),
):
    _Loader.add_constructor(
        f"tag:yaml.org,2002:{_tag}", _checked_scalar(_Base.yaml_constructors[f"tag:yaml.org,2002:{_tag}"], _what)
    )


def _construct_map(loader: Any, node: yaml.MappingNode) -> LDict:
    out = LDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    merged: dict[str, object] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` — explicit keys win
            for source in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
                value = loader.construct_object(source, deep=True)
                if not isinstance(value, dict):
                    raise SpecError("'<<' merges a mapping", line=key_node.start_mark.line + 1)
                merged.update({k: v for k, v in value.items() if k not in merged})
            continue
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or isinstance(key, bool):
            raise SpecError(f"mapping key {key!r} is not a name", line=key_node.start_mark.line + 1)
        key = str(key)
        if key in out:
            raise SpecError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    for key, value in merged.items():
        if key not in out:
            out[key] = value
            out.key_lines[key] = out.line
    return out


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml(path: Path) -> Any:
    """Parse ``path``; unreadable, oversized, non-UTF-8 or malformed input becomes a ``SpecError``."""
    try:
        size = path.stat().st_size
        if size > SPEC_BYTES.value:
            raise SPEC_BYTES.exceeded(f"{size:,} bytes", file=str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"byte 0x{raw[exc.start]:02x} is not UTF-8 text",
            file=str(path),
            line=line,
            expected="a UTF-8 file (save it as UTF-8)",
        ) from None
    return load_yaml_text(text, str(path))


def _check_size(root: yaml.Node) -> None:
    """Nesting depth and the node count once aliases are expanded, without expanding them (an alias
    bomb of 9 levels of 9 aliases is 387 million nodes from 100 lines)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if not done:
            if id(node) in size:
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            if len(stack) > 4 * YAML_NODES.value:
                raise YAML_NODES.exceeded("the YAML", line=node.start_mark.line + 1)
            continue
        size[id(node)] = 1 + sum(size.get(id(c), 0) for c in children)
        depth[id(node)] = 1 + max((depth.get(id(c), 0) for c in children), default=0)
        if size[id(node)] > YAML_NODES.value:
            raise YAML_NODES.exceeded("the YAML (aliases of aliases?)", line=node.start_mark.line + 1)
        if depth[id(node)] > YAML_DEPTH.value:
            raise YAML_DEPTH.exceeded("the YAML", line=node.start_mark.line + 1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml_text(text: str, name: str = "<string>") -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except SpecError as exc:
        raise exc.with_context(file=name) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SpecError(f"invalid YAML: {_one_line(exc.problem)}", file=name, line=line) from None
    except yaml.reader.ReaderError as exc:  # a control character: the reader knows its position only
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecError(
            f"invalid YAML: character U+{code:04X} is not allowed",
            file=name,
            line=line,
            expected="printable text (a tab is written \\t inside quotes)",
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {_one_line(str(exc))}", file=name) from None
    except RecursionError:
        raise YAML_DEPTH.exceeded("the YAML", file=name) from None
    finally:
        loader.dispose()


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
