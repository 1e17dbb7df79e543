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

    def _chunk(self, addr: int) -> int:
        c = bisect_right(self._firsts, addr) - 1
        return c if c > 0 else 0

    def find(self, addr: int):
        """``find_vma``: the first VMA with ``end > addr``, or None."""
        c = self._chunk(addr)
        starts = self._starts[c]
        j = bisect_right(starts, addr) - 1
        if j >= 0:
            vma = self._vmas[c][j]
            if vma.end > addr:
                return vma
        j += 1
        if j < len(starts):
            return self._vmas[c][j]
        c += 1
        while c < len(self._vmas):
            if self._vmas[c]:
                return self._vmas[c][0]
            c += 1
        return None

    def before(self, addr: int):
        """The last VMA that starts below ``addr``, or None."""
        c = self._chunk(addr)
        j = bisect_left(self._starts[c], addr) - 1
        while j < 0:
            c -= 1
            if c < 0:
                return None
            j = len(self._vmas[c]) - 1
        return self._vmas[c][j]

    def after(self, addr: int):
        """The first VMA that starts above ``addr``, or None."""
        c = self._chunk(addr)
        starts = self._starts[c]
        j = bisect_right(starts, addr)
        while j >= len(self._vmas[c]):
            c += 1
            if c >= len(self._vmas):
                return None
            j = 0
        return self._vmas[c][j]

    def get(self, start: int):
        """The VMA starting exactly at ``start``."""
        c = self._chunk(start)
        j = bisect_left(self._starts[c], start)
        if j < len(self._starts[c]) and self._starts[c][j] == start:
            return self._vmas[c][j]
        return None

    def add(self, vma) -> None:
        c = self._chunk(vma.start)
        starts = self._starts[c]
        j = bisect_left(starts, vma.start)
        starts.insert(j, vma.start)
        self._vmas[c].insert(j, vma)
        self._len += 1
        if j == 0:
            self._firsts[c] = vma.start
        if len(starts) > 2 * LOAD:
            vmas = self._vmas[c]
            self._vmas[c:c + 1] = [vmas[:LOAD], vmas[LOAD:]]
            self._starts[c:c + 1] = [starts[:LOAD], starts[LOAD:]]
            self._firsts[c:c + 1] = [starts[0], starts[LOAD]]
        if c == 0:
            self._firsts[0] = 0

    def discard(self, start: int) -> None:
        c = self._chunk(start)
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

    def set(self, vma) -> None:
        """Replace the VMA that starts at ``vma.start``."""
        c = self._chunk(vma.start)
        j = bisect_left(self._starts[c], vma.start)
        assert self._starts[c][j] == vma.start
        self._vmas[c][j] = vma

    def between(self, start: int, end: int) -> list:
        """VMAs intersecting ``[start, end)``, in order."""
        out = []
        vma = self.find(start)
        if vma is None or vma.start >= end:
            return out
        c = self._chunk(vma.start)
        j = bisect_left(self._starts[c], vma.start)
        while c < len(self._vmas):
            chunk = self._vmas[c]
            while j < len(chunk):
                vma = chunk[j]
                if vma.start >= end:
                    return out
                out.append(vma)
                j += 1
            c += 1
            j = 0
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
