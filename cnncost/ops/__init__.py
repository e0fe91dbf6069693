"""Layer types. Importing this package registers every op in ``REGISTRY``."""

from cnncost.ops import activation, conv, merge, norm, pool, shape  # noqa: F401 - registration
from cnncost.ops.base import REGISTRY, Example, Field, Op, ParamCount, Saved, Shape, op_classes, register

__all__ = ["REGISTRY", "Example", "Field", "Op", "ParamCount", "Saved", "Shape", "op_classes", "register"]
