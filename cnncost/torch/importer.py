"""A torch source as a spec: build the module, trace it, write the spec, read it back.

The model every command analyses for a source is the written spec read by the ordinary expander, so
``cnncost import SOURCE -o net.yaml`` and ``cnncost table SOURCE`` give the same numbers by
construction, and the checks against the original module (``cnncost verify SOURCE``) test the writer
and the engine together.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from torch import nn

from cnncost import __version__
from cnncost.errors import SpecError
from cnncost.spec.family import ModelSpec, parse_family_data
from cnncost.spec.sources import parse_source
from cnncost.spec.writer import Traced, write_spec
from cnncost.spec.yamlload import load_yaml_text
from cnncost.torch.reference import build_source
from cnncost.torch.trace import trace


@dataclass
class Imported:
    """A source read into cnncost: the module, what the tracer saw, the written spec and its model."""

    module: nn.Module
    traced: Traced
    text: str
    spec: ModelSpec
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each step: build (the model's construction), trace (fx and the meta run),
    write (the spec), read (parsing it back)."""


def import_source(text: str, input_shape: tuple[int, ...] | None = None, allow_unsupported: bool = False) -> Imported:
    """Build, trace and write ``text`` (a source) at ``input_shape`` or the model's own input size."""
    src = parse_source(text)
    t0 = time.perf_counter()
    module, own_shape = build_source(text)
    t1 = time.perf_counter()
    shape = tuple(input_shape or own_shape)
    traced = trace(module, shape, src.label, allow_unsupported)
    t2 = time.perf_counter()
    for m, n in traced.uncalled:
        warnings.warn(f"{src.label}: {m} holds {n:,} parameters but never runs in forward: not counted", stacklevel=2)
    name = src.label
    header = f"written by `cnncost import {text}` (cnncost {__version__}): names are the module's; edit freely"
    yaml_text = write_spec(traced, name.split(":")[-1], text, title=f"{name} (imported)", header=header)
    t3 = time.perf_counter()
    spec = spec_from_text(yaml_text, f"<{name}>")
    spec.name = name
    t4 = time.perf_counter()
    seconds = {"build": t1 - t0, "trace": t2 - t1, "write": t3 - t2, "read": t4 - t3}
    return Imported(module, traced, yaml_text, spec, seconds)


def spec_from_text(yaml_text: str, label: str) -> ModelSpec:
    data = load_yaml_text(yaml_text, label)
    fam = parse_family_data(data, Path(label))
    return fam.model(fam.model_names[0])


@lru_cache(maxsize=16)
def _cached(text: str, input_shape: tuple[int, ...] | None, allow_unsupported: bool) -> Imported:
    return import_source(text, input_shape, allow_unsupported)


def load_source(text: str, input_shape: tuple[int, ...] | None = None, allow_unsupported: bool = False) -> ModelSpec:
    """The spec of a source, for every command that takes a model name (cached per process)."""
    try:
        return _cached(text.strip(), input_shape, allow_unsupported).spec
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(f"{text}: the model is nested too deeply to trace") from None
