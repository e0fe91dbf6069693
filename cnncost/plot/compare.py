"""Models side by side, stage by stage: grouped bars of operations and params.

The stages are ``cnncost compare``'s own (``compare_reports``'s per-stage table: the spec's top-level
named layers that hold params or operations), read from its JSON, not defined a second time.
"""

from __future__ import annotations

from cnncost.analysis.cost import Analysis
from cnncost.analysis.memory import memory
from cnncost.errors import SpecError
from cnncost.plot.base import Figure, color, count_axis, hatch, new_figure, ops_label, setting
from cnncost.report.compare import compare_reports


def stages(analyses: list[Analysis], convention: str) -> dict[str, dict[str, dict[str, int]]]:
    """model → stage → {"params", "count"}, from ``compare_reports``' stage records."""
    _, table = compare_reports([(a, memory(a)) for a in analyses], convention)
    out: dict[str, dict[str, dict[str, int]]] = {a.model.name: {} for a in analyses}
    for rec in table.data["stages"]:
        out[rec["model"]][rec["stage"]] = {"params": rec["params"], "count": rec["count"]}
    return out


def stage_slots(lists: list[list[str]]) -> list[str]:
    """The x positions: the stage names where every model has the same ones, else the i-th stage of
    each model side by side (``conv2_x / conv2``), the names that differ joined."""
    if all(names == lists[0] for names in lists):
        return list(lists[0])
    width = max(len(names) for names in lists)
    return [" / ".join(dict.fromkeys(names[i] for names in lists if i < len(names))) for i in range(width)]


def compare_figure(analyses: list[Analysis], convention: str = "macs") -> Figure:
    """Two stacked grouped-bar charts (operations above, params below), one bar per model and stage."""
    names = [a.model.name for a in analyses]
    if len(set(names)) != len(names) or len(names) < 2:
        raise SpecError("compare plots two or more different models", expected="resnet50 resnext50")
    per = stages(analyses, convention)
    lists = [list(per[n]) for n in names]
    order = stage_slots(lists)
    width = 0.8 / len(names)
    fig = new_figure(
        min(5 + 0.5 * len(order) * len(names) ** 0.5, 16), 6.5, f"compare: {len(order)} stages × {len(names)} models"
    )
    ops_ax, params_ax = fig.subplots(2, 1, sharex=True)
    for ax, key, label in (
        (ops_ax, "count", ops_label(convention)),
        (params_ax, "params", "params (weights + biases)"),
    ):
        for i, name in enumerate(names):
            xs = [s + (i - (len(names) - 1) / 2) * width for s in range(len(order))]
            own = lists[i]
            values = [per[name][own[s]][key] if s < len(own) else 0 for s in range(len(order))]
            ax.bar(xs, values, width, color=color(i), hatch=hatch(i), edgecolor="black", linewidth=0.4, label=name)
        ax.set_ylabel(label.replace(": ", ":\n", 1), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        count_axis(ax)
    ops_ax.legend(fontsize=8)
    params_ax.set_xticks(range(len(order)), order, rotation=30 if len(order) > 6 else 0, fontsize=8)
    same = all(n == lists[0] for n in lists)
    params_ax.set_xlabel("stage (the spec's top-level layers" + ("" if same else ", i-th of each model") + ")")
    settings = sorted({setting(a) for a in analyses})
    fig.suptitle(f"{' vs '.join(names)} — {'; '.join(settings)}: per stage", fontsize=10)
    return fig
