"""The engine's memos (docs/engine.md) never change a number: a copy equals a fresh expansion, whatever
ran before, and an expansion that depends on where it runs is never copied."""

import random

import pytest

from cnncost import analyze, load_model, memo
from cnncost.analysis.sweep import evaluate
from cnncost.spec.expand import expand
from cnncost.spec.overrides import with_params


def edges(path) -> list[tuple[str, tuple[str, ...]]]:
    """Each layer and the layers it reads, by name: the graph without its ids."""
    g = expand(load_model(str(path)))
    return [(n.name, tuple(g.nodes[i].name for i in n.inputs)) for n in g.nodes[1:]]


def net(call: str, read: str, blocks: str = "") -> str:
    """A net calling ``call`` twice, a relu between, beside a stem conv ``read`` may name."""
    stem = "\n          - stem: {conv: {out: 8, k: 3, pad: 1}}" if read == "stem" else ""
    return f"""
        input: [8, 16, 16]{blocks}
        layers:{stem}
          - first: {call}
          - relu
          - second: {call}
        """


ADD = "{add: [identity, {ref: %s}]}"
BLOCK = """
        blocks:
          b():
            - %s"""
# A block (or loop) reading a layer outside itself by name: at its first call that layer is also its
# input, at the second it is not (a relu between), so a copy of the first would read the wrong tensor.
OUTSIDE = {
    "block": net("b", "stem", BLOCK % (ADD % "stem")),
    "loop": net("{repeat: 1, body: [%s]}" % (ADD % "stem"), "stem"),
    "input": net("b", "input", BLOCK % (ADD % "input")),
}
UNROLLED = {  # the same networks written out
    "block": net("[%s]" % (ADD % "stem"), "stem"),
    "input": net("[%s]" % (ADD % "input"), "input"),
}


@pytest.mark.parametrize("case", sorted(OUTSIDE))
def test_a_block_reading_outside_itself_is_not_copied(write_spec, case):
    found = edges(write_spec(OUTSIDE[case], "memo.yaml"))
    second = [e for e in found if e[0].startswith("second.")]
    reads = "input" if case == "input" else "stem"
    assert second and second[-1][1] == ("relu1", reads)  # the relu between, and the named layer
    if case in UNROLLED:
        expected = edges(write_spec(UNROLLED[case], "unrolled.yaml"))
        assert [r for _, r in found] == [r for _, r in expected]


def test_the_same_call_reading_only_itself_is_copied(write_spec):
    path = write_spec(
        """
        input: [8, 16, 16]
        blocks:
          b():
            - {add: [identity, {ref: in}]}
        layers:
          - first: b
          - relu
          - second: b
        """
    )
    g = expand(load_model(str(path)))
    assert [s.path for s in g.segments] == [("second",)]  # a copy, reading its own input
    assert g.nodes[-1].inputs == (g.nodes[-2].id, g.nodes[-2].id)


def _variants(n: int) -> list[tuple[dict, tuple[int, int, int]]]:
    rng = random.Random(7)
    return [
        (
            {
                "depths": [rng.randint(1, 4) for _ in range(4)],
                "block": rng.choice(["basic", "bottleneck"]),
                "width": rng.choice([0.5, 1, 1.0, 2]),  # 1 and 1.0 are different keys
            },
            (3, s, s),
        )
        for s in [rng.choice([96, 128, 160]) for _ in range(n)]
    ]


def test_results_do_not_depend_on_what_ran_before():
    spec = load_model("resnet18")
    variants = _variants(40)

    def rows(order):
        return {i: evaluate(with_params(spec, variants[i][0]), variants[i][1], 1, 4, "adam", "fvcore") for i in order}

    memo.clear()
    forward = rows(range(len(variants)))
    memo.clear()
    backward = rows(reversed(range(len(variants))))
    again = rows(range(len(variants)))  # everything kept now
    assert forward == backward == again
    for i in (0, 13, 39):  # and each equals the full analysis, fresh
        memo.clear()
        a = analyze(spec, variants[i][1], params=variants[i][0])
        assert forward[i]["params"] == a.totals.params and forward[i]["fvcore"] == a.totals.fvcore


def test_a_copied_stage_equals_torchvision():
    """A ResNet whose stages come from the stage memo (depths shared with an earlier variant) against
    torchvision's own count: the copies are the right layers, not just the same numbers as before."""
    torchvision = pytest.importorskip("torchvision")
    spec = load_model("resnet50")
    evaluate(with_params(spec, {"depths": [3, 4, 6, 3]}), (3, 160, 160), 1, 4, "sgd", "macs")
    a = analyze(spec, (3, 160, 160), params={"depths": [3, 4, 6, 3]})
    assert any(len(s.plan.nodes) > 40 for s in a.graph.segments)  # a whole stage, copied
    model = torchvision.models.resnet50()
    assert a.totals.params == sum(p.numel() for p in model.parameters())
    kinds = {"Conv2d": "conv", "BatchNorm2d": "bn", "Linear": "linear"}
    theirs = [kinds[type(m).__name__] for m in model.modules() if type(m).__name__ in kinds]
    assert [n.op.kind for n in a.graph.nodes if n.op is not None and n.op.kind in kinds.values()] == theirs
