"""Page-table presence at PMD granularity, and the THP fault path that depends on it.

The model keeps no pages, but one page-table fact decides VMA state: a fault into a private
anonymous VMA whose PMD entry is empty and whose aligned 2 MiB range may hold a transparent
huge page goes down mm/memory.c ``__handle_mm_fault`` → ``create_huge_pmd`` →
mm/huge_memory.c ``do_huge_pmd_anonymous_page``, which calls ``vmf_anon_prepare`` even for a
read (then maps the huge zero page). Where the PMD already has a PTE table (an earlier 4 KiB
fault in that 2 MiB range, a split huge PMD, a table left by an unmapped neighbour), a read
takes the 4 KiB path (``do_anonymous_page``) and maps the zero page without an anon_vma. The
anon_vma then decides mprotect's VM_ACCOUNT and merging. 6.12 and 6.18 agree here.

``mm.pmds`` maps a PMD index (``addr >> PMD_SHIFT``) to :data:`PT_TABLE` (a PTE table) or
:data:`PT_HUGE` (a huge PMD: huge zero page or THP); an absent key is ``pmd_none``. Every
update costs O(PMDs in the range touched), lookups O(1).

Transitions modelled (kernel functions named in each helper): a fault or populate creates a
table or a huge PMD; ``__split_vma`` (``vma_adjust_trans_huge``) splits a huge PMD a new VMA
boundary cuts; unmap zaps huge PMDs and frees tables by ``free_pgd_range``'s floor/ceiling
rule; MADV_DONTNEED zaps huge PMDs and (CONFIG_PT_RECLAIM) frees the tables of the PMDs it
empties whole; mremap moves tables and huge PMDs (``move_page_tables``); fork copies them for
VMAs with an anon_vma (``copy_page_range``/``vma_needs_copy``). mTHP (anonymous orders below
PMD) is off here (hugepages-*kB/enabled: never) and not modelled; PUD-sized THP does not exist
for anonymous memory.
"""

from __future__ import annotations

from simulator.kernel.anon import anon_vma_prepare
from simulator.units import PAGE_SIZE
from simulator.kernel.vma import (
    VM_ACCESS_FLAGS, VM_HUGEPAGE, VM_IO, VM_LOCKONFAULT, VM_MAYBE_GUARD, VM_MIXEDMAP,
    VM_NOHUGEPAGE, VM_PFNMAP, VM_SHARED, VM_WRITE, Vma, beyond_eof,
)

PMD_SHIFT = 21
PMD_SIZE = 1 << PMD_SHIFT
PT_TABLE = 1
#: A huge PMD mapping a THP (a write fault made it).
PT_HUGE = 2
#: A huge PMD mapping the huge zero page (a read fault made it); a write splits it.
PT_HUGE_ZERO = 3

#: ``/sys/kernel/mm/transparent_hugepage/enabled`` → does an anonymous VMA without
#: VM_HUGEPAGE get PMD-sized THP on fault (huge_anon_orders_inherit with hugepages-2048kB at
#: "inherit"), and does one with VM_HUGEPAGE (include/linux/huge_mm.h thp_vma_allowable_orders).
THP_MODES = {"always": (True, True), "madvise": (False, True), "never": (False, False)}


def thp_fault_allowed(mm, vma: Vma, addr: int) -> bool:
    """``thp_vma_allowable_order(vma, TVA_IN_PF|TVA_ENFORCE_SYSFS, PMD_ORDER)`` and
    ``thp_vma_suitable_order``: a private anonymous VMA, THP enabled for it (sysfs mode,
    VM_HUGEPAGE, not VM_NOHUGEPAGE), and the aligned 2 MiB range around ``addr`` inside it
    (anonymous VMAs have no pgoff check). O(1)."""
    if not mm.kconfig.thp or not vma.is_anonymous or vma.flags & VM_NOHUGEPAGE:
        return False
    plain, advised = THP_MODES[mm.kconfig.thp_enabled]
    if not (advised if vma.flags & VM_HUGEPAGE else plain):
        return False
    haddr = addr & ~(PMD_SIZE - 1)
    return vma.start <= haddr and haddr + PMD_SIZE <= vma.end


def handle_mm_fault(mm, vma: Vma, addr: int, write: bool) -> None:
    """mm/memory.c ``__handle_mm_fault`` for an access the caller allowed: an empty PMD in a
    THP range gets a huge PMD and the VMA an anon_vma (``do_huge_pmd_anonymous_page``, read
    or write); otherwise the PMD gets a PTE table, and a private write an anon_vma
    (``do_anonymous_page``/``do_cow_fault``; a read maps the zero page or a file page). A
    write into a huge zero page splits it (``do_huge_pmd_wp_page``). O(1)."""
    index = addr >> PMD_SHIFT
    state = mm.pmds.get(index)
    if state is None and thp_fault_allowed(mm, vma, addr):
        anon_vma_prepare(mm, vma)
        mm.pmds[index] = PT_HUGE if write else PT_HUGE_ZERO
        return
    if write and not vma.flags & VM_SHARED:
        anon_vma_prepare(mm, vma)
    if state is None or (write and state == PT_HUGE_ZERO):
        mm.pmds[index] = PT_TABLE


def populate(mm, start: int, end: int, write: bool) -> None:
    """``populate_vma_page_range``/``faultin_page_range``: fault every page of ``[start, end)``
    (inside one VMA the caller checked), one fault per PMD suffices for the table state.
    O(PMDs in the range)."""
    addr = start
    while addr < end:
        vma = mm.vma_at(addr)  # an anon_vma_prepare replaces the VMA value
        handle_mm_fault(mm, vma, addr, write)
        addr = (addr | (PMD_SIZE - 1)) + 1


def mm_populate(mm, start: int, end: int) -> None:
    """mm/gup.c ``__mm_populate`` (MAP_POPULATE, MAP_LOCKED, mlock, mlockall(MCL_CURRENT)):
    each VMA in ``[start, end)`` that may be faulted in (not VM_IO/VM_PFNMAP/VM_LOCKONFAULT,
    not PROT_NONE) is, for write where it is private and writable
    (``populate_vma_page_range``: FOLL_WRITE), for read otherwise; a file's pages stop at its
    end (SIGBUS). O(VMAs + PMDs in the range)."""
    for vma in mm.vmas_in(start, end):
        if vma.flags & (VM_IO | VM_PFNMAP | VM_LOCKONFAULT) or not vma.flags & VM_ACCESS_FLAGS:
            continue
        lo, hi = max(start, vma.start), min(end, vma.end)
        while hi > lo and beyond_eof(vma, hi - PAGE_SIZE):
            hi -= PAGE_SIZE  # O(pages past the end), a rare case
        if hi > lo:
            populate(mm, lo, hi, vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE)


def install_tables(mm, start: int, end: int) -> None:
    """A PTE table in every PMD of ``[start, end)`` (MADV_GUARD_INSTALL's page walk, which
    splits a huge PMD). O(PMDs in the range)."""
    for index in range(start >> PMD_SHIFT, ((end - 1) >> PMD_SHIFT) + 1):
        mm.pmds[index] = PT_TABLE


def split_huge_pmd_at(mm, addr: int) -> None:
    """``vma_adjust_trans_huge``/``split_huge_pmd_address``: a VMA boundary at ``addr`` inside
    a huge PMD splits it into a PTE table. O(1)."""
    if addr & (PMD_SIZE - 1) and mm.pmds.get(addr >> PMD_SHIFT, PT_TABLE) != PT_TABLE:
        mm.pmds[addr >> PMD_SHIFT] = PT_TABLE


def zap_range(mm, start: int, end: int, reclaim: bool) -> None:
    """``zap_pmd_range``: a huge PMD wholly inside ``[start, end)`` is cleared
    (``zap_huge_pmd``), one partly inside is split; with ``reclaim`` (MADV_DONTNEED with
    CONFIG_PT_RECLAIM, ranges of at least PMD_SIZE) the tables of PMDs emptied whole go too.
    O(PMDs in the range)."""
    pmds = mm.pmds
    if not pmds:
        return
    reclaim = reclaim and end - start >= PMD_SIZE
    for index in range(start >> PMD_SHIFT, ((end - 1) >> PMD_SHIFT) + 1):
        state = pmds.get(index)
        if state is None:
            continue
        base = index << PMD_SHIFT
        whole = start <= base and base + PMD_SIZE <= end
        # try_get_and_clear_pmd: only a table left with every entry none (a guard marker
        # survives MADV_DONTNEED and keeps it).
        if whole and (state != PT_TABLE
                      or reclaim and not mm.guard_markers_in(base, base + PMD_SIZE)):
            del pmds[index]
        elif state != PT_TABLE:
            pmds[index] = PT_TABLE


def free_pgtables(mm, vmas: list[Vma], floor: int, ceiling: int) -> None:
    """mm/memory.c ``free_pgtables`` over the VMAs just unmapped (in order), then
    ``free_pgd_range``: VMAs less than a PMD apart are freed in one call; a PMD's table goes
    when the PMD lies in ``[floor, ceiling)`` (floor: the end of the VMA before the range, 0
    if none; ceiling: the start of the next VMA, 0 = the top, rounded down to a PMD).
    O(PMDs in the range)."""
    if not mm.pmds or not vmas:
        return
    i = 0
    while i < len(vmas):
        addr = vmas[i].start
        while i + 1 < len(vmas) and vmas[i + 1].start <= vmas[i].end + PMD_SIZE:
            i += 1
        end = vmas[i].end
        i += 1
        _free_pgd_range(mm, addr, end, floor, vmas[i].start if i < len(vmas) else ceiling)


def _free_pgd_range(mm, addr: int, end: int, floor: int, ceiling: int) -> None:
    """``free_pgd_range``'s PMD-level arithmetic ("all these - 1s": end and ceiling 0 are the
    top of the address space)."""
    top = 1 << 64
    addr &= ~(PMD_SIZE - 1)
    if addr < floor:
        addr += PMD_SIZE
    if ceiling:
        ceiling &= ~(PMD_SIZE - 1)
        if not ceiling:
            return
    if (end - 1) % top > (ceiling - 1) % top:
        end -= PMD_SIZE
    if addr > (end - 1) % top:
        return
    for index in range(addr >> PMD_SHIFT, ((end - 1) >> PMD_SHIFT) + 1):
        mm.pmds.pop(index, None)


def unmap_region(mm, vmas: list[Vma], start: int, end: int) -> None:
    """``vms_clear_ptes``: zap ``[start, end)`` then free the tables the removed VMAs used,
    with the VMAs now around the range as floor and ceiling. Call after the VMAs left the
    tree. O(PMDs in the range + log n)."""
    if not mm.pmds or not vmas:
        return
    zap_range(mm, start, end, reclaim=False)
    prev = mm.find_vma_prev(start)
    nxt = mm.find_vma(end)
    free_pgtables(mm, vmas, prev.end if prev is not None else 0,
                  nxt.start if nxt is not None else 0)


def move_page_tables(mm, old: int, new: int, length: int) -> None:
    """mm/mremap.c ``move_page_tables``: each extent (within one old and one new PMD) whose
    old PMD has an entry moves: a huge PMD whole and aligned stays huge (``move_huge_pmd``),
    a table whole and aligned moves (``move_normal_pmd``), otherwise the destination PMD gets
    a table (``pte_alloc``) and the old huge PMD is split. The old range's own tables are
    freed later by the unmap. O(PMDs in the range)."""
    pmds = mm.pmds
    if not pmds:
        return
    moved: dict[int, int] = {}
    done = 0
    while done < length:
        o, n = old + done, new + done
        extent = min(PMD_SIZE - (o & (PMD_SIZE - 1)), PMD_SIZE - (n & (PMD_SIZE - 1)),
                     length - done)
        state = pmds.get(o >> PMD_SHIFT)
        if state is not None:
            if extent == PMD_SIZE:
                moved[n >> PMD_SHIFT] = state
                del pmds[o >> PMD_SHIFT]
            else:
                pmds[o >> PMD_SHIFT] = PT_TABLE  # split_huge_pmd, if it was huge
                moved[n >> PMD_SHIFT] = PT_TABLE
        done += extent
    pmds.update(moved)


def copy_page_range(parent, child) -> None:
    """kernel/fork.c ``dup_mmap`` → mm/memory.c ``copy_page_range``: page tables are copied
    only for VMAs ``vma_needs_copy`` approves (an anon_vma, VM_PFNMAP/VM_MIXEDMAP, guard
    markers), and only the PMDs they overlap. O(PMDs in those VMAs)."""
    child.pmds = {}
    if not parent.pmds:
        return
    for vma in parent.vmas():
        if vma.anon_vma is None and not vma.flags & (VM_PFNMAP | VM_MIXEDMAP | VM_MAYBE_GUARD):
            continue
        if child.vma_at(vma.start) is None:
            continue  # VM_DONTCOPY
        for index in range(vma.start >> PMD_SHIFT, ((vma.end - 1) >> PMD_SHIFT) + 1):
            state = parent.pmds.get(index)
            if state is not None:
                child.pmds[index] = state
