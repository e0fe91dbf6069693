"""Datasheet peaks of common NVIDIA GPUs, so a GPU's roof is a cited number, not a guess.

Torch-free: ``lookup(name)`` matches ``torch.cuda.get_device_name()``; see docs/bench.md ("Peak").

>>> lookup("NVIDIA H100 80GB HBM3").name
'H100 SXM'
>>> lookup("NVIDIA A100-SXM4-80GB").peak("bf16") / 1e12
312.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

T = 1e12
"""tera (FLOP/s)"""
TB = 1e12
"""terabytes/s (decimal, as datasheets print them)"""
GB = 1e9


@dataclass(frozen=True)
class DevicePeak:
    """One GPU model's dense peaks (FLOP/s) per math mode, and memory bandwidth (bytes/s).

    Every figure is *dense* (no 2:4 structured sparsity): where a datasheet prints only the
    sparsity figure (marked ``*`` there: "With sparsity"), the value here is that figure ÷ 2, and
    ``note`` says so. FLOP/s count a multiply-accumulate as 2 FLOPs. Tensor-core rows assume FP32
    accumulation (what PyTorch uses for fp16/bf16 GEMMs and convolutions); ``fp32`` is the
    non-tensor (CUDA core) rate. ``bandwidth`` is the datasheet's GPU memory bandwidth.
    """

    name: str
    pattern: str
    """Regular expression (case-insensitive, searched) over ``torch.cuda.get_device_name()``."""
    fp32: float
    tf32: float
    bf16: float | None
    fp16: float
    bandwidth: float
    source: str
    note: str = ""

    def peak(self, mode: str) -> float | None:
        """Peak FLOP/s for ``fp32`` (CUDA cores), ``tf32``, ``bf16`` or ``fp16`` (tensor cores)."""
        return {"fp32": self.fp32, "tf32": self.tf32, "bf16": self.bf16, "fp16": self.fp16}[mode]


_HALVED = "tensor-core figures are the datasheet's sparsity figures ÷ 2 (dense)"
_AS_PRINTED = "dense figures as printed (the datasheet gives the sparsity figures, ×2, beside them)"

# Most specific patterns first: "H100 NVL" and "H100 PCIe" before the SXM default.
DEVICES: tuple[DevicePeak, ...] = (
    DevicePeak(
        "H200 NVL",
        r"H200\s*NVL",
        60 * T,
        835 / 2 * T,
        1671 / 2 * T,
        1671 / 2 * T,
        4.8 * TB,
        "NVIDIA H200 Tensor Core GPU datasheet (H200 NVL column)",
        _HALVED,
    ),
    DevicePeak(
        "H200 SXM",
        r"H200",
        67 * T,
        989 / 2 * T,
        1979 / 2 * T,
        1979 / 2 * T,
        4.8 * TB,
        "NVIDIA H200 Tensor Core GPU datasheet (H200 SXM column)",
        _HALVED,
    ),
    DevicePeak(
        "H100 NVL",
        r"H100\s*NVL",
        60 * T,
        835 / 2 * T,
        1671 / 2 * T,
        1671 / 2 * T,
        3.9 * TB,
        "NVIDIA H100 Tensor Core GPU datasheet (H100 NVL column)",
        _HALVED,
    ),
    DevicePeak(
        "H100 PCIe",
        r"H100.*PCIe",
        51 * T,
        756 / 2 * T,
        1513 / 2 * T,
        1513 / 2 * T,
        2.0 * TB,
        "NVIDIA H100 Tensor Core GPU datasheet (H100 PCIe column)",
        _HALVED,
    ),
    DevicePeak(
        "H100 SXM",
        r"H100",
        67 * T,
        989 / 2 * T,
        1979 / 2 * T,
        1979 / 2 * T,
        3.35 * TB,
        "NVIDIA H100 Tensor Core GPU datasheet (H100 SXM column)",
        _HALVED,
    ),
    DevicePeak(
        "A100 PCIe 80GB",
        r"A100.*80GB.*PCIe|A100.*PCIe.*80GB",
        19.5 * T,
        156 * T,
        312 * T,
        312 * T,
        1935 * GB,
        "NVIDIA A100 Tensor Core GPU datasheet (A100 80GB PCIe column)",
        _AS_PRINTED,
    ),
    DevicePeak(
        "A100 SXM 80GB",
        r"A100.*80GB",
        19.5 * T,
        156 * T,
        312 * T,
        312 * T,
        2039 * GB,
        "NVIDIA A100 Tensor Core GPU datasheet (A100 80GB SXM column)",
        _AS_PRINTED,
    ),
    DevicePeak(
        "A100 40GB",
        r"A100",
        19.5 * T,
        156 * T,
        312 * T,
        312 * T,
        1555 * GB,
        "NVIDIA A100 Tensor Core GPU datasheet (A100 40GB columns)",
        "dense figures as printed; 40GB PCIe and SXM share the 1,555 GB/s bandwidth",
    ),
    DevicePeak(
        "L40S", r"L40S", 91.6 * T, 183 * T, 362.05 * T, 362.05 * T, 864 * GB, "NVIDIA L40S GPU datasheet", _AS_PRINTED
    ),
    DevicePeak(
        "L4",
        r"\bL4\b",
        30.3 * T,
        120 / 2 * T,
        242 / 2 * T,
        242 / 2 * T,
        300 * GB,
        "NVIDIA L4 Tensor Core GPU datasheet",
        _HALVED,
    ),
    DevicePeak(
        "RTX 4090",
        r"RTX\s*4090",
        82.6 * T,
        82.6 * T,
        165.2 * T,
        165.2 * T,
        1008 * GB,
        "NVIDIA Ada Lovelace GPU Architecture whitepaper (GeForce RTX 4090 column)",
        "fp16/bf16: 'Tensor TFLOPS with FP32 Accumulate' (165.2; FP16 accumulate is 330.3)",
    ),
    DevicePeak(
        "A10",
        r"\bA10\b",
        31.2 * T,
        62.5 * T,
        125 * T,
        125 * T,
        600 * GB,
        "NVIDIA A10 Tensor Core GPU datasheet",
        _AS_PRINTED,
    ),
)


def lookup(device_name: str) -> DevicePeak | None:
    """The table entry for a ``torch.cuda.get_device_name()`` string, or None if unknown."""
    for d in DEVICES:
        if re.search(d.pattern, device_name, re.IGNORECASE):
            return d
    return None
