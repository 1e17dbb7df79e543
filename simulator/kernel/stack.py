"""Page faults and stack growth: ``expand_downwards`` (mm/vma.c) and the fault path
(arch/x86/mm/fault.c ``lock_mm_and_find_vma``, mm/memory.c).

An access below a VM_GROWSDOWN VMA grows it down to the faulting page, at any distance (x86
dropped its "below the stack pointer" heuristic), unless that would bring it within
``stack_guard_gap`` of an accessible non-stack VMA below, exceed RLIMIT_STACK, or go below
mmap_min_addr. A refused growth is a SIGSEGV.

Before Linux 4.12 (:attr:`GuardMode.PAGE`) there was no gap: the lowest page of the stack VMA
was its guard, and faulting on it grew the stack by one more page unless a mapping sat right
below (mm/memory.c ``check_stack_guard_page``, 2.6.36–4.11).
"""

from __future__ import annotations

import enum

from simulator.kernel import events as ev
from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.config import GuardMode
from simulator.kernel.pgtable import handle_mm_fault
from simulator.kernel.uapi import Errno
from simulator.kernel.vma import (
    VM_ACCESS_FLAGS, VM_GROWSDOWN, VM_SHARED, VM_WRITE, Vma, beyond_eof, is_accessible,
)
from simulator.units import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE


class Fault(enum.Enum):
    """The outcome of an access."""

    OK = "ok"
    SIGSEGV = "SIGSEGV"
    SIGBUS = "SIGBUS"

    def __str__(self) -> str:
        return self.value


def expand_downwards(mm, vma: Vma, address: int) -> Vma | Errno:
    """Grow a VM_GROWSDOWN VMA down to cover ``address`` (mm/vma.c, with ``acct_stack_growth``)."""
    address &= PAGE_MASK
    if address < mm.mmap_min_addr:
        _refused(mm, address, vma, "mmap_min_addr", None)
        return Errno.EPERM
    prev = mm.prev_vma(vma)
    if prev is not None and mm.kconfig.guard_mode is GuardMode.GAP:
        if (not prev.flags & VM_GROWSDOWN and is_accessible(prev)
                and address - prev.end < mm.stack_guard_gap):
            _refused(mm, address, vma, "guard-gap", prev)
            return Errno.ENOMEM
    vma = anon_vma_prepare(mm, vma)
    if address >= vma.start:
        return vma
    size = vma.end - address
    grow = (vma.start - address) >> PAGE_SHIFT
    if grow > vma.pgoff:
        _refused(mm, address, vma, "address-space", None)
        return Errno.ENOMEM
    if size > mm.rlimit_stack:
        _refused(mm, address, vma, "rlimit", None)
        return Errno.ENOMEM
    if not mm.may_expand_vm(grow << PAGE_SHIFT):
        _refused(mm, address, vma, "address-space", None)
        return Errno.ENOMEM
    grown = vma._replace(start=address, pgoff=vma.pgoff - grow)
    mm._resize(vma, grown)
    mm._event(ev.StackGrown, addr=address, old_start=vma.start, new_start=address)
    return grown


def _refused(mm, address: int, vma: Vma, reason: str, neighbour: Vma | None) -> None:
    mm._event(ev.StackGrowthRefused, addr=address, stack=mm.region(vma), reason=reason,
              neighbour=mm.region(neighbour) if neighbour is not None else None)


def _check_stack_guard_page(mm, vma: Vma, address: int) -> Vma | None:
    """Pre-4.12: faulting on a stack's lowest page first extends it one page further; a mapping
    directly below makes the fault a SIGSEGV instead (mm/memory.c, 2.6.36–4.11)."""
    address &= PAGE_MASK
    if not vma.flags & VM_GROWSDOWN or address != vma.start:
        return vma
    prev = mm.prev_vma(vma)
    if prev is not None and prev.end == address:
        if prev.flags & VM_GROWSDOWN:
            return vma
        _refused(mm, address, vma, "guard-gap", prev)
        return None
    grown = expand_downwards(mm, vma, address - PAGE_SIZE)
    return vma if isinstance(grown, Errno) else grown


def handle_fault(mm, address: int, write: bool = True) -> Fault:
    """One access at ``address``: find the VMA, grow a stack if needed, check permissions,
    and give a private VMA its anon_vma on a write (the COW/anonymous-page path)."""
    vma = mm.find_vma(address)
    if vma is None:
        mm._event(ev.Segfault, addr=address, write=write, reason="no mapping")
        return Fault.SIGSEGV
    if vma.start > address:
        if not vma.flags & VM_GROWSDOWN:
            mm._event(ev.Segfault, addr=address, write=write, reason="no mapping")
            return Fault.SIGSEGV
        grown = expand_downwards(mm, vma, address)
        if isinstance(grown, Errno):
            return Fault.SIGSEGV
        vma = grown
    # arch/x86/mm/fault.c access_error(): a write needs VM_WRITE; a read any access at all
    # (x86 cannot map a page writable but not readable).
    if not vma.flags & (VM_WRITE if write else VM_ACCESS_FLAGS):
        mm._event(ev.Segfault, addr=address, write=write, reason="permission")
        return Fault.SIGSEGV
    if mm.kconfig.guard_mode is GuardMode.PAGE:
        vma = _check_stack_guard_page(mm, vma, address)
        if vma is None:
            return Fault.SIGSEGV
    if address & PAGE_MASK in mm.guard_pages:
        # handle_pte_marker: PTE_MARKER_GUARD is VM_FAULT_SIGSEGV (the PTE is not none, so
        # neither the THP path nor do_anonymous_page runs: no anon_vma).
        mm._event(ev.Segfault, addr=address, write=write, reason="guard marker")
        return Fault.SIGSEGV
    if beyond_eof(vma, address):
        if write and not vma.flags & VM_SHARED:
            # do_cow_fault: the anon_vma comes first, even if the file read that follows
            # fails (and no page table is installed).
            anon_vma_prepare(mm, vma)
        mm._event(ev.Segfault, addr=address, write=write, reason="beyond the end of the file")
        return Fault.SIGBUS
    # do_anonymous_page / do_cow_fault / the THP path (anon_vma even on a read): .pgtable
    handle_mm_fault(mm, vma, address, write)
    return Fault.OK
