"""brk(2) (mm/mmap.c ``SYSCALL_DEFINE1(brk)``, ``check_brk_limits``, mm/vma.c ``do_brk_flags``)."""

from __future__ import annotations

from simulator.kernel import events as ev
from simulator.kernel.mlock import mlock_future_ok
from simulator.kernel.munmap import unmap_range
from simulator.kernel.uapi import MAP_FIXED, Errno
from simulator.kernel.unmapped_area import get_unmapped_area
from simulator.kernel.vma import VM_ACCOUNT, VM_DATA_DEFAULT_FLAGS, Vma
from simulator.units import PAGE_SHIFT, PAGE_SIZE, page_align


def do_brk_flags(mm, prev: Vma | None, addr: int, length: int, vm_flags: int = 0) -> Vma | Errno:
    """Map ``[addr, addr + length)`` anonymous read-write, extending ``prev`` when it ends at
    ``addr`` and is compatible ("just expand": never merges with what follows)."""
    vm_flags |= VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT | mm.def_flags
    if not mm.may_expand_vm(length, vm_flags):
        return Errno.ENOMEM
    if mm.map_count > mm.max_map_count:
        mm._map_count_exceeded("brk")
        return Errno.ENOMEM
    if not mm.vm_enough_memory(length):
        return Errno.ENOMEM
    new = Vma(addr, addr + length, vm_flags, addr >> PAGE_SHIFT)
    if prev is not None and prev.end == addr and mm.is_mergeable(prev, new):
        merged = prev._replace(end=addr + length)
        mm._resize(prev, merged)
        return merged
    mm._insert(new)
    return new


def sys_brk(mm, brk: int) -> int:
    """Move the program break. Returns the new break, or the old one if refused.

    Growth needs ``PAGE_ALIGN(brk) + PAGE_SIZE <= vm_start_gap(next VMA)``: one free page above
    the heap, and the whole stack guard gap if the next VMA grows down. Shrinking unmaps.
    Growth only extends a VMA that reaches above ``start_brk`` (``vma_prev_limit``), so the
    heap never merges into the executable's bss that ends at ``start_brk``.
    """
    origbrk = mm.current_brk
    if brk < mm.start_brk:
        return origbrk
    newbrk = page_align(brk)
    oldbrk = page_align(mm.current_brk)
    if oldbrk == newbrk:
        mm.current_brk = brk
        return brk
    if brk <= mm.current_brk:
        inside = mm.vmas_in(newbrk, oldbrk)
        if not inside:
            return _refuse(mm, brk, None, "no heap mapping to shrink")
        err = unmap_range(mm, newbrk, oldbrk)
        if isinstance(err, Errno):
            return _refuse(mm, brk, None, "the heap is sealed (mseal)" if err is Errno.EPERM
                           else "vm.max_map_count")
        mm.current_brk = brk
        return brk
    # check_brk_limits: get_unmapped_area(NULL, oldbrk, len, 0, MAP_FIXED).
    if isinstance(get_unmapped_area(mm, None, oldbrk, newbrk - oldbrk, 0, MAP_FIXED, 0), Errno):
        return _refuse(mm, brk, None, "the heap would end above TASK_SIZE")
    if not mlock_future_ok(mm, mm.def_flags, newbrk - oldbrk):
        return _refuse(mm, brk, None, "RLIMIT_MEMLOCK (mlockall(MCL_FUTURE))")
    nxt = mm.find_vma(oldbrk)
    if nxt is not None and newbrk + PAGE_SIZE > mm.vm_start_gap(nxt):
        return _refuse(mm, brk, nxt, "it would come within a page (or the stack guard gap) "
                                     "of the next mapping")
    prev = mm.find_vma_prev(oldbrk)
    if prev is not None and prev.end <= mm.start_brk:
        prev = None  # vma_prev_limit(&vmi, mm->start_brk): only a VMA reaching above start_brk
    if isinstance(do_brk_flags(mm, prev, oldbrk, newbrk - oldbrk), Errno):
        return _refuse(mm, brk, None, "vm.max_map_count")
    mm.current_brk = brk
    return brk


def _refuse(mm, brk: int, blocker: Vma | None, reason: str) -> int:
    mm._event(ev.BrkRefused, requested=brk, current=mm.current_brk,
              blocker=mm.region(blocker) if blocker is not None else None, reason=reason)
    return mm.current_brk
