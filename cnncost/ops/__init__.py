"""Layer types. Importing this package registers every op in ``REGISTRY``."""

from cnncost.ops import activation, conv, merge, norm, pool, shape  # noqa: F401 - registration
from cnncost.ops.base import REGISTRY, Field, Op, ParamCount, Shape, register

__all__ = ["REGISTRY", "Field", "Op", "ParamCount", "Shape", "register"]
