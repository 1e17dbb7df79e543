"""mprotect(2) (mm/mprotect.c ``do_mprotect_pkey``, ``mprotect_fixup``)."""

from __future__ import annotations

from simulator.kernel.merge import vma_modify
from simulator.kernel.pkeys import mm_pkey_is_allocated, vma_pkey_flags
from simulator.kernel.uapi import (
    PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE, Errno,
)
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import (
    VM_ACCESS_FLAGS, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_HUGETLB, VM_MAYEXEC, VM_NORESERVE,
    VM_SEALED, VM_SHARED, VM_WRITE, Vma,
)
from simulator.units import PAGE_MASK, page_align


def mprotect_fixup(mm, vma: Vma, prev: Vma | None, start: int, end: int,
                   newflags: int) -> Vma | Errno:
    """Apply ``newflags`` to ``[start, end)`` of ``vma``; returns the VMA that now covers it.

    Accounting (why VM_ACCOUNT, which affects merging, comes and goes): making a private
    mapping writable charges it (VM_ACCOUNT); making it read-only keeps the charge, except for
    an anonymous VMA that was never written (no anon_vma), which gives it back (6.2+;
    ``KernelRules.mprotect_unaccounts_unfaulted``: 6.1 keeps the charge).
    """
    oldflags = vma.flags
    if oldflags & VM_SEALED:
        return Errno.EPERM  # can_modify_vma, before the "nothing to change" shortcut
    if newflags == oldflags:
        return vma
    if newflags & VM_WRITE:
        # "Check space limits when area turns into data" (RLIMIT_DATA)
        if not mm.may_expand_vm(end - start, newflags) and mm.may_expand_vm(end - start, oldflags):
            return Errno.ENOMEM
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            if not mm.vm_enough_memory(end - start):
                return Errno.ENOMEM
            newflags |= VM_ACCOUNT
    elif (oldflags & VM_ACCOUNT and vma.is_anonymous and vma.anon_vma is None
          and kernel_rules(mm.kconfig.version).mprotect_unaccounts_unfaulted):
        newflags &= ~VM_ACCOUNT
    return vma_modify(mm, prev, vma, start, end, newflags, "mprotect")


def sys_mprotect(mm, start: int, length: int, prot: int) -> int | Errno:
    """mprotect(2): ``do_mprotect_pkey`` with pkey -1."""
    return do_mprotect_pkey(mm, start, length, prot, -1)


def do_mprotect_pkey(mm, start: int, length: int, prot: int, pkey: int) -> int | Errno:
    """``do_mprotect_pkey``: every VMA in the range is changed in order; a hole stops the walk
    with ENOMEM after the VMAs before it were already changed (the kernel does not roll back).
    A pkey other than -1 must be allocated (EINVAL, before the range is looked at) and
    replaces each VMA's key (:mod:`.pkeys`). A sealed VMA stops the walk with EPERM."""
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == PROT_GROWSDOWN | PROT_GROWSUP:
        return Errno.EINVAL
    if start & ~PAGE_MASK:
        return Errno.EINVAL
    if not length:
        return 0
    end = start + page_align(length)
    if end <= start or end >= 1 << mm.profile.kernel_bits:
        return Errno.ENOMEM
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        return Errno.EINVAL  # arch_validate_prot
    if pkey != -1 and not mm_pkey_is_allocated(mm, pkey):
        return Errno.EINVAL
    prev, vma = mm._vmas.find_prev(start)  # one descent: the kernel's vma_find + vma_prev
    if vma is None or vma.start >= end:
        return Errno.ENOMEM
    if grows & PROT_GROWSDOWN:
        start = vma.start
        if not vma.flags & VM_GROWSDOWN:
            return Errno.EINVAL
    else:
        if vma.start > start:
            return Errno.ENOMEM
        if grows & PROT_GROWSUP:
            return Errno.EINVAL  # no VM_GROWSUP VMAs on the modelled architectures
    if start > vma.start:
        prev = vma
    rier = mm.read_implies_exec and prot & PROT_READ
    nstart = start
    tmp = vma.start
    error: Errno | None = None
    while vma is not None and vma.start < end:
        if vma.start != tmp:
            error = Errno.ENOMEM
            break
        newflags = (prot & VM_ACCESS_FLAGS) | (vma.flags & ~VM_ACCESS_FLAGS)
        if pkey != -1:
            newflags = vma_pkey_flags(newflags, pkey)
        if rier and vma.flags & VM_MAYEXEC:
            newflags |= VM_EXEC
        # "newflags >> 4 shift VM_MAY% in place of VM_%"
        if newflags & ~(newflags >> 4) & VM_ACCESS_FLAGS:
            error = Errno.EACCES
            break
        tmp = min(vma.end, end)
        result = mprotect_fixup(mm, vma, prev, nstart, tmp, newflags)
        if isinstance(result, Errno):
            error = result
            break
        prev = result
        tmp = result.end
        if tmp >= end:
            break  # the usual case: no VMA left in the range, no lookup needed
        nstart = tmp
        vma = mm._vmas.find(tmp)
    if error is None and tmp < end:
        error = Errno.ENOMEM
    return error if error is not None else 0
