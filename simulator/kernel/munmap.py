"""munmap(2), and the unmapping that MAP_FIXED and mremap do first (mm/vma.c).

``vms_gather_munmap_vmas`` splits the VMAs at both edges of the range and collects the ones
inside; only then are they removed. One rule of vm.max_map_count lives here: an unmap that
must split one VMA twice (a hole in its middle) is refused with ENOMEM when the map is full,
while a split at just one edge is always allowed ("let map_count go just above its limit
temporarily, to help free resources as expected"). A sealed VMA (mseal) in the range makes the
whole unmap EPERM.
"""

from __future__ import annotations

from simulator.kernel.pgtable import unmap_region
from simulator.kernel.uapi import Errno
from simulator.kernel.vma import VM_SEALED, Vma
from simulator.units import PAGE_MASK, page_align


def gather_munmap_vmas(mm, start: int, end: int) -> list[Vma] | Errno:
    """``vms_gather_munmap_vmas``: split at ``start`` and ``end``; the VMAs now inside the range."""
    vmas = mm.vmas_in(start, end)
    if not vmas:
        return vmas
    first = vmas[0]
    if start > first.start:
        if end < first.end and mm.map_count >= mm.max_map_count:
            mm._map_count_exceeded("munmap")
            return Errno.ENOMEM
        if first.flags & VM_SEALED:
            return Errno.EPERM  # "don't bother splitting the VMA if we can't unmap it anyway"
        if first.special is not None:
            return Errno.EINVAL  # special_mapping_split: [vdso] and friends cannot be cut
        vmas[0] = mm._split(first, start)[1]
    for vma in vmas:
        if vma.flags & VM_SEALED:
            # The detach loop stops at a sealed VMA; the split at ``start`` stays.
            if start > first.start:
                mm.unmerged_splits.add(start)
            return Errno.EPERM
    last = vmas[-1]
    if last.end > end:
        if last.special is not None:
            if start > first.start:
                # vms_abort_munmap_vmas puts nothing back together: the split at ``start``
                # stays, and the two halves will not merge again.
                mm.unmerged_splits.add(start)
            return Errno.EINVAL
        vmas[-1] = mm._split(last, end)[0]
    return vmas


def unmap_range(mm, start: int, end: int) -> list[Vma] | Errno:
    """Remove every mapping in ``[start, end)`` (``do_vmi_align_munmap``); returns what went."""
    vmas = gather_munmap_vmas(mm, start, end)
    if isinstance(vmas, Errno):
        return vmas
    for vma in vmas:
        mm._remove(vma)
    mm.zap_guard_markers(start, end)
    unmap_region(mm, vmas, start, end)
    return vmas


def sys_munmap(mm, addr: int, length: int) -> int | Errno:
    """``do_vmi_munmap``: EINVAL for an unaligned start, an empty or out-of-range length;
    0 even when nothing was mapped there."""
    if addr & ~PAGE_MASK or addr > mm.task_size or length > mm.task_size - addr:
        return Errno.EINVAL
    end = addr + page_align(length)
    if end == addr:
        return Errno.EINVAL
    result = unmap_range(mm, addr, end)
    return result if isinstance(result, Errno) else 0
