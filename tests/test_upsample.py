"""upsample: output sizes against F.interpolate at odd sizes and scales, fvcore's count, the errors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncost import SpecError, analyze, load_model
from cnncost.ops import REGISTRY
from tests.conftest import layer

torch = pytest.importorskip("torch")


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    scale=st.sampled_from([0.5, 1.25, 1.5, 2, 2.5, 3, 1 / 3, 7 / 3]),
    mode=st.sampled_from(["nearest", "bilinear"]),
)
def test_scale_gives_torchs_output_size(h, w, scale, mode):
    op = REGISTRY["upsample"].resolve({"scale": scale, "mode": mode}, {})
    try:
        out = torch.nn.functional.interpolate(torch.zeros(1, 2, h, w), scale_factor=scale, mode=mode)
    except RuntimeError:  # an empty output: torch refuses it, and so does cnncost
        with pytest.raises(SpecError, match="an output of at least 1×1"):
            op.infer([(2, h, w)], lambda m: None)
        return
    assert op.infer([(2, h, w)], lambda m: None) == tuple(out.shape[1:])


def test_size_and_fvcore_count(write_spec):
    from cnncost.torch.builder import build
    from cnncost.torch.crosscheck import fvcore_counts

    spec = load_model(
        str(
            write_spec("""
        input: [3, 9, 13]
        layers:
          - conv: {out: 4, k: 3, stride: 2}
          - up: {upsample: {size: [9, 13], mode: bilinear, align_corners: true}}
          - near: {upsample: {scale: 3}}
        """)
        )
    )
    a = analyze(spec)
    up, near = layer(a, "up"), layer(a, "near")
    assert (up.out_shape, near.out_shape) == ((4, 9, 13), (4, 27, 39))
    _, by_module, _ = fvcore_counts(build(spec), torch.randn(1, 3, 9, 13))
    assert (up.fvcore, near.fvcore) == (by_module["up"], by_module["near"]) == (4 * 9 * 13 * 4, 4 * 27 * 39)
    assert up.macs == near.macs == 0 and up.activations == 4 * 9 * 13


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("{scale: 2, size: 4}", "exactly one of 'scale' or 'size'"),
        ("{}", "exactly one of 'scale' or 'size'"),
        ("{scale: 2, align_corners: true}", "align_corners applies to mode bilinear only"),
        ("{scale: 0.01}", "output 0×0 from 8×8"),
        ("{scale: -1}", "scale -1.0"),
        ("{size: 4, mode: bicubic}", "got 'bicubic'"),
    ],
)
def test_bad_upsample_is_a_clear_error(write_spec, fields, message):
    path = write_spec(f"input: [2, 8, 8]\nlayers:\n  - upsample: {fields}\n")
    with pytest.raises(SpecError, match=message) as info:
        analyze(load_model(str(path)))
    assert info.value.line == 3
