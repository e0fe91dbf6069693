"""Published numbers as data: compare each ``reported`` entry of a spec with the analysis.

A result is ``pass`` within the entry's tolerance; ``erratum`` when it is outside but the
spec shows the arithmetic that makes the published number wrong; ``differs`` when the
published number is for another layout the spec names (LeNet's sparse C3, say); ``fail``
otherwise — and also when an erratum or difference is claimed for a number that in fact
matches, so a note can never hide a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.analysis.cost import Analysis, LayerCost, analyze
from cnncost.ops.base import numel
from cnncost.spec.catalog import load_model
from cnncost.spec.family import ModelSpec, Reported


@dataclass(frozen=True)
class CheckResult:
    model: str
    entry: Reported
    computed: float
    status: str

    @property
    def reported(self) -> float:
        return self.entry.value

    @property
    def delta(self) -> float:
        return self.computed - self.entry.value

    @property
    def relative(self) -> float:
        return self.delta / self.entry.value if self.entry.value else float("inf")


def metric_value(a: Analysis, prefix: tuple[str, ...], metric: str) -> float:
    """The analysis figure a reported metric is compared with (over the layers under ``prefix``)."""
    row: LayerCost = a.within(prefix) if prefix else a.totals
    bn = [r for r in a.layers if r.kind == "bn" and r.path[: len(prefix)] == prefix]
    if metric == "activation_bytes":
        return row.activations * 4
    if metric == "model_bytes":
        return row.params * 4
    if metric == "keras_params":  # Keras model.summary(): BN moving statistics are params too
        return row.param_count("keras")
    if metric == "keras_non_trainable":
        return row.non_trainable
    if metric == "train_macs":
        return float(row.train_macs)
    if metric == "params_without_bn":  # some tables leave BN's γ and β out
        return row.params - sum(r.params for r in bn)
    if metric == "macs_with_bn":  # ... and count BN as one multiply-add per output element
        return row.macs + sum(numel(r.out_shape) for r in bn) * a.batch
    return float(getattr(row, metric))


def check_model(spec: ModelSpec) -> list[CheckResult]:
    cache: dict[tuple[int, ...], Analysis] = {}
    out = []
    for entry in spec.reported:
        shape = entry.input or spec.input
        if shape not in cache:
            cache[shape] = analyze(spec, shape)
        a = cache[shape]
        computed = metric_value(a, tuple(entry.layer.split(".")) if entry.layer else (), entry.metric)
        within = abs(computed - entry.value) <= entry.tolerance * abs(entry.value) + 1e-9
        if entry.erratum or entry.differs:
            status = "fail" if within else ("erratum" if entry.erratum else "differs")
        else:
            status = "pass" if within else "fail"
        out.append(CheckResult(spec.name, entry, computed, status))
    return out


def check_models(names: list[str]) -> list[CheckResult]:
    return [r for name in names for r in check_model(load_model(name))]
