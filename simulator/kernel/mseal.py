"""mseal(2) (mm/mseal.c, Linux 6.10+, as reworked in 6.15; 64-bit kernels only).

A sealed VMA carries VM_SEALED (smaps ``sl``) for the rest of its life. Sealing is all or
nothing for the range: any hole makes it ENOMEM before anything changes. Sealing part of a
VMA splits it like mprotect; adjacent sealed VMAs merge.

What a seal refuses lives with each call, in the kernel's own order of checks, by
:func:`vma_is_sealed`:

* munmap, MAP_FIXED over it, mremap's destination, brk shrinking: EPERM from
  ``vms_gather_munmap_vmas`` (after the vm.max_map_count check, before any split of the VMA);
* mprotect and pkey_mprotect: EPERM from ``mprotect_fixup``, per VMA, so VMAs before the
  sealed one in the range are already changed (measured here);
* mremap: EPERM from ``check_prep_vma``, before any size check;
* madvise: only the discarding advices on anonymous memory the caller cannot write
  (``can_madvise_modify``): see :mod:`.madvise`.

mlock, munlock and the non-discarding madvise advices still work on sealed VMAs (and split
them: the pieces stay sealed).
"""

from __future__ import annotations

from simulator.kernel.merge import vma_modify
from simulator.kernel.uapi import Errno
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import VM_SEALED, Vma
from simulator.units import PAGE_MASK, page_align


def vma_is_sealed(vma: Vma) -> bool:
    """mm/vma.h ``vma_is_sealed``."""
    return bool(vma.flags & VM_SEALED)


def range_contains_unmapped(mm, start: int, end: int) -> bool:
    """mm/mseal.c ``range_contains_unmapped``: any hole in ``[start, end)``. O(k log n)."""
    prev_end = start
    for vma in mm.vmas_in(start, end):
        if vma.start > prev_end:
            return True
        prev_end = vma.end
    return prev_end < end


def mseal_apply(mm, start: int, end: int) -> int | Errno:
    """mm/mseal.c ``mseal_apply``: VM_SEALED on every VMA piece in the range (no holes)."""
    vma = mm.vma_at(start)
    prev = vma if start > vma.start else mm.prev_vma(vma)
    curr_start = start
    while vma is not None and vma.start < end:
        curr_end = min(vma.end, end)
        if not vma.flags & VM_SEALED:
            vma = vma_modify(mm, prev, vma, curr_start, curr_end, vma.flags | VM_SEALED,
                             "mseal")
            if isinstance(vma, Errno):
                return vma
        prev = vma
        curr_start = curr_end
        vma = mm.find_vma(vma.end)
    return 0


def do_mseal(mm, start: int, length: int, flags: int) -> int | Errno:
    """mm/mseal.c ``do_mseal``: EINVAL for flags, an unaligned start or a wrapping length;
    0 for an empty range; ENOMEM if the range has a hole; then seal. A 32-bit kernel has no
    mseal (ENOSYS); 32-bit processes on a 64-bit kernel have it (measured here); kernels
    before 6.10 have no mseal at all (``KernelRules.mseal``)."""
    if mm.profile.kernel_bits != 64 or not kernel_rules(mm.kconfig.version).mseal:
        return Errno.ENOSYS
    if flags:
        return Errno.EINVAL
    if start & ~PAGE_MASK:
        return Errno.EINVAL
    word = 1 << mm.profile.kernel_bits
    aligned = page_align(length) % word
    if length and not aligned:
        return Errno.EINVAL
    end = start + aligned
    if end >= word:
        return Errno.EINVAL
    if end == start:
        return 0
    if range_contains_unmapped(mm, start, end):
        return Errno.ENOMEM
    return mseal_apply(mm, start, end)


__all__ = ["do_mseal", "vma_is_sealed"]
