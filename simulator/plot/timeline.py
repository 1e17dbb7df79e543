"""A scenario's timeline: address (y) against step (x).

Every VMA is a band from the step that created it to the last step it survived, so mappings
that are unmapped (or replaced, split, merged) visibly end. What a step placed (an mmap's
result, the stacks of the threads it created) is drawn as a solid bar at that step. Events
the kernel model logged are markers at their address: collisions (MAP_FIXED replacing a
mapping, a mapping in a stack's growth room), refused stack growth, ENOMEM, and the rest.

The y axis is the segmented address axis of :mod:`simulator.plot.axis` built over every
address that was ever mapped during the run.
"""

from __future__ import annotations

import attrs
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from simulator.kernel import events as ev
from simulator.kernel.vma import VM_GROWSDOWN
from simulator.plot.axis import Axis, linear_axis, segmented_axis, zoom_text
from simulator.plot.labels import spread, thin
from simulator.plot.regions import (
    _exe_file, axis_top, format_size, groups, layout_regions, vma_kind,
)
from simulator.plot.style import KINDS, MONO, OKABE_ITO, new_figure, rc

#: Event type → (legend text, marker, colour, size). Distinct shapes, so colour is optional.
EVENT_STYLE = {
    ev.FixedReplaced: ("MAP_FIXED replaced a mapping", "X", OKABE_ITO["vermillion"], 9),
    ev.PlacedInGrowthRoom: ("placed in a stack's growth room", "^", OKABE_ITO["orange"], 8),
    ev.StackGrowthRefused: ("stack growth refused", "v", OKABE_ITO["purple"], 8),
    ev.NoMemory: ("ENOMEM (no gap large enough)", "s", OKABE_ITO["yellow"], 7),
    ev.MapCountExceeded: ("vm.max_map_count reached", "D", OKABE_ITO["blue"], 6),
    ev.HintIgnored: ("hint not honoured", "o", OKABE_ITO["skyblue"], 6),
    ev.TopDownFallback: ("top-down search fell back to bottom-up", ">", OKABE_ITO["green"], 7),
    ev.BrkRefused: ("brk refused", "P", OKABE_ITO["orange"], 7),
    ev.Segfault: ("SIGSEGV", "*", OKABE_ITO["black"], 8),
    ev.StackGrown: ("stack grew", "2", OKABE_ITO["purple"], 7),
}
#: Events without an address of their own are drawn on this line near the top of the plot.
_UNPLACED = (ev.NoMemory, ev.MapCountExceeded)


@attrs.frozen
class Band:
    """A VMA alive from step ``first`` to step ``last`` (inclusive)."""

    start: int
    end: int
    kind: str
    first: int
    last: int


@attrs.frozen
class Trace:
    """One variant's run, step by step (x = -1 is the process before the first step)."""

    label: str
    mm: object
    outcomes: tuple
    bands: tuple[Band, ...]
    #: Whether the lifetimes are exact (from a replay) or inferred from the final state.
    exact: bool


def _step_label(o) -> str:
    label = o.step.label.replace("step ", "")
    if o.step.repeat > 1:
        label += f" #{o.iteration + 1}"
    return label


def _snapshot_kinds(mm, vmas, known: dict) -> dict:
    """Kinds of the VMAs not seen before (each classified once, in its first context)."""
    exe_file = None
    for i, v in enumerate(vmas):
        if v not in known:
            if exe_file is None:
                exe_file = _exe_file(mm) or False
            known[v] = vma_kind(mm, v, vmas[i - 1] if i else None,
                                vmas[i + 1] if i + 1 < len(vmas) else None, exe_file or None)
    return known


def trace_variant(variant_result, scenario=None) -> Trace:
    """The timeline of one variant. With the scenario, the variant is run again (runs are
    deterministic) and every VMA's lifetime is exact; without it, lifetimes are inferred
    from the final state (a placement still mapped at the end lives to the end)."""
    label = variant_result.variant.label
    if scenario is None:
        return _trace_from_result(variant_result)
    from simulator.scenario.runner import run

    kinds: dict = {}
    alive: dict = {}
    bands: list[Band] = []
    outcomes = []
    final = {}

    def observe(_variant, outcome, mm):
        x = len(outcomes) if outcome is not None else -1
        if outcome is not None:
            outcomes.append(outcome)
        vmas = list(mm.vmas())
        _snapshot_kinds(mm, vmas, kinds)
        # A band is a range of one kind: a VMA that only gains an anon_vma or a flag that
        # does not change its kind goes on in the same band. Below every MAP_GROWSDOWN VMA,
        # its stack_guard_gap (mm/vma.c ``vm_start_gap``) is a band of its own.
        now = {(v.start, v.end, kinds[v]) for v in vmas}
        now |= {(max(0, v.start - mm.stack_guard_gap), v.start, "guard-gap") for v in vmas
                if v.flags & VM_GROWSDOWN and mm.stack_guard_gap}
        for key in [k for k in alive if k not in now]:
            bands.append(Band(*key, alive.pop(key), x - 1))
        for key in now:
            alive.setdefault(key, x)
        final["mm"] = mm

    run(scenario, (variant_result.variant,), observe=observe)
    mm = final["mm"]
    x = len(outcomes)
    for key, first in alive.items():
        bands.append(Band(*key, first, x - 1))
    bands.sort(key=lambda b: (b.first, b.start))
    if [(o.placed, o.stacks) for o in outcomes] != [(o.placed, o.stacks)
                                                    for o in variant_result.outcomes]:
        # Not the run the result came from (a changed file?): use what the result says.
        return _trace_from_result(variant_result)
    return Trace(label, mm, tuple(outcomes), tuple(bands), True)


def _trace_from_result(result) -> Trace:
    mm = result.mm
    vmas = list(mm.vmas())
    kinds = _snapshot_kinds(mm, vmas, {})
    n = len(result.outcomes)
    bands = []
    placed = [(x, start, start + length) for x, o in enumerate(result.outcomes)
              for start, length in ([o.placed] if o.placed else []) + list(o.stacks)]
    for v in vmas:
        # The latest placement that overlaps it made this VMA as it is now (a later one
        # would have replaced or split it).
        first = max((x for x, s, e in placed if s < v.end and v.start < e), default=-1)
        bands.append(Band(v.start, v.end, kinds[v], first, n - 1))
    return Trace(result.variant.label, mm, tuple(result.outcomes), tuple(bands), False)


def _event_points(trace: Trace):
    """(x, address or None, event) of every event."""
    out = []
    for x, o in enumerate(trace.outcomes):
        for e in o.events:
            addr = None
            if isinstance(e, (ev.FixedReplaced, ev.PlacedInGrowthRoom)):
                addr = e.addr
            elif isinstance(e, (ev.StackGrowthRefused, ev.Segfault, ev.StackGrown)):
                addr = e.addr
            elif isinstance(e, ev.HintIgnored):
                addr = e.hint
            elif isinstance(e, ev.TopDownFallback):
                addr = e.result
            elif isinstance(e, ev.BrkRefused):
                addr = e.requested
            out.append((x, addr, e))
    return out


def _placements(trace: Trace):
    """(x, start, length, kind) of what each step placed."""
    out = []
    for x, o in enumerate(trace.outcomes):
        if o.placed is not None:
            out.append((x, o.placed[0], o.placed[1], "anon"))
        for start, size in o.stacks:
            out.append((x, start, size, "thread-stack"))
    return out


def timeline_axis(trace: Trace, height: float, axis: str = "segmented") -> Axis:
    """A segmented axis over everything the run ever mapped (and every event address)."""
    mm = trace.mm
    top = axis_top(mm)
    if axis == "linear":
        return linear_axis(0, top, height)
    used = sorted({(b.start, b.end) for b in trace.bands}
                  | {(s, s + n) for _, s, n, _ in _placements(trace)})
    points = [a for _, a, _ in _event_points(trace) if a is not None and 0 <= a < top]
    used += [(a & ~0xFFF, (a & ~0xFFF) + 0x1000) for a in points]
    used.sort()
    spans = []
    cursor = 0
    for s, e in used:
        s, e = max(s, 0), min(e, top)
        if e <= cursor:
            continue
        if s > cursor:
            spans.append((cursor, s, "free"))
            cursor = s
        spans.append((cursor, e, "used"))
        cursor = e
    if cursor < top:
        spans.append((cursor, top, "free"))
    merged = []
    for span in spans:
        if merged and merged[-1][2] == span[2] and merged[-1][1] == span[0]:
            merged[-1] = (merged[-1][0], span[1], span[2])
        else:
            merged.append(span)
    return segmented_axis(merged, height, break_height=22.0, min_segment=36.0)


def _hex(mm, addr):
    return f"{addr:012x}" if mm.profile.task_bits == 64 else f"{addr:08x}"


def _draw_trace(ax, lane, trace: Trace, height: float, axis_kind: str):
    mm = trace.mm
    axis = timeline_axis(trace, height, axis_kind)
    n = len(trace.outcomes)
    x_lo, x_hi = -1.6, n - 0.4
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(0, height)
    # Bands: every VMA over its lifetime. Outlines and guard lines only where there is room:
    # hundreds of stacks packed together would otherwise turn black.
    guard_ys = sorted((axis.y(b.start) + axis.y(b.end)) / 2 for b in trace.bands
                      if b.kind == "thread-guard")
    dense = len(guard_ys) > 1 and min(b - a for a, b in zip(guard_ys, guard_ys[1:])) < 4.0
    for b in trace.bands:
        style = KINDS[b.kind]
        y0, y1 = axis.y(b.start), axis.y(b.end)
        if b.kind == "thread-guard":
            if not dense:
                ax.plot([b.first - 0.5, b.last + 0.5], [(y0 + y1) / 2] * 2, color="black",
                        lw=max(0.7, y1 - y0), solid_capstyle="butt", zorder=3)
            continue
        tall = y1 - y0 >= 2.5
        # A guard gap is free space the kernel keeps free: drawn beneath the VMAs, so a
        # mapping placed inside it shows on top.
        ax.add_patch(Rectangle((b.first - 0.5, y0), b.last - b.first + 1.0, max(y1 - y0, 0.6),
                               facecolor=style.fill, edgecolor=style.edge if tall else "none",
                               lw=0.3, hatch=style.hatch or None,
                               zorder=1 if b.kind == "guard-gap" else 2))
    # What each step placed: a dark bar at its step (adjacent placements of one step as one
    # bar when they are too many to tell apart).
    by_step: dict = {}
    for x, start, length, _kind in _placements(trace):
        by_step.setdefault(x, []).append((start, start + length))
    for x, spans in by_step.items():
        spans.sort()
        if len(spans) > 40:
            merged = [list(spans[0])]
            for s0, e0 in spans[1:]:
                if s0 <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], e0)
                else:
                    merged.append([s0, e0])
            spans = merged
        for start, end in spans:
            y0, y1 = axis.y(start), axis.y(end)
            ax.add_patch(Rectangle((x - 0.18, y0), 0.36, max(y1 - y0, 1.0),
                                   facecolor="#222222", edgecolor="white", lw=0.5, zorder=4))
    # Breaks.
    for p in axis.pieces:
        if p.omitted:
            ax.add_patch(Rectangle((x_lo, p.y0), x_hi - x_lo, p.y1 - p.y0, facecolor="white",
                                   edgecolor="none", zorder=5))
            for yy in (p.y0 + 2.5, p.y1 - 2.5):
                k = 60
                xs = [x_lo + (x_hi - x_lo) * i / k for i in range(k + 1)]
                ys = [yy + (1.4 if i % 2 else -1.4) for i in range(k + 1)]
                ax.plot(xs, ys, color="#333333", lw=0.6, zorder=6, clip_on=False)
            ax.text((x_lo + x_hi) / 2, (p.y0 + p.y1) / 2,
                    f"{format_size(p.hi - p.lo)} never mapped (axis break)", ha="center",
                    va="center", fontsize=6.2, zorder=7)
        elif p.zoom > 1.05:
            ax.text(-0.012, (p.y0 + p.y1) / 2, zoom_text(p.zoom), ha="right", va="center",
                    fontsize=5.8, style="italic", color="#333333", clip_on=False,
                    transform=ax.get_yaxis_transform())
    # Events.
    seen = set()
    unplaced = False
    for x, addr, e in _event_points(trace):
        text, marker, color, size = EVENT_STYLE[type(e)]
        y = axis.y(addr) if addr is not None else height + 8
        unplaced |= addr is None
        filled = marker not in ("o", "2")
        ax.plot([x], [y], marker=marker, ls="none", markersize=size,
                markerfacecolor=color if filled else "white", markeredgecolor="black",
                markeredgewidth=0.7, zorder=8, clip_on=False)
        seen.add(type(e))
    if unplaced:
        ax.text(x_lo, height + 8, "no address:", ha="left", va="center", fontsize=6,
                style="italic", clip_on=False)
    # Ticks at the pieces' ends.
    cands = list(dict.fromkeys([p.lo for p in axis.pieces] + [axis.hi]))
    prio = sorted(cands, key=lambda a: (0 if a in (axis.lo, axis.hi) else 1, a))
    ys = [axis.y(a) for a in prio]
    kept = sorted(thin(ys, 8.5), key=lambda i: ys[i])
    ax.set_yticks([ys[i] for i in kept])
    ax.set_yticklabels([_hex(mm, prio[i]) for i in kept], family=MONO, fontsize=6.2)
    # Steps.
    labels = ["exec"] + [_step_label(o) for o in trace.outcomes]
    xs = list(range(-1, n))
    if len(xs) > 36:
        stride = -(-len(xs) // 36)
        xs, labels = xs[::stride], labels[::stride]
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=6.2)
    ax.set_xlabel("step")
    ax.tick_params(axis="y", length=2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    # Labels of the final state's regions, in the lane to the right.
    lane.set_xlim(0, 150)
    lane.set_ylim(0, height)
    lane.set_axis_off()
    wanted = []
    for g in groups(layout_regions(mm)):
        if g.kind in ("free", "reserved", "kernel", "guard-gap") or axis.piece_at(g.start).omitted:
            continue
        y0, y1 = axis.y(g.start), axis.y(g.end)
        wanted.append(((y0 + y1) / 2, g.text))
    wanted = wanted[-int(height / 9):]
    ys = spread([w[0] for w in wanted], 8.8, 3, height - 3)
    for (yt, text), y in zip(wanted, ys):
        lane.plot([0, 5, 12], [yt, yt, y], color="#555555", lw=0.5, clip_on=False)
        lane.text(14, y, text, fontsize=6.2, va="center", ha="left")
    return seen, {b.kind for b in trace.bands}


def timeline_figure(result, *, scenario=None, axis: str = "segmented",
                    height: float = 440.0, title: str | None = None):
    """The timeline of a :class:`ScenarioResult` (one panel per variant) or of one
    :class:`VariantResult` (pass ``scenario`` too for exact lifetimes)."""
    if hasattr(result, "variants"):
        scenario = result.scenario
        traces = [trace_variant(v, scenario) for v in result.variants]
        title = title or scenario.title
    else:
        traces = [trace_variant(result, scenario)]
        title = title or result.variant.label
    with rc():
        n = len(traces)
        steps = max(len(t.outcomes) for t in traces)
        plot_w = max(200.0, min(520.0, 60 + 26 * steps))
        lane_w, left, gap = 150.0, 62.0, 28.0
        col_w = left + plot_w + lane_w + gap
        bottom, top_m, legend_h = 70.0, 34.0, 52.0
        fw, fh = n * col_w, height + bottom + top_m + legend_h
        fig = new_figure(fw / 72, fh / 72)
        seen_events, seen_kinds = set(), set()
        for i, trace in enumerate(traces):
            x0 = i * col_w + left
            ax = fig.add_axes([x0 / fw, (bottom + legend_h) / fh, plot_w / fw, height / fh])
            lane = fig.add_axes([(x0 + plot_w) / fw, (bottom + legend_h) / fh, lane_w / fw,
                                 height / fh])
            events, kinds = _draw_trace(ax, lane, trace, height, axis)
            seen_events |= events
            seen_kinds |= kinds
            sub = f"{trace.label}: {trace.mm.profile.summary}"
            if not trace.exact:
                sub += "\n(lifetimes inferred from the final state)"
            ax.set_title(sub, fontsize=7.5, loc="left", pad=18)
            ax.set_ylabel("address (segmented axis)" if axis != "linear" else "address")
        handles = [Patch(facecolor="#222222", edgecolor="white", label="placed at this step")]
        for k in KINDS:
            if k in seen_kinds:
                s = KINDS[k]
                if k == "thread-guard":
                    handles.append(Line2D([], [], color="black", lw=1.6, label=s.title))
                else:
                    handles.append(Patch(facecolor=s.fill, edgecolor=s.edge,
                                         hatch=s.hatch or None, lw=0.5, label=s.title))
        for etype, (text, marker, color, size) in EVENT_STYLE.items():
            if etype in seen_events:
                filled = marker not in ("o", "2")
                handles.append(Line2D([], [], marker=marker, ls="none", markersize=size * 0.9,
                                      markerfacecolor=color if filled else "white",
                                      markeredgecolor="black", markeredgewidth=0.7,
                                      label=text))
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 0.0),
                   ncol=min(4, len(handles)), frameon=False, fontsize=6.6,
                   handlelength=2.0, handleheight=1.3)
        fig.suptitle(title, x=0.0, ha="left", y=1.0, va="bottom", fontsize=10, weight="bold")
        fig.vasim_traces = traces
    return fig


__all__ = ["timeline_figure", "trace_variant", "Trace", "Band", "EVENT_STYLE"]
