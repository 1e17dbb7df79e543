"""VMA merging and splitting for new and existing ranges (mm/vma.c).

* :func:`vma_merge_new_range`: a new mapping (mmap, brk, a moved VMA) extends ``prev`` and/or
  ``next`` instead of becoming a VMA of its own, when they are compatible.
* :func:`vma_modify`: changing part of an existing VMA (mprotect) first tries
  ``vma_merge_existing_range`` with the neighbour on the changed side; failing that, it splits
  off the unchanged parts, each split checked against vm.max_map_count (``split_vma``).

Two VMAs are compatible when :meth:`AddressSpace.is_mergeable` says so.
"""

from __future__ import annotations

from simulator.kernel.uapi import Errno
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import VM_SPECIAL, VM_STICKY, Vma, make_vma
from simulator.units import PAGE_SHIFT


def _with(vma: Vma, start: int, end: int, pgoff: int, anon_vma, flags: int | None = None) -> Vma:
    """``vma`` with new bounds, offset, anon_vma and maybe flags (``_replace`` is several
    times slower, and merging runs on every mmap and mprotect)."""
    return make_vma((start, end, vma.flags if flags is None else flags, pgoff, vma.file,
                     vma.special, vma.anon_name, anon_vma, vma.nomerge))


def _anon_compatible(a: Vma, b: Vma) -> bool:
    return a.anon_vma is None or b.anon_vma is None or a.anon_vma == b.anon_vma


def _lends_anon(mm, source: Vma, target: Vma) -> bool:
    """May ``source`` (the range being merged) merge into the neighbour ``target`` as far as
    their anon_vmas go? 6.12's ``is_mergeable_anon_vma(vmg->anon_vma, target->anon_vma,
    target)`` refuses when only the source has one (the target's empty anon_vma_chain is not
    ``list_is_singular``); 6.18 takes it over (``dup_anon_vma``). versions.py
    ``anon_vma_into_anonless``."""
    return (source.anon_vma is None or target.anon_vma is not None
            or kernel_rules(mm.kconfig.version).anon_vma_into_anonless)


def _first_anon(*vmas: Vma) -> int | None:
    """``dup_anon_vma``: the merged VMA keeps the anon_vma any of its parts had."""
    for vma in vmas:
        if vma.anon_vma is not None:
            return vma.anon_vma
    return None


def _sticky(*vmas: Vma) -> int:
    """include/linux/mm.h VM_STICKY: flags every part of a merge passes on to the result."""
    bits = 0
    for vma in vmas:
        bits |= vma.flags & VM_STICKY
    return bits


def can_merge_remove_vma(vma: Vma) -> bool:
    """mm/vma.c ``can_merge_remove_vma``: a merge may delete a VMA only if its ``vm_ops`` has
    no ``close``. Of the modelled VMAs only SysV shm attaches have one (``shm_close``), so
    pieces of a split attach never merge back (measured here after mlock/munlock)."""
    return vma.file is None or vma.file.shm_id is None


def vma_merge_new_range(mm, new: Vma, apart: Vma | None = None) -> Vma:
    """Insert the free range ``new`` covers, merged with ``prev`` and/or ``next`` if allowed.

    With both neighbours mergeable, ``prev`` and ``next`` must also agree with each other
    (``can_vma_merge_right``: their anon_vmas); otherwise only ``prev`` is extended.
    ``apart`` is a VMA that must not be a merge partner (``copy_vma``'s ``keep_source``,
    which clears ``vmg.prev``/``vmg.next`` when they are the source). Returns the VMA now
    covering the range.
    """
    prev, nxt = mm._vmas.neighbours(new.start)
    if apart is not None:
        if prev is not None and prev.start == apart.start:
            prev = None
            mm.unmerged_splits.add(new.start)  # left apart, though mergeable
        if nxt is not None and nxt.start == apart.start:
            nxt = None
            mm.unmerged_splits.add(new.end)
    left = (prev is not None and prev.end == new.start and mm.is_mergeable(prev, new)
            and _lends_anon(mm, new, prev))
    right = (nxt is not None and nxt.start == new.end and mm.is_mergeable(new, nxt)
             and _lends_anon(mm, new, nxt))
    if left and right and not (_anon_compatible(prev, nxt) and can_merge_remove_vma(nxt)):
        right = False
    if left:
        if right:
            merged = _with(prev, prev.start, nxt.end, prev.pgoff, _first_anon(prev, new, nxt),
                           prev.flags | _sticky(new, nxt))
            mm._remove(nxt)
        else:
            merged = _with(prev, prev.start, new.end, prev.pgoff, _first_anon(prev, new),
                           prev.flags | _sticky(new))
        mm._resize(prev, merged)
        return merged
    if right:
        merged = _with(nxt, new.start, nxt.end, new.pgoff, _first_anon(nxt, new),
                       nxt.flags | _sticky(new))
        mm._resize(nxt, merged)
        return merged
    mm._insert(new)
    return new


def vma_merge_existing_range(mm, prev: Vma | None, middle: Vma, start: int, end: int,
                             flags: int) -> Vma | None:
    """mm/vma.c ``vma_merge_existing_range``: give ``[start, end)`` of ``middle`` the new
    ``flags`` by merging it into ``prev`` and/or ``next``. None when no merge is possible.

    Only a range touching an edge of ``middle`` can merge, and only with the neighbour on that
    side; a VM_SPECIAL result never merges.
    """
    left_side = start == middle.start
    right_side = end == middle.end
    if flags & VM_SPECIAL or not (left_side or right_side):
        return None
    rng = _with(middle, start, end, middle.pgoff_at(start), middle.anon_vma, flags)
    merge_left = (left_side and prev is not None and prev is not middle
                  and mm.is_mergeable(prev, rng) and _lends_anon(mm, rng, prev))
    nxt = mm.next_vma(middle) if right_side else None
    merge_right = (nxt is not None and mm.is_mergeable(rng, nxt)
                   and _lends_anon(mm, rng, nxt))
    if merge_left and merge_right and not _anon_compatible(prev, nxt):
        merge_right = False
    if not (merge_left or merge_right):
        return None
    if left_side and right_side and not can_merge_remove_vma(middle):
        return None  # the merge would delete middle, which has a close op
    if merge_left and merge_right and not can_merge_remove_vma(nxt):
        merge_right = False
    old = [middle]
    new = []
    if merge_left and merge_right:
        old += [prev, nxt]
        merged = _with(prev, prev.start, nxt.end, prev.pgoff, _first_anon(prev, nxt, middle),
                       flags | _sticky(prev, nxt))
        new.append(merged)
    elif merge_left:
        old.append(prev)
        merged = _with(prev, prev.start, end, prev.pgoff, _first_anon(prev, middle),
                       flags | _sticky(prev))
        new.append(merged)
        if end < middle.end:
            new.append(_with(middle, end, middle.end, middle.pgoff_at(end), middle.anon_vma))
    else:
        old.append(nxt)
        merged = _with(nxt, start, nxt.end, nxt.pgoff - ((nxt.start - start) >> PAGE_SHIFT),
                       _first_anon(nxt, middle), flags | _sticky(nxt))
        new.append(merged)
        if start > middle.start:
            new.append(_with(middle, middle.start, start, middle.pgoff, middle.anon_vma))
    mm._rewrite(old, new)
    return merged


def split_vma(mm, vma: Vma, addr: int, syscall: str) -> tuple[Vma, Vma] | Errno:
    """mm/vma.c ``split_vma``: refused with ENOMEM once map_count has reached the limit, and
    with EINVAL for special mappings (``vm_ops->may_split``: mm/mmap.c special_mapping_split)."""
    if mm.map_count >= mm.max_map_count:
        mm._map_count_exceeded(syscall)
        return Errno.ENOMEM
    if vma.special is not None:
        return Errno.EINVAL
    return mm._split(vma, addr)


def vma_modify(mm, prev: Vma | None, middle: Vma, start: int, end: int, flags: int,
               syscall: str) -> Vma | Errno:
    """mm/vma.c ``vma_modify``: merge if possible, else split off the parts outside
    ``[start, end)``; then the VMA for exactly that range gets ``flags``."""
    merged = vma_merge_existing_range(mm, prev, middle, start, end, flags)
    if merged is not None:
        return merged
    vma = middle
    if vma.start < start:
        parts = split_vma(mm, vma, start, syscall)
        if isinstance(parts, Errno):
            return parts
        vma = parts[1]
    if vma.end > end:
        parts = split_vma(mm, vma, end, syscall)
        if isinstance(parts, Errno):
            if vma.start == start and start != middle.start:
                mm.unmerged_splits.add(start)  # the first split stays, unmerged
            return parts
        vma = parts[0]
    updated = _with(vma, vma.start, vma.end, vma.pgoff, vma.anon_vma, flags)
    mm._replace(vma, updated)
    return updated
