"""GapIndex (simulator/kernel/gaps.py) against a plain list model.

The model is a bytearray with one byte per unit of a small universe; its gaps are the maximal
runs of free units. ``highest``/``lowest`` must agree with a linear scan of those runs under
the clipped-gap semantics of ``mas_empty_area_rev``/``mas_empty_area`` (kernel-rules.md §10):
the part of a gap inside ``[low, high)`` must hold ``size`` units, and the result is that part.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from naive import naive_highest, naive_lowest
from simulator.kernel.gaps import LOAD, GapIndex

SETTINGS = settings(max_examples=60, deadline=None)


class Coverage:
    """The obvious model: ``used[i]`` says whether unit ``i`` is mapped."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = bytearray(limit)

    def gaps(self) -> list[tuple[int, int]]:
        out, i, n = [], 0, self.limit
        used = self.used
        while i < n:
            if used[i]:
                i += 1
                continue
            j = i
            while j < n and not used[j]:
                j += 1
            out.append((i, j))
            i = j
        return out

    def mapped(self) -> list[tuple[int, int]]:
        out, i, n = [], 0, self.limit
        while i < n:
            if not self.used[i]:
                i += 1
                continue
            j = i
            while j < n and self.used[j]:
                j += 1
            out.append((i, j))
            i = j
        return out

    def set(self, start: int, end: int, value: int) -> None:
        self.used[start:end] = bytes([value]) * (end - start)


def sub_range(draw, start: int, end: int) -> tuple[int, int]:
    """A non-empty ``[s, e)`` inside ``[start, end)``, often touching one or both ends."""
    s = draw(st.one_of(st.just(start), st.integers(start, end - 1)))
    e = draw(st.one_of(st.just(end), st.integers(s + 1, end)))
    return s, e


def apply_random_op(draw, index: GapIndex, model: Coverage) -> None:
    """Occupy part of a gap or release part of a mapped run, in both structures."""
    gaps, mapped = model.gaps(), model.mapped()
    choices = (["occupy"] if gaps else []) + (["release"] if mapped else [])
    op = draw(st.sampled_from(choices))
    if op == "occupy":
        s, e = sub_range(draw, *draw(st.sampled_from(gaps)))
        index.occupy(s, e)
        model.set(s, e, 1)
    else:
        s, e = sub_range(draw, *draw(st.sampled_from(mapped)))
        index.release(s, e)
        model.set(s, e, 0)


def query_points(gaps, limit):
    """Window bounds worth trying: every gap edge, one off each edge, the universe's ends."""
    points = {0, limit}
    for s, e in gaps:
        points.update((s - 1, s, s + 1, e - 1, e, e + 1))
    return sorted(p for p in points if 0 <= p <= limit)


def check_against_model(draw, index: GapIndex, model: Coverage, queries: int = 4) -> None:
    index._check()
    gaps = model.gaps()
    assert list(index) == gaps
    assert len(index) == len(gaps)
    points = query_points(gaps, model.limit)
    sizes = sorted({e - s for s, e in gaps} | {1})
    for _ in range(queries):
        low = draw(st.one_of(st.sampled_from(points), st.integers(0, model.limit)))
        high = draw(st.one_of(st.sampled_from(points), st.integers(0, model.limit)))
        size = draw(st.one_of(st.sampled_from(sizes), st.integers(1, model.limit + 1)))
        assert index.highest(low, high, size) == naive_highest(gaps, low, high, size), \
            ("highest", low, high, size)
        assert index.lowest(low, high, size) == naive_lowest(gaps, low, high, size), \
            ("lowest", low, high, size)
    for addr in (draw(st.integers(0, model.limit - 1)),):
        inside = [g for g in gaps if g[0] <= addr < g[1]]
        assert index.gap_at(addr) == (inside[0] if inside else None)


@SETTINGS
@given(limit=st.integers(1, 200), data=st.data())
def test_random_occupy_release_small_universe(limit, data):
    index, model = GapIndex(limit), Coverage(limit)
    check_against_model(data.draw, index, model)
    for _ in range(data.draw(st.integers(1, 20))):
        apply_random_op(data.draw, index, model)
        check_against_model(data.draw, index, model, queries=3)


def random_query_check(rnd, index: GapIndex, model: Coverage, queries: int) -> None:
    """:func:`check_against_model` with a seeded ``random.Random`` instead of hypothesis draws
    (thousands of draws per example would dominate the run time of the large tests)."""
    index._check()
    gaps = model.gaps()
    assert list(index) == gaps
    points = query_points(gaps, model.limit)
    sizes = sorted({e - s for s, e in gaps} | {1})
    for _ in range(queries):
        low = rnd.choice(points) if rnd.random() < 0.7 else rnd.randint(0, model.limit)
        high = rnd.choice(points) if rnd.random() < 0.7 else rnd.randint(0, model.limit)
        if low > high and rnd.random() < 0.9:
            low, high = high, low
        size = rnd.choice(sizes) if rnd.random() < 0.7 else rnd.randint(1, model.limit + 1)
        assert index.highest(low, high, size) == naive_highest(gaps, low, high, size), \
            ("highest", low, high, size)
        assert index.lowest(low, high, size) == naive_lowest(gaps, low, high, size), \
            ("lowest", low, high, size)


def random_op(rnd, index: GapIndex, model: Coverage) -> None:
    gaps, mapped = model.gaps(), model.mapped()
    occupy = bool(gaps) and (not mapped or rnd.random() < 0.5)
    start, end = rnd.choice(gaps if occupy else mapped)
    s = start if rnd.random() < 0.3 else rnd.randint(start, end - 1)
    e = end if rnd.random() < 0.3 else rnd.randint(s + 1, end)
    if occupy:
        index.occupy(s, e)
    else:
        index.release(s, e)
    model.set(s, e, 1 if occupy else 0)


LARGE = settings(max_examples=20, deadline=None)


@LARGE
@given(teeth=st.integers(2 * LOAD + 1, 4 * LOAD), rnd=st.randoms(use_true_random=False))
def test_many_chunks(teeth, rnd):
    """A comb of one-unit mappings makes more than ``2 * LOAD`` gaps, so the index splits into
    several chunks and searches go through the chunk maxima; releasing teeth in random order
    joins gaps across chunk boundaries and empties whole chunks."""
    limit = 2 * teeth + 1
    index, model = GapIndex(limit), Coverage(limit)
    for t in range(teeth):
        index.occupy(2 * t + 1, 2 * t + 2)
        model.set(2 * t + 1, 2 * t + 2, 1)
    assert len(index._starts) > 1, "the comb should need several chunks"
    random_query_check(rnd, index, model, queries=40)
    order = list(range(teeth))
    rnd.shuffle(order)
    for step, t in enumerate(order[:rnd.randint(1, teeth)]):
        index.release(2 * t + 1, 2 * t + 2)
        model.set(2 * t + 1, 2 * t + 2, 0)
        if step % 4 == 0:
            random_query_check(rnd, index, model, queries=4)
    for _ in range(rnd.randint(0, 60)):
        random_op(rnd, index, model)
        random_query_check(rnd, index, model, queries=2)


@LARGE
@given(sizes=st.lists(st.integers(1, 12), min_size=2 * LOAD + 1, max_size=4 * LOAD),
       rnd=st.randoms(use_true_random=False))
def test_many_chunks_random_sizes(sizes, rnd):
    """Gaps of varied sizes spread over several chunks: the chunk maxima must lead to the one
    chunk far away that holds a large enough gap."""
    limit = sum(sizes) + len(sizes) + 1
    index, model = GapIndex(limit), Coverage(limit)
    cursor = 0
    for size in sizes:  # a gap of `size`, then one mapped unit
        cursor += size
        index.occupy(cursor, cursor + 1)
        model.set(cursor, cursor + 1, 1)
        cursor += 1
    random_query_check(rnd, index, model, queries=40)
    for _ in range(rnd.randint(0, 25)):
        random_op(rnd, index, model)
        random_query_check(rnd, index, model, queries=3)


# -- edge cases with hand-derived answers ------------------------------------------------------

def test_empty_window_and_oversized_request():
    index = GapIndex(100)
    index.occupy(10, 20)                      # gaps [0,10) and [20,100)
    assert index.highest(50, 50, 1) is None   # low == high: an empty window
    assert index.lowest(50, 50, 1) is None
    assert index.highest(60, 40, 1) is None   # inverted window
    assert index.lowest(60, 40, 1) is None
    assert index.highest(0, 100, 81) is None  # the largest gap holds 80
    assert index.lowest(0, 100, 81) is None
    assert index.highest(0, 100, 80) == (20, 100)
    assert index.lowest(0, 100, 80) == (20, 100)


def test_gaps_touching_the_window_edges_are_clipped():
    index = GapIndex(100)
    index.occupy(10, 20)
    index.occupy(40, 60)                      # gaps [0,10) [20,40) [60,100)
    # The top gap straddles high = 70: its clipped part [60,70) holds 10, not 11.
    assert index.highest(0, 70, 10) == (60, 70)
    assert index.highest(0, 70, 11) == (20, 40)
    # The window starts inside [20,40): clipped to [30,40).
    assert index.highest(30, 50, 10) == (30, 40)
    assert index.highest(30, 50, 11) is None
    assert index.lowest(30, 100, 10) == (30, 40)
    assert index.lowest(31, 100, 10) == (60, 100)
    # A gap ending exactly at low is outside the window; one starting exactly at high too.
    assert index.lowest(10, 20, 1) is None
    assert index.highest(40, 60, 1) is None
    assert index.lowest(0, 10, 10) == (0, 10)
    assert index.highest(60, 100, 40) == (60, 100)
    # Bottom-up must not return a gap whose full size fits but whose part below high does not.
    assert index.lowest(21, 35, 15) is None
    assert index.lowest(21, 36, 15) == (21, 36)


def test_whole_space_mapped_and_freed_again():
    index = GapIndex(64)
    index.occupy(0, 64)
    index._check()
    assert list(index) == [] and len(index) == 0
    assert index.highest(0, 64, 1) is None and index.lowest(0, 64, 1) is None
    assert index.gap_at(0) is None and index.gap_at(63) is None
    index.release(16, 32)
    index._check()
    assert list(index) == [(16, 32)]
    index.release(0, 16)
    index.release(32, 64)
    index._check()
    assert list(index) == [(0, 64)]


def test_occupy_outside_a_gap_and_release_over_a_gap_are_refused():
    index = GapIndex(100)
    index.occupy(10, 20)
    for start, end in ((5, 15), (15, 25), (10, 20)):
        with pytest.raises(AssertionError):
            index.occupy(start, end)
    for start, end in ((5, 15), (15, 25), (0, 10)):
        with pytest.raises(AssertionError):
            index.release(start, end)
    index._check()
    assert list(index) == [(0, 10), (20, 100)]


def test_vma_list_between_an_empty_range_is_empty():
    """``VmaList.between(a, a)`` holds no VMA, even inside one (an empty munmap or MAP_FIXED
    range must find nothing to split: it did, once, through the one-VMA fast path)."""
    from simulator.kernel.vma import Vma
    from simulator.kernel.vmalist import VmaList

    vmas = VmaList()
    vma = Vma(0x10000, 0x14000, 0)
    vmas.add(vma)
    assert vmas.between(0x10000, 0x10000) == []
    assert vmas.between(0x11000, 0x11000) == []
    assert vmas.between(0x11000, 0x12000) == [vma]
    assert vmas.between(0x14000, 0x15000) == []


def test_vma_list_move_keeps_order_and_chunk_firsts():
    """``VmaList.move``: a VMA whose start moves down into the free space below it (a new
    mapping merged into the VMA above) or up (shrunk from below) is replaced in place; lookups
    by address then find it at its new start, also when it is the first VMA of a chunk
    (whose start the chunk index keeps), and the structure's invariants hold."""
    from simulator.kernel.vma import Vma
    from simulator.kernel.vmalist import LOAD, VmaList

    vmas = VmaList()
    page = 0x1000
    # 4 * LOAD VMAs, each of one page with a free page below it: several chunks.
    starts = [0x100000 + 2 * page * i for i in range(4 * LOAD)]
    for s in starts:
        vmas.add(Vma(s, s + page, 0))
    vmas._check()
    assert len(vmas._vmas) > 2
    for c in range(1, len(vmas._vmas)):
        old = vmas._vmas[c][0]
        grown = Vma(old.start - page, old.end, 0)
        vmas.move(old.start, grown)
        vmas._check()
        assert vmas._firsts[c] == grown.start
        assert vmas.find(grown.start) == grown and vmas.get(old.start) is None
        shrunk = Vma(old.start, old.end, 0)
        vmas.move(grown.start, shrunk)
        vmas._check()
        assert vmas.find(grown.start) == shrunk
    assert [v.start for v in vmas] == starts
