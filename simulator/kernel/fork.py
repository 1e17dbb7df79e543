"""Copying an address space at fork (kernel/fork.c ``dup_mm`` → ``dup_mmap``).

fork, vfork without exec and clone without CLONE_VM give the child a copy of the parent's
``mm_struct`` taken at that instant: every field (layout bases, brk, stack, load bias) and
every VMA, with three exceptions that decide what the child sees later:

* VM_DONTCOPY VMAs (``madvise(MADV_DONTFORK)``) are left out: the child has a hole there.
* VM_WIPEONFORK VMAs (``madvise(MADV_WIPEONFORK)``) are copied empty: no anon_vma, as if
  never written (``tmp->anon_vma = NULL`` instead of ``anon_vma_fork``).
* Every other VMA with an anon_vma gets a fresh one of its own (``anon_vma_fork``), chained
  to the parent's. Two parent VMAs that shared an anon_vma (split by mprotect) therefore have
  different ones in the child and never merge back there, and a child VMA whose chain links a
  parent (:attr:`AddressSpace.forked_anon_vmas`) does not lend its anon_vma to a neighbour
  without one (mm/vma.c ``vma_had_uncowed_parents``, ``reusable_anon_vma``). The parent's own
  chains stay singular, so the parent merges as before.

VM_LOCKED and VM_LOCKONFAULT are not inherited (``vm_flags_clear(tmp, VM_LOCKED_MASK)``).
Nothing is merged while copying: the child's VMAs keep the parent's boundaries.
"""

from __future__ import annotations

import random

from simulator.kernel.gaps import GapIndex
from simulator.kernel.mm import AddressSpace
from simulator.kernel.pgtable import copy_page_range
from simulator.kernel.vma import (
    VM_DONTCOPY, VM_LOCKED, VM_LOCKONFAULT, VM_WIPEONFORK, new_anon_vma_id,
)
from simulator.kernel.vmalist import VmaList

#: include/linux/mm.h VM_LOCKED_MASK: mlock state is per process and not inherited.
VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT


def dup_mmap(parent: AddressSpace) -> AddressSpace:
    """kernel/fork.c ``dup_mm``/``dup_mmap``: the child's address space at fork.

    ``parent`` is not changed. Cost: O(n log n) in the parent's VMAs.
    """
    child = AddressSpace.__new__(AddressSpace)
    child.__dict__.update(parent.__dict__)  # dup_mm: memcpy(mm, oldmm, sizeof(*mm))
    child.rng = random.Random()
    child.rng.setstate(parent.rng.getstate())
    child.events = []
    child.calls = 0
    child._vmas = VmaList()
    child._gaps = GapIndex(parent._gaps.limit)
    child._total = 0
    child.unmerged_splits = set(parent.unmerged_splits)
    child.forked_anon_vmas = set()
    prev = None
    for vma in parent.vmas():
        if vma.flags & VM_DONTCOPY:
            continue
        flags = vma.flags & ~VM_LOCKED_MASK
        if vma.flags & VM_WIPEONFORK or vma.anon_vma is None:
            anon = None
        else:
            anon = new_anon_vma_id()  # anon_vma_fork
            child.forked_anon_vmas.add(anon)
        copy = vma._replace(flags=flags, anon_vma=anon)
        child._insert(copy)
        if prev is not None and prev.end == copy.start and child.is_mergeable(prev, copy):
            child.unmerged_splits.add(copy.start)  # copied apart, never merged at fork
        prev = copy
    # Guard markers live in the page tables, which are copied with the VMAs that are: none
    # survive in a range left out (VM_DONTCOPY).
    child.guard_pages = frozenset(p for p in parent.guard_pages
                                  if child.vma_at(p) is not None)
    copy_page_range(parent, child)
    return child
