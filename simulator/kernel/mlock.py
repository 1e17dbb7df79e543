"""mlock(2), mlock2, munlock, mlockall, munlockall (mm/mlock.c, Linux 6.18).

Locking is a VMA flag: VM_LOCKED (and VM_LOCKONFAULT for MLOCK_ONFAULT / MCL_ONFAULT), so a
lock on part of a mapping splits it, and unlocking merges the pieces back, through the same
``vma_modify`` as mprotect. Special mappings ([vdso], [vvar]: VM_SPECIAL) are silently left
unlocked. ``mm->locked_vm`` is the size of the VM_LOCKED VMAs.

RLIMIT_MEMLOCK bounds it unless the process has CAP_IPC_LOCK (:class:`ProcessConfig`
``cap_ipc_lock``, true by default: the reference runs are root). A zero limit without the
capability refuses mlock outright (EPERM, ``can_do_mlock``).

Pages are not modelled, but one page-level outcome is visible in the return value: mlock
populates the range after locking it, and a PROT_NONE VMA cannot be faulted in, so mlock of
PROT_NONE memory returns ENOMEM (``__mlock_posix_error_return`` turns EFAULT into ENOMEM)
with the VMA already locked; measured on the kernel here.
"""

from __future__ import annotations

from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.merge import vma_modify
from simulator.kernel.uapi import Errno
from simulator.kernel.vma import (
    VM_ACCESS_FLAGS, VM_DROPPABLE, VM_HUGETLB, VM_IO, VM_LOCKED, VM_LOCKED_MASK, VM_LOCKONFAULT,
    VM_PFNMAP, VM_SHARED, VM_SPECIAL, VM_WRITE, Vma, beyond_eof,
)
from simulator.units import PAGE_MASK, PAGE_SIZE, page_align

MLOCK_ONFAULT = 0x01
MCL_CURRENT = 1
MCL_FUTURE = 2
MCL_ONFAULT = 4
MCL_NAMES = {"MCL_CURRENT": MCL_CURRENT, "MCL_FUTURE": MCL_FUTURE, "MCL_ONFAULT": MCL_ONFAULT}


def can_do_mlock(mm) -> bool:
    """mm/mlock.c ``can_do_mlock``: a non-zero RLIMIT_MEMLOCK or CAP_IPC_LOCK."""
    return mm.rlimit_memlock != 0 or mm.cap_ipc_lock


def locked_vm(mm) -> int:
    """``mm->locked_vm`` in bytes: the VM_LOCKED VMAs. O(n)."""
    return sum(v.end - v.start for v in mm.vmas() if v.flags & VM_LOCKED)


def mlock_future_ok(mm, vm_flags: int, nbytes: int) -> bool:
    """mm/mmap.c ``mlock_future_ok``: a new VM_LOCKED mapping of ``nbytes`` fits under
    RLIMIT_MEMLOCK (always, with CAP_IPC_LOCK). O(1) unless it must count ``locked_vm``."""
    if not vm_flags & VM_LOCKED or mm.cap_ipc_lock:
        return True
    return locked_vm(mm) + nbytes <= mm.rlimit_memlock & ~(PAGE_SIZE - 1)


def _count_mlocked(mm, start: int, end: int) -> int:
    """``count_mm_mlocked_page_nr``: bytes of ``[start, end)`` already locked."""
    return sum(min(v.end, end) - max(v.start, start) for v in mm.vmas_in(start, end)
               if v.flags & VM_LOCKED)


def mlock_fixup(mm, vma: Vma, prev: Vma | None, start: int, end: int,
                newflags: int) -> Vma | Errno:
    """mm/mlock.c ``mlock_fixup``: give ``[start, end)`` of ``vma`` the lock bits of
    ``newflags``; VM_SPECIAL, hugetlb and VM_DROPPABLE VMAs are left as they are (no error)."""
    if newflags == vma.flags or vma.flags & (VM_SPECIAL | VM_HUGETLB | VM_DROPPABLE) \
            or vma.special is not None:
        return vma
    return vma_modify(mm, prev, vma, start, end, newflags, "mlock")


def apply_vma_lock_flags(mm, start: int, length: int, flags: int) -> int | Errno:
    """mm/mlock.c ``apply_vma_lock_flags``: ``start`` must be inside a VMA (ENOMEM
    otherwise, nothing changed); VMAs are changed in order and a hole stops the walk with
    ENOMEM after the ones before it were changed. Cost: O(VMAs in the range · log n)."""
    end = start + length
    if end < start:
        return Errno.EINVAL
    if end == start:
        return 0
    vma = mm.vma_at(start)
    if vma is None:
        return Errno.ENOMEM
    prev = vma if start > vma.start else mm.prev_vma(vma)
    nstart = start
    tmp = vma.start
    while vma is not None and vma.start < end:
        if vma.start != tmp:
            return Errno.ENOMEM
        newflags = (vma.flags & ~VM_LOCKED_MASK) | flags
        tmp = min(vma.end, end)
        result = mlock_fixup(mm, vma, prev, nstart, tmp, newflags)
        if isinstance(result, Errno):
            return result
        prev = result
        tmp = result.end  # vma_iter_end: the end of the VMA now covering nstart
        nstart = tmp
        vma = mm.find_vma(tmp)
    if tmp < end:
        return Errno.ENOMEM
    return 0


def _populate_error(mm, start: int, end: int) -> Errno | None:
    """``__mm_populate`` after mlock: a VMA that cannot be faulted in (PROT_NONE, or file
    pages past the end of the file; not VM_LOCKONFAULT, VM_IO or VM_PFNMAP ones) fails with
    EFAULT, which ``__mlock_posix_error_return`` reports as ENOMEM (both measured here)."""
    for vma in mm.vmas_in(start, end):
        if vma.flags & (VM_IO | VM_PFNMAP) or vma.flags & VM_LOCKONFAULT:
            continue
        if not vma.flags & VM_ACCESS_FLAGS or beyond_eof(vma, min(vma.end, end) - 1):
            return Errno.ENOMEM
    return None


def do_mlock(mm, start: int, length: int, flags: int) -> int | Errno:
    """mm/mlock.c ``do_mlock``: EPERM without the right to lock at all, ENOMEM over
    RLIMIT_MEMLOCK (counting what is already locked in the range once), then
    :func:`apply_vma_lock_flags` and the populate step."""
    if not can_do_mlock(mm):
        return Errno.EPERM
    length = page_align(length + (start & ~PAGE_MASK)) % (1 << mm.profile.kernel_bits)
    start &= PAGE_MASK
    limit = mm.rlimit_memlock & ~(PAGE_SIZE - 1)
    locked = length + locked_vm(mm)
    if locked > limit and not mm.cap_ipc_lock:
        locked -= _count_mlocked(mm, start, start + length)
    if locked > limit and not mm.cap_ipc_lock:
        return Errno.ENOMEM
    err = apply_vma_lock_flags(mm, start, length, flags)
    if err:
        return err
    populate_anon(mm, start, start + length)
    return _populate_error(mm, start, start + length) or 0


def populate_anon(mm, start: int, end: int) -> None:
    """mm/gup.c ``populate_vma_page_range`` (``__mm_populate`` after mlock and
    mlockall(MCL_CURRENT)): a locked private writable VMA is faulted in for write
    (FOLL_WRITE), which gives it an anon_vma; VM_LOCKONFAULT, inaccessible and VM_IO/PFNMAP
    ones are skipped. O(VMAs in the range)."""
    for vma in mm.vmas_in(start, end):
        if (vma.flags & (VM_LOCKED | VM_LOCKONFAULT) == VM_LOCKED
                and vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE
                and not vma.flags & (VM_IO | VM_PFNMAP) and vma.special is None):
            anon_vma_prepare(mm, vma)


def sys_mlock(mm, start: int, length: int) -> int | Errno:
    """mlock(2): VM_LOCKED on every page of ``[start, start + length)`` (start rounded down,
    length rounded up to pages)."""
    return do_mlock(mm, start, length, VM_LOCKED)


def sys_mlock2(mm, start: int, length: int, flags: int) -> int | Errno:
    """mlock2(2): like mlock; MLOCK_ONFAULT adds VM_LOCKONFAULT; other flags are EINVAL."""
    if flags & ~MLOCK_ONFAULT:
        return Errno.EINVAL
    vm_flags = VM_LOCKED | (VM_LOCKONFAULT if flags & MLOCK_ONFAULT else 0)
    return do_mlock(mm, start, length, vm_flags)


def sys_munlock(mm, start: int, length: int) -> int | Errno:
    """munlock(2): clear VM_LOCKED and VM_LOCKONFAULT; no limit applies."""
    length = page_align(length + (start & ~PAGE_MASK)) % (1 << mm.profile.kernel_bits)
    return apply_vma_lock_flags(mm, start & PAGE_MASK, length, 0)


def apply_mlockall_flags(mm, flags: int) -> int:
    """mm/mlock.c ``apply_mlockall_flags``: MCL_FUTURE sets ``mm->def_flags`` (every later
    mmap and brk is locked); MCL_CURRENT relocks every VMA, ignoring errors. O(n)."""
    mm.def_flags &= ~VM_LOCKED_MASK
    if flags & MCL_FUTURE:
        mm.def_flags |= VM_LOCKED
        if flags & MCL_ONFAULT:
            mm.def_flags |= VM_LOCKONFAULT
        if not flags & MCL_CURRENT:
            return 0
    to_add = 0
    if flags & MCL_CURRENT:
        to_add = VM_LOCKED | (VM_LOCKONFAULT if flags & MCL_ONFAULT else 0)
    prev = None
    for vma in list(mm.vmas()):
        current = mm.vma_at(vma.start)
        if current is None or current.start != vma.start:
            continue  # merged into the VMA before it
        newflags = (current.flags & ~VM_LOCKED_MASK) | to_add
        result = mlock_fixup(mm, current, prev, current.start, current.end, newflags)
        prev = current if isinstance(result, Errno) else result
    if flags & MCL_CURRENT:
        populate_anon(mm, 0, mm.task_size)
    return 0


def sys_mlockall(mm, flags: int) -> int | Errno:
    """mlockall(2): EINVAL for no flag, an unknown one, or MCL_ONFAULT alone; EPERM without
    the right to lock; ENOMEM when MCL_CURRENT would lock more than RLIMIT_MEMLOCK
    (``total_vm``) without CAP_IPC_LOCK."""
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        return Errno.EINVAL
    if not can_do_mlock(mm):
        return Errno.EPERM
    limit = mm.rlimit_memlock & ~(PAGE_SIZE - 1)
    if flags & MCL_CURRENT and mm.total_vm() > limit and not mm.cap_ipc_lock:
        return Errno.ENOMEM
    return apply_mlockall_flags(mm, flags)


def sys_munlockall(mm) -> int:
    """munlockall(2): clear ``def_flags`` and unlock every VMA."""
    return apply_mlockall_flags(mm, 0)


__all__ = ["sys_mlock", "sys_mlock2", "sys_munlock", "sys_mlockall", "sys_munlockall",
           "can_do_mlock", "mlock_future_ok", "locked_vm"]
