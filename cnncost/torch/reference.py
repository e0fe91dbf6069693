"""Instantiate a torch model source (torchvision, timm, a module's or a file's callable), random init,
no downloads, and tell its own input size.

Sources are parsed in ``cnncost.spec.sources`` (torch-free): ``torchvision:resnet50``,
``torchvision.models.segmentation.fcn_resnet50(aux_loss=True)``, ``timm:inception_v4``,
``mypkg.nets:build(width=8)``, ``path/to/nets.py:unet``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from torch import nn

from cnncost.errors import SpecError
from cnncost.spec.sources import Source, parse_source

DEFAULT_INPUT = (3, 224, 224)


def parse_reference(text: str) -> tuple[str, str, dict[str, Any]]:
    """``'timm:dpn68(num_classes=10)'`` → ('timm', 'dpn68', {'num_classes': 10})."""
    src = parse_source(text)
    return src.kind, src.name, src.kwargs


def _torchvision_builder(path: str) -> Any:
    """``'segmentation.fcn_resnet50'`` → ``torchvision.models.segmentation.fcn_resnet50``: each dotted part
    an attribute of the one before, from ``torchvision.models`` (its submodules: segmentation, detection...)."""
    import torchvision.models as tvm

    obj: Any = tvm
    for part in path.split("."):
        child = getattr(obj, part, None)
        if child is None and inspect.ismodule(obj):
            try:
                child = importlib.import_module(f"{obj.__name__}.{part}")
            except ImportError:
                child = None
        if child is None and obj is tvm and "." not in path:  # fcn_resnet50: a builder of a submodule
            try:
                child = tvm.get_model_builder(path)
            except ValueError:
                child = None
        if child is None:
            raise SpecError(
                f"torchvision has no model {path!r}",
                expected="a builder of torchvision.models or of a submodule: segmentation.fcn_resnet50",
            )
        obj = child
    if not callable(obj) or inspect.ismodule(obj):
        raise SpecError(f"torchvision.models.{path} is not a model builder")
    return obj


def _torchvision_input(path: str) -> tuple[int, ...] | None:
    """The size torchvision's weights for this builder are evaluated at: the crop size (224, Inception's
    299), or the resize size of segmentation presets (520)."""
    from torchvision.models import get_model_weights

    try:
        weights = list(get_model_weights(path.rsplit(".", 1)[-1]))
    except (ValueError, KeyError):
        return None
    if not weights:
        return None
    kw = getattr(weights[0].transforms, "keywords", {})
    size = kw.get("crop_size") or kw.get("resize_size")
    if isinstance(size, (list, tuple)):
        size = size[0]
    return (3, int(size), int(size)) if size else None


def _callable(src: Source) -> Any:
    """``package.module:callable`` or ``path/file.py:callable`` → the callable (dotted: an attribute chain)."""
    if src.kind == "module":
        try:
            obj: Any = importlib.import_module(src.where)
        except ImportError as exc:
            raise SpecError(f"{src.text}: cannot import {src.where!r}: {exc}") from None
    else:
        path = Path(src.where)
        if not path.is_file():
            raise SpecError(f"{src.text}: no file {src.where!r}")
        name = f"_cnncost_source_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SpecError(f"{src.text}: cannot import {src.where!r}")
        obj = importlib.util.module_from_spec(spec)
        sys.modules[name] = obj
        try:
            spec.loader.exec_module(obj)
        except Exception as exc:  # the user's file: any error it raises is theirs, said in one line
            raise SpecError(f"{src.text}: importing {src.where} raised {type(exc).__name__}: {exc}") from None
    for part in src.name.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"{src.text}: {src.where} has no {part!r}", expected="a callable returning an nn.Module")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecError(f"{src.text}: {src.name} is not callable", expected="a callable returning an nn.Module")
    return obj


def build_source(text: str) -> tuple[nn.Module, tuple[int, ...]]:
    """The model, randomly initialised, and its own input size (timm's ``pretrained_cfg``, torchvision's
    weights' crop size, else 3×224×224). Torchvision builders get ``weights=None`` and, where they take
    one (segmentation, detection: ImageNet backbone weights by default), ``weights_backbone=None``:
    nothing is ever downloaded."""
    src = parse_source(text)
    for key in ("weights", "weights_backbone", "pretrained", "pretrained_backbone", "checkpoint_path"):
        if src.kwargs.get(key) not in (None, False, ""):
            raise SpecError(
                f"{text}: {key}={src.kwargs[key]!r} would load trained weights",
                expected="random init: cnncost never downloads weights (they change no count)",
            )
    shape: tuple[int, ...] | None = None
    try:
        if src.kind == "torchvision":
            fn = _torchvision_builder(src.name)
            defaults: dict[str, Any] = {"weights": None}
            try:
                if "weights_backbone" in inspect.signature(fn).parameters:
                    defaults["weights_backbone"] = None
            except (TypeError, ValueError):  # no signature to read: the builder takes weights only
                pass
            model = fn(**{**defaults, **src.kwargs})
            shape = _torchvision_input(src.name)
        elif src.kind == "timm":
            import timm

            if not timm.is_model(src.name):
                import difflib

                close = difflib.get_close_matches(src.name, timm.list_models(), n=3)
                raise SpecError(
                    f"timm has no model {src.name!r}",
                    expected=("did you mean " + ", ".join(close) + "?") if close else "a name from timm.list_models()",
                )
            model = timm.create_model(src.name, pretrained=False, **src.kwargs)
            cfg = getattr(model, "pretrained_cfg", None) or {}
            if cfg.get("input_size"):
                shape = tuple(int(d) for d in cfg["input_size"])
        else:
            model = _callable(src)(**src.kwargs)
    except SpecError:
        raise
    except Exception as exc:  # a builder refusing its arguments: the user's mistake, in one line
        raise SpecError(f"{src.text}: building the model raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise SpecError(f"{src.text} returned {type(model).__name__}", expected="an nn.Module")
    return model, shape or DEFAULT_INPUT


def build_reference(text: str) -> nn.Module:
    """The model a spec's ``reference:`` names, randomly initialised."""
    return build_source(text)[0]
