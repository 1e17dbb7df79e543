"""Deliberately obvious reference implementations, for differential property tests.

Everything here is O(n) in the number of VMAs and written from the specification
(docs/reference/kernel-rules.md §10, mm/vma.c ``unmapped_area`` / ``unmapped_area_topdown`` of
Linux 6.18), not from simulator/kernel/unmapped_area.py or simulator/kernel/gaps.py. It reads
only ``mm.vmas()`` and a few scalar settings of the address space, never its gap index.

A *gap* is a maximal free range ``[start, end)`` of ``[0, 2**kernel_bits)`` (the maple tree's
NULL ranges; the vsyscall/vectors gate page is not in the tree). Clipping by the search window
happens before the size test.
"""

from __future__ import annotations

from simulator.kernel.vma import VM_GROWSDOWN, VM_SHADOW_STACK
from simulator.units import PAGE_SIZE

Gap = tuple[int, int]


# -- plain gap lists ---------------------------------------------------------------------------

def gaps_of(ranges, limit: int) -> list[Gap]:
    """The complement in ``[0, limit)`` of sorted, disjoint ``(start, end)`` ranges."""
    out, cursor = [], 0
    for start, end in ranges:
        if start > cursor:
            out.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < limit:
        out.append((cursor, limit))
    return out


def naive_gaps(mm) -> list[Gap]:
    """All gaps of the address space, over ``[0, 2**kernel_bits)``."""
    return gaps_of(((v.start, v.end) for v in mm.vmas()), 1 << mm.profile.kernel_bits)


def clipped(gap: Gap, low: int, high: int) -> Gap:
    """The part of ``gap`` inside ``[low, high)`` (possibly empty or inverted)."""
    return max(gap[0], low), min(gap[1], high)


def naive_lowest(gaps: list[Gap], low: int, high: int, size: int) -> Gap | None:
    """The lowest gap whose part inside ``[low, high)`` holds ``size`` (>= 1) bytes, clipped."""
    for gap in gaps:
        s, e = clipped(gap, low, high)
        if e - s >= size:
            return s, e
    return None


def naive_highest(gaps: list[Gap], low: int, high: int, size: int) -> Gap | None:
    """The highest gap whose part inside ``[low, high)`` holds ``size`` (>= 1) bytes, clipped."""
    for gap in reversed(gaps):
        s, e = clipped(gap, low, high)
        if e - s >= size:
            return s, e
    return None


# -- the kernel's gap search -------------------------------------------------------------------

def start_gap(mm, vma) -> int:
    """``vm_start_gap``: a growsdown VMA claims stack_guard_gap below itself, a shadow stack
    one page; the subtraction saturates at 0 (include/linux/mm.h)."""
    if vma.flags & VM_GROWSDOWN:
        claim = mm.stack_guard_gap
    elif vma.flags & VM_SHADOW_STACK:
        claim = PAGE_SIZE
    else:
        claim = 0
    return vma.start - claim if vma.start >= claim else 0


def _neighbours(mm, gap: Gap):
    """The VMA ending where ``gap`` starts and the VMA starting where it ends (or None)."""
    below = above = None
    for v in mm.vmas():
        if v.end == gap[0]:
            below = v
        if v.start == gap[1]:
            above = v
    return below, above


def _page_align(value: int) -> int:
    return -(-value // PAGE_SIZE) * PAGE_SIZE


def _search_length(mm, info) -> int | None:
    """``info.length + align_mask + start_gap`` in an unsigned long; None if it wraps."""
    word = 1 << mm.profile.kernel_bits
    length = (info.length + info.align_mask + info.start_gap) % word
    return None if length < info.length else length


def naive_unmapped_area(mm, info):
    """Bottom-up search (mm/vma.c ``unmapped_area``): an address, or None for -ENOMEM.

    Find the lowest gap whose part in ``[low, high)`` holds the padded length; the candidate is
    its clipped start plus start_gap, aligned up. If the VMA just above the gap grows down and
    its guard reaches below ``candidate + length - 1``, start again above that VMA.
    """
    length = _search_length(mm, info)
    if length is None:
        return None
    word = 1 << mm.profile.kernel_bits
    low = max(info.low_limit, mm.mmap_min_addr)
    high = info.high_limit
    gaps = naive_gaps(mm)
    while True:
        chosen = None
        for gap in gaps:
            s, e = clipped(gap, low, high)
            if e - s >= length:
                chosen = gap
                break
        if chosen is None:
            return None
        addr = max(chosen[0], low) + info.start_gap
        addr += (info.align_offset - addr) % word & info.align_mask
        below, above = _neighbours(mm, chosen)
        if above is not None and above.flags & (VM_GROWSDOWN | VM_SHADOW_STACK):
            if start_gap(mm, above) < addr + length - 1:
                low = above.end
                continue
        elif below is not None and below.end > addr:
            low = below.end
            continue
        return _page_align(addr)


def naive_unmapped_area_topdown(mm, info):
    """Top-down search (mm/vma.c ``unmapped_area_topdown``): an address, or None for -ENOMEM.

    Find the highest gap whose part in ``[low, high)`` holds the padded length; the candidate
    ends at the clipped end (unpadded length), aligned down. If the VMA just above the gap grows
    down and its guard starts below the clipped end, search again below the guard.
    """
    length = _search_length(mm, info)
    if length is None:
        return None
    word = 1 << mm.profile.kernel_bits
    low = max(info.low_limit, mm.mmap_min_addr)
    high = info.high_limit
    gaps = naive_gaps(mm)
    while True:
        chosen = None
        for gap in reversed(gaps):
            s, e = clipped(gap, low, high)
            if e - s >= length:
                chosen = gap
                break
        if chosen is None:
            return None
        end = min(chosen[1], high)
        addr = end - info.length
        addr -= (addr - info.align_offset) % word & info.align_mask
        below, above = _neighbours(mm, chosen)
        if above is not None and above.flags & (VM_GROWSDOWN | VM_SHADOW_STACK):
            if start_gap(mm, above) < end:
                high = start_gap(mm, above)
                continue
        elif below is not None and below.end > addr:
            high = below.start
            continue
        return _page_align(addr)
