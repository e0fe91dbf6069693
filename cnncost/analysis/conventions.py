"""Counting conventions, written down once. Every column header names its convention.

* ``macs``   — multiply-accumulates of conv and linear layers, bias adds excluded: what the
  papers call "FLOPs" (ResNet-50: 3.8·10⁹ in the paper's layout).
* ``flops``  — 2 × ``macs``: one multiply and one add each, conv and linear only; what
  ``torch.utils.flop_counter.FlopCounterMode`` reports.
* ``all``    — ``flops`` plus every other op, one class at a time (see ``OP_CLASSES``):
  batch norm 2 per element (1 without affine), layer and group norm 5 (4), LRN ``size + 5``
  per element, activations 1 per element, window pooling ``k·k`` per output element, adaptive
  pooling 1 per input element, upsample 1 (nearest) or 4 (bilinear) per output element,
  add/mul ``n − 1`` per output element for ``n`` inputs, layer scale 1, softmax 3 per element.
  Concat, flatten, dropout, permute, pad and identity move data and count 0.
* ``fvcore`` — what fvcore's ``FlopCountAnalysis`` counts with its default handles: conv,
  transposed conv and linear multiply-adds (no bias), eval-mode batch norm 2 per element with
  affine (1 without), layer/group norm 5 (4), adaptive average pooling 1 per input element,
  upsample as above; ReLU, max-pool, add, cat, flatten are not counted.

Per op, both rules are in the ops table of docs/spec-language.md, generated from the op classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.ops.base import OP_CLASSES

__all__ = ["CONVENTIONS", "DTYPES", "OP_CLASSES", "Convention"]


@dataclass(frozen=True)
class Convention:
    name: str
    header: str
    doc: str


CONVENTIONS: dict[str, Convention] = {
    "macs": Convention("macs", "MACs (conv+linear)", "multiply-accumulates of conv and linear layers"),
    "flops": Convention("flops", "FLOPs (2×MACs, conv+linear)", "2 per multiply-accumulate"),
    "all": Convention("all", "ops (all, FLOP)", "2×MACs plus BN, norm, activations, pooling, add/mul, softmax"),
    "fvcore": Convention("fvcore", "fvcore flops (1/MAC, +BN, +adaptive pool)", "fvcore's default rules"),
}


DTYPES: dict[str, int] = {
    "fp64": 8,
    "float64": 8,
    "fp32": 4,
    "float32": 4,
    "tf32": 4,
    "fp16": 2,
    "float16": 2,
    "half": 2,
    "bf16": 2,
    "bfloat16": 2,
    "int8": 1,
    "uint8": 1,
    "fp8": 1,
}
