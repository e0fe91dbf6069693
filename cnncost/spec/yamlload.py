"""Safe YAML loading that remembers line numbers, so every error can point at its line.

Only plain YAML (``SafeLoader``: maps, lists, scalars); no Python tags, ever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cnncost.errors import SpecError

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


def _construct_map(loader: Any, node: yaml.MappingNode) -> LDict:
    out = LDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    merged: dict[str, object] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` — explicit keys win
            for source in (value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]):
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
    """Parse ``path``; YAML syntax errors become a ``SpecError`` with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", file=str(path)) from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, name: str = "<string>") -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except SpecError as exc:
        raise exc.with_context(file=name) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SpecError(f"invalid YAML: {exc.problem}", file=name, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", file=name) from None
