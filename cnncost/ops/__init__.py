"""Layer types. Importing this package imports every module in it, which registers its ops in
``REGISTRY``: a new layer type is one class in one file, with no list to extend."""

import importlib
import pkgutil

from cnncost.ops.base import REGISTRY, Example, Field, Op, ParamCount, Saved, Shape, op_classes, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Example", "Field", "Op", "ParamCount", "Saved", "Shape", "op_classes", "register"]
