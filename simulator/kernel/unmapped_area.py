"""Choosing an address: ``get_unmapped_area`` and the gap search under it.

* :func:`get_unmapped_area` is mm/mmap.c ``__get_unmapped_area``: dispatch to the THP path, the
  shmem path or the architecture's search, then the final TASK_SIZE and alignment checks.
* :func:`x86_get_unmapped_area_topdown` / :func:`x86_get_unmapped_area` are
  arch/x86/kernel/sys_x86_64.c; :func:`generic_get_unmapped_area_topdown` /
  :func:`generic_get_unmapped_area` are mm/mmap.c's versions, used by arm64 and arm.
* :func:`thp_get_unmapped_area_vmflags` is mm/huge_memory.c (2 MiB alignment, 6.18 rules).
* :func:`vm_unmapped_area` is mm/vma.c ``unmapped_area`` / ``unmapped_area_topdown``.

All functions return an address or an Errno, as the kernel returns ``-ENOMEM`` in an
``unsigned long``.
"""

from __future__ import annotations

import attrs

from simulator.kernel import events as ev
from simulator.kernel.arch import Placement
from simulator.kernel.uapi import MAP_32BIT, MAP_ABOVE4G, MAP_FIXED, MAP_SHARED, Errno
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import VM_SHADOW_STACK, VM_STARTGAP_FLAGS, FileRef
from simulator.units import GiB, MiB, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, page_align


@attrs.frozen
class UnmappedAreaInfo:
    """``struct vm_unmapped_area_info`` (include/linux/mm.h)."""

    length: int
    low_limit: int
    high_limit: int
    topdown: bool = False
    align_mask: int = 0
    align_offset: int = 0
    start_gap: int = 0


def unmapped_area(mm, info: UnmappedAreaInfo) -> int | Errno:
    """mm/vma.c ``unmapped_area``: the lowest fitting address in ``[low_limit, high_limit)``.

    The gap must hold the length plus worst-case alignment. A candidate that would end inside
    a growsdown VMA's guard gap restarts the search above that VMA.
    """
    return _bottomup(mm, info.length, info.low_limit, info.high_limit, info.align_mask,
                     info.align_offset, info.start_gap)


def _bottomup(mm, length0, low_limit, high_limit, align_mask, align_offset, start_gap):
    length = length0 + align_mask + start_gap
    if low_limit < mm.mmap_min_addr:
        low_limit = mm.mmap_min_addr
    lowest, find = mm._gaps.lowest, mm._vmas.find
    while True:
        found = lowest(low_limit, high_limit, length)
        if found is None:
            return Errno.ENOMEM
        gap = found[0] + start_gap
        gap += (align_offset - gap) & align_mask
        nxt = find(found[0])
        if nxt is not None and nxt.flags & VM_STARTGAP_FLAGS:
            if mm.vm_start_gap(nxt) < gap + length - 1:
                low_limit = nxt.end
                continue
        return gap  # vm_end_gap(prev) > gap never holds without VM_GROWSUP


def unmapped_area_topdown(mm, info: UnmappedAreaInfo) -> int | Errno:
    """mm/vma.c ``unmapped_area_topdown``: the highest fitting address below ``high_limit``.

    The mapping goes at the top of the highest gap that holds it; below a growsdown VMA the
    gap ends ``stack_guard_gap`` early (``vm_start_gap``), and the search retries lower.
    """
    return _topdown(mm, info.length, info.low_limit, info.high_limit, info.align_mask,
                    info.align_offset, info.start_gap)


def _topdown(mm, length0, low_limit, high_limit, align_mask, align_offset, start_gap):
    length = length0 + align_mask + start_gap
    if low_limit < mm.mmap_min_addr:
        low_limit = mm.mmap_min_addr
    highest, find = mm._gaps.highest, mm._vmas.find
    while True:
        found = highest(low_limit, high_limit, length)
        if found is None:
            return Errno.ENOMEM
        gap_end = found[1]
        gap = gap_end - length0
        gap -= (gap - align_offset) & align_mask
        nxt = find(gap_end)
        if nxt is not None and nxt.flags & VM_STARTGAP_FLAGS:
            start_gap_of_next = mm.vm_start_gap(nxt)
            if start_gap_of_next < gap_end:
                high_limit = start_gap_of_next
                continue
        return gap  # vm_end_gap(prev) > gap never holds without VM_GROWSUP


def vm_unmapped_area(mm, info: UnmappedAreaInfo) -> int | Errno:
    """include/linux/mm.h ``vm_unmapped_area``."""
    return unmapped_area_topdown(mm, info) if info.topdown else unmapped_area(mm, info)


def stack_guard_placement(vm_flags: int) -> int:
    """include/linux/mm.h: a shadow stack needs one free page below it at placement."""
    return PAGE_SIZE if vm_flags & VM_SHADOW_STACK else 0


def _search_info(mm, file: FileRef | None, length: int, pgoff: int, vm_flags: int,
                 low: int, high: int, topdown: bool) -> UnmappedAreaInfo:
    return UnmappedAreaInfo(length=length, low_limit=low, high_limit=high, topdown=topdown,
                            align_offset=pgoff << PAGE_SHIFT,
                            start_gap=stack_guard_placement(vm_flags))


# ---------------------------------------------------------------------------------------------
# x86: arch/x86/kernel/sys_x86_64.c, arch/x86/mm/mmap.c


def mmap_address_hint_valid(mm, addr: int, length: int) -> bool:
    """arch/x86/mm/mmap.c: the hint fits under TASK_SIZE and does not straddle the 47-bit line."""
    if mm.task_size - length < addr:
        return False
    window = mm.limits.map_window
    return (addr > window) == (addr + length > window)


def _hint_free(mm, addr: int, length: int) -> bool:
    """``vma = find_vma(mm, addr); !vma || addr + len <= vm_start_gap(vma)``."""
    vma = mm.find_vma(addr)
    return vma is None or addr + length <= mm.vm_start_gap(vma)


def x86_get_unmapped_area_topdown(mm, file, addr, length, pgoff, flags, vm_flags):
    """``arch_get_unmapped_area_topdown``: hint, then top-down below mmap_base, then bottom-up."""
    addr0 = addr
    if length > mm.task_size:
        return Errno.ENOMEM
    if flags & MAP_FIXED:
        return addr
    if not (mm.profile.map_32bit and flags & MAP_32BIT):
        if addr:
            addr &= PAGE_MASK
            if mmap_address_hint_valid(mm, addr, length) and _hint_free(mm, addr, length):
                return addr
        low = 4 * GiB if mm.profile.map_32bit and flags & MAP_ABOVE4G else PAGE_SIZE
        high = mm.mmap_base
        # A hint above DEFAULT_MAP_WINDOW opens the full (5-level) address space.
        if addr > mm.limits.map_window:
            high += mm.task_size - mm.limits.map_window
        found = _topdown(mm, length, low, high, 0, pgoff << PAGE_SHIFT,
                         stack_guard_placement(vm_flags))
        if not isinstance(found, Errno):
            return found
        # "A failed mmap() very likely causes application failure, so fall back to the
        # bottom-up function here." (vm_flags is passed as 0 there.)
        result = x86_get_unmapped_area(mm, file, addr0, length, pgoff, flags, 0)
        if not isinstance(result, Errno):
            mm._event(ev.TopDownFallback, length=length, result=result)
        return result
    return x86_get_unmapped_area(mm, file, addr0, length, pgoff, flags, 0)


def x86_find_start_end(mm, addr: int, flags: int) -> tuple[int, int]:
    """``find_start_end``: MAP_32BIT's [1 GiB, 2 GiB) window, else [legacy base, task window)."""
    if mm.profile.map_32bit and flags & MAP_32BIT:
        begin = 0x40000000
        if mm.randomize:
            from simulator.kernel.aslr import randomize_page
            begin = randomize_page(mm, begin, 0x02000000)
        return begin, 0x80000000
    window = mm.limits.map_window
    end = mm.task_size if addr > window else window
    return mm.mmap_legacy_base, end


def x86_get_unmapped_area(mm, file, addr, length, pgoff, flags, vm_flags):
    """``arch_get_unmapped_area``: bottom-up from the legacy base (even in a top-down mm)."""
    if flags & MAP_FIXED:
        return addr
    begin, end = x86_find_start_end(mm, addr, flags)
    if length > end:
        return Errno.ENOMEM
    if addr:
        addr = page_align(addr)
        if end - length >= addr and _hint_free(mm, addr, length):
            return addr
    return _bottomup(mm, length, begin, end, 0, pgoff << PAGE_SHIFT,
                     stack_guard_placement(vm_flags))


# ---------------------------------------------------------------------------------------------
# Generic: mm/mmap.c generic_get_unmapped_area[_topdown] (arm64, arm)


def _generic_mmap_end(mm, addr: int) -> int:
    """``arch_get_mmap_end``: the full TASK_SIZE only for hints above DEFAULT_MAP_WINDOW (arm64 52-bit)."""
    window = mm.limits.map_window
    return mm.task_size if addr > window else window


def _generic_hint_ok(mm, addr: int, length: int, mmap_end: int) -> bool:
    vma = mm.find_vma(addr)
    prev = mm.find_vma_prev(addr)
    return (mmap_end - length >= addr and addr >= mm.mmap_min_addr
            and (vma is None or addr + length <= mm.vm_start_gap(vma))
            and (prev is None or addr >= mm.vm_end_gap(prev)))


def generic_get_unmapped_area_topdown(mm, file, addr, length, pgoff, flags, vm_flags):
    """mm/mmap.c ``generic_get_unmapped_area_topdown``; falls back to bottom-up from TASK_UNMAPPED_BASE."""
    mmap_end = _generic_mmap_end(mm, addr)
    if length > mmap_end - mm.mmap_min_addr:
        return Errno.ENOMEM
    if flags & MAP_FIXED:
        return addr
    if addr:
        addr = page_align(addr)
        if _generic_hint_ok(mm, addr, length, mmap_end):
            return addr
    high = mm.mmap_base
    if addr > mm.limits.map_window:  # arch_get_mmap_base
        high += mm.task_size - mm.limits.map_window
    info = _search_info(mm, file, length, pgoff, vm_flags, PAGE_SIZE, high, topdown=True)
    found = vm_unmapped_area(mm, info)
    if not isinstance(found, Errno):
        return found
    info = attrs.evolve(info, topdown=False, low_limit=mm.limits.legacy_base, high_limit=mmap_end)
    result = vm_unmapped_area(mm, info)
    if not isinstance(result, Errno):
        mm._event(ev.TopDownFallback, length=length, result=result)
    return result


def generic_get_unmapped_area(mm, file, addr, length, pgoff, flags, vm_flags):
    """mm/mmap.c ``generic_get_unmapped_area``: bottom-up from mm->mmap_base."""
    mmap_end = _generic_mmap_end(mm, addr)
    if length > mmap_end - mm.mmap_min_addr:
        return Errno.ENOMEM
    if flags & MAP_FIXED:
        return addr
    if addr:
        addr = page_align(addr)
        if _generic_hint_ok(mm, addr, length, mmap_end):
            return addr
    info = _search_info(mm, file, length, pgoff, vm_flags, mm.mmap_base, mmap_end, topdown=False)
    return vm_unmapped_area(mm, info)


# ---------------------------------------------------------------------------------------------
# 32-bit arm: arch/arm/mm/mmap.c (caches assumed non-aliasing, as on ARMv7: no colouring)

def _arm_hint_ok(mm, addr: int, length: int) -> bool:
    """arm's hint test: under TASK_SIZE and clear of the next VMA's guard gap (no
    mmap_min_addr or prev test)."""
    return mm.task_size - length >= addr and _hint_free(mm, addr, length)


def arm_get_unmapped_area_topdown(mm, file, addr, length, pgoff, flags, vm_flags):
    """arm's ``arch_get_unmapped_area_topdown``: its fallback searches bottom-up from
    ``mm->mmap_base`` itself, i.e. only between the mmap base and the stack."""
    if length > mm.task_size:
        return Errno.ENOMEM
    if flags & MAP_FIXED:
        return addr
    if addr:
        addr = page_align(addr)
        if _arm_hint_ok(mm, addr, length):
            return addr
    info = UnmappedAreaInfo(length=length, low_limit=mm.profile.first_user_address,
                            high_limit=mm.mmap_base, topdown=True, align_offset=pgoff << PAGE_SHIFT)
    found = vm_unmapped_area(mm, info)
    if not isinstance(found, Errno):
        return found
    info = attrs.evolve(info, topdown=False, low_limit=mm.mmap_base, high_limit=mm.task_size)
    result = vm_unmapped_area(mm, info)
    if not isinstance(result, Errno):
        mm._event(ev.TopDownFallback, length=length, result=result)
    return result


def arm_get_unmapped_area(mm, file, addr, length, pgoff, flags, vm_flags):
    """arm's ``arch_get_unmapped_area``: bottom-up in ``[mm->mmap_base, TASK_SIZE)``."""
    if flags & MAP_FIXED:
        return addr
    if length > mm.task_size:
        return Errno.ENOMEM
    if addr:
        addr = page_align(addr)
        if _arm_hint_ok(mm, addr, length):
            return addr
    info = UnmappedAreaInfo(length=length, low_limit=mm.mmap_base, high_limit=mm.task_size,
                            align_offset=pgoff << PAGE_SHIFT)
    return vm_unmapped_area(mm, info)


_ARCH_SEARCH = {
    Placement.X86: (x86_get_unmapped_area_topdown, x86_get_unmapped_area),
    Placement.GENERIC: (generic_get_unmapped_area_topdown, generic_get_unmapped_area),
    Placement.ARM: (arm_get_unmapped_area_topdown, arm_get_unmapped_area),
}


def mm_get_unmapped_area_vmflags(mm, file, addr, length, pgoff, flags, vm_flags):
    """mm/mmap.c: the architecture's top-down or bottom-up search, by the mm's layout."""
    topdown_fn, bottomup_fn = _ARCH_SEARCH[mm.profile.placement]
    fn = topdown_fn if mm.topdown else bottomup_fn
    return fn(mm, file, addr, length, pgoff, flags, vm_flags)


# ---------------------------------------------------------------------------------------------
# THP: mm/huge_memory.c


_U64 = 1 << 64


def _signed(value: int) -> int:
    value %= _U64
    return value - _U64 if value >= 1 << 63 else value


def thp_get_unmapped_area_vmflags(mm, file, addr, length, pgoff, flags, vm_flags):
    """Place a mapping so that its file offset and address agree modulo PMD_SIZE (2 MiB).

    ``__thp_get_unmapped_area``: search for ``len + 2 MiB`` and slide into it; in a top-down mm
    an already aligned result moves up by 2 MiB (to the top of the padded window). Nothing
    for 32-bit kernels or compat syscalls (6.8, "don't force huge page alignment on 32 bit").
    If the padded search fails, the normal search runs with the real length.
    """
    size = mm.profile.thp_pmd_size
    if size is not None:
        # loff_t arithmetic, wrapping at 64 bits; comparisons with the unsigned size are
        # unsigned (C's usual arithmetic conversions), which matters for offsets near 2^63.
        off = (pgoff << PAGE_SHIFT) % _U64
        off_end = _signed(off + length)
        off_align = _signed((((off - 1) | (size - 1)) + 1) % _U64)
        if (off_end > off_align and (off_end - off_align) % _U64 >= size
                and (off + length + size) % _U64 >= off):
            ret = mm_get_unmapped_area_vmflags(mm, file, addr, length + size, pgoff, flags,
                                               vm_flags)
            if not isinstance(ret, Errno):
                if ret == addr:
                    return addr
                off_sub = (off - ret) & (size - 1)
                if mm.topdown and not off_sub:
                    return ret + size
                return ret + off_sub
    return mm_get_unmapped_area_vmflags(mm, file, addr, length, pgoff, flags, vm_flags)


# ---------------------------------------------------------------------------------------------


def get_unmapped_area(mm, file: FileRef | None, addr: int, length: int, pgoff: int, flags: int,
                      vm_flags: int) -> int | Errno:
    """mm/mmap.c ``__get_unmapped_area``.

    File systems with ``thp_get_unmapped_area`` (ext4, xfs) and large anonymous mappings
    without a hint (length a multiple of PMD_SIZE; 6.7+, ``KernelRules.anon_thp_alignment``)
    take the THP path; shared anonymous memory
    takes shmem's (plain, with shmem THP off). Then: no mapping may end above TASK_SIZE, and
    the address must be page-aligned (this is where an unaligned MAP_FIXED gets EINVAL).
    First of all, ``arch_mmap_check``: on 32-bit arm (arch/arm/include/uapi/asm/mman.h) a
    MAP_FIXED address below FIRST_USER_ADDRESS (the profile's ``first_user_address``) is
    EINVAL, for mmap, mremap to a fixed address, shmat and brk alike.
    """
    if flags & MAP_FIXED and addr < mm.profile.first_user_address:
        return Errno.EINVAL
    if length > mm.task_size:
        return Errno.ENOMEM
    if file is not None and file.zero_device and flags & MAP_SHARED:
        result = mm_get_unmapped_area_vmflags(mm, None, addr, length, pgoff, flags, 0)
    elif file is not None and file.thp_aligned:
        result = thp_get_unmapped_area_vmflags(mm, file, addr, length, pgoff, flags, 0)
    elif file is None and flags & MAP_SHARED:
        # shmem_get_unmapped_area with shmem THP "never": the mm's own search, pgoff 0.
        result = mm_get_unmapped_area_vmflags(mm, None, addr, length, 0, flags, 0)
    elif (file is None and not addr and mm.kconfig.thp
          and kernel_rules(mm.kconfig.version).anon_thp_alignment
          and mm.profile.thp_pmd_size is not None and length % mm.profile.thp_pmd_size == 0):
        result = thp_get_unmapped_area_vmflags(mm, None, addr, length, 0, flags, vm_flags)
    else:
        if file is None:
            pgoff = 0
        result = mm_get_unmapped_area_vmflags(mm, file, addr, length, pgoff, flags, vm_flags)
    if isinstance(result, Errno):
        return result
    if result > mm.task_size - length:
        return Errno.ENOMEM
    if result & ~PAGE_MASK:
        return Errno.EINVAL
    return result


__all__ = ["get_unmapped_area", "vm_unmapped_area", "UnmappedAreaInfo", "MiB"]
