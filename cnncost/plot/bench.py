"""Latency and throughput against batch size, from saved ``cnncost bench --save FILE.json`` documents.

One line per model and configuration (device, dtype, impl, memory format, compile, mode); batch sizes
that did not run (out of memory, an error) have no point.
"""

from __future__ import annotations

import math
from typing import Any

from cnncost.errors import SpecError, shown
from cnncost.plot.base import Figure, FuncFormatter, NullLocator, color, linestyle, marker, new_figure

CONFIG_KEYS = ("device", "dtype", "impl", "channels_last", "compile", "mode")
"""What makes two result rows of one model different lines."""


def _results(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        if (
            not isinstance(doc, dict)
            or doc.get("command") != "cnncost bench"
            or not isinstance(doc.get("results"), list)
        ):
            raise SpecError(
                f"not a cnncost bench document: {shown(doc, 60)}", expected="the JSON of cnncost bench --save FILE.json"
            )
        out += [
            {**r, "device_name": r.get("device_name") or doc["environment"].get("device_name")} for r in doc["results"]
        ]
    return out


def _key_text(key: tuple[Any, ...], varying: set[str]) -> str:
    """``resnet50 cuda fp16 channels_last``: the model and only the settings that differ between lines."""
    parts = [str(key[0])]
    for name, value in zip(CONFIG_KEYS, key[1:], strict=True):
        if name in varying:
            parts.append(name if value is True else f"no {name}" if value is False else str(value))
    return " ".join(parts)


def bench_lines(docs: dict[str, Any] | list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Line label → that configuration's successful results, sorted by batch size."""
    rows = _results(docs if isinstance(docs, list) else [docs])
    keys = {(r["model"], *(r.get(k) for k in CONFIG_KEYS)) for r in rows}
    varying = {k for i, k in enumerate(CONFIG_KEYS) if len({key[i + 1] for key in keys}) > 1}
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        label = _key_text((r["model"], *(r.get(k) for k in CONFIG_KEYS)), varying)
        lines.setdefault(label, [])
        if r.get("status") == "ok":
            lines[label].append(r)
    return {k: sorted(v, key=lambda r: r["batch"]) for k, v in lines.items()}


def bench_figure(doc: dict[str, Any] | list[dict[str, Any]]) -> Figure:
    """Median latency (ms per batch, p10–p90 as error bars) and throughput (images/s), log-log."""
    lines = bench_lines(doc)
    rows = [r for rs in lines.values() for r in rs]
    if not rows:
        raise SpecError("no successful timing in the bench document(s)", expected="a cnncost bench --save FILE.json")
    fig = new_figure(10, 4.5, f"bench: {len(rows)} points on {len(lines)} lines")
    lat_ax, thr_ax = fig.subplots(1, 2)
    for i, (label, rs) in enumerate(lines.items()):
        style = {"color": color(i), "linestyle": linestyle(i), "marker": marker(i), "label": label}
        batches = [r["batch"] for r in rs]
        medians = [r["median_ms"] for r in rs]
        spread = [
            [m - r["p10_ms"] for m, r in zip(medians, rs, strict=True)],
            [r["p90_ms"] - m for m, r in zip(medians, rs, strict=True)],
        ]
        lat_ax.errorbar(batches, medians, yerr=spread, capsize=3, **style)
        thr_ax.plot(batches, [r["samples_per_s"] for r in rs], **style)
    batches = sorted({r["batch"] for r in rows})
    major = FuncFormatter(lambda v, _pos: f"{v:g}")
    minor = FuncFormatter(lambda v, _pos: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else "")
    for ax in (lat_ax, thr_ax):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")  # before the formatters: setting a scale resets them
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(major)
        lo, hi = ax.get_ylim()  # within a decade or so every minor tick is labelled, else 2 and 5 of each
        ax.yaxis.set_minor_formatter(major if hi / lo < 12 else minor)
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
    lat_ax.set_ylabel("latency (ms per batch: median, bars p10–p90)")
    thr_ax.set_ylabel("throughput (images/s = batch / median)")
    thr_ax.legend(fontsize=8)
    models = ", ".join(dict.fromkeys(str(r["model"]) for r in rows))
    devices = ", ".join(sorted({str(r["device_name"]) for r in rows}))
    threads = sorted({str(r.get("threads")) for r in rows})
    settings = ", ".join(dict.fromkeys(f"{r['dtype']} {r['mode']}" for r in rows))
    fig.suptitle(
        f"cnncost bench — {models} on {devices} ({', '.join(threads)} thread{'s' if threads != ['1'] else ''}; "
        f"{settings}), batch {batches[0]}–{batches[-1]}",
        fontsize=10,
    )
    return fig
