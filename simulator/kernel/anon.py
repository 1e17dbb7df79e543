"""anon_vma assignment: the hidden state that decides whether neighbours can merge.

A private VMA gets a ``struct anon_vma`` on its first write fault (mm/rmap.c
``__anon_vma_prepare``). Where possible it borrows the anon_vma of an adjacent, compatible VMA
(mm/vma.c ``find_mergeable_anon_vma``), so that VMAs split apart by mprotect can merge again.
Two VMAs with *different* anon_vmas never merge.
"""

from __future__ import annotations

from simulator.kernel.vma import VM_ACCESS_FLAGS, VM_STICKY, Vma, new_anon_vma_id


def anon_vma_compatible(a: Vma, b: Vma) -> bool:
    """mm/vma.c ``anon_vma_compatible``: adjacent, same file, flags equal but for access bits,
    pgoff contiguous."""
    return (a.end == b.start and a.file is b.file
            and (a.flags ^ b.flags) & ~(VM_ACCESS_FLAGS | VM_STICKY) == 0
            and b.pgoff == a.pgoff_at(b.start))


def reusable_anon_vma(mm, old: Vma | None) -> int | None:
    """mm/vma.c ``reusable_anon_vma``: ``old``'s anon_vma if its anon_vma_chain is singular,
    i.e. it was not copied at fork (:attr:`AddressSpace.forked_anon_vmas`)."""
    if old is None or old.anon_vma is None or old.anon_vma in mm.forked_anon_vmas:
        return None
    return old.anon_vma


def find_mergeable_anon_vma(mm, vma: Vma) -> int | None:
    """mm/vma.c ``find_mergeable_anon_vma``: try the next VMA first, then the previous one."""
    nxt = mm.next_vma(vma)
    if nxt is not None and anon_vma_compatible(vma, nxt):
        anon = reusable_anon_vma(mm, nxt)
        if anon is not None:
            return anon
    prev = mm.prev_vma(vma)
    if prev is not None and anon_vma_compatible(prev, vma):
        return reusable_anon_vma(mm, prev)
    return None


def anon_vma_prepare(mm, vma: Vma) -> Vma:
    """Give ``vma`` an anon_vma if it has none; returns the (possibly new) VMA value."""
    if vma.anon_vma is not None:
        return vma
    anon = find_mergeable_anon_vma(mm, vma)
    updated = vma._replace(anon_vma=anon if anon is not None else new_anon_vma_id())
    mm._replace(vma, updated)
    return updated
