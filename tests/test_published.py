"""Every published number in the specs: within its tolerance, or an explained erratum."""

import pytest

from cnncost.analysis.published import check_model
from cnncost.spec.catalog import load_model
from tests.conftest import catalogue

ENTRIES = [(m, i) for m in catalogue() for i, _ in enumerate(load_model(m).reported)]


@pytest.mark.parametrize(("model", "index"), ENTRIES, ids=[f"{m}-{i}" for m, i in ENTRIES])
def test_published_number(model, index):
    result = check_model(load_model(model))[index]
    entry = result.entry
    assert entry.source, "every published number names its source"
    assert result.status != "fail", (
        f"{model}: {entry.metric} {entry.layer} published {entry.raw_value} ({entry.value:,.0f}), "
        f"computed {result.computed:,.0f} ({result.relative:+.2%}, tolerance {entry.tolerance:.1%})"
    )
    if result.status in ("erratum", "differs"):
        note = entry.erratum or entry.differs
        assert any(ch.isdigit() for ch in note) and ("=" in note or "·" in note or "+" in note), (
            "an erratum shows its arithmetic"
        )


def test_a_needless_erratum_fails(write_spec):
    path = write_spec("""
        input: [3, 32, 32]
        reported:
          - {metric: params, value: 760, source: test, erratum: "claimed wrong but 5*5*3*10+10 = 760"}
        layers: [conv: {out: 10, k: 5, pad: 2}]
        """)
    assert check_model(load_model(str(path)))[0].status == "fail"


def test_a_wrong_published_number_without_erratum_fails(write_spec):
    path = write_spec("""
        input: [3, 32, 32]
        reported: [{metric: params, value: 700, tolerance: 0.05, source: test}]
        layers: [conv: {out: 10, k: 5, pad: 2}]
        """)
    r = check_model(load_model(str(path)))[0]
    assert r.status == "fail" and r.computed == 760
