"""Bad specs give one clear SpecError: file, line, layer path, what was found, what was expected."""

import pytest

from cnncost import analyze, load_model
from cnncost.errors import SpecError


def error_of(write_spec, text: str) -> SpecError:
    path = write_spec(text)
    with pytest.raises(SpecError) as exc:
        analyze(load_model(str(path)))
    assert exc.value.file and exc.value.file.endswith("net.yaml")
    return exc.value


def test_unknown_layer_type_suggests(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 32, 32]
        layers:
          - covn: {out: 8, k: 3}
        """,
    )
    assert "unknown layer type 'covn'" in str(e)
    assert "conv" in e.expected
    assert e.line == 4


def test_missing_field(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 32, 32]
        layers:
          - relu
          - conv: {k: 3}
        """,
    )
    assert "missing required field 'out'" in e.message
    assert e.path == "conv1"
    assert e.line == 5


def test_mistyped_field_lists_allowed(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, kernal: 3}
        """,
    )
    assert "unknown field 'kernal'" in e.message
    assert "k" in e.expected and "stride" in e.expected


def test_wrong_type(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8.5, k: 3}
        """,
    )
    assert "8.5 is not a whole number" in e.message


def test_channel_mismatch_at_add_names_the_layer(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 32, 32]
        blocks:
          unit(w):
            residual: [conv: {out: w, k: 3, pad: 1}]
        layers:
          - conv: {out: 256, k: 1}
          - stage3: {repeat: 1, block: unit, w: 512}
        """,
    )
    assert str(e).endswith(
        "stage3.0.add: the body gives 512 channels, the shortcut 256: they cannot be added "
        "(expected a projection shortcut to match channels)"
    )
    assert e.line is not None


def test_spatial_mismatch_at_concat(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 32, 32]
        layers:
          - concat:
            - [conv: {out: 8, k: 3, pad: 1}]
            - [conv: {out: 8, k: 3}]
        """,
    )
    assert "concat" in e.message and "8×30×30" in e.message and "8×32×32" in e.message
    assert e.path == "concat1.concat"


def test_kernel_larger_than_padded_input(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 4, 4]
        layers:
          - conv: {out: 8, k: 7, pad: 1}
        """,
    )
    assert "kernel 7 is larger than the padded input 4+1+1 = 6" in e.message


def test_linear_on_a_feature_map(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 4, 4]
        layers:
          - linear: {out: 10}
        """,
    )
    assert "flat input" in e.message and "flatten" in e.expected


def test_unknown_block_argument(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 8, 8]
        blocks:
          unit(w, stride=1): [conv: {out: w, k: 3, stride: stride, pad: 1}]
        layers:
          - unit: {w: 4, strid: 2}
        """,
    )
    assert "unit(w, stride): unknown argument 'strid'" in e.message


def test_unknown_variant_parameter(write_spec):
    path = write_spec("""
        input: [3, 8, 8]
        params: {width: 4}
        variants:
          small: {widht: 2}
        layers: [conv: {out: width, k: 1}]
        """)
    with pytest.raises(SpecError) as exc:
        load_model(f"{path}:small")
    assert "unknown parameter 'widht'" in exc.value.message
    assert exc.value.line == 5


def test_yaml_syntax_error_has_a_line(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 1\n")
    with pytest.raises(SpecError) as exc:
        load_model(str(path))
    assert "invalid YAML" in exc.value.message and exc.value.line


def test_unknown_model_suggests_close_names():
    with pytest.raises(SpecError) as exc:
        load_model("resnet5")
    assert "unknown model 'resnet5'" in exc.value.message
    assert "resnet50" in exc.value.expected


def test_block_may_not_shadow_an_op(write_spec):
    e = error_of(
        write_spec,
        """
        input: [3, 8, 8]
        blocks:
          conv(w): [relu]
        layers: [relu]
        """,
    )
    assert "has the name of a built-in layer type" in e.message


def test_stride_that_does_not_tile_warns_with_rows(write_spec):
    path = write_spec("""
        input: [1, 7, 7]
        layers:
          - conv: {out: 1, k: 3, stride: 3}
        """)
    a = analyze(load_model(str(path)))
    assert a.layers[-1].out_shape == (1, 2, 2)
    messages = [str(w) for w in a.warnings]
    assert len(messages) == 1
    assert messages[0].endswith(
        "net.yaml:4: conv1: stride 3 does not tile the input: "
        "(7+0-3)/3+1 = 2.33; input rows 6 and columns 6 are never read"
    )
