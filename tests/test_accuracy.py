"""Published ImageNet accuracies of the zoo (``accuracy:`` of a variant), against their sources.

Two kinds of entry (the rule: docs/published.md#accuracy). A variant whose ``reference`` is a torchvision
classifier with ``IMAGENET1K_V1`` weights evaluated at the variant's own input gets those weights'
``_metrics``, read here from the installed package (no download): errors are 100 − acc, rounded to 3
decimals. Every other entry is a paper's table as a lecture note quotes it: its source names the
lecture and the table row, and the row's line in the lecture text must hold both numbers.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from cnncost.spec.catalog import all_models, load_model

tvm = pytest.importorskip("torchvision.models")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = next((p for p in (ROOT.parent / "shared" / "seeds", ROOT / "shared" / "seeds") if p.is_dir()), None)
TORCHVISION_ENTRIES = 68
"""Zoo variants whose torchvision reference has IMAGENET1K_V1 metrics at the variant's input (70 with such
weights, less efficientnet_b2, whose weights are evaluated at 288, not its 260, and mobilenet_v2_140,
whose width_mult=1.4 the 1.0 weights do not fit)."""
RECORDED = 100
"""Variants with a published top-1 error: the torchvision ones and 32 from papers."""
REFERENCE = re.compile(r"torchvision\.models\.(\w+)(?:\((.*)\))?")
SAME_WEIGHTS = {"aux_logits", "init_weights"}
"""Arguments of a reference that leave the weights' architecture: torchvision's own builder sets both when
it loads GoogLeNet's or Inception-v3's weights (and drops the aux heads afterwards if not asked for)."""


@cache
def zoo() -> dict[str, object]:
    return {name: load_model(name) for name in sorted({t for _, t in all_models().values()})}


def torchvision_weights(spec) -> object | None:
    """The IMAGENET1K_V1 weights whose metrics apply to ``spec``, or None."""
    m = REFERENCE.fullmatch(spec.reference or "")
    if m is None:
        return None
    name, args = m.groups()
    if args and {a.split("=")[0].strip() for a in args.split(",")} - SAME_WEIGHTS:
        return None
    try:
        weights = getattr(tvm.get_model_weights(name), "IMAGENET1K_V1", None)
    except ValueError:  # a torchvision model without registered weights
        return None
    if weights is None or "ImageNet-1K" not in weights.meta.get("_metrics", {}):
        return None
    return weights if weights.transforms().crop_size[0] == spec.input[1] else None


def expected_entry(weights) -> dict[str, object]:
    t = weights.transforms()
    met = weights.meta["_metrics"]["ImageNet-1K"]
    return {
        "top1_error": round(100 - met["acc@1"], 3),
        "top5_error": round(100 - met["acc@5"], 3),
        "source": (
            f"torchvision {type(weights).__name__}.IMAGENET1K_V1 _metrics: acc@1 {met['acc@1']:.3f}, "
            f"acc@5 {met['acc@5']:.3f} (single {t.crop_size[0]} crop, resize {t.resize_size[0]})"
        ),
    }


def test_every_torchvision_model_carries_its_weights_metrics():
    with_weights = {name: w for name, spec in zoo().items() if (w := torchvision_weights(spec)) is not None}
    assert len(with_weights) == TORCHVISION_ENTRIES
    for name, weights in with_weights.items():
        assert zoo()[name].accuracy == expected_entry(weights), name
    from_torchvision = {n for n, s in zoo().items() if s.accuracy.get("source", "").startswith("torchvision")}
    assert from_torchvision == set(with_weights)


def test_every_entry_has_a_source_and_a_top1():
    entries = {name: spec.accuracy for name, spec in zoo().items() if spec.accuracy}
    assert len(entries) >= RECORDED
    for name, acc in entries.items():
        assert acc.get("source", "").strip(), name
        assert 0 < acc["top1_error"] < 100, name
        assert acc.get("top5_error", 0) < acc["top1_error"], name


def test_no_accuracy_at_another_input():
    """A CIFAR-sized copy of a torchvision model is not the model its weights were evaluated as."""
    for name, spec in zoo().items():
        if spec.accuracy and spec.input[1:] in ((32, 32), (28, 28)):
            pytest.fail(f"{name} at {spec.input} has an ImageNet accuracy")
    assert not zoo()["efficientnet_b2"].accuracy  # torchvision evaluates its weights at 288, the spec is 260


PAPER_SOURCE = re.compile(r"\(lecture (\d{3}), row '([^']+)'")


def numbers(line: str) -> set[float]:
    return {round(float(x), 3) for x in re.findall(r"\d+\.\d+|\d+", line)}


def quoted_as(error: float) -> set[float]:
    """The forms a table prints an error in: itself, the accuracy in percent, the accuracy as a fraction."""
    return {round(error, 3), round(100 - error, 3), round((100 - error) / 100, 3)}


def paper_entries() -> list:
    out = []
    for name, spec in zoo().items():
        src = spec.accuracy.get("source", "")
        if src and not src.startswith("torchvision"):
            out.append(pytest.param(name, spec.accuracy, id=name))
    return out


@pytest.mark.parametrize(("name", "acc"), paper_entries())
def test_paper_entries_are_in_the_lecture_text(name, acc):
    if SEEDS is None:
        pytest.skip("the lecture notes (shared/seeds) are not in this checkout")
    m = PAPER_SOURCE.search(acc["source"])
    assert m, f"{name}: a paper entry names its lecture and row: {acc['source']!r}"
    lecture, label = m.groups()
    (seed,) = SEEDS.glob(f"{lecture}_*.txt")
    wanted = [acc["top1_error"], *([acc["top5_error"]] if "top5_error" in acc else [])]
    rows = [line for line in seed.read_text().splitlines() if label in line]
    assert any(all(quoted_as(e) & numbers(line) for e in wanted) for line in rows), (
        f"{name}: no line of {seed.name} with {label!r} holds {wanted}"
    )


def test_the_replaced_paper_numbers_are_kept():
    """resnet50 and resnext50_32x4d had the ResNeXt paper's errors; they now carry torchvision's, the
    paper's stay in their notes, and ResNet's Table 4 sits on the paper-layout variants."""
    assert "23.9% top-1" in zoo()["resnet50"].notes
    assert "22.2% top-1" in " ".join(zoo()["resnext50_32x4d"].notes.split())
    assert zoo()["resnet101_paper"].accuracy["top1_error"] == 19.87
    assert zoo()["resnet152_paper"].accuracy["top5_error"] == 4.49
