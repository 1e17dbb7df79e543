"""The VMA: one contiguous mapping, as ``struct vm_area_struct`` (include/linux/mm_types.h).

A :class:`Vma` is an immutable value. The address space (:mod:`simulator.kernel.mm`) is the one
owner that replaces VMAs when it splits, merges, grows or re-protects them.

Flag values are the kernel's own (include/linux/mm.h), so ``flags`` reads like ``vma->vm_flags``:
the low three bits equal PROT_READ/WRITE/EXEC, as ``calc_vm_prot_bits`` relies on.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import NamedTuple

import attrs

from simulator.units import PAGE_SHIFT, PAGE_SIZE

VM_NONE = 0x00000000
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_GROWSDOWN = 0x00000100
VM_UFFD_MISSING = 0x00000200
VM_PFNMAP = 0x00000400
#: VM_MAYBE_GUARD (smaps "gu"): MADV_GUARD_INSTALL was used somewhere in the VMA. Set on the
#: whole VMA without a split, never cleared, and "sticky": it does not stop a merge and the
#: merged VMA keeps it (include/linux/mm.h VM_STICKY; in this machine's 6.18.44 as a stable
#: backport). The kernel's bit is internal; the model uses the free bit 11.
VM_MAYBE_GUARD = 0x00000800
VM_LOCKED = 0x00002000
VM_IO = 0x00004000
VM_SEQ_READ = 0x00008000
VM_RAND_READ = 0x00010000
VM_DONTCOPY = 0x00020000
VM_DONTEXPAND = 0x00040000
VM_LOCKONFAULT = 0x00080000
VM_ACCOUNT = 0x00100000
VM_NORESERVE = 0x00200000
VM_HUGETLB = 0x00400000
VM_SYNC = 0x00800000
VM_WIPEONFORK = 0x02000000
VM_DONTDUMP = 0x04000000
VM_SOFTDIRTY = 0x08000000
VM_MIXEDMAP = 0x10000000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000
VM_SHADOW_STACK = 0x20_0000_0000  # VM_HIGH_ARCH_5 (bit 37) on x86_64
#: VM_DROPPABLE_BIT 40 (CONFIG_64BIT kernels only; VM_NONE on 32-bit ones).
VM_DROPPABLE = 1 << 40
#: x86 protection keys: VM_PKEY_BIT0..3 are VM_HIGH_ARCH_0..3 (bits 32-35).
VM_PKEY_SHIFT = 32
VM_PKEY_MASK = 0xF << VM_PKEY_SHIFT
#: VM_SEALED (include/linux/mm.h, bit 42, 64-bit kernels only): mseal(2).
VM_SEALED = 1 << 42
#: VM_DROPPABLE (include/linux/mm.h, bit 40, 64-bit kernels only; VM_NONE on 32-bit ones):
#: MAP_DROPPABLE memory, smaps "dp".
VM_DROPPABLE = 1 << 40
#: include/linux/mm.h VM_LOCKED_MASK: what mlock and munlock set and clear.
VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT

VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC
#: Flags that do not stop a merge, and that the merged VMA gets if any part had them.
VM_STICKY = VM_SOFTDIRTY | VM_MAYBE_GUARD
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
VM_STARTGAP_FLAGS = VM_GROWSDOWN | VM_SHADOW_STACK
#: include/linux/mm.h VM_DATA_DEFAULT_FLAGS (VM_DATA_FLAGS_TSK_EXEC without READ_IMPLIES_EXEC): brk and bss.
VM_DATA_DEFAULT_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
#: VM_STACK_DEFAULT_FLAGS for the exec-time stack (VM_STACK | VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT).
VM_STACK_FLAGS = VM_GROWSDOWN | VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT

#: The two-letter mnemonics of /proc/PID/smaps "VmFlags:" (fs/proc/task_mmu.c show_smap_vma_flags).
SMAPS_FLAG_NAMES = {
    "rd": VM_READ, "wr": VM_WRITE, "ex": VM_EXEC, "sh": VM_SHARED,
    "mr": VM_MAYREAD, "mw": VM_MAYWRITE, "me": VM_MAYEXEC, "ms": VM_MAYSHARE,
    "gd": VM_GROWSDOWN, "pf": VM_PFNMAP, "lo": VM_LOCKED, "io": VM_IO,
    "sr": VM_SEQ_READ, "rr": VM_RAND_READ, "dc": VM_DONTCOPY, "de": VM_DONTEXPAND,
    "ac": VM_ACCOUNT, "nr": VM_NORESERVE, "ht": VM_HUGETLB, "sf": VM_SYNC,
    "wf": VM_WIPEONFORK, "dd": VM_DONTDUMP, "sd": VM_SOFTDIRTY, "mm": VM_MIXEDMAP,
    "hg": VM_HUGEPAGE, "nh": VM_NOHUGEPAGE, "mg": VM_MERGEABLE, "ss": VM_SHADOW_STACK,
    "lf": VM_LOCKONFAULT, "sl": VM_SEALED, "gu": VM_MAYBE_GUARD,
    "dp": VM_DROPPABLE,
}


@attrs.frozen(eq=False)
class FileRef:
    """An open file (``struct file``): VMAs merge only when they share the very same open file.

    Equality is identity, as the kernel compares ``vma->vm_file`` pointers: two ``open()`` calls
    of one path give two FileRefs that never merge.

    ``thp_aligned`` says whether the file system's ``f_op->get_unmapped_area`` is
    ``thp_get_unmapped_area`` (ext4, xfs, erofs, fuse...), which places large file mappings on
    2 MiB boundaries in 64-bit processes (mm/huge_memory.c).
    """

    path: str
    dev: str = "00:00"
    inode: int = 0
    thp_aligned: bool = False
    #: shmem-backed (MAP_SHARED|MAP_ANONYMOUS): shows as "/dev/zero (deleted)" and never merges.
    shmem: bool = False
    #: The file's size in bytes, if known: touching a page past the end raises SIGBUS.
    size: int | None = None
    #: The open file's FMODE_READ and FMODE_WRITE: a shared writable mapping of a file opened
    #: read-only is refused (EACCES), a read-only one loses VM_MAYWRITE.
    readable: bool = True
    writable: bool = True
    #: /dev/zero (drivers/char/mem.c ``mmap_zero``): a shared mapping becomes a fresh shmem
    #: object, a private one anonymous memory that still names /dev/zero.
    zero_device: bool = False
    #: A SysV shm attach (ipc/shm.c ``shm_file_operations``): the segment's id, which shmdt
    #: looks for (``vma->vm_ops == &shm_vm_ops``). Each shmat opens a new file.
    shm_id: int | None = None


class Vma(NamedTuple):
    """One mapping ``[start, end)``: ``vm_start``, ``vm_end``, ``vm_flags``, ``vm_pgoff``, ``vm_file``.

    An immutable value (a NamedTuple rather than an attrs class: VMAs are made and replaced on
    every system call, and a tuple is built three times faster; bench/ measures it). Change
    one with ``vma._replace(end=...)``.

    ``special`` is a special mapping's name (``[vdso]``, ``[vvar]``: ``vm_special_mapping.name``);
    ``anon_name`` a name set by prctl(PR_SET_VMA_ANON_NAME). ``[heap]`` and ``[stack]`` are not
    stored: /proc derives them from the mm's brk and start_stack, as ``get_vma_name`` in
    fs/proc/task_mmu.c does.

    ``anon_vma`` identifies the VMA's ``struct anon_vma`` (None until the first write fault,
    mm/rmap.c ``__anon_vma_prepare``). It matters only for merging: two VMAs with different
    anon_vmas never merge (mm/vma.c ``is_mergeable_anon_vma``).

    ``nomerge`` is an opaque token for differences the model cannot see (a VMA read from
    /proc/PID/maps that the kernel kept apart from an identical-looking neighbour). Like an
    anon_vma it keeps apart only VMAs that both carry one, and different ones: the most likely
    unseen difference is two anon_vmas, and memory added later (brk growth, a new mapping next
    to it) merges with either side, as the kernel merges a VMA without an anon_vma.
    """

    start: int
    end: int
    flags: int
    pgoff: int = 0
    file: FileRef | None = None
    special: str | None = None
    anon_name: str | None = None
    anon_vma: int | None = None
    nomerge: int | None = None

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT

    @property
    def prot(self) -> int:
        return self.flags & VM_ACCESS_FLAGS

    @property
    def is_anonymous(self) -> bool:
        """vma_is_anonymous(): no file and no special vm_ops."""
        return self.file is None and self.special is None

    def pgoff_at(self, addr: int) -> int:
        """The page offset of ``addr`` inside this VMA: ``vm_pgoff`` plus the pages before it
        (``linear_page_index``); what a piece split or moved from ``addr`` starts with."""
        return self.pgoff + ((addr - self.start) >> PAGE_SHIFT)

    def perms(self) -> str:
        """The ``rwxp`` column of /proc/PID/maps (``s`` if VM_MAYSHARE)."""
        f = self.flags
        return ("r" if f & VM_READ else "-") + ("w" if f & VM_WRITE else "-") + \
            ("x" if f & VM_EXEC else "-") + ("s" if f & VM_MAYSHARE else "p")

    def file_offset(self) -> int:
        """The offset column: ``vm_pgoff << PAGE_SHIFT`` for file-backed VMAs, 0 for anonymous."""
        return self.pgoff << PAGE_SHIFT if self.file is not None else 0


#: ``make_vma((start, end, flags, pgoff, file, special, anon_name, anon_vma, nomerge))``: a
#: :class:`Vma` from all its fields in order, without the NamedTuple's Python-level ``__new__``
#: (its keyword and default handling costs half the construction). For the paths that build
#: VMAs on every call (split, merge, mmap_region); elsewhere ``Vma(...)`` reads better.
make_vma = partial(tuple.__new__, Vma)


def beyond_eof(vma: Vma, addr: int) -> bool:
    """The file page under ``addr`` lies at or past the end of the file, so faulting it in
    raises SIGBUS (mm/filemap.c ``filemap_fault``). Never for anonymous memory or shmem."""
    f = vma.file
    if f is None or f.size is None or f.shmem:
        return False
    return (vma.pgoff << PAGE_SHIFT) + (addr - vma.start) >= -(-f.size // PAGE_SIZE) * PAGE_SIZE


def is_accessible(vma: Vma) -> bool:
    """``vma_is_accessible``: any of read, write, exec."""
    return bool(vma.flags & VM_ACCESS_FLAGS)


_anon_vma_ids = itertools.count(1)


def new_anon_vma_id() -> int:
    """A fresh ``struct anon_vma`` identity."""
    return next(_anon_vma_ids)
