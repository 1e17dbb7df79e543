"""The VMAs of an address space in address order, for O(log n) lookup by address.

The kernel keeps them in a maple tree; here they sit in sorted chunks of at most
``2 * LOAD`` VMAs (with parallel lists of their start addresses, so that ``bisect`` runs in
C), found through the list of each chunk's first address. Lookups are two bisects;
inserting or removing shifts one chunk.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

LOAD = 64


class VmaList:
    """VMAs sorted by start address (they never overlap)."""

    __slots__ = ("_vmas", "_starts", "_firsts", "_len")

    def __init__(self):
        self._vmas: list[list] = [[]]
        self._starts: list[list[int]] = [[]]
        self._firsts: list[int] = [0]
        self._len = 0

    def copy(self) -> "VmaList":
        """An independent copy (VMAs are immutable values, shared). O(n) list copies."""
        other = VmaList.__new__(VmaList)
        other._vmas = [list(chunk) for chunk in self._vmas]
        other._starts = [list(chunk) for chunk in self._starts]
        other._firsts = list(self._firsts)
        other._len = self._len
        return other

    def __len__(self) -> int:
        return self._len

    def __iter__(self):
        for chunk in self._vmas:
            yield from chunk

    def __getitem__(self, index: int):
        """The ``index``-th VMA in address order. O(n / LOAD)."""
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        for chunk in self._vmas:
            if index < len(chunk):
                return chunk[index]
            index -= len(chunk)
        raise IndexError(index)

    # Every lookup starts the same way: the chunk is the last one whose first VMA starts at
    # or below the address (chunk 0 for lower addresses: ``_firsts[0]`` is 0). It is written
    # out in each method rather than called: these run several times per system call.

    def find(self, addr: int):
        """``find_vma``: the first VMA with ``end > addr``, or None."""
        c = bisect_right(self._firsts, addr) - 1
        starts = self._starts[c]
        j = bisect_right(starts, addr) - 1
        if j >= 0:
            vma = self._vmas[c][j]
            if vma.end > addr:
                return vma
        j += 1
        if j < len(starts):
            return self._vmas[c][j]
        if c + 1 < len(self._vmas):
            return self._vmas[c + 1][0]  # chunks other than a lone first one are never empty
        return None

    def find_prev(self, addr: int):
        """``find_vma_prev``: ``(prev, vma)`` with ``vma = find(addr)`` and ``prev`` the VMA
        before it (or the last one, when ``vma`` is None), with one descent."""
        c = bisect_right(self._firsts, addr) - 1
        starts = self._starts[c]
        vmas = self._vmas[c]
        j = bisect_right(starts, addr) - 1
        if j >= 0 and vmas[j].end > addr:
            vma = vmas[j]
            j -= 1
        elif j + 1 < len(vmas):
            vma = vmas[j + 1]
        else:
            vma = self._vmas[c + 1][0] if c + 1 < len(self._vmas) else None
        if j >= 0:
            return vmas[j], vma
        return (self._vmas[c - 1][-1] if c > 0 else None), vma

    def before(self, addr: int):
        """The last VMA that starts below ``addr``, or None."""
        c = bisect_right(self._firsts, addr) - 1
        j = bisect_left(self._starts[c], addr) - 1
        if j >= 0:
            return self._vmas[c][j]
        if c > 0:
            return self._vmas[c - 1][-1]
        return None

    def after(self, addr: int):
        """The first VMA that starts above ``addr``, or None."""
        c = bisect_right(self._firsts, addr) - 1
        j = bisect_right(self._starts[c], addr)
        vmas = self._vmas[c]
        if j < len(vmas):
            return vmas[j]
        if c + 1 < len(self._vmas):
            return self._vmas[c + 1][0]
        return None

    def neighbours(self, addr: int):
        """``(before(addr), after(addr))`` for an unmapped ``addr``, with one lookup."""
        c = bisect_right(self._firsts, addr) - 1
        j = bisect_left(self._starts[c], addr)
        vmas = self._vmas[c]
        if j > 0:
            prev = vmas[j - 1]
        else:
            prev = self._vmas[c - 1][-1] if c > 0 else None
        if j < len(vmas):
            return prev, vmas[j]
        return prev, (self._vmas[c + 1][0] if c + 1 < len(self._vmas) else None)

    def get(self, start: int):
        """The VMA starting exactly at ``start``."""
        c = bisect_right(self._firsts, start) - 1
        starts = self._starts[c]
        j = bisect_left(starts, start)
        if j < len(starts) and starts[j] == start:
            return self._vmas[c][j]
        return None

    def add(self, vma) -> None:
        start = vma.start
        c = bisect_right(self._firsts, start) - 1
        starts = self._starts[c]
        j = bisect_left(starts, start)
        starts.insert(j, start)
        self._vmas[c].insert(j, vma)
        self._len += 1
        if j == 0 and c > 0:
            self._firsts[c] = start
        if len(starts) > 2 * LOAD:
            vmas = self._vmas[c]
            self._vmas[c:c + 1] = [vmas[:LOAD], vmas[LOAD:]]
            self._starts[c:c + 1] = [starts[:LOAD], starts[LOAD:]]
            self._firsts[c:c + 1] = [self._firsts[c], starts[LOAD]]

    def discard(self, start: int) -> None:
        c = bisect_right(self._firsts, start) - 1
        starts = self._starts[c]
        j = bisect_left(starts, start)
        assert j < len(starts) and starts[j] == start, f"no VMA at {start:#x}"
        del starts[j], self._vmas[c][j]
        self._len -= 1
        if not starts and len(self._starts) > 1:
            del self._starts[c], self._vmas[c], self._firsts[c]
            self._firsts[0] = 0
        elif j == 0 and c > 0:
            self._firsts[c] = starts[0]

    def split(self, low, high) -> None:
        """Replace the VMA that starts at ``low.start`` by ``low`` and put ``high`` after it
        (``__split_vma``'s two stores), with one descent."""
        start = low.start
        c = bisect_right(self._firsts, start) - 1
        starts = self._starts[c]
        j = bisect_left(starts, start)
        vmas = self._vmas[c]
        vmas[j] = low
        starts.insert(j + 1, high.start)
        vmas.insert(j + 1, high)
        self._len += 1
        if len(starts) > 2 * LOAD:
            self._vmas[c:c + 1] = [vmas[:LOAD], vmas[LOAD:]]
            self._starts[c:c + 1] = [starts[:LOAD], starts[LOAD:]]
            self._firsts[c:c + 1] = [self._firsts[c], starts[LOAD]]

    def set(self, vma) -> None:
        """Replace the VMA that starts at ``vma.start``."""
        start = vma.start
        c = bisect_right(self._firsts, start) - 1
        j = bisect_left(self._starts[c], start)
        assert self._starts[c][j] == start
        self._vmas[c][j] = vma

    def move(self, old_start: int, vma) -> None:
        """Replace the VMA that starts at ``old_start`` by ``vma``, whose start may differ but
        must stay between its neighbours' (a VMA grown into the free space before it, or
        shrunk from below), in place: one descent, no shift of the chunk."""
        c = bisect_right(self._firsts, old_start) - 1
        starts = self._starts[c]
        j = bisect_left(starts, old_start)
        assert j < len(starts) and starts[j] == old_start, f"no VMA at {old_start:#x}"
        starts[j] = vma.start
        self._vmas[c][j] = vma
        if j == 0 and c > 0:
            self._firsts[c] = vma.start

    def between(self, start: int, end: int) -> list:
        """VMAs intersecting ``[start, end)``, in order (none for an empty range)."""
        if end <= start:
            return []
        c = bisect_right(self._firsts, start) - 1
        j = bisect_right(self._starts[c], start) - 1
        vmas = self._vmas[c]
        if j < 0 or vmas[j].end <= start:
            j += 1  # the VMA below ``start`` ends at or before it
        elif vmas[j].end >= end:
            return [vmas[j]]  # the common case: the range lies inside one VMA
        # All but the last chunk hold at most 2 * LOAD VMAs: slicing beats a Python loop.
        k = bisect_left(self._starts[c], end, j)
        out = vmas[j:k]
        while k == len(vmas) and c + 1 < len(self._vmas):
            c += 1
            vmas = self._vmas[c]
            k = bisect_left(self._starts[c], end)
            out += vmas[:k]
        return out

    def _check(self) -> None:
        prev = None
        assert self._firsts[0] == 0
        for c, (vmas, starts) in enumerate(zip(self._vmas, self._starts)):
            assert vmas or len(self._vmas) == 1
            assert [v.start for v in vmas] == starts
            assert len(vmas) <= 2 * LOAD
            if c > 0:
                assert self._firsts[c] == starts[0]
            for vma in vmas:
                assert prev is None or prev.start < vma.start
                prev = vma
        assert self._len == sum(map(len, self._vmas))
