"""An interactive view of address spaces: one self-contained HTML file.

A static figure cannot show a 2^47-byte space whose interesting parts are pages. The view
draws the same columns as :func:`simulator.plot.layout_figure` — the regions of
:func:`~simulator.plot.regions.layout_regions` on the segmented axis of
:func:`~simulator.plot.axis.segmented_axis`, which is the zoomed-out view — and lets the reader
zoom (wheel, drag, keyboard), hover a region for its /proc/PID/maps lines and its label from
:mod:`simulator.explain`, click to zoom to it, search by name or address, and step through a
scenario's timeline with a slider whose marks are the steps with events.

The page needs no network: the script and the styles (``view.js``, ``view.css`` beside this
module) are inlined, and the data is one JSON object. Kinds are told apart by lightness and
by hatching, so the page reads in greyscale; every region is a focusable element with a text
label, so it works from the keyboard.

Cost: O(R log R) per snapshot for R regions; the file holds every snapshot's regions.
"""

from __future__ import annotations

import html
import json
from importlib import resources

from simulator.explain import label_regions
from simulator.plot.axis import segmented_axis
from simulator.plot.regions import EMPTY_KINDS, axis_top, layout_regions
from simulator.plot.style import KINDS
from simulator.trace.procmaps import parse_maps
from simulator.units import format_size

#: The segmented axis's height in display units; the page scales it to the window.
AXIS_HEIGHT = 1000.0


def _hex(addr: int) -> str:
    return f"{addr:#x}"


def _colour(rgb) -> str:
    if isinstance(rgb, str):
        return rgb
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def snapshot(mm, label: str, events=()) -> dict:
    """The drawn regions of ``mm`` now, each with its maps lines and its explain label."""
    lines = mm.maps_lines()
    by_start = {int(line.split("-", 1)[0], 16): line for line in lines}
    entries = parse_maps("".join(line + "\n" for line in lines), "<view>")
    explained = {r.start: f"{r.kind}: {r.detail}" if r.detail else r.kind
                 for r in label_regions(entries, mm.profile.task_bits)}
    regions = []
    for r in layout_regions(mm):
        starts = [v.start for v in r.vmas] or []
        maps = [by_start[s] for s in starts if s in by_start]
        labels = list(dict.fromkeys(explained[s] for s in starts if s in explained))
        regions.append({"s": _hex(r.start), "e": _hex(r.end), "k": r.kind, "l": r.label,
                        "size": format_size(r.size), "maps": maps, "ex": labels})
    return {"label": label, "events": [str(e) for e in events], "regions": regions}


def _axis(snapshots: list[dict]) -> list[dict]:
    """One segmented axis for every snapshot of a column: an address range is shown when any
    snapshot has something other than free space there."""
    bounds: set[int] = set()
    used: list[tuple[int, int]] = []
    for snap in snapshots:
        for r in snap["regions"]:
            s, e = int(r["s"], 16), int(r["e"], 16)
            bounds.update((s, e))
            if r["k"] not in EMPTY_KINDS:
                used.append((s, e))
    edges = sorted(bounds)
    used.sort()
    spans, j, active_end = [], 0, -1
    for lo, hi in zip(edges, edges[1:]):
        while j < len(used) and used[j][0] <= lo:
            active_end = max(active_end, used[j][1])
            j += 1
        spans.append((lo, hi, "anon" if active_end > lo else "free"))
    axis = segmented_axis(spans, AXIS_HEIGHT)
    return [{"lo": _hex(p.lo), "hi": _hex(p.hi), "y0": p.y0, "y1": p.y1, "omitted": p.omitted,
             "text": format_size(p.hi - p.lo)} for p in axis.pieces]


def column(title: str, snapshots: list[dict], mm) -> dict:
    """A column: its title, TASK_SIZE, axis and snapshots (at least one)."""
    return {"title": title, "task_size": _hex(mm.task_size), "top": _hex(axis_top(mm)),
            "axis": _axis(snapshots), "snapshots": snapshots}


def process_columns(processes, label: str = "at the start of main") -> list[dict]:
    """One single-snapshot column per ``(title, AddressSpace)``."""
    return [column(title, [snapshot(mm, label)], mm) for title, mm in processes]


def view_html(columns: list[dict], title: str) -> str:
    """The whole page: ``columns`` from :func:`column`, script and styles inlined."""
    here = resources.files("simulator.plot")
    script = (here / "view.js").read_text(encoding="utf-8")
    style = (here / "view.css").read_text(encoding="utf-8")
    kinds = {k: {"title": s.title, "fill": _colour(s.fill), "edge": _colour(s.edge),
                 "hatch": s.hatch} for k, s in KINDS.items()}
    data = json.dumps({"title": title, "columns": columns, "kinds": kinds},
                      separators=(",", ":"))
    # A JSON string inside <script> must not close the element.
    data = data.replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
{style}
</style>
</head>
<body>
<header>
  <h1>{html.escape(title)}</h1>
  <div class="controls">
    <label for="search">Find a region (name or address)</label>
    <input id="search" type="search" placeholder="libc, [stack], 0x7ffff7dd1000" autocomplete="off">
    <span id="found" role="status" aria-live="polite"></span>
    <button id="reset" type="button">Zoom out (0)</button>
  </div>
  <div class="steps" id="steps" hidden>
    <label for="step">Step</label>
    <input id="step" type="range" min="0" value="0" list="step-marks">
    <datalist id="step-marks"></datalist>
    <span id="step-label" role="status" aria-live="polite"></span>
    <ul id="events"></ul>
  </div>
  <p class="help">Wheel or +/- to zoom, drag or arrow keys to pan, click a region (or Tab to
  it and press Enter) to zoom to it, 0 to zoom out. Hover or focus a region for its maps lines.</p>
</header>
<main id="columns"></main>
<div id="tip" role="tooltip" hidden></div>
<footer id="legend"></footer>
<script id="vasim-data" type="application/json">{data}</script>
<script>
{script}
</script>
</body>
</html>
"""
