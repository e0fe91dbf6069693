"""Spec-language structures: metamorphic checks (compact ≡ expanded) and torch agreement."""

import pytest

from cnncost import SpecError, analyze, load_model


def costs(a):
    t = a.totals
    return (t.params, t.buffers, t.macs, t.all_ops, t.activations, a.layers[-1].out_shape)


def test_repeat_equals_copies(write_spec):
    compact = write_spec(
        """
        input: [8, 16, 16]
        layers:
          - {repeat: 3, body: [conv: {out: 8, k: 3, pad: 1}, bn, relu]}
        """,
        "compact.yaml",
    )
    expanded = write_spec(
        """
        input: [8, 16, 16]
        layers:
          - [conv: {out: 8, k: 3, pad: 1}, bn, relu]
          - [conv: {out: 8, k: 3, pad: 1}, bn, relu]
          - [conv: {out: 8, k: 3, pad: 1}, bn, relu]
        """,
        "expanded.yaml",
    )
    assert costs(analyze(load_model(str(compact)))) == costs(analyze(load_model(str(expanded))))


def test_depthwise_equals_grouped(write_spec):
    dw = write_spec(
        """
        input: [32, 14, 14]
        layers: [conv: {out: in_ch, k: 3, pad: 1, groups: in_ch, bias: false}]
        """,
        "dw.yaml",
    )
    grouped = write_spec(
        """
        input: [32, 14, 14]
        layers: [conv: {out: 32, k: 3, pad: 1, groups: 32, bias: false}]
        """,
        "g.yaml",
    )
    a = analyze(load_model(str(dw)))
    assert costs(a) == costs(analyze(load_model(str(grouped))))
    assert a.totals.params == 32 * 9
    assert a.totals.macs == 32 * 9 * 14 * 14


def test_block_call_forms_agree(write_spec):
    path = write_spec("""
        input: [3, 8, 8]
        params: {which: unit}
        blocks:
          unit(w, k=3): [conv: {out: w, k: k, pad: k // 2}]
        variants:
          keyword: {}
          positional: {}
          chosen: {}
        layers:
          - unit: {w: 4}
          - unit: [4, 1]
          - {block: which, w: 4}
        """)
    a = analyze(load_model(f"{path}:keyword"))
    assert [r.name for r in a.layers[1:]] == ["unit1.conv1", "unit2.conv1", "unit3.conv1"]
    assert [r.params for r in a.layers[1:]] == [3 * 9 * 4 + 4, 4 * 4 + 4, 4 * 9 * 4 + 4]


DENSE = """
    input: [16, 8, 8]
    blocks:
      layer(growth): [bn, relu, conv: {out: growth, k: 3, pad: 1, bias: false}]
    layers:
      - block1: {dense: 4, block: layer, growth: 12}
      - se: {mul: [identity, [global_avgpool, conv: {out: 4, k: 1}, relu, conv: {out: 64, k: 1}, sigmoid]]}
      - gate: {sub: [identity, [scale: {value: 0.5}]]}
      - aux1: {aux: [global_avgpool, flatten, linear: {out: 3}]}
      - global_avgpool
      - flatten
      - linear: {out: 10}
    """


def test_dense_connectivity_shapes(write_spec):
    a = analyze(load_model(str(write_spec(DENSE))))
    assert a.within(("block1",)).out_shape == (16 + 4 * 12, 8, 8)
    convs = [r for r in a.layers if r.kind == "conv" and r.path[0] == "block1"]
    assert [r.in_shapes[0][0] for r in convs] == [16, 28, 40, 52]
    assert a.within(("se",)).out_shape == (64, 8, 8)


def torch_failures(path) -> list:
    """The failing torch and fvcore cross-checks of the spec at ``path`` (skips without torch)."""
    pytest.importorskip("torch")
    from cnncost.torch.crosscheck import crosscheck

    checks = crosscheck(load_model(str(path)), ["torch", "fvcore"])
    return [(c.check, c.engine, c.oracle, c.details) for c in checks if not c.ok]


@pytest.mark.torch
def test_structures_agree_with_torch(write_spec):
    assert not torch_failures(write_spec(DENSE))


@pytest.mark.torch
def test_same_padding_with_stride_is_asymmetric_like_tensorflow(write_spec):
    path = write_spec("""
        input: [3, 15, 15]
        layers:
          - conv: {out: 8, k: 3, stride: 2, pad: same}
          - maxpool: {k: 3, stride: 2, pad: same}
          - conv: {out: 8, k: [1, 7], pad: [0, 3]}
          - conv: {out: 8, k: [7, 1], pad: [3, 0]}
          - conv: {out: 8, k: 3, dilation: 2, pad: 2}
        """)
    a = analyze(load_model(str(path)))
    assert [r.out_shape for r in a.layers[1:]] == [(8, 8, 8), (8, 4, 4), (8, 4, 4), (8, 4, 4), (8, 4, 4)]
    assert not torch_failures(path)


def test_stochastic_depth_expected_training_cost(write_spec):
    """Linearly decaying survival 1 → 0.5 over L blocks (Huang et al. 2016): block l survives with
    p_l = 1 − l/L · 0.5, so the expected cost of the blocks is Σ p_l / L = 1 − (L+1)/(4L) of it."""
    path = write_spec("""
        input: [16, 8, 8]
        params: {blocks: 10}
        blocks:
          unit(l): {residual: [conv: {out: 16, k: 3, pad: 1, bias: false}], survival: "1 - l / blocks * 0.5"}
        layers:
          - {repeat: blocks, block: unit, l: "i + 1"}
        """)
    from fractions import Fraction

    a = analyze(load_model(str(path)))
    per_block = 16 * 9 * 16 * 64
    assert a.totals.macs == 10 * per_block
    assert a.totals.train_macs == per_block * sum(1 - Fraction(b, 10) / 2 for b in range(1, 11))
    assert a.totals.train_macs / a.totals.macs == 1 - Fraction(11, 40)  # 27.5% less: "about 25%"


def test_a_branch_switched_off_is_removed_not_identity(write_spec):
    path = write_spec("""
        input: [8, 4, 4]
        layers:
          - concat:
            - {conv: {out: 2, k: 1}, when: false}
            - [conv: {out: 3, k: 1}]
            - [conv: {out: 4, k: 1}]
        """)
    assert analyze(load_model(str(path))).layers[-1].out_shape == (7, 4, 4)


def test_repeat_arguments_may_share_a_name_with_an_op(write_spec):
    path = write_spec("""
        input: [8, 4, 4]
        blocks:
          unit(scale): [conv: {out: 8 * scale, k: 1}]
        layers:
          - {repeat: 2, block: unit, scale: 1}
        """)
    assert analyze(load_model(str(path))).totals.params == 2 * (8 * 8 + 8)


OPTION_A = """
    input: [16, 8, 8]
    defaults: &conv {k: 3, pad: 1, bias: false}
    layers:
      - residual: [conv: {<<: *conv, out: 32, stride: 2}, bn, relu, conv: {<<: *conv, out: 32}, bn]
        shortcut: [maxpool: {k: 1, stride: 2}, chanpad: {out: 32}]
      - dpn: {concat: [[slice: {stop: 24}], [slice: {start: 24, stop: 32}, conv: {out: 8, k: 1}]]}
    """


def test_option_a_shortcut_slice_and_yaml_merge_keys(write_spec):
    path = write_spec(OPTION_A.replace("    defaults: &conv {k: 3, pad: 1, bias: false}\n", ""), "a.yaml")
    with pytest.raises(SpecError, match="invalid YAML"):  # *conv without its &conv anchor
        load_model(str(path))
    text = OPTION_A.replace("    defaults: &conv", "    params: {unused: &conv").replace(
        "bias: false}\n    layers", "bias: false}}\n    layers"
    )
    a = analyze(load_model(str(write_spec(text))))
    assert a.within(("residual1",)).params == 16 * 9 * 32 + 32 * 9 * 32 + 4 * 32
    assert a.layers[-1].out_shape == (32, 4, 4)


@pytest.mark.torch
def test_option_a_and_slice_agree_with_torch(write_spec):
    text = OPTION_A.replace("    defaults: &conv", "    params: {unused: &conv").replace(
        "bias: false}\n    layers", "bias: false}}\n    layers"
    )
    assert not torch_failures(write_spec(text))


def test_structure_keywords_can_name_layers(write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - dense: {linear: {out: 10}}
          - concat: {relu: {}}
        """)
    a = analyze(load_model(str(path)))
    assert [r.name for r in a.layers[1:]] == ["dense", "concat"]


def test_named_item_with_when_beside_it(write_spec):
    path = write_spec("""
        input: [4, 8, 8]
        params: {extra: false}
        layers:
          - conv1: {conv: {out: 8, k: 1}}
          - {conv2: {conv: {out: 8, k: 1}}, when: extra}
          - {conv3: [conv: {out: 8, k: 1}, relu], when: not extra}
        """)
    assert [r.name for r in analyze(load_model(str(path))).layers[1:]] == ["conv1", "conv3.conv1", "conv3.relu1"]


def test_ref_reads_earlier_outputs(write_spec):
    """A DPN-style dual path: f(x) once, then its channels split between a sum and a concat."""
    path = write_spec("""
        input: [16, 8, 8]
        blocks:
          dual(r):
            - f: [conv: {out: 24, k: 1}, relu]
            - concat:
              - add: [[ref: in, slice: {stop: r}], [ref: f, slice: {stop: r}]]
              - concat: [[ref: in, slice: {start: r, stop: in_ch}], [ref: f, slice: {start: r, stop: 24}]]
        layers:
          - stem: {conv: {out: 16, k: 1}}
          - cells: {repeat: 2, block: dual, r: 8}
          - skip: {ref: "cells.{n_cells - 2}"}
        params: {n_cells: 2}
        """)
    a = analyze(load_model(str(path)))
    assert a.within(("cells", "0")).out_shape == (8 + 8 + 16, 8, 8)
    assert a.within(("cells", "1")).out_shape == (8 + 24 + 16, 8, 8)
    assert a.within(("cells", "0", "concat1", "branch1", "add")).out_shape == (8, 8, 8)
    out = a.graph.nodes[a.graph.output]
    assert (out.name, out.out_shape) == ("cells.0.concat1.concat", (32, 8, 8))  # skip = cells.{2 - 2}


@pytest.mark.torch
def test_ref_agrees_with_torch(write_spec):
    path = write_spec("""
        input: [16, 8, 8]
        layers:
          - a: {conv: {out: 8, k: 1}}
          - b: {conv: {out: 8, k: 3, pad: 1}}
          - sum: {add: [identity, [ref: a]]}
          - mix: {concat: [identity, [ref: input]]}
          - conv: {out: 4, k: 1}
        """)
    assert not torch_failures(path)


def test_a_named_shortcut_keeps_its_name(write_spec):
    """``shortcut: {downsample: [...]}`` is named like timm's module, not ``shortcut``."""
    a = analyze(
        load_model(
            str(
                write_spec("""
        input: [8, 8, 8]
        layers:
          - block:
              residual: [conv: {out: 16, k: 3, stride: 2, pad: 1}]
              shortcut: {downsample: [conv: {out: 16, k: 1, stride: 2}]}
        """)
            )
        )
    )
    assert [r.name for r in a.layers[1:]] == ["block.conv1", "block.downsample.conv1", "block.add"]
