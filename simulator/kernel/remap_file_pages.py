"""remap_file_pages(2), as Linux 4.0+ emulates it (mm/mmap.c; the old nonlinear mappings
of mm/fremap.c are gone).

The call is an mmap(MAP_SHARED | MAP_FIXED | MAP_POPULATE) of the same file over part of a
shared VMA with a new file offset: the VMA splits into pieces whose offsets no longer follow
each other, and remapping the original offset back merges them again (measured here).
"""

from __future__ import annotations

from simulator.kernel.mmap import do_mmap
from simulator.kernel.uapi import (
    MAP_FIXED, MAP_LOCKED, MAP_NONBLOCK, MAP_POPULATE, MAP_SHARED, PROT_EXEC, PROT_READ,
    PROT_WRITE, Errno,
)
from simulator.kernel.vma import VM_EXEC, VM_LOCKED, VM_READ, VM_SHARED, VM_WRITE
from simulator.units import PAGE_MASK, PAGE_SHIFT


def sys_remap_file_pages(mm, start: int, size: int, prot: int, pgoff: int,
                         flags: int) -> int | Errno:
    """EINVAL for a non-zero ``prot``, an empty or wrapping range, a range not inside one
    VM_SHARED VMA; otherwise ``do_mmap`` of the VMA's own file with the VMA's protection.
    0 on success. O(log n) plus the mmap."""
    word = 1 << mm.profile.kernel_bits
    if prot:
        return Errno.EINVAL
    start &= PAGE_MASK
    size &= PAGE_MASK
    if start + size <= start or start + size >= word:
        return Errno.EINVAL
    if pgoff + (size >> PAGE_SHIFT) >= word:
        return Errno.EINVAL
    vma = mm.vma_at(start)
    if vma is None or not vma.flags & VM_SHARED or vma.file is None:
        return Errno.EINVAL
    if start + size > vma.end:
        return Errno.EINVAL
    prot = ((PROT_READ if vma.flags & VM_READ else 0) | (PROT_WRITE if vma.flags & VM_WRITE else 0)
            | (PROT_EXEC if vma.flags & VM_EXEC else 0))
    map_flags = (flags & MAP_NONBLOCK) | MAP_SHARED | MAP_FIXED | MAP_POPULATE
    if vma.flags & VM_LOCKED:
        map_flags |= MAP_LOCKED
    result = do_mmap(mm, vma.file, start, size, prot, map_flags, pgoff)
    return result if isinstance(result, Errno) else 0


__all__ = ["sys_remap_file_pages"]
