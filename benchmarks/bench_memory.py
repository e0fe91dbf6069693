"""Peak inference memory: the engine's liveness figure against torch's CPU memory profiler.

For each model and batch: the engine's peak of live activations (``ideal``), the same with the
CPU conv workspace model (oneDNN reorders, ``cpu``), and the peak of torch's CPU allocator
records during a no-grad forward (the input tensor, parameters and buffers existed before and
are not included). Also autograd's saved-for-backward bytes against the engine's (exact).
Writes benchmarks/results/memory.json. Run: ``python benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from cnncost import analyze
from cnncost.analysis.memory import memory
from cnncost.torch.builder import build
from cnncost.torch.memory_check import measured_peak_inference_bytes, measured_saved_bytes

MODELS = ("resnet50", "vgg16", "densenet121", "inception_v3")
BATCHES = (1, 8)


def main() -> None:
    rows = []
    for name in MODELS:
        net = build(name)
        for batch in BATCHES:
            a = analyze(name, batch=batch)
            m = memory(a)
            x = torch.randn(batch, *a.input_shape)
            measured = measured_peak_inference_bytes(net, x)
            saved = measured_saved_bytes(net, torch.randn(max(batch, 2), *a.input_shape))
            engine_saved = memory(analyze(name, batch=max(batch, 2))).saved_activation_bytes
            rows.append(
                {
                    "model": name,
                    "batch": batch,
                    "engine_peak_ideal": m.peak_inference_bytes,
                    "engine_peak_cpu": m.peak_cpu_bytes,
                    "torch_cpu_peak": measured,
                    "relative_to_cpu_model": measured / m.peak_cpu_bytes - 1,
                    "relative_to_ideal": measured / m.peak_inference_bytes - 1,
                    "peak_at": m.peak_at,
                    "saved_batch": max(batch, 2),
                    "engine_saved": engine_saved,
                    "torch_saved": saved,
                }
            )
            print(
                f"{name:12s} b{batch}: engine {m.peak_cpu_bytes:>12,} (ideal {m.peak_inference_bytes:,}) "
                f"torch {measured:>12,} {measured / m.peak_cpu_bytes - 1:+.2%}; saved "
                f"{engine_saved:,} vs {saved:,}"
            )
    out = Path(__file__).resolve().parent / "results" / "memory.json"
    out.write_text(
        json.dumps({"torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
