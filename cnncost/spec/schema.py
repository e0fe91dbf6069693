"""JSON Schema for spec files, generated from the op registry so it never drifts from the code.

Point an editor's YAML language server at ``cnncost schema > cnncost.schema.json`` for
completion of layer types and their fields.
"""

from __future__ import annotations

from typing import Any

from cnncost.ops import REGISTRY
from cnncost.ops.base import Field
from cnncost.spec.family import METRICS, REPORTED_KEYS
from cnncost.spec.structures import ITEM_KEYS, STRUCTURE_TYPES, STRUCTURES

_EXPR = {"type": "string", "description": "expression, e.g. 'width * 4'"}
_INT = {"anyOf": [{"type": "integer"}, _EXPR]}
_PAIR = {"anyOf": [{"type": "integer"}, {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2}, _EXPR]}


FIELD_TYPES: dict[str, dict[str, Any]] = {
    "int": _INT,
    "pair": _PAIR,
    "pad": {
        "anyOf": [
            {"enum": ["same", "valid"]},
            _PAIR["anyOf"][0],
            _PAIR["anyOf"][1],
            {"type": "array", "items": _INT, "minItems": 4, "maxItems": 4},
            _EXPR,
        ]
    },
    "bool": {"anyOf": [{"type": "boolean"}, _EXPR]},
    "float": {"anyOf": [{"type": "number"}, _EXPR]},
    "ints": {"anyOf": [{"type": "array", "items": _INT}, _EXPR]},
    "choice": {},  # the field's own choices
}
"""The JSON schema of each op field type (``Field.type``); the registry test checks every type has one."""


def _field_schema(f: Field) -> dict[str, Any]:
    s: dict[str, Any] = {"enum": list(f.choices)} if f.type == "choice" else dict(FIELD_TYPES[f.type])
    if f.doc:
        s["description"] = f.doc
    if f.default is not None and not isinstance(f.default, tuple):
        s["default"] = f.default
    return s


def _undescribed(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "description"}


def _value_types(layer_ref: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """JSON schemas of the value types a structure's keys are declared with (see ``structures.Key``)."""
    return {
        "layers": layer_ref,
        "layer": layer_ref,  # a layer is also a list of layers; seq takes either
        "branches": {"type": "array", "items": layer_ref},
        "count": _INT,
        "name": {"type": "string"},
        "path": {"type": ["string", "integer"]},
        "mapping": {"type": "object"},
        "list": {"type": "array"},
        "probability": {"anyOf": [{"type": "number"}, _EXPR]},
        "condition": {"anyOf": [{"type": "boolean"}, _EXPR]},
        "text": {"type": "string"},
        "flag": {"type": "boolean"},
    }


def _structure_props(layer_ref: dict[str, Any]) -> dict[str, Any]:
    """The keys of a layer item that are not op kinds: item keys, structures and their keys, from the registry.

    A key several structures accept (``block``, ``inplace``) is described once, or as ``anyOf`` if its types differ.
    """
    types = _value_types(layer_ref)
    props: dict[str, Any] = {}

    def put(key: str, schema: dict[str, Any], doc: str) -> None:
        described = {**schema, "description": doc} if doc else dict(schema)
        seen = props.get(key)
        if seen is None:
            props[key] = described
        elif _undescribed(seen) != _undescribed(described) and described not in seen.get("anyOf", ()):
            props[key] = {"anyOf": [*seen.get("anyOf", [seen]), described]}

    for key, k in ITEM_KEYS.items():
        put(key, types[k.type], k.doc)
    for name, s in STRUCTURE_TYPES.items():
        put(name, types[s.value], s.doc)
    for s in STRUCTURE_TYPES.values():  # after the structures: `block` is described as one, not as repeat's key
        for key, k in s.keys.items():
            put(key, types[k.type], k.doc)
        for fname, f in REGISTRY[s.op].fields.items() if s.op else ():
            put(fname, _field_schema(f), f.doc)
    return props


def json_schema() -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for kind, cls in sorted(REGISTRY.items()):
        if kind in STRUCTURE_TYPES:  # the structure wins when a layer is read: the op alias `dense` is not linear
            continue
        props = {}
        for name, f in cls.fields.items():
            for key in (name, *f.aliases):
                props[key] = _field_schema(f)
        ops[kind] = {
            "type": ["object", "null"],
            "properties": props,
            "additionalProperties": False,
            "required": [n for n, f in cls.fields.items() if f.required],
            "description": (cls.__doc__ or "").strip().split("\n")[0],
        }
    layer_ref = {"$ref": "#/$defs/layer"}
    named = {"$ref": "#/$defs/named_layer"}
    layer_props: dict[str, Any] = {
        k: {"anyOf": [{"$ref": f"#/$defs/op_{k}"}, named], "description": ops[k]["description"]} for k in ops
    }
    layer_props.update(_structure_props(layer_ref))  # items read a structure's key as the structure (concat)
    for k, s in STRUCTURE_TYPES.items():  # {dense: {linear: ...}}: a structure's keyword as a layer's name
        layer_props[k] = {"anyOf": [_undescribed(layer_props[k]), named], "description": s.doc}
    kinds = sorted({*REGISTRY, *STRUCTURE_TYPES})
    reported: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["metric", "value"],
        "properties": {k: {} for k in sorted(REPORTED_KEYS)},
    }
    reported["properties"]["metric"] = {"enum": list(METRICS)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cnncost spec",
        "type": "object",
        "required": ["input", "layers"],
        "properties": {
            "family": {"type": "string"},
            "name": {"type": "string"},
            "title": {"type": "string"},
            "cite": {"type": "string"},
            "url": {"type": "string"},
            "notes": {"type": "string"},
            "input": {"type": "array", "items": {"type": "integer", "minimum": 1}},
            "params": {"type": "object"},
            "variants": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
            "blocks": {"type": "object", "additionalProperties": {"anyOf": [layer_ref, {"$ref": "#/$defs/layers"}]}},
            "layers": {"$ref": "#/$defs/layers"},
            "reported": {"type": "array", "items": reported},
            "reference": {"type": "string"},
            "differs": {"type": "string"},
            "aliases": {"type": "array", "items": {"type": "string"}},
            "default": {"type": "string"},
        },
        "additionalProperties": False,
        "$defs": {
            "layers": {"type": "array", "items": layer_ref},
            "layer": {
                "anyOf": [
                    {"type": "string", "description": "op, structure or block with defaults: relu, bn, flatten"},
                    {"$ref": "#/$defs/layers"},
                    {
                        "type": "object",
                        "properties": layer_props,
                        "additionalProperties": True,
                        "description": "{kind: {fields}}, {name: layer}, or a structure: " + ", ".join(STRUCTURES),
                    },
                ]
            },
            "named_layer": {
                "description": "a layer named like an op or structure: {fc: {linear: {...}}}, {avgpool: "
                "global_avgpool}, {flatten: [...]}, {conv: {basic_conv: {...}}} (a mapping holds a layer type "
                "or a block of the file)",
                "allOf": [
                    layer_ref,
                    {
                        "anyOf": [
                            {"type": ["string", "array"]},
                            *({"required": [k]} for k in kinds),
                            {  # a key holding a mapping, a list or nothing: a block call, {basic: [64, 3]}
                                "type": "object",
                                "not": {"additionalProperties": {"not": {"type": ["object", "array", "null"]}}},
                            },
                        ]
                    },
                ],
            },
            **{f"op_{k}": v for k, v in ops.items()},
        },
    }
