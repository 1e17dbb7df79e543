"""mmap(2): ``do_mmap`` and ``mmap_region`` (mm/mmap.c, mm/vma.c ``__mmap_region``).

The order of checks is the kernel's, because the first failing check decides the errno.
"""

from __future__ import annotations

from simulator.kernel import events as ev
from simulator.kernel.cred import CAP_SYS_RAWIO, capable
from simulator.kernel.merge import vma_merge_new_range
from simulator.kernel.mlock import can_do_mlock, mlock_future_ok
from simulator.kernel.munmap import gather_munmap_vmas
from simulator.kernel.pgtable import mm_populate, unmap_region
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_DROPPABLE, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_HUGETLB,
    MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE,
    MAP_STACK, MAP_SYNC, MAP_TYPE, PROT_EXEC, PROT_READ, PROT_WRITE,
    Errno,
)
from simulator.kernel.unmapped_area import get_unmapped_area
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import (
    VM_ACCOUNT, VM_DONTDUMP, VM_DROPPABLE, VM_GROWSDOWN, VM_LOCKED, VM_LOCKED_MASK, VM_MAYEXEC,
    VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NOHUGEPAGE, VM_NORESERVE, VM_SHARED, VM_SYNC,
    VM_WIPEONFORK, VM_WRITE, FileRef, make_vma,
)
from simulator.units import PAGE_MASK, PAGE_SHIFT, page_align

#: include/linux/mman.h LEGACY_MAP_MASK: flags MAP_SHARED_VALIDATE accepts without a check.
LEGACY_MAP_MASK = (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | 0x0800 | 0x1000
                   | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | 0x10000 | MAP_STACK | MAP_HUGETLB
                   | 0x40 | 0x80 | 0x0100)


def calc_vm_prot_bits(prot: int) -> int:
    """include/linux/mman.h: PROT_READ/WRITE/EXEC are VM_READ/WRITE/EXEC."""
    return prot & (PROT_READ | PROT_WRITE | PROT_EXEC)


def calc_vm_flag_bits(flags: int, thp: bool = True) -> int:
    """include/linux/mman.h: MAP_GROWSDOWN, MAP_LOCKED, MAP_SYNC; MAP_STACK → VM_NOHUGEPAGE (6.8+,
    only #ifdef CONFIG_TRANSPARENT_HUGEPAGE: measured on a THP-less i386 6.12 kernel under QEMU,
    where a MAP_STACK mapping merges with its plain anonymous neighbours)."""
    vm = 0
    if flags & MAP_GROWSDOWN:
        vm |= VM_GROWSDOWN
    if flags & MAP_LOCKED:
        vm |= VM_LOCKED
    if flags & MAP_SYNC:
        vm |= VM_SYNC  # even for private and anonymous mappings, which then never merge
    if flags & MAP_STACK and thp:
        vm |= VM_NOHUGEPAGE
    return vm


_POPULATING = MAP_POPULATE | MAP_LOCKED


def round_hint_to_min(mm, hint: int) -> int:
    """mm/mmap.c: hints are rounded down to a page, and a non-zero hint below mmap_min_addr
    is raised to it."""
    hint &= PAGE_MASK
    if hint and hint < mm.mmap_min_addr:
        return page_align(mm.mmap_min_addr)
    return hint


def file_mmap_ok(mm, pgoff: int, length: int) -> bool:
    """mm/mmap.c ``file_mmap_ok``: the mapping must end below the largest file offset,
    MAX_LFS_FILESIZE (LLONG_MAX on 64-bit kernels, ULONG_MAX pages on 32-bit ones)."""
    if mm.profile.kernel_bits == 64:
        maxsize = (1 << 63) - 1
    else:
        maxsize = ((1 << 32) - 1) << PAGE_SHIFT
    if length > maxsize:
        return False
    return pgoff <= (maxsize - length) >> PAGE_SHIFT


def accountable_mapping(file: FileRef | None, vm_flags: int) -> bool:
    """mm/vma.c: private writable mappings are charged (VM_ACCOUNT) unless MAP_NORESERVE."""
    return vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE) == VM_WRITE


def map_droppable_flags(mm, flags: int, vm_flags: int) -> int | Errno:
    """mm/mmap.c ``do_mmap``, case MAP_DROPPABLE (6.11+): anonymous memory the kernel may
    drop under pressure. EOPNOTSUPP where VM_DROPPABLE is VM_NONE (32-bit kernels), EINVAL
    with MAP_LOCKED, MAP_HUGETLB or MAP_GROWSDOWN; then VM_DROPPABLE | VM_NORESERVE |
    VM_WIPEONFORK | VM_DONTDUMP. It is never locked: mlockall(MCL_FUTURE)'s VM_LOCKED does
    not reach it (measured on 6.18: smaps VmFlags "rd wr mr mw me nr wf dd dp", no "lo")."""
    if mm.profile.kernel_bits != 64:
        return Errno.EOPNOTSUPP
    if flags & (MAP_LOCKED | MAP_HUGETLB) or vm_flags & VM_GROWSDOWN:
        return Errno.EINVAL
    return ((vm_flags & ~VM_LOCKED_MASK) | VM_DROPPABLE | VM_NORESERVE | VM_WIPEONFORK
            | VM_DONTDUMP)


def sys_mmap(mm, addr: int, length: int, prot: int, flags: int, file: FileRef | None,
             offset: int) -> int | Errno:
    """The mmap/mmap2 entry (arch/x86/kernel/sys_x86_64.c ``sys_mmap``, mm/mmap.c
    ``ksys_mmap_pgoff``): offset alignment and the file descriptor, then :func:`do_mmap`."""
    if offset & ~PAGE_MASK:
        return Errno.EINVAL
    if not flags & MAP_ANONYMOUS:
        if file is None:
            return Errno.EBADF
        if flags & MAP_HUGETLB:
            return Errno.EINVAL
    elif flags & MAP_HUGETLB:
        # No huge pages are reserved on the reference machine (vm.nr_hugepages = 0).
        return Errno.ENOMEM
    else:
        file = None
    return do_mmap(mm, file, addr, length, prot, flags, offset >> PAGE_SHIFT)


def do_mmap(mm, file: FileRef | None, addr: int, length: int, prot: int, flags: int,
            pgoff: int, *, vm_flags: int = 0, special: str | None = None) -> int | Errno:
    """mm/mmap.c ``do_mmap``: validate, choose the address, then :func:`mmap_region`."""
    if not length:
        return Errno.EINVAL
    if prot & PROT_READ and mm.read_implies_exec:
        prot |= PROT_EXEC
    if flags & MAP_FIXED_NOREPLACE:
        flags |= MAP_FIXED
    hint = addr
    if addr and not flags & MAP_FIXED:  # (a zero hint stays zero)
        addr = round_hint_to_min(mm, addr)
    length = page_align(length)
    word_limit = 1 << mm.profile.kernel_bits
    if not length or length >= word_limit:
        return Errno.ENOMEM
    if pgoff + (length >> PAGE_SHIFT) >= word_limit:
        return Errno.EOVERFLOW
    if mm.map_count > mm.max_map_count:
        mm._map_count_exceeded("mmap")
        return Errno.ENOMEM
    vm_flags |= (calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags, mm.kconfig.thp)
                 | mm.def_flags
                 | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)

    addr = get_unmapped_area(mm, file, addr, length, pgoff, flags, vm_flags)
    if isinstance(addr, Errno):
        if addr is Errno.ENOMEM:
            mm._event(ev.NoMemory, syscall="mmap", length=length,
                      largest_gap=mm.largest_free_gap())
        return addr
    if (flags & MAP_FIXED and addr < mm.kconfig.mmap_min_addr
            and not capable(mm.cred, CAP_SYS_RAWIO)):
        return Errno.EPERM  # security_mmap_addr → cap_mmap_addr

    if flags & MAP_FIXED_NOREPLACE and mm.vmas_in(addr, addr + length):
        return Errno.EEXIST
    if flags & MAP_LOCKED and not can_do_mlock(mm):
        return Errno.EPERM
    if vm_flags & VM_LOCKED and not mlock_future_ok(mm, vm_flags, length):
        return Errno.EAGAIN

    map_type = flags & MAP_TYPE
    if file is not None:
        if not file_mmap_ok(mm, pgoff, length):
            return Errno.EOVERFLOW
        if map_type == MAP_SHARED_VALIDATE and flags & ~LEGACY_MAP_MASK:
            return Errno.EOPNOTSUPP
        if map_type in (MAP_SHARED, MAP_SHARED_VALIDATE):
            if prot & PROT_WRITE and not file.writable:
                return Errno.EACCES
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.writable:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        elif map_type != MAP_PRIVATE:
            return Errno.EINVAL
        if not file.readable:
            return Errno.EACCES
        if vm_flags & VM_GROWSDOWN:
            return Errno.EINVAL
    else:
        # Anonymous memory knows MAP_SHARED and MAP_PRIVATE only; MAP_SHARED_VALIDATE is EINVAL.
        if map_type == MAP_SHARED:
            if vm_flags & VM_GROWSDOWN:
                return Errno.EINVAL
            pgoff = 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
        elif map_type == MAP_PRIVATE or (map_type == MAP_DROPPABLE
                                         and kernel_rules(mm.kconfig.version).map_droppable):
            if map_type == MAP_DROPPABLE:
                vm_flags = map_droppable_flags(mm, flags, vm_flags)
                if isinstance(vm_flags, Errno):
                    return vm_flags
            pgoff = addr >> PAGE_SHIFT
        else:
            return Errno.EINVAL
    if flags & MAP_NORESERVE and mm.kconfig.overcommit_memory != 2:
        vm_flags |= VM_NORESERVE

    result = mmap_region(mm, file, addr, length, vm_flags, pgoff, special=special,
                         fixed=bool(flags & MAP_FIXED))
    if isinstance(result, Errno):
        return result
    if not flags & MAP_FIXED and hint and result != round_hint_to_min(mm, hint):
        mm._event(ev.HintIgnored, hint=hint, length=length, result=result,
                  reason=hint_refusal(mm, round_hint_to_min(mm, hint), length))
    if flags & _POPULATING:
        # mm_populate: private writable pages are faulted in for write (FOLL_WRITE), the
        # rest for read, which may take the THP path (.pgtable).
        mm_populate(mm, result, result + length)
    note_growth_room(mm, result, result + length)
    return result


def mmap_region(mm, file: FileRef | None, addr: int, length: int, vm_flags: int, pgoff: int,
                *, special: str | None = None, fixed: bool = True) -> int | Errno:
    """mm/vma.c ``__mmap_region``: unmap what MAP_FIXED covers, merge with a neighbour or
    insert a new VMA. (Without MAP_FIXED the range is free by construction.)"""
    end = addr + length
    destroyed = [mm.region(v) for v in mm.vmas_in(addr, end)] if fixed else ()
    added = length
    if destroyed:
        gathered = gather_munmap_vmas(mm, addr, end)
        if isinstance(gathered, Errno):
            return gathered
        added -= sum(v.end - v.start for v in gathered)
    # may_expand_vm counts only what the mapping adds; a refused MAP_FIXED keeps the old
    # mappings, but the splits the gather made stay (vms_abort_munmap_vmas).
    if not mm.may_expand_vm(added, vm_flags):
        return Errno.ENOMEM
    # The overcommit check charges what the mapping adds to the commitment: a private
    # writable mapping, less the accounted memory it replaces; shared anonymous memory
    # (shmem_zero_setup -> shmem_acct_size) all of it, unless MAP_NORESERVE.
    if accountable_mapping(file, vm_flags):
        charged = length - sum(v.end - v.start for v in gathered if v.flags & VM_ACCOUNT) \
            if destroyed else length
        if charged and not mm.vm_enough_memory(charged):
            return Errno.ENOMEM
    elif (vm_flags & (VM_SHARED | VM_NORESERVE) == VM_SHARED
          and (file is None or file.zero_device) and not mm.vm_enough_memory(length)):
        return Errno.ENOMEM
    if destroyed:
        for vma in gathered:
            mm._remove(vma)
        mm.zap_guard_markers(addr, end)
        unmap_region(mm, gathered, addr, end)  # vms_clean_up_area: zap, free_pgtables
        mm._event(ev.FixedReplaced, addr=addr, length=length, destroyed=tuple(destroyed))
    if accountable_mapping(file, vm_flags):
        vm_flags |= VM_ACCOUNT
    if vm_flags & VM_SHARED and (file is None or file.zero_device):
        # shmem_zero_setup: shared anonymous memory is a fresh shmem file each time.
        mm.shmem_objects += 1
        file = FileRef("/dev/zero (deleted)", dev="00:01", inode=mm.shmem_objects, shmem=True)
    new = make_vma((addr, end, vm_flags, pgoff, file, special, None, None, None))
    if special is not None:
        mm._insert(new)
    else:
        vma_merge_new_range(mm, new)
    return addr


def hint_refusal(mm, hint: int, length: int) -> str:
    """Why a hint was not honoured, in words, for the event log."""
    if hint + length > mm.task_size:
        return "the range would end above TASK_SIZE"
    overlap = mm.vmas_in(hint, hint + length)
    if overlap:
        return f"it overlaps {mm.vma_name(overlap[0]) or 'a mapping'} at {overlap[0].start:#x}"
    nxt = mm.find_vma(hint)
    if nxt is not None and hint + length > mm.vm_start_gap(nxt):
        return f"it ends inside the stack guard gap below {nxt.start:#x}"
    return "the architecture's placement rules refused it"


def note_growth_room(mm, start: int, end: int) -> None:
    """Log a mapping that ends in the room a growsdown VMA above it could grow into."""
    nxt = mm._vmas.find(end)
    if nxt is None or not nxt.flags & VM_GROWSDOWN or nxt.start < end:
        return
    in_gap = end > nxt.start - mm.stack_guard_gap
    room = min(mm.rlimit_stack, 1 << mm.profile.kernel_bits)
    if in_gap or end > nxt.end - room:
        mm._event(ev.PlacedInGrowthRoom, addr=start, length=end - start, stack=mm.region(nxt),
                  inside_guard_gap=in_gap)


__all__ = ["sys_mmap", "do_mmap", "mmap_region"]
