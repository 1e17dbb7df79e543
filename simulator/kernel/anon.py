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


def find_mergeable_anon_vma(mm, vma: Vma) -> int | None:
    """Try the next VMA first, then the previous one (without fork, every anon_vma chain is
    singular, so ``reusable_anon_vma`` only needs compatibility)."""
    nxt = mm.next_vma(vma)
    if nxt is not None and nxt.anon_vma is not None and anon_vma_compatible(vma, nxt):
        return nxt.anon_vma
    prev = mm.prev_vma(vma)
    if prev is not None and prev.anon_vma is not None and anon_vma_compatible(prev, vma):
        return prev.anon_vma
    return None


def anon_vma_prepare(mm, vma: Vma) -> Vma:
    """Give ``vma`` an anon_vma if it has none; returns the (possibly new) VMA value."""
    if vma.anon_vma is not None:
        return vma
    anon = find_mergeable_anon_vma(mm, vma)
    updated = vma._replace(anon_vma=anon if anon is not None else new_anon_vma_id())
    mm._replace(vma, updated)
    return updated
