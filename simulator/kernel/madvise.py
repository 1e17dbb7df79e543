"""madvise(2) (mm/madvise.c ``do_madvise``, ``madvise_walk_vmas``, ``madvise_vma_behavior``,
Linux 6.18 as running here, with the VM_MAYBE_GUARD backport).

Three kinds of advice:

* **VMA-flag advice** (DONTFORK/DOFORK, WIPEONFORK/KEEPONFORK, DONTDUMP/DODUMP,
  HUGEPAGE/NOHUGEPAGE, MERGEABLE/UNMERGEABLE, SEQUENTIAL/RANDOM/NORMAL) computes new flags
  and goes through ``madvise_update_vma``, i.e. :func:`~simulator.kernel.merge.vma_modify`:
  advice on part of a VMA splits it, advice that makes it equal to a neighbour merges.
  ENOMEM from a split refused at vm.max_map_count becomes EAGAIN.
* **Page advice** (DONTNEED, DONTNEED_LOCKED, FREE, WILLNEED, COLD, PAGEOUT, REMOVE,
  GUARD_REMOVE) changes no VMA, but each has its own refusals (EINVAL for locked or
  unsuitable VMAs, EACCES for REMOVE of a mapping that is not shared-writable).
  MADV_GUARD_INSTALL changes pages and sets VM_MAYBE_GUARD (smaps ``gu``) on the whole VMA,
  without a split; the flag is sticky and never cleared (measured here).
* **Populate** (POPULATE_READ/WRITE) faults pages in: EINVAL where the access is not
  allowed, EFAULT past the end of a file, ENOMEM at a hole; it stops at the first failure.

The walk over the range skips holes and goes on, then returns ENOMEM ("different from the
way of handling in mlock etc."); an error from one VMA stops it, with earlier VMAs already
changed. A sealed VMA refuses the discarding advices on anonymous memory it cannot write
(``can_madvise_modify``): EPERM.
"""

from __future__ import annotations

from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.pgtable import install_tables, populate, zap_range
from simulator.kernel.merge import vma_modify
from simulator.kernel.uapi import Errno
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import (
    VM_DONTCOPY, VM_DONTDUMP, VM_DONTEXPAND, VM_HUGEPAGE, VM_HUGETLB, VM_IO, VM_LOCKED,
    VM_MAYBE_GUARD, VM_MAYSHARE, VM_MAYWRITE, VM_MERGEABLE, VM_MIXEDMAP, VM_NOHUGEPAGE,
    VM_PFNMAP, VM_RAND_READ, VM_READ, VM_SEALED, VM_SEQ_READ, VM_SHARED, VM_SPECIAL,
    VM_WIPEONFORK, VM_WRITE, Vma, beyond_eof,
)
from simulator.units import PAGE_MASK, PAGE_SIZE, page_align

# include/uapi/asm-generic/mman-common.h
MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9
MADV_DONTFORK = 10
MADV_DOFORK = 11
MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_DONTDUMP = 16
MADV_DODUMP = 17
MADV_WIPEONFORK = 18
MADV_KEEPONFORK = 19
MADV_COLD = 20
MADV_PAGEOUT = 21
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
MADV_DONTNEED_LOCKED = 24
MADV_COLLAPSE = 25
MADV_HWPOISON = 100
MADV_SOFT_OFFLINE = 101
MADV_GUARD_INSTALL = 102
MADV_GUARD_REMOVE = 103

MADV_NAMES = {name: value for name, value in globals().items() if name.startswith("MADV_")}

HPAGE_PMD_SIZE = 2 << 20

#: ``is_discard``: advice a seal refuses on read-only anonymous memory.
_DISCARDING = frozenset({MADV_FREE, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_REMOVE,
                         MADV_DONTFORK, MADV_WIPEONFORK, MADV_GUARD_INSTALL})


def _special(vma: Vma) -> bool:
    return bool(vma.flags & VM_SPECIAL) or vma.special is not None


# -- VMA-flag advice: vma -> new flags or an Errno -------------------------------------------

def _flags_normal(mm, vma):
    return vma.flags & ~(VM_RAND_READ | VM_SEQ_READ)


def _flags_sequential(mm, vma):
    return (vma.flags & ~VM_RAND_READ) | VM_SEQ_READ


def _flags_random(mm, vma):
    return (vma.flags & ~VM_SEQ_READ) | VM_RAND_READ


def _flags_dontfork(mm, vma):
    return vma.flags | VM_DONTCOPY


def _flags_dofork(mm, vma):
    if vma.flags & VM_IO:
        return Errno.EINVAL
    return vma.flags & ~VM_DONTCOPY


def _flags_wipeonfork(mm, vma):
    """Anonymous private memory only."""
    if vma.file is not None or vma.flags & VM_SHARED:
        return Errno.EINVAL
    return vma.flags | VM_WIPEONFORK


def _flags_keeponfork(mm, vma):
    return vma.flags & ~VM_WIPEONFORK


def _flags_dontdump(mm, vma):
    return vma.flags | VM_DONTDUMP


def _flags_dodump(mm, vma):
    """VM_SPECIAL mappings ([vdso], [vvar]...) stay out of core dumps."""
    if not vma.flags & VM_HUGETLB and _special(vma):
        return Errno.EINVAL
    return vma.flags & ~VM_DONTDUMP


def _flags_mergeable(mm, vma):
    """mm/ksm.c ``ksm_madvise``: ignored (no error, no flag) where KSM cannot work
    (``vma_ksm_compatible``)."""
    if vma.flags & (VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_HUGETLB
                    | VM_MIXEDMAP) or vma.special is not None:
        return vma.flags
    return vma.flags | VM_MERGEABLE


def _flags_unmergeable(mm, vma):
    return vma.flags & ~VM_MERGEABLE


def _flags_hugepage(mm, vma):
    """mm/khugepaged.c ``hugepage_madvise``."""
    return (vma.flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE


def _flags_nohugepage(mm, vma):
    return (vma.flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE


_FLAG_ADVICE = {
    MADV_NORMAL: _flags_normal, MADV_SEQUENTIAL: _flags_sequential, MADV_RANDOM: _flags_random,
    MADV_DONTFORK: _flags_dontfork, MADV_DOFORK: _flags_dofork,
    MADV_WIPEONFORK: _flags_wipeonfork, MADV_KEEPONFORK: _flags_keeponfork,
    MADV_DONTDUMP: _flags_dontdump, MADV_DODUMP: _flags_dodump,
    MADV_MERGEABLE: _flags_mergeable, MADV_UNMERGEABLE: _flags_unmergeable,
    MADV_HUGEPAGE: _flags_hugepage, MADV_NOHUGEPAGE: _flags_nohugepage,
}


# -- page advice: (mm, vma, start, end, advice) -> Errno or None ------------------------------

def madvise_dontneed_free(mm, vma, start, end, advice):
    """``madvise_dontneed_free_valid_vma``: not on VM_PFNMAP, nor VM_LOCKED unless
    MADV_DONTNEED_LOCKED; MADV_FREE on anonymous memory only."""
    forbidden = VM_PFNMAP | (0 if advice == MADV_DONTNEED_LOCKED else VM_LOCKED)
    if not vma.flags & VM_HUGETLB and vma.flags & forbidden:
        return Errno.EINVAL
    if advice == MADV_FREE and not vma.is_anonymous:
        return Errno.EINVAL
    if advice != MADV_FREE:
        # zap_page_range_single: huge PMDs go or split, and (CONFIG_PT_RECLAIM, x86_64 6.18:
        # madvise_dontneed_single_vma) the PTE tables it empties whole go too. MADV_FREE
        # only marks pages lazily free: the tables stay.
        zap_range(mm, start, end, reclaim=True)
    return None


def madvise_willneed(mm, vma, start, end, advice):
    """Read-ahead or swap-in: no refusal, except on anonymous memory of a kernel without
    CONFIG_SWAP (``KernelConfig.swap``), where it is EBADF (measured under QEMU)."""
    if vma.file is None and not mm.kconfig.swap:
        return Errno.EBADF
    return None


def madvise_cold_pageout(mm, vma, start, end, advice):
    """``can_madv_lru_vma``: not on locked, PFN-mapped or hugetlb VMAs."""
    if vma.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB):
        return Errno.EINVAL
    return None


def madvise_remove(mm, vma, start, end, advice):
    """Punch a hole in the file: needs a file and a shared writable mapping of it."""
    if vma.flags & VM_LOCKED:
        return Errno.EINVAL
    if vma.file is None:
        return Errno.EINVAL
    if not (vma.flags & VM_SHARED and vma.flags & VM_MAYWRITE):
        return Errno.EACCES
    return None


def _is_valid_guard_vma(vma: Vma, allow_locked: bool) -> bool:
    """``is_valid_guard_vma``: VMAs whose page tables the core manages alone."""
    if not allow_locked and vma.flags & VM_LOCKED:
        return False
    return not (_special(vma) or vma.flags & VM_HUGETLB)


def madvise_guard_install(mm, vma, start, end, advice):
    """``madvise_guard_install``: VM_MAYBE_GUARD on the whole VMA (no split); anonymous
    memory gets its anon_vma now (``anon_vma_prepare``), which decides later merges."""
    if not _is_valid_guard_vma(vma, allow_locked=False):
        return Errno.EINVAL
    if not vma.flags & VM_MAYBE_GUARD:
        updated = vma._replace(flags=vma.flags | VM_MAYBE_GUARD)
        mm._replace(vma, updated)
        vma = updated
    if vma.is_anonymous:
        anon_vma_prepare(mm, vma)
    mm.guard_pages = mm.guard_pages.union(range(start, end, PAGE_SIZE))
    install_tables(mm, start, end)  # walk_page_range allocates the PTE tables the markers use
    return None


def madvise_guard_remove(mm, vma, start, end, advice):
    """Removing guards is allowed in locked VMAs too; VM_MAYBE_GUARD stays."""
    if not _is_valid_guard_vma(vma, allow_locked=True):
        return Errno.EINVAL
    mm.zap_guard_markers(start, end)
    return None


def madvise_collapse(mm, vma, start, end, advice):
    """MADV_COLLAPSE needs a whole PMD-aligned huge page inside the range (a one-page range
    returns EINVAL here); khugepaged's page-level outcome is otherwise not modelled."""
    hstart = -(-start // HPAGE_PMD_SIZE) * HPAGE_PMD_SIZE
    hend = end // HPAGE_PMD_SIZE * HPAGE_PMD_SIZE
    if hstart >= hend or _special(vma) or vma.flags & (VM_HUGETLB | VM_NOHUGEPAGE):
        return Errno.EINVAL
    return None


_PAGE_ADVICE = {
    MADV_DONTNEED: madvise_dontneed_free, MADV_DONTNEED_LOCKED: madvise_dontneed_free,
    MADV_FREE: madvise_dontneed_free, MADV_WILLNEED: madvise_willneed,
    MADV_COLD: madvise_cold_pageout, MADV_PAGEOUT: madvise_cold_pageout,
    MADV_REMOVE: madvise_remove, MADV_GUARD_INSTALL: madvise_guard_install,
    MADV_GUARD_REMOVE: madvise_guard_remove, MADV_COLLAPSE: madvise_collapse,
}
_THP_ADVICE = frozenset({MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_COLLAPSE})
_KSM_ADVICE = frozenset({MADV_MERGEABLE, MADV_UNMERGEABLE})
_GUARD_ADVICE = frozenset({MADV_GUARD_INSTALL, MADV_GUARD_REMOVE})
_POPULATE = frozenset({MADV_POPULATE_READ, MADV_POPULATE_WRITE})


def madvise_behavior_valid(mm, advice: int) -> bool:
    """``madvise_behavior_valid`` for this machine's config: KSM and THP built in,
    CONFIG_MEMORY_FAILURE off (MADV_HWPOISON and MADV_SOFT_OFFLINE are EINVAL, measured).
    ``KernelConfig.thp``/``ksm`` turn those off; the guard advice came in 6.13."""
    if advice in _THP_ADVICE:
        return mm.kconfig.thp
    if advice in _KSM_ADVICE:
        return mm.kconfig.ksm
    if advice in _GUARD_ADVICE and not kernel_rules(mm.kconfig.version).madvise_guard:
        return False
    return advice in _FLAG_ADVICE or advice in _PAGE_ADVICE or advice in _POPULATE


def can_madvise_modify(vma: Vma, advice: int) -> bool:
    """mm/madvise.c ``can_madvise_modify``: a sealed VMA refuses discarding advice when it is
    anonymous and not writable."""
    if not vma.flags & VM_SEALED or advice not in _DISCARDING:
        return True
    if not vma.is_anonymous:
        return True
    return bool(vma.flags & VM_WRITE)


def madvise_update_vma(mm, vma: Vma, prev: Vma | None, start: int, end: int,
                       new_flags: int) -> Vma | Errno:
    """``madvise_update_vma``: nothing to do if the flags do not change, else split/merge."""
    if new_flags == vma.flags:
        return vma
    return vma_modify(mm, prev, vma, start, end, new_flags, "madvise")


def madvise_vma_behavior(mm, vma: Vma, prev: Vma | None, start: int, end: int,
                         advice: int) -> Vma | Errno:
    """One VMA's part ``[start, end)``: the VMA that now covers it, or an Errno."""
    if not can_madvise_modify(vma, advice):
        return Errno.EPERM
    page = _PAGE_ADVICE.get(advice)
    if page is not None:
        err = page(mm, vma, start, end, advice)
        return err if err is not None else mm.vma_at(start)
    new_flags = _FLAG_ADVICE[advice](mm, vma)
    if isinstance(new_flags, Errno):
        return new_flags
    result = madvise_update_vma(mm, vma, prev, start, end, new_flags)
    return Errno.EAGAIN if result is Errno.ENOMEM else result


def madvise_walk_vmas(mm, start: int, end: int, advice: int) -> int | Errno:
    """Visit every VMA piece in ``[start, end)``; holes give ENOMEM at the end. Cost:
    O(VMAs in the range · log n)."""
    unmapped_error: int | Errno = 0
    vma = mm.find_vma(start)
    prev = vma if vma is not None and start > vma.start else mm.find_vma_prev(start)
    while True:
        if vma is None:
            return Errno.ENOMEM
        if start < vma.start:
            unmapped_error = Errno.ENOMEM
            start = vma.start
            if start >= end:
                break
        result = madvise_vma_behavior(mm, vma, prev, start, min(vma.end, end), advice)
        if isinstance(result, Errno):
            return result
        prev = result
        start = result.end
        if start >= end:
            break
        vma = mm.find_vma(start)
    return unmapped_error


def madvise_populate(mm, start: int, end: int, write: bool) -> int | Errno:
    """``madvise_populate`` / ``faultin_page_range``: VMA by VMA from ``start``; ENOMEM at a
    hole, EINVAL where the access is not allowed (``check_vma_flags``), EFAULT for pages past
    the end of a file (SIGBUS) and for a guard marker (measured: the guard-regions port)."""
    while start < end:
        vma = mm.vma_at(start)
        if vma is None:
            return Errno.ENOMEM
        if vma.flags & (VM_IO | VM_PFNMAP):
            return Errno.EINVAL
        if write and not vma.flags & VM_WRITE:
            return Errno.EINVAL
        if not write and not vma.flags & VM_READ:
            return Errno.EINVAL
        stop = min(vma.end, end)
        if beyond_eof(vma, stop - 1):  # file pages follow each other: the last one decides
            return Errno.EFAULT
        if mm.guard_markers_in(start, stop):  # a guard marker faults as SIGSEGV would
            return Errno.EFAULT
        populate(mm, start, stop, write)
        start = stop
    return 0


def do_madvise(mm, start: int, len_in: int, advice: int) -> int | Errno:
    """mm/madvise.c ``do_madvise``: EINVAL for an unknown advice, an unaligned start or a
    wrapping length (even where nothing is mapped); 0 for an empty range; then populate or
    the walk."""
    word = 1 << mm.profile.kernel_bits
    if not madvise_behavior_valid(mm, advice) or start & ~PAGE_MASK:
        return Errno.EINVAL
    length = page_align(len_in) % word
    if len_in and not length:
        return Errno.EINVAL
    end = start + length
    if end >= word:
        return Errno.EINVAL
    if end == start:
        return 0
    if advice in _POPULATE:
        return madvise_populate(mm, start, end, advice == MADV_POPULATE_WRITE)
    return madvise_walk_vmas(mm, start, end, advice)


__all__ = ["do_madvise", "MADV_NAMES"]
