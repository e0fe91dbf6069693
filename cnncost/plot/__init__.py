"""Charts of an analysis (the ``[plot]`` extra: matplotlib), for ``cnncost plot`` and the HTML report.

Every function returns a ``matplotlib.figure.Figure`` (no pyplot state: headless, thread-safe);
``save`` writes it as PNG, SVG or PDF, ``svg`` gives inline SVG text. Without matplotlib, importing
this package is a ``SpecError`` naming the extra (``cnncost.plot.base``, the one module that imports
matplotlib, raises it). docs/plots.md shows each chart.
"""

from cnncost.plot.accuracy import accuracy_figure, published_models
from cnncost.plot.base import save, svg
from cnncost.plot.bench import bench_figure
from cnncost.plot.compare import compare_figure
from cnncost.plot.layers import layers_figure
from cnncost.plot.memory import memory_figure
from cnncost.plot.receptive import rf_figure

__all__ = [
    "accuracy_figure",
    "bench_figure",
    "compare_figure",
    "layers_figure",
    "memory_figure",
    "published_models",
    "rf_figure",
    "save",
    "svg",
]
