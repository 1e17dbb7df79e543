"""An index of free gaps, for placement in O(log n): the job of the maple tree's gap tracking.

The kernel keeps VMAs in a maple tree whose internal nodes record the largest gap below them
(lib/maple_tree.c ``mas_empty_area`` / ``mas_empty_area_rev``), so a search for a gap of a given
size skips whole subtrees. gVisor does the same with an augmented B-tree (pkg/sentry/mm).

Here the gaps are kept in address order in chunks of at most ``2 * LOAD`` entries, like
sortedcontainers' SortedList, with each chunk's largest gap, and the largest of each group of
``GROUP`` chunks on top: two levels of maxima instead of a tree's log n. Finding the highest
(or lowest) gap of at least ``size`` bytes scans the rest of one chunk, of its group, the
group maxima, then one group and one chunk: at most four scans of 32 values plus one
comparison per group (a group covers 512-1,024 gaps). An update refreshes one chunk's
maximum and its group's.

The index knows only coverage: :meth:`occupy` when a free range becomes mapped and
:meth:`release` when a mapped range becomes free. Splitting, merging and re-protecting VMAs
change nothing here.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import compress, count, repeat
from operator import ge, sub

LOAD = 16
#: Chunks per group of the upper level of maxima.
GROUP = 32


# The scans inside one chunk or group are plain loops: on CPython 3.11 they beat the same scan in C
# (``next(compress(count(), map(ge, map(sub, ends, starts), repeat(size))))``) at every chunk
# size (2 gaps: 0.19 against 0.65 us; 32 gaps scanned to the end: 1.0 against 2.0 us),
# because building the iterators costs more than the loop (measured in issue 13's work).

#: Past this many values a scan runs in C (``compress`` over a slice): a list of group maxima
#: grows with the address space (one per 512-1,024 gaps), chunks and groups do not.
_LONG_SCAN = 64


def _last_fitting(starts: list[int], ends: list[int], stop: int, size: int) -> int:
    """The index of the last gap before ``stop`` of at least ``size`` bytes, or -1."""
    for j in range(stop - 1, -1, -1):
        if ends[j] - starts[j] >= size:
            return j
    return -1


def _first_fitting(starts: list[int], ends: list[int], begin: int, size: int) -> int:
    """The index of the first gap from ``begin`` on of at least ``size`` bytes, or -1."""
    for j in range(begin, len(starts)):
        if ends[j] - starts[j] >= size:
            return j
    return -1


def _last_at_least(values: list[int], lo: int, hi: int, size: int) -> int:
    """The last index in ``[lo, hi)`` whose value is at least ``size``, or -1."""
    hi = min(hi, len(values))
    if hi - lo > _LONG_SCAN:  # the group maxima of a large address space: scan in C
        fits = map(ge, reversed(values[lo:hi]), repeat(size))
        return next(compress(count(hi - 1, -1), fits), -1)
    for j in range(hi - 1, lo - 1, -1):
        if values[j] >= size:
            return j
    return -1


def _first_at_least(values: list[int], lo: int, hi: int, size: int) -> int:
    """The first index in ``[lo, hi)`` whose value is at least ``size``, or -1."""
    hi = min(hi, len(values))
    if hi - lo > _LONG_SCAN:
        fits = map(ge, values[lo:hi], repeat(size))
        return next(compress(count(lo), fits), -1)
    for j in range(lo, hi):
        if values[j] >= size:
            return j
    return -1


class GapIndex:
    """Free ranges ``[start, end)`` of ``[0, limit)``, searchable by size within address bounds."""

    def __init__(self, limit: int):
        self.limit = limit
        self._starts: list[list[int]] = [[0]]
        self._ends: list[list[int]] = [[limit]]
        self._firsts: list[int] = [0]
        #: The largest gap of each chunk, and of each group of GROUP chunks (-1: empty).
        self._maxes: list[int] = [limit]
        self._group_maxes: list[int] = [limit]

    def copy(self) -> "GapIndex":
        """An independent copy (for fork and for trying calls in another order). O(n) list
        copies, no re-indexing."""
        other = GapIndex.__new__(GapIndex)
        other.limit = self.limit
        other._starts = [list(chunk) for chunk in self._starts]
        other._ends = [list(chunk) for chunk in self._ends]
        other._firsts = list(self._firsts)
        other._maxes = list(self._maxes)
        other._group_maxes = list(self._group_maxes)
        return other

    # -- structure ---------------------------------------------------------------------------

    def _chunk_max(self, c: int) -> int:
        starts, ends = self._starts[c], self._ends[c]
        return max(map(sub, ends, starts)) if starts else -1

    def _rebuild_groups(self) -> None:
        """After chunks were split or removed: every group's members moved."""
        m = self._maxes
        self._group_maxes = [max(m[i:i + GROUP]) for i in range(0, len(m), GROUP)]

    def _update_chunk(self, c: int, *, shrunk: int | None = None,
                      grown: int | None = None) -> None:
        """Refresh chunk ``c`` after a change. ``shrunk``: a gap of that size got smaller or
        went away (the chunk's maximum changes only if it was that gap); ``grown``: a gap grew
        to that size (the new maximum is at least that)."""
        starts = self._starts[c]
        if not starts and len(self._starts) > 1:
            del self._starts[c], self._ends[c], self._maxes[c], self._firsts[c]
            self._rebuild_groups()
            return
        if len(starts) > 2 * LOAD:
            ends = self._ends[c]
            self._starts[c:c + 1] = [starts[:LOAD], starts[LOAD:]]
            self._ends[c:c + 1] = [ends[:LOAD], ends[LOAD:]]
            self._maxes[c:c + 1] = [self._chunk_max(c), self._chunk_max(c + 1)]
            self._firsts[c:c + 1] = [starts[0], starts[LOAD]]
            self._rebuild_groups()
            return
        self._firsts[c] = starts[0] if starts else self.limit
        old = self._maxes[c]
        if shrunk is not None and shrunk < old:
            return  # a smaller gap than the maximum changed: the maximum stands
        if grown is not None:
            if grown <= old:
                return
            value = grown
        else:
            value = self._chunk_max(c)
        if old == value:
            return
        self._maxes[c] = value
        g = c // GROUP
        group_max = self._group_maxes[g]
        if value > group_max:
            self._group_maxes[g] = value
        elif old == group_max:
            self._group_maxes[g] = max(self._maxes[g * GROUP:(g + 1) * GROUP])

    def _locate(self, addr: int) -> tuple[int, int]:
        """(chunk, index) of the last gap whose start is <= addr, or (0, -1) if none."""
        c = bisect_right(self._firsts, addr) - 1
        if c < 0:
            return 0, -1
        return c, bisect_right(self._starts[c], addr) - 1

    def _rightmost_chunk(self, before: int, size: int) -> int:
        """The highest chunk index < ``before`` holding a gap of at least ``size``, or -1."""
        if before <= 0:
            return -1
        maxes = self._maxes
        g = (before - 1) // GROUP
        c = _last_at_least(maxes, g * GROUP, before, size)
        if c >= 0:
            return c
        g = _last_at_least(self._group_maxes, 0, g, size)
        if g < 0:
            return -1
        return _last_at_least(maxes, g * GROUP, (g + 1) * GROUP, size)

    def _leftmost_chunk(self, after: int, size: int) -> int:
        """The lowest chunk index > ``after`` holding a gap of at least ``size``, or -1."""
        maxes = self._maxes
        first = after + 1
        if first >= len(maxes):
            return -1
        g = first // GROUP
        c = _first_at_least(maxes, first, (g + 1) * GROUP, size)
        if c >= 0:
            return c
        g = _first_at_least(self._group_maxes, g + 1, len(self._group_maxes), size)
        if g < 0:
            return -1
        return _first_at_least(maxes, g * GROUP, (g + 1) * GROUP, size)

    # -- updates -----------------------------------------------------------------------------

    def occupy(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` mapped. It must lie inside one gap."""
        c, i = self._locate(start)
        starts, ends = self._starts[c], self._ends[c]
        if i < 0 or end > ends[i]:
            raise AssertionError(f"occupy [{start:#x}, {end:#x}) is not inside a gap")
        gs, ge = starts[i], ends[i]
        if gs == start and ge == end:
            del starts[i], ends[i]
        elif gs == start:
            starts[i] = end
        elif ge == end:
            ends[i] = start
        else:
            ends[i] = start
            starts.insert(i + 1, end)
            ends.insert(i + 1, ge)
        self._update_chunk(c, shrunk=ge - gs)

    def release(self, start: int, end: int) -> None:
        """Mark the mapped range ``[start, end)`` free, joining it with free neighbours."""
        c, i = self._locate(start)
        starts, ends = self._starts[c], self._ends[c]
        joins_prev = i >= 0 and ends[i] == start
        if i >= 0 and ends[i] > start:
            raise AssertionError(f"release [{start:#x}, {end:#x}) overlaps a gap")
        # The gap after: next index in this chunk, or first of the next chunk.
        nc, ni = (c, i + 1) if i + 1 < len(starts) else (c + 1, 0)
        nxt_exists = nc < len(self._starts) and ni < len(self._starts[nc])
        joins_next = nxt_exists and self._starts[nc][ni] == end
        if nxt_exists and self._starts[nc][ni] < end:
            raise AssertionError(f"release [{start:#x}, {end:#x}) overlaps a gap")
        if joins_prev and joins_next:
            next_start, new_end = self._starts[nc][ni], self._ends[nc][ni]
            del self._starts[nc][ni], self._ends[nc][ni]
            ends[i] = new_end
            if nc != c:
                # Update c first: removing an emptied chunk nc would renumber chunks after it.
                self._update_chunk(c, grown=new_end - starts[i])
                self._update_chunk(nc, shrunk=new_end - next_start)
            else:
                self._update_chunk(c, grown=new_end - starts[i])
        elif joins_prev:
            ends[i] = end
            self._update_chunk(c, grown=end - starts[i])
        elif joins_next:
            self._starts[nc][ni] = start
            self._update_chunk(nc, grown=self._ends[nc][ni] - start)
        else:
            starts.insert(i + 1, start)
            ends.insert(i + 1, end)
            self._update_chunk(c, grown=end - start)

    # -- queries -----------------------------------------------------------------------------

    def highest(self, low: int, high: int, size: int) -> tuple[int, int] | None:
        """The highest gap whose part inside ``[low, high)`` holds ``size`` bytes, clipped.

        This is ``mas_empty_area_rev(mas, low, high - 1, size)``: the result is the gap's
        intersection with ``[low, high)``, as ``(start, end)``. O(log n + LOAD).
        """
        if high <= low:
            return None
        c, i = self._locate(high - 1)
        if i < 0:
            return None
        starts, ends = self._starts[c], self._ends[c]
        # The gap at or below high-1 may straddle high (or low): clip it.
        s, e = max(starts[i], low), min(ends[i], high)
        if e - s >= size and e > s:
            return s, e
        if starts[i] <= low:
            return None
        # Gaps are sorted and disjoint: the highest one that fits decides. If it lies below
        # ``low`` (or does not fit once clipped to it), no lower one can do better.
        j = _last_fitting(starts, ends, i, size) if self._maxes[c] >= size else -1
        while j < 0:
            c = self._rightmost_chunk(c, size)
            if c < 0:
                return None
            starts, ends = self._starts[c], self._ends[c]
            j = _last_fitting(starts, ends, len(starts), size)
        gs, ge = starts[j], ends[j]
        if ge <= low:
            return None
        s = max(gs, low)
        return (s, ge) if ge - s >= size else None

    def lowest(self, low: int, high: int, size: int) -> tuple[int, int] | None:
        """The lowest gap whose part inside ``[low, high)`` holds ``size`` bytes, clipped.

        This is ``mas_empty_area(mas, low, high - 1, size)``. O(log n + LOAD).
        """
        if high <= low:
            return None
        c, i = self._locate(low)
        if i < 0 or self._ends[c][i] <= low:
            i += 1
            if i >= len(self._starts[c]):
                c, i = c + 1, 0
                if c >= len(self._starts) or not self._starts[c]:
                    return None
        starts, ends = self._starts[c], self._ends[c]
        s, e = max(starts[i], low), min(ends[i], high)
        if s >= high:
            return None
        if e - s >= size:
            return s, e
        j = _first_fitting(starts, ends, i + 1, size) if self._maxes[c] >= size else -1
        while j < 0:
            c = self._leftmost_chunk(c, size)
            if c < 0:
                return None
            starts, ends = self._starts[c], self._ends[c]
            j = _first_fitting(starts, ends, 0, size)
        gs, ge = starts[j], ends[j]
        if gs >= high:
            return None
        e = min(ge, high)
        return (gs, e) if e - gs >= size else None

    def gap_at(self, addr: int) -> tuple[int, int] | None:
        """The gap containing ``addr``, or None if ``addr`` is mapped."""
        c, i = self._locate(addr)
        if i < 0 or self._ends[c][i] <= addr:
            return None
        return self._starts[c][i], self._ends[c][i]

    def __iter__(self):
        for starts, ends in zip(self._starts, self._ends):
            yield from zip(starts, ends)

    def __len__(self) -> int:
        return sum(map(len, self._starts))

    def _check(self) -> None:
        """Assert the structure: gaps sorted, disjoint, non-adjacent, chunk maxima correct."""
        prev_end = -1
        for starts, ends in zip(self._starts, self._ends):
            assert starts or len(self._starts) == 1, "empty chunk"
            assert len(starts) == len(ends) and len(starts) <= 2 * LOAD
            for s, e in zip(starts, ends):
                assert s < e, (s, e)
                assert s > prev_end, "gaps overlap or touch"
                prev_end = e
        assert self._firsts == [s[0] if s else self.limit for s in self._starts]
        assert self._maxes == [self._chunk_max(c) for c in range(len(self._starts))]
        m = self._maxes
        assert self._group_maxes == [max(m[i:i + GROUP]) for i in range(0, len(m), GROUP)]
