"""Memory over one pass, op by op: what is live in inference, and what a training step holds.

The two timelines are ``cnncost.analysis.memory``'s own (``inference_timeline``, ``saved_timeline``),
so the marked peak is ``memory(a).peak_inference_bytes`` at ``memory(a).peak_at``, and the training
line ends at ``memory(a).training_total_bytes``.
"""

from __future__ import annotations

from cnncost.analysis.cost import Analysis
from cnncost.analysis.memory import OPTIMIZER_NAMES, inference_timeline, memory, saved_timeline
from cnncost.plot.base import Figure, byte_unit, color, dtype_name, linestyle, new_figure, setting
from cnncost.report.numbers import human_bytes


def memory_figure(a: Analysis, dtype_bytes: int = 4, optimizer: str = "momentum") -> Figure:
    """Live inference activations and a training step's held bytes against execution order (node index)."""
    m = memory(a, dtype_bytes, optimizer)
    index = {node.name if node.op is not None else "input": node.id for node in a.graph.nodes}
    live = [(index[name], b) for name, b in inference_timeline(a.graph, m.dtype_bytes, a.batch)]
    state = m.param_bytes + m.buffer_bytes + m.gradient_bytes + m.optimizer_bytes
    held = [(0, state)] + [(index[name], state + b) for name, b in saved_timeline(a.graph, m.dtype_bytes, a.batch)]
    fig = new_figure(9, 6.5, f"memory: {len(live)} inference points, {len(held)} training points")
    inf_ax, train_ax = fig.subplots(2, 1, sharex=True)
    unit, size = byte_unit(max(b for _, b in live))
    inf_ax.plot(
        [x for x, _ in live],
        [b / size for _, b in live],
        color=color(0),
        linestyle=linestyle(0),
        label="live activations while each op runs (params and buffers not included)",
    )
    peak_x = index[m.peak_at]
    inf_ax.plot(
        [peak_x],
        [m.peak_inference_bytes / size],
        marker="o",
        color="black",
        linestyle="none",
        label=f"peak: {human_bytes(m.peak_inference_bytes)}, at the op named (+ params and buffers "
        f"{human_bytes(m.param_bytes + m.buffer_bytes)} = {human_bytes(m.inference_total_bytes)})",
    )
    inf_ax.annotate(
        m.peak_at,
        (peak_x, m.peak_inference_bytes / size),
        xytext=(0, 14),
        textcoords="offset points",
        ha="left" if peak_x < len(a.graph.nodes) / 2 else "right",
        fontsize=8,
        arrowprops={"arrowstyle": "->", "linewidth": 0.6},
    )
    inf_ax.set_ylim(0, m.peak_inference_bytes / size * 1.35)
    inf_ax.set_ylabel(f"inference: live\n({unit}, {dtype_name(m.dtype_bytes)})", fontsize=9)
    tunit, tsize = byte_unit(max(b for _, b in held))
    train_ax.plot(
        [x for x, _ in held],
        [b / tsize for _, b in held],
        color=color(1),
        linestyle=linestyle(1),
        label=f"+ saved for backward, cumulative ({human_bytes(m.saved_activation_bytes)}): "
        f"ends at the step's {human_bytes(m.training_total_bytes)}",
    )
    train_ax.axhline(
        state / tsize,
        color=color(2),
        linestyle=linestyle(2),
        label=f"params + buffers + gradients + {OPTIMIZER_NAMES[optimizer]} state ({human_bytes(state)})",
    )
    train_ax.set_ylim(0, max(b for _, b in held) / tsize * 1.3)
    train_ax.set_ylabel(f"training forward: held\n({tunit}, {dtype_name(m.dtype_bytes)})", fontsize=9)
    train_ax.set_xlabel(f"execution order (node index: input = 0, {len(a.graph.nodes) - 1} ops)")
    train_ax.set_xlim(0, len(a.graph.nodes) - 1)
    for ax in (inf_ax, train_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{a.model.name} — {setting(a)}: memory over one pass", fontsize=10)
    return fig
