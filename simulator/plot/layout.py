"""The address-space layout diagram: one column per process, regions labelled from the VMAs.

Each column is drawn in its own coordinate system measured in points (1/72 inch), so text
sizes and bar heights share a unit: the y axis is the address axis of
:mod:`simulator.plot.axis`, mapped to points.
"""

from __future__ import annotations

import attrs
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from simulator.plot.axis import Axis, Piece, linear_axis, segmented_axis, zoom_text
from simulator.plot.labels import spread, thin
from simulator.plot.regions import (
    EMPTY_KINDS, Region, axis_top, cap_text, groups, layout_regions,
)
from simulator.plot.style import KINDS, MONO, RC, new_figure, rc
from simulator.units import format_size

# Column geometry, in points.
ARROW_W = 18.0
BAR_W = 96.0
LEADER_W = 26.0
LABEL_W = 236.0
LABEL_SEP = 9.6
LABEL_FONT = 6.6
TICK_FONT = 6.2
HEADER = 74.0
CAP_H = 22.0
FOOT = 58.0


@attrs.frozen
class Label:
    """One annotation in the label lane: wanted at ``target`` (points), placed at ``y``."""

    target: float
    y: float
    addr: str
    text: str
    kind: str
    #: Where the leader line touches the bar: (y0, y1) of the thing labelled.
    span: tuple[float, float]


@attrs.frozen
class Column:
    """Everything one column draws, computed before drawing (tests read it)."""

    title: str
    mm: object
    regions: tuple[Region, ...]
    axis: Axis
    #: (region, y0, y1) for every region: the drawn box.
    boxes: tuple[tuple[Region, float, float], ...]
    labels: tuple[Label, ...]
    #: (address, y) of the tick labels kept.
    ticks: tuple[tuple[int, float], ...]
    #: Text inside the bar: (y, text) for breaks and large empty regions.
    inline: tuple[tuple[float, str], ...]
    cap: str | None
    #: Thread guard pages too close together to draw as lines: ticks at the bar's edge.
    dense_guards: bool = False


def _hex(mm, addr: int) -> str:
    return f"{addr:012x}" if mm.profile.task_bits == 64 else f"{addr:08x}"


def _tick_width(mm) -> float:
    return 58.0 if mm.profile.task_bits == 64 else 42.0


def column_width(mm) -> float:
    return _tick_width(mm) + ARROW_W + BAR_W + LEADER_W + LABEL_W


def _text_width(text: str, size: float, family: str | None = None) -> float:
    """The width of ``text`` in points, as matplotlib will lay it out."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    props = FontProperties(family=family or RC["font.family"], size=size)
    return TextToPath().get_text_width_height_descent(text, props, ismath=False)[0]


def drawn_width(col: "Column") -> float:
    """The width a column needs: its bar and label lane, widened to its longest label (the
    address and the text beside it) and its subtitle, so no text runs into the next column."""
    lane = column_width(col.mm) - LABEL_W
    need = LABEL_W
    for lab in col.labels:
        offset = 0.0 if not lab.addr else len(lab.addr) * LABEL_FONT * 0.61 + 4
        need = max(need, offset + _text_width(lab.text, LABEL_FONT) + 8)
    subtitle = max((_text_width(line, 6.4) for line in _column_subtitle(col.mm, col)
                    .splitlines()), default=0.0)
    return max(lane + need, subtitle + 8)


def _break_text(piece: Piece, regions: list[Region]) -> str:
    """What a break leaves out, in at most two short lines: the total (or the largest
    part's own label), then what else it holds."""
    inside = [r for r in regions if piece.lo <= r.start and r.end <= piece.hi]
    total = piece.hi - piece.lo
    free = sum(r.size for r in inside if r.kind == "free")
    parts: dict[str, int] = {}
    for r in inside:
        if r.kind != "free":
            parts[r.label] = parts.get(r.label, 0) + r.size
    if not parts:
        return f"{format_size(total)} free"
    biggest = max(parts, key=lambda k: parts[k])
    if free >= parts[biggest]:
        head, rest = f"{format_size(total)} free", list(parts)
    else:
        head, rest = (biggest if len(parts) == 1 and not free
                      else f"{format_size(total)}: {biggest.split(' (')[0]}"), \
            [k for k in parts if k != biggest] + (["free"] if free else [])
    if not rest:
        if len(head) > 30 and " (" in head:
            first, _, second = head.partition(" (")
            return f"{first}\n({second}"
        return head
    tail = "+ " + ", ".join(k.split(" (")[0] for k in rest)
    if len(tail) > 34:
        tail = tail[:33] + "…"
    return f"{head}\n{tail}"


def _marker_labels(mm, axis: Axis) -> list[tuple[int, str, str]]:
    """(address, text, kind) of the base markers written in the label lane."""
    out = []
    direction = "down ↓" if mm.topdown else "up ↑"
    which = "mmap_base" if mm.topdown else "mmap_base (legacy layout)"
    out.append((mm.mmap_base, f"{which}: mmap area grows {direction}", "marker"))
    if mm.current_brk == mm.start_brk and mm.start_brk:
        out.append((mm.start_brk, "start_brk: heap empty, grows up ↑", "marker"))
    marked = []
    for addr, text, kind in out:
        piece = axis.piece_at(addr)
        if piece.omitted and piece.lo < addr < piece.hi:
            text += " (inside the axis break)"
        marked.append((addr, text, kind))
    return marked


def build_column(title: str, mm, *, axis: str = "segmented", height: float = 520.0,
                 max_labels: int | None = None) -> Column:
    """Compute one column: regions, axis, label and tick positions."""
    regions = layout_regions(mm)
    top = axis_top(mm)
    if axis == "linear":
        ax = linear_axis(0, top, height)
    elif axis == "segmented":
        ax = segmented_axis(regions, height, break_height=30.0)
    else:
        raise ValueError(f"axis must be 'linear' or 'segmented', not {axis!r}")
    boxes = tuple((r, ax.y(r.start), ax.y(r.end)) for r in regions)

    # Inline texts: breaks, and empty regions tall enough to hold a line of text.
    inline = []
    omitted_groups = set()
    for p in ax.pieces:
        if p.omitted:
            inline.append(((p.y0 + p.y1) / 2, _break_text(p, regions)))
            for r in regions:
                if p.lo <= r.start and r.end <= p.hi:
                    omitted_groups.add(r.group)
    for r, y0, y1 in boxes:
        if r.kind in EMPTY_KINDS and r.group not in omitted_groups and y1 - y0 >= 11:
            text = f"free {format_size(r.size)}" if r.kind == "free" else r.label
            if r.kind == "kernel" and format_size(r.size) not in text:
                # A piece of a larger whole (kernel space around a gate page): its own size.
                text = f"{text.split(' (')[0]} {format_size(r.size)}"
            inline.append(((y0 + y1) / 2, text))
            omitted_groups.add(r.group)

    # Guard pages closer than 4 pt apart are drawn as ticks at the bar's edge, and said so.
    guard_ys = [(y0 + y1) / 2 for r, y0, y1 in boxes if r.kind == "thread-guard"]
    dense = len(guard_ys) > 1 and min(b - a for a, b in zip(guard_ys, guard_ys[1:])) < 4.0

    # Leader-line labels: every group of mapped regions, and empty ones not written inline
    # (except plain free gaps, which stay white and silent).
    wanted = []
    for g in groups(regions):
        y0, y1 = ax.y(g.start), ax.y(g.end)
        first = next(r for r in regions if r.start == g.start)
        if first.group in omitted_groups or g.kind == "free":
            continue
        text = g.text
        if g.kind == "heap":
            text += ", grows up ↑"
        elif g.kind == "stack":
            text += ", grows down ↓"
        elif g.kind == "thread-stack" and dense and "guard" in text:
            text += "; guards: ticks at right"
        wanted.append(((y0 + y1) / 2, _hex(mm, g.start), text, g.kind, (y0, y1)))
    for addr, text, kind in _marker_labels(mm, ax):
        y = ax.y(addr)
        wanted.append((y, _hex(mm, addr), text, kind, (y, y)))
    limit = max_labels or int(height / LABEL_SEP)
    if len(wanted) > limit:
        # Too many to write: keep the largest, the markers, and say how many were left out.
        keep = sorted(range(len(wanted)), key=lambda i: (wanted[i][3] != "marker",
                                                         -(wanted[i][4][1] - wanted[i][4][0]), i))
        keep = sorted(keep[:limit - 1])
        dropped = len(wanted) - len(keep)
        wanted = [wanted[i] for i in keep]
        wanted.append((0.0, "", f"({dropped} smaller groups not labelled)", "note", (0.0, 0.0)))
    ys = spread([w[0] for w in wanted], LABEL_SEP, 3.0, height - 3.0)
    labels = tuple(Label(w[0], y, w[1], w[2], w[3], w[4]) for w, y in zip(wanted, ys))

    # Ticks at every piece boundary; thinned so they never collide. Breaks' ends first.
    cands = []
    for p in ax.pieces:
        cands.append(p.lo)
    cands.append(ax.hi)
    cands = list(dict.fromkeys(cands))
    prio = sorted(cands, key=lambda a: (0 if a in (ax.lo, ax.hi) else 1, a))
    ypos = [ax.y(a) for a in prio]
    kept = thin(ypos, TICK_FONT * 1.35)
    ticks = tuple(sorted((prio[i], ypos[i]) for i in kept))
    return Column(title, mm, tuple(regions), ax, boxes, labels, ticks, tuple(inline),
                  cap_text(mm), dense)


def _zigzag(ax, x0, x1, y, amp=1.6, n=None, **kw):
    n = n or max(int((x1 - x0) / 6), 4)
    xs = [x0 + (x1 - x0) * k / n for k in range(n + 1)]
    ys = [y + (amp if k % 2 else -amp) for k in range(n + 1)]
    ax.plot(xs, ys, **kw)


def _column_subtitle(mm, col: Column) -> str:
    prof = mm.profile
    lines = [prof.summary]
    layout = "top-down" if mm.topdown else "legacy (bottom-up)"
    lines.append(f"TASK_SIZE {mm.task_size:#x}, mmap_base {mm.mmap_base:#x} ({layout}), "
                 f"{mm.map_count} VMAs")
    if col.axis.segmented:
        lines.append("segmented axis: each shown span linear; zig-zag breaks leave out the "
                     "size written on them")
    else:
        lines.append("linear axis: heights proportional to sizes")
    return "\n".join(lines)


def _scale_bar(ax, col: Column, x: float):
    """A vertical bar of a round size at the column's scale (unmagnified segments)."""
    scale = col.axis.scale
    best = None
    for shift in range(12, 64):
        for mult in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
            size = mult << shift
            h = size * scale
            if 16 <= h <= 44:
                best = (size, h)
                break
        if best:
            break
    if best is None:
        return
    size, h = best
    y0 = -FOOT + 6
    ax.plot([x, x], [y0, y0 + h], color="black", lw=1.4, solid_capstyle="butt")
    for yy in (y0, y0 + h):
        ax.plot([x - 3, x + 3], [yy, yy], color="black", lw=0.8)
    what = "scale" if not col.axis.segmented else "scale of unmagnified segments"
    ax.text(x + 6, y0 + h / 2, f"{what}: {format_size(size)}", fontsize=TICK_FONT,
            va="center", ha="left", color="black")


def draw_column(ax, col: Column, index: int):
    mm = col.mm
    tw = _tick_width(mm)
    x_bar0 = tw + ARROW_W
    x_bar1 = x_bar0 + BAR_W
    x_lab = x_bar1 + LEADER_W
    height = col.axis.height
    ax.set_xlim(0, drawn_width(col))
    ax.set_axis_off()

    # Region boxes: true heights. Outlines only where there is room for them.
    guards = []
    for r, y0, y1 in col.boxes:
        style = KINDS[r.kind]
        tall = y1 - y0 >= 2.5
        rect = Rectangle((x_bar0, y0), BAR_W, y1 - y0, facecolor=style.fill,
                         edgecolor=style.edge if r.kind != "free" and tall else "none",
                         hatch=style.hatch or None, lw=0.4 if r.kind != "thread-guard" else 0,
                         gid=f"col{index}-{r.kind}-{r.start:x}-{r.end:x}")
        ax.add_patch(rect)
        if r.kind == "thread-guard":
            guards.append((y0 + y1) / 2)
        elif y1 - y0 < 0.8 and r.kind not in ("free", "thread-stack"):
            # Too thin to see: a hairline in the kind's edge colour marks where it is.
            ax.plot([x_bar0, x_bar1], [(y0 + y1) / 2] * 2, color=style.edge, lw=0.8,
                    solid_capstyle="butt")
    # Guard pages are a page among megabytes: each is a line at least 0.9 pt thick, or, when
    # stacks are packed too densely for that, a short tick at the bar's right edge.
    for ym in guards:
        if col.dense_guards:
            ax.plot([x_bar1 - 10, x_bar1], [ym, ym], color="black", lw=0.35,
                    solid_capstyle="butt")
        else:
            ax.plot([x_bar0, x_bar1], [ym, ym], color="black", lw=0.9, solid_capstyle="butt")
    # Outline and spine.
    ax.add_patch(Rectangle((x_bar0, 0), BAR_W, height, fill=False, edgecolor="#333333", lw=0.6))

    # Breaks: zig-zags over the bar and the spine, text in the middle.
    for p in col.axis.pieces:
        if not p.omitted:
            continue
        for yy in (p.y0 + 3.0, p.y1 - 3.0):
            ax.add_patch(Rectangle((x_bar0 - 4, yy - 1.7), BAR_W + 8, 3.4, facecolor="white",
                                   edgecolor="none", zorder=3))
            _zigzag(ax, x_bar0 - 4, x_bar1 + 4, yy, color="#222222", lw=0.7, zorder=4)
    for y, text in col.inline:
        ax.text((x_bar0 + x_bar1) / 2, y, text, ha="center", va="center", fontsize=TICK_FONT,
                color="black", zorder=6, wrap=False,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none",
                          alpha=0.9))

    # Zoom marks for magnified segments.
    for p in col.axis.pieces:
        if not p.omitted and p.zoom > 1.05:
            ax.plot([tw + 1, tw + 1], [p.y0 + 1, p.y1 - 1], color="#555555", lw=0.6)
            ax.text(tw - 2, (p.y0 + p.y1) / 2, zoom_text(p.zoom), ha="right", va="center",
                    fontsize=TICK_FONT - 0.4, color="#333333", style="italic", zorder=6)

    # Ticks.
    for addr, y in col.ticks:
        ax.plot([x_bar0 - 2, x_bar0], [y, y], color="black", lw=0.6)
        ax.text(tw - 2, y, _hex(mm, addr) if addr < (1 << 64) else "", ha="right", va="center",
                fontsize=TICK_FONT, family=MONO, color="black")

    # Growth arrows in the arrow lane, and the mmap_base line.
    xa_heap = tw + 5
    xa_mmap = tw + 12

    def arrow(x, y, dy):
        ax.annotate("", xy=(x, y + dy), xytext=(x, y),
                    arrowprops=dict(arrowstyle="-|>", color="black", lw=1.0,
                                    mutation_scale=7, shrinkA=0, shrinkB=0))

    if mm.start_brk:
        arrow(xa_heap, col.axis.y(mm.start_brk), 20)
    stack = mm.vma_at(mm.start_stack)
    if stack is not None:
        arrow(xa_heap, col.axis.y(stack.start), -20)
    ym = col.axis.y(mm.mmap_base)
    arrow(xa_mmap, ym, -20 if mm.topdown else 20)
    ax.plot([xa_mmap - 3, x_bar1 + 6], [ym, ym], color="black", lw=0.8, ls=(0, (3, 2)),
            zorder=5)

    # Labels with leader lines.
    for lab in col.labels:
        yt = (lab.span[0] + lab.span[1]) / 2
        if lab.kind != "note":
            ax.plot([x_bar1, x_bar1 + 6, x_lab - 3], [yt, yt, lab.y], color="#444444", lw=0.5,
                    zorder=5)
        ax.text(x_lab, lab.y, lab.addr, ha="left", va="center", fontsize=LABEL_FONT,
                family=MONO, color="#222222")
        offset = 0.0 if not lab.addr else len(lab.addr) * LABEL_FONT * 0.61 + 4
        ax.text(x_lab + offset, lab.y, lab.text, ha="left", va="center", fontsize=LABEL_FONT,
                color="black", style="italic" if lab.kind in ("marker", "note") else "normal")

    # Cap above the column and the titles.
    if col.cap:
        ax.add_patch(Rectangle((x_bar0, height + 3), BAR_W, CAP_H - 8,
                               facecolor=KINDS["kernel"].fill, edgecolor="#444444",
                               hatch=KINDS["kernel"].hatch, lw=0.4))
        _zigzag(ax, x_bar0 - 4, x_bar1 + 4, height + 1.5, color="#222222", lw=0.7)
        ax.text(x_bar1 + 6, height + 3, col.cap, ha="left", va="bottom", linespacing=1.25,
                fontsize=LABEL_FONT, color="black", style="italic")
    ax.text(0, height + CAP_H + 40, col.title, ha="left", va="bottom", fontsize=10,
            weight="bold")
    ax.text(0, height + CAP_H + 6, _column_subtitle(mm, col), ha="left", va="bottom",
            fontsize=6.4, color="#222222", linespacing=1.3)
    _scale_bar(ax, col, x_lab)


def layout_columns(columns, *, axis: str = "segmented", height: float | None = None):
    """The :class:`Column` of each ``(title, mm)``, all at one height."""
    if height is None:
        height = 520.0
        for title, mm in columns:
            n = len(groups(layout_regions(mm))) + 2
            height = max(height, min(n * LABEL_SEP * 0.9 + 20, 1300.0))
    return [build_column(title, mm, axis=axis, height=height) for title, mm in columns]


def layout_figure(columns, *, axis: str = "segmented", height: float | None = None,
                  title: str | None = None):
    """The layout diagram of each ``(title, AddressSpace)`` in ``columns``, side by side.

    ``axis="segmented"`` (default) shows the populated spans at true scale and leaves out the
    large empty ones (breaks with their size written); ``axis="linear"`` draws the whole
    range at one scale. Returns a matplotlib Figure.
    """
    with rc():
        cols = layout_columns(columns, axis=axis, height=height)
        h = cols[0].axis.height
        total_h = h + HEADER + CAP_H + FOOT
        widths = [drawn_width(c) + 14 for c in cols]
        legend_h = 40.0
        fig = new_figure(sum(widths) / 72, (total_h + legend_h) / 72)
        x = 0.0
        fw, fh = sum(widths), total_h + legend_h
        for i, (col, w) in enumerate(zip(cols, widths)):
            ax = fig.add_axes([x / fw, legend_h / fh, (w - 14) / fw, total_h / fh])
            ax.set_ylim(-FOOT, h + HEADER + CAP_H)
            draw_column(ax, col, i)
            x += w
        kinds = []
        for col in cols:
            for r in col.regions:
                if r.kind not in kinds:
                    kinds.append(r.kind)
        order = [k for k in KINDS if k in kinds]
        handles = []
        for k in order:
            s = KINDS[k]
            if k == "thread-guard":
                handles.append(Line2D([], [], color="black", lw=2.0, label=s.title))
            else:
                handles.append(Patch(facecolor=s.fill, edgecolor=s.edge, hatch=s.hatch or None,
                                     lw=0.5, label=s.title))
        handles.append(Line2D([], [], color="black", lw=0.8, ls=(0, (3, 2)), label="mmap_base"))
        handles.append(Line2D([], [], color="black", lw=1.0, marker=r"$\uparrow$",
                              markersize=7, ls="none", label="growth direction"))
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 0.0),
                   ncol=min(len(handles), 5), frameon=False, fontsize=6.8,
                   handlelength=2.2, handleheight=1.4, columnspacing=1.4)
        if title:
            fig.suptitle(title, x=0.0, ha="left", y=1.0, va="bottom", fontsize=11,
                         weight="bold")
        fig.vasim_columns = cols
    return fig


__all__ = ["layout_figure", "layout_columns", "build_column", "Column", "Label"]
