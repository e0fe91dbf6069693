"""JSON Schema for spec files, generated from the op registry so it never drifts from the code.

Point an editor's YAML language server at ``cnncost schema > cnncost.schema.json`` for
completion of layer types and their fields.
"""

from __future__ import annotations

from typing import Any

from cnncost.ops import REGISTRY
from cnncost.ops.base import Field
from cnncost.spec.expand import STRUCTURES
from cnncost.spec.family import METRICS, REPORTED_KEYS

_EXPR = {"type": "string", "description": "expression, e.g. 'width * 4'"}
_INT = {"anyOf": [{"type": "integer"}, _EXPR]}
_PAIR = {"anyOf": [{"type": "integer"}, {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2}, _EXPR]}


def _field_schema(f: Field) -> dict[str, Any]:
    if f.type == "int":
        s: dict[str, Any] = dict(_INT)
    elif f.type == "pair":
        s = dict(_PAIR)
    elif f.type == "pad":
        s = {"anyOf": [{"enum": ["same", "valid"]}, _PAIR["anyOf"][0], _PAIR["anyOf"][1],
                       {"type": "array", "items": _INT, "minItems": 4, "maxItems": 4}, _EXPR]}
    elif f.type == "bool":
        s = {"anyOf": [{"type": "boolean"}, _EXPR]}
    elif f.type == "float":
        s = {"anyOf": [{"type": "number"}, _EXPR]}
    else:
        s = {"enum": list(f.choices)}
    if f.doc:
        s["description"] = f.doc
    if f.default is not None and not isinstance(f.default, tuple):
        s["default"] = f.default
    return s


def json_schema() -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for kind, cls in sorted(REGISTRY.items()):
        props = {}
        for name, f in cls.fields.items():
            for key in (name, *f.aliases):
                props[key] = _field_schema(f)
        ops[kind] = {"type": ["object", "null"], "properties": props, "additionalProperties": False,
                     "required": [n for n, f in cls.fields.items() if f.required],
                     "description": (cls.__doc__ or "").strip().split("\n")[0]}
    layer_ref = {"$ref": "#/$defs/layer"}
    layer_props: dict[str, Any] = {k: {"$ref": f"#/$defs/op_{k}"} for k in ops}
    layer_props.update({
        "name": {"type": "string"}, "when": {"anyOf": [{"type": "boolean"}, _EXPR]},
        "share": {"type": "string", "description": "path of an earlier layer whose weights this op reuses"},
        "then": {"$ref": "#/$defs/layers"},
        "seq": {"$ref": "#/$defs/layers"}, "repeat": _INT, "dense": _INT,
        "body": {"$ref": "#/$defs/layers"}, "block": {"type": "string"},
        "first": {"type": "object"}, "last": {"type": "object"}, "at": {"type": "object"},
        "args": {"type": "array"}, "residual": {"$ref": "#/$defs/layers"}, "shortcut": layer_ref,
        "concat": {"type": "array", "items": layer_ref}, "add": {"type": "array", "items": layer_ref},
        "mul": {"type": "array", "items": layer_ref},
    })
    reported = {"type": "object", "additionalProperties": False, "required": ["metric", "value"],
                "properties": {k: {} for k in sorted(REPORTED_KEYS)}}
    reported["properties"]["metric"] = {"enum": list(METRICS)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cnncost spec",
        "type": "object",
        "required": ["input", "layers"],
        "properties": {
            "family": {"type": "string"}, "name": {"type": "string"}, "title": {"type": "string"},
            "cite": {"type": "string"}, "url": {"type": "string"}, "notes": {"type": "string"},
            "input": {"type": "array", "items": {"type": "integer", "minimum": 1}},
            "params": {"type": "object"},
            "variants": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
            "blocks": {"type": "object", "additionalProperties": {"anyOf": [layer_ref, {"$ref": "#/$defs/layers"}]}},
            "layers": {"$ref": "#/$defs/layers"},
            "reported": {"type": "array", "items": reported},
            "reference": {"type": "string"}, "differs": {"type": "string"},
            "aliases": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
        "$defs": {
            "layers": {"type": "array", "items": layer_ref},
            "layer": {"anyOf": [
                {"type": "string", "description": "op, structure or block with defaults: relu, bn, flatten"},
                {"$ref": "#/$defs/layers"},
                {"type": "object", "properties": layer_props,
                 "additionalProperties": True,
                 "description": "{kind: {fields}}, {name: layer}, or a structure: "
                                + ", ".join(STRUCTURES)},
            ]},
            **{f"op_{k}": v for k, v in ops.items()},
        },
    }
