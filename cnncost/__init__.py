"""cnncost: what a CNN architecture costs — shapes, params, MACs, memory — from a YAML spec.

>>> from cnncost import analyze
>>> analyze("vgg16").totals.params
138357544
"""

from cnncost.analysis.cost import Analysis, LayerCost, analyze
from cnncost.errors import SpecError, SpecWarning
from cnncost.spec.catalog import load_model

__all__ = ["Analysis", "LayerCost", "SpecError", "SpecWarning", "analyze", "load_model"]
__version__ = "0.1.0"
