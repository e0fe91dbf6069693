"""``share:``: a layer that reuses an earlier layer's weights counts its MACs, not its params."""

import pytest
import torch

from cnncost import analyze, load_model
from cnncost.errors import SpecError
from cnncost.torch.builder import build
from cnncost.torch.crosscheck import check_against_torch

# The same 3×3 conv (8 → 8, with bias: 584 params) applied three times, with its own BN each time,
# as PolyNet's PolyConv2d does; the third application names the second, which itself shares.
UNROLLED = """
    input: [8, 16, 16]
    blocks:
      step(owner=""):
        - {conv: {out: 8, k: 3, pad: 1}, name: conv, share: "{owner}"}
        - {bn: {}, name: bn}
        - relu
    layers:
      - {step: {}, name: s0}
      - {step: {owner: s0.conv}, name: s1}
      - {step: {owner: s1.conv}, name: s2}
    """


def test_shared_conv_counts_params_once_and_macs_each_time(write_spec):
    a = analyze(load_model(str(write_spec(UNROLLED))))
    convs = [r for r in a.layers if r.kind == "conv"]
    assert [r.params for r in convs] == [8 * 8 * 9 + 8, 0, 0]
    assert [r.macs for r in convs] == [16 * 16 * 8 * 8 * 9] * 3
    assert [r.shares for r in convs] == [None, "s0.conv", "s0.conv"]  # chains resolve to the owner
    assert convs[1].label.endswith("(shared)")
    bns = [r for r in a.layers if r.kind == "bn"]
    assert [r.params for r in bns] == [16, 16, 16]  # not shared: each application has its own BN
    assert a.totals.params == 584 + 3 * 16


def test_torch_build_ties_the_tensors(write_spec):
    spec = load_model(str(write_spec(UNROLLED)))
    a = analyze(spec)
    net = build(spec)
    modules = dict(net.named_modules())
    assert modules["s2.conv"].weight is modules["s0.conv"].weight
    assert sum(p.numel() for p in net.parameters()) == a.totals.params == 632
    checks = check_against_torch(a, net, torch.randn(1, 8, 16, 16))
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_shared_blocks_are_replayed_with_their_owner(write_spec):
    """A repeated block whose layers share inside it: each copy shares with its own first layer."""
    a = analyze(
        load_model(
            str(
                write_spec("""
        input: [4, 8, 8]
        blocks:
          twice:
            - {conv: {out: 4, k: 1}, name: a}
            - {conv: {out: 4, k: 1}, name: b, share: a}
        layers:
          - {repeat: 3, block: twice}
        """)
            )
        )
    )
    shared = {r.name: r.shares for r in a.layers if r.kind == "conv"}
    assert shared == {"0.a": None, "0.b": "0.a", "1.a": None, "1.b": "1.a", "2.a": None, "2.b": "2.a"}
    assert a.totals.params == 3 * 20


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{conv: {out: 8, k: 1}, share: c1}", "needs weights 8×8×1×1, 8, c1 has 8×8×3×3, 8"),
        ("{linear: {out: 8}, share: c1}", "c1 is conv 3×3, not a linear layer"),
        ("{relu: {}, share: c1}", "a relu layer has no weights to share"),
        ("{conv: {out: 8, k: 3, pad: 1}, share: nowhere}", "share: no layer 'nowhere' before this point"),
        ("{conv: {out: 8, k: 3, pad: 1}, share: blk}", "'blk' is a group of layers ending in blk.relu"),
    ],
)
def test_bad_share_is_a_clear_error(write_spec, layer, message):
    flatten = "\n          - flatten" if "linear" in layer else ""
    path = write_spec(f"""
        input: [8, 4, 4]
        layers:
          - {{conv: {{out: 8, k: 3, pad: 1}}, name: c1}}
          - blk: [conv: {{out: 8, k: 1}}, relu]{flatten}
          - {layer}
        """)
    with pytest.raises(SpecError) as exc:
        analyze(load_model(str(path)))
    assert message in str(exc.value)
    assert exc.value.line == (7 if flatten else 6)
