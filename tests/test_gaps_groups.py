"""GapIndex with tiny chunks and groups, so that small universes exercise every level.

With ``LOAD = 2`` and ``GROUP = 2`` a few dozen gaps already span many chunks and many groups:
chunk splits and removals, the group maxima rebuilt after them, and searches that cross chunk
and group boundaries in both directions. The same random occupy/release sequences as
tests/test_gaps.py are checked against the plain bytearray model after every step.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings, strategies as st

import simulator.kernel.gaps as gaps_module
from simulator.kernel.gaps import GapIndex
from test_gaps import Coverage, apply_random_op, check_against_model


@contextlib.contextmanager
def tiny_chunks(load: int = 2, group: int = 2):
    saved = gaps_module.LOAD, gaps_module.GROUP
    gaps_module.LOAD, gaps_module.GROUP = load, group
    try:
        yield
    finally:
        gaps_module.LOAD, gaps_module.GROUP = saved


@settings(max_examples=80, deadline=None)
@given(limit=st.integers(20, 160), steps=st.integers(5, 60), data=st.data())
def test_many_chunks_and_groups(limit, steps, data):
    with tiny_chunks():
        index, model = GapIndex(limit), Coverage(limit)
        for _ in range(steps):
            apply_random_op(data.draw, index, model)
            check_against_model(data.draw, index, model, queries=3)


def test_a_comb_spans_several_groups():
    """Units 10 and 12, 14, ..., 88 mapped: 39 one-unit gaps between a wide gap at each end, many chunks and groups. The one
    wide gap at the bottom must be found from the top (across every group) and the top gap
    from the bottom."""
    with tiny_chunks():
        index = GapIndex(200)
        index.occupy(10, 11)
        for unit in range(12, 90, 2):
            index.occupy(unit, unit + 1)
        index._check()
        assert len(index._group_maxes) > 3
        assert index.highest(0, 200, 5) == (89, 200)
        assert index.highest(0, 89, 5) == (0, 10)
        assert index.lowest(11, 200, 5) == (89, 200)
        assert index.lowest(0, 200, 2) == (0, 10)
        assert index.highest(11, 89, 2) is None


def test_one_wide_gap_found_from_either_end_wherever_it_sits():
    """A comb of one-unit gaps with one 5-unit gap moved through every position: the search
    from the top (highest) and from the bottom (lowest) must reach it whichever chunk of
    whichever group holds it."""
    with tiny_chunks():
        for k in range(30):
            index = GapIndex(400)
            units, cursor = [], 1
            for i in range(30):
                width = 5 if i == k else 1
                units.append((cursor + width, cursor + width + 1))  # mapped unit after the gap
                cursor += width + 1
            index.occupy(0, 1)
            for s, e in units:
                index.occupy(s, e)
            index.occupy(cursor, 400)
            index._check()
            wide_start = 1 + 2 * k
            assert index.highest(0, 400, 5) == (wide_start, wide_start + 5), k
            assert index.lowest(0, 400, 5) == (wide_start, wide_start + 5), k
