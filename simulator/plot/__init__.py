"""Figures of address spaces: layout diagrams, scenario timelines, thread counts, ASLR spread.

Every function takes model objects and returns a matplotlib Figure (Agg, no screen);
:func:`save` writes it as PNG and SVG with reproducible bytes.
"""

from simulator.plot.layout import layout_figure
from simulator.plot.regions import Region, labelled_regions, layout_regions
from simulator.plot.style import save

__all__ = ["layout_figure", "layout_regions", "labelled_regions", "Region", "save"]
