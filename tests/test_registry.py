"""The op registry is complete: every kind has a torch builder, a saved-tensor rule, a window (its
receptive-field geometry), an fvcore rule and examples, and every example agrees exactly with torch,
fvcore, FlopCounterMode and autograd's saved tensors. A class missing a piece cannot be registered."""

from __future__ import annotations

import re

import pytest

from cnncost import analyze, load_model
from cnncost.ops import REGISTRY, Example, Field, Op, op_classes
from cnncost.ops.base import MOVES_DATA, SAVES_NOTHING, RegistrationError, identity_window, register

EXAMPLES = [pytest.param(cls, ex, id=f"{cls.kind}-{i}") for cls in op_classes() for i, ex in enumerate(cls.examples)]


def example_spec(write_spec, ex: Example):
    """The example behind a parametrised layer, so that autograd records the op (the network input
    needs no gradient, and torch saves nothing for an op whose inputs need none)."""
    grad = f"conv: {{out: {ex.input[0]}, k: 1}}" if len(ex.input) == 3 else f"linear: {{out: {ex.input[0]}}}"
    return load_model(str(write_spec(f"input: {list(ex.input)}\nlayers:\n  - {grad}\n  - {ex.layers}\n")))


@pytest.mark.parametrize(("cls", "ex"), EXAMPLES)
def test_example_expands_and_uses_its_op(write_spec, cls, ex):
    a = analyze(example_spec(write_spec, ex))
    assert cls.kind in {r.kind for r in a.layers}, f"{cls.kind}'s example does not use it"
    for r in a.layers:
        if r.kind != "input" and REGISTRY[r.kind].op_class == MOVES_DATA:
            assert r.all_ops == r.macs == r.fvcore == 0


def test_every_kind_is_complete():
    from cnncost.torch.layers import missing_builders

    pytest.importorskip("torch")
    assert missing_builders() == []
    for cls in op_classes():
        assert cls.__doc__ or cls.fvcore, cls
        assert cls.saved is not Op.saved and cls.window is not Op.window and cls.fvcore and cls.examples


torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")


@pytest.mark.torch
@pytest.mark.parametrize("cls", [pytest.param(cls, id=cls.kind) for cls in op_classes()])
def test_examples_equal_torch_fvcore_flopcounter(write_spec, cls):
    """Shapes, params and buffers per layer (torch), fvcore per module, FlopCounterMode = 2×MACs; every
    aten op fvcore skips is explained by some op class, and each class's explanations are observed."""
    from cnncost.torch.crosscheck import crosscheck, fvcore_skips

    skipped: set[str] = set()
    for ex in cls.examples:
        checks = crosscheck(example_spec(write_spec, ex), ["torch", "fvcore"])
        failures = [f"{c.check}: cnncost {c.engine} vs {c.oracle}; {c.details[:3]}" for c in checks if not c.ok]
        assert not failures, f"{ex.layers}:\n" + "\n".join(failures)
        skipped |= {op for c in checks for op in c.skipped}
    unexplained = sorted(skipped - set(fvcore_skips()))
    assert not unexplained, f"fvcore skips {unexplained}: say why in the op class's fvcore_skips"
    stale = sorted(set(cls.fvcore_skips) - skipped)
    assert not stale, f"{cls.kind}.fvcore_skips names {stale}, which fvcore never reports for its examples"


@pytest.mark.torch
@pytest.mark.parametrize(("cls", "ex"), EXAMPLES)
def test_example_saved_tensors_equal_autograd(write_spec, cls, ex):
    from cnncost.analysis.memory import memory
    from cnncost.spec.expand import expand
    from cnncost.torch.builder import build
    from cnncost.torch.memory_check import measured_saved_bytes

    spec = example_spec(write_spec, ex)
    torch.manual_seed(0)
    measured = measured_saved_bytes(build(expand(spec)), torch.randn(3, *spec.input))
    assert memory(analyze(spec, batch=3)).saved_activation_bytes == measured


# -- the gate itself ---------------------------------------------------------------------------
def _complete(**overrides):
    """A complete op class, with one piece replaced or removed by ``overrides``."""
    body = {
        "kind": "probe_op",
        "op_class": "act",
        "fvcore": "0",
        "examples": (Example((1,), "[probe_op]"),),
        "saved": lambda self, ins, out: SAVES_NOTHING,
        "window": identity_window,
        **overrides,
    }
    return type("Probe", (Op,), {k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"op_class": "activation"}, "op_class 'activation' is not one of"),
        ({"saved": None}, "no saved() rule"),
        ({"window": None}, "no window() rule"),
        ({"fvcore": None}, "no fvcore text"),
        ({"examples": None}, "no examples"),
        ({"fields": {"alpha": Field("float", 1.0)}}, "fields without a typed attribute: alpha"),
    ],
)
def test_an_incomplete_op_cannot_register(overrides, message):
    with pytest.raises(RegistrationError, match=re.escape(message)):
        register(_complete(**overrides))
    assert "probe_op" not in REGISTRY


def test_a_kind_without_builder_is_reported(monkeypatch):
    from cnncost.torch.layers import missing_builders, to_module

    probe = _complete()
    monkeypatch.setitem(REGISTRY, "probe_op", probe)
    assert missing_builders() == ["probe_op"]
    with pytest.raises(AssertionError, match="no torch builder"):
        to_module(probe({}), [(1,)], (1,))


def test_every_field_type_has_a_schema():
    from cnncost.ops.base import _COERCERS
    from cnncost.spec.schema import FIELD_TYPES, json_schema

    assert set(FIELD_TYPES) == set(_COERCERS)
    order = json_schema()["$defs"]["op_permute"]["properties"]["order"]
    assert order["anyOf"][0]["type"] == "array"


def test_ops_are_immutable():
    op = REGISTRY["conv"].resolve({"out": 4, "k": 3}, {})
    assert (op.out, op.k, op.stride) == (4, (3, 3), (1, 1))
    with pytest.raises(AttributeError):
        op.out = 8
