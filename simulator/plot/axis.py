"""The address axis: linear, or segmented with honest breaks.

A 64-bit address space is 2^47 bytes of which a few MiB are used, in clusters terabytes
apart; a 32-bit one is 4 GiB with the same few MiB. A *segmented* axis shows the populated
clusters and leaves out the big empty spans between them. Every shown segment is linear;
each left-out span becomes a fixed-height break drawn with zig-zag marks and its size written
on it. All segments of a column share one scale (bytes per point), except segments too small
to see, which are magnified to a minimum height and marked "×N". A *linear* axis is one
segment at one scale: heights are exactly proportional to sizes.
"""

from __future__ import annotations

import bisect

import attrs

from simulator.plot.regions import EMPTY_KINDS, Region


@attrs.frozen
class Piece:
    """Addresses ``[lo, hi)`` drawn at heights ``[y0, y1)`` (points)."""

    lo: int
    hi: int
    y0: float
    y1: float
    #: A break: the span is left out, only its size is written.
    omitted: bool = False
    #: For shown segments, how much larger than the column's scale this one is drawn.
    zoom: float = 1.0
    #: What the omitted span holds (region kinds, in address order), for the break's text.
    kinds: tuple = ()


@attrs.frozen
class Axis:
    pieces: tuple[Piece, ...]
    #: Points per byte of the shown segments at zoom 1.
    scale: float
    segmented: bool

    @property
    def lo(self) -> int:
        return self.pieces[0].lo

    @property
    def hi(self) -> int:
        return self.pieces[-1].hi

    @property
    def height(self) -> float:
        return self.pieces[-1].y1

    def y(self, addr: int) -> float:
        """The height of ``addr`` (monotonic; linear inside each piece)."""
        pieces = self.pieces
        if addr <= pieces[0].lo:
            return pieces[0].y0
        if addr >= pieces[-1].hi:
            return pieces[-1].y1
        i = bisect.bisect_right([p.lo for p in pieces], addr) - 1
        p = pieces[i]
        return p.y0 + (addr - p.lo) / (p.hi - p.lo) * (p.y1 - p.y0)

    def piece_at(self, addr: int) -> Piece:
        i = bisect.bisect_right([p.lo for p in self.pieces], addr) - 1
        return self.pieces[max(i, 0)]


def zoom_text(zoom: float) -> str:
    """How a magnified segment is marked: ×1.8, ×14, ×2,180."""
    return f"×{zoom:.1f}" if zoom < 10 else f"×{zoom:,.0f}"


def linear_axis(lo: int, hi: int, height: float) -> Axis:
    return Axis((Piece(lo, hi, 0.0, height),), height / (hi - lo), False)


def choose_omitted(spans: list[tuple[int, int, str]], share: float = 0.5) -> set[int]:
    """Which spans (indices) a segmented axis leaves out: repeatedly the largest empty span
    while it is larger than ``share`` times everything still shown besides it."""
    shown = sum(hi - lo for lo, hi, _ in spans)
    candidates = sorted((i for i, (_, _, k) in enumerate(spans) if k in EMPTY_KINDS),
                        key=lambda i: (-(spans[i][1] - spans[i][0]), i))
    omitted: set[int] = set()
    for i in candidates:
        size = spans[i][1] - spans[i][0]
        if size > share * (shown - size) and size > 0:
            omitted.add(i)
            shown -= size
        else:
            break
    return omitted


def segmented_axis(regions: list[Region] | list[tuple[int, int, str]], height: float, *,
                   break_height: float = 24.0, min_segment: float = 30.0,
                   share: float = 0.5) -> Axis:
    """A segmented axis over ``regions`` (address order, no holes) fitting ``height`` points.

    Empty spans (free, not mappable, kernel) are left out when they dwarf what remains;
    shown segments made only of empty kinds and sitting between breaks are left out too.
    """
    spans = [(r.start, r.end, r.kind) if isinstance(r, Region) else tuple(r) for r in regions]
    omitted = choose_omitted(spans, share)
    # Runs of shown/omitted spans.
    runs: list[list] = []
    for i, (lo, hi, kind) in enumerate(spans):
        om = i in omitted
        if runs and runs[-1][2] == om:
            runs[-1][1] = hi
            runs[-1][3].append(kind)
        else:
            runs.append([lo, hi, om, [kind]])
    # A shown run of nothing but empty space next to a break joins the break.
    changed = True
    while changed:
        changed = False
        for k, run in enumerate(runs):
            if run[2] or not all(kind in EMPTY_KINDS for kind in run[3]):
                continue
            near_break = ((k > 0 and runs[k - 1][2]) or (k + 1 < len(runs) and runs[k + 1][2]))
            if near_break and len(runs) > 1:
                run[2] = True
                changed = True
        merged: list[list] = []
        for run in runs:
            if merged and merged[-1][2] and run[2]:
                merged[-1][1] = run[1]
                merged[-1][3].extend(run[3])
            else:
                merged.append(run)
        runs = merged
    if not any(not r[2] for r in runs):
        # Nothing shown at all: fall back to linear.
        return linear_axis(spans[0][0], spans[-1][1], height)
    shown = [r for r in runs if not r[2]]
    n_breaks = len(runs) - len(shown)
    avail = height - n_breaks * break_height
    min_seg = min(min_segment, avail / len(shown) * 0.8)
    # Water-filling: the smallest segments get min_seg, the rest share one scale.
    sizes = sorted((r[1] - r[0], idx) for idx, r in enumerate(runs) if not r[2])
    fixed: set[int] = set()
    rest = sum(s for s, _ in sizes)
    room = avail
    for size, idx in sizes:
        scale = room / rest
        if size * scale < min_seg:
            fixed.add(idx)
            room -= min_seg
            rest -= size
        else:
            break
    scale = room / rest
    pieces = []
    y = 0.0
    for idx, (lo, hi, om, kinds) in enumerate(runs):
        if om:
            h = break_height
            pieces.append(Piece(lo, hi, y, y + h, True, 1.0, tuple(dict.fromkeys(kinds))))
        else:
            natural = (hi - lo) * scale
            h = min_seg if idx in fixed else natural
            zoom = h / natural if natural > 0 else 1.0
            pieces.append(Piece(lo, hi, y, y + h, False, zoom))
        y += h
    return Axis(tuple(pieces), scale, True)
