"""Figures of address spaces: layout diagrams, scenario timelines, thread counts, ASLR spread.

Every function takes model objects and returns a matplotlib Figure (Agg, no screen);
:func:`save` writes it as PNG and SVG with reproducible bytes.

* :func:`layout_figure` — ``[(title, AddressSpace), ...]``: one labelled column per process.
* :func:`timeline_figure` — a ScenarioResult (or a VariantResult): address against step.
* :func:`threads_chart` — threads until pthread_create fails, against the stack size.
* :func:`aslr_figure` — where each region lands over many ASLR seeds, and its entropy.
"""

from simulator.plot.aslr import aslr_figure, aslr_samples
from simulator.plot.layout import layout_figure
from simulator.plot.regions import Region, labelled_regions, layout_regions
from simulator.plot.style import save
from simulator.plot.threads import ThreadLayout, thread_counts, threads_chart
from simulator.plot.timeline import timeline_figure

__all__ = ["layout_figure", "timeline_figure", "threads_chart", "aslr_figure", "save",
           "layout_regions", "labelled_regions", "Region", "ThreadLayout", "thread_counts",
           "aslr_samples"]
