"""The address space: the VMA tree and the primitives every system call is built from.

Mirrors ``struct mm_struct`` with its maple tree of VMAs (mm/vma.c, include/linux/mm_types.h),
and gVisor's ``MemoryManager`` (pkg/sentry/mm). The system calls themselves live in their own
modules (:mod:`.mmap`, :mod:`.munmap`, :mod:`.mprotect`, :mod:`.mremap`, :mod:`.brk`,
:mod:`.stack`, :mod:`.madvise`, :mod:`.mlock`, :mod:`.mseal`, :mod:`.shm`, :mod:`.pkeys`,
:mod:`.remap_file_pages`); :class:`AddressSpace` exposes them as methods.

Invariants (:meth:`AddressSpace._check`): VMAs sorted, disjoint, page-aligned, non-empty; no
two neighbours that the kernel would have merged; all inside ``[0, TASK_SIZE)``; map_count
equal to the number of VMAs; the gap index equal to the complement of the VMAs.
"""

from __future__ import annotations

import random

from simulator.kernel import events as ev
from simulator.kernel.arch import Profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.cred import (
    CAP_FULL, CAP_IPC_LOCK, CAP_SYS_RAWIO, CAP_SYS_RESOURCE, Credentials, capable,
)
from simulator.kernel.resource import RLIMIT_DATA, RLIMIT_STACK, Rlimits
from simulator.kernel.gaps import GapIndex
from simulator.kernel.procfs import format_maps_line
from simulator.kernel.uapi import Errno
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vmalist import VmaList
from simulator.kernel.vma import (
    VM_GROWSDOWN, VM_SHADOW_STACK, VM_SHARED, VM_SPECIAL, VM_STICKY, VM_WRITE, Vma, make_vma,
)
from simulator.units import PAGE_SHIFT, PAGE_SIZE, RLIM_INFINITY, page_align


def initial_credentials(proc: ProcessConfig, kconfig: KernelConfig) -> Credentials:
    """The credentials of a process described by ``proc`` (uid, CAP_IPC_LOCK,
    CAP_SYS_RESOURCE) and ``kconfig`` (CAP_SYS_RAWIO): every other capability is held, as
    root's are."""
    caps = CAP_FULL
    for held, cap in ((proc.cap_ipc_lock, CAP_IPC_LOCK), (kconfig.cap_sys_rawio, CAP_SYS_RAWIO),
                      (proc.cap_sys_resource, CAP_SYS_RESOURCE)):
        if not held:
            caps &= ~(1 << cap)
    uid = proc.uid
    return Credentials(uid, uid, uid, uid, uid, uid, uid, uid, cap_effective=caps,
                       cap_permitted=caps, cap_bset=caps)


class AddressSpace:
    """One process's virtual address space (``struct mm_struct``): the one mutable owner of state.

    Build one with :func:`simulator.kernel.exec.exec_layout` (the layout at exec) or
    :func:`simulator.kernel.exec.empty_address_space`, then call the system-call methods.
    Each returns what the kernel returns: an address, 0, or an :class:`Errno`.
    """

    def __init__(self, profile: Profile, kconfig: KernelConfig = KernelConfig(),
                 proc: ProcessConfig = ProcessConfig()):
        self.profile = profile
        self.kconfig = kconfig
        self.personality = proc.personality
        self.limits = profile.task_limits(proc.personality)
        self.task_size = self.limits.task_size
        #: The calling task's credentials and resource limits, as the kernel reads them
        #: through ``current`` (``current_cred()``, ``current->signal->rlim``). A task owns
        #: them (:class:`~simulator.kernel.task.Task`); whoever calls into this address space
        #: on a task's behalf installs that task's (replay before each call). Used without
        #: tasks (scenarios, the libc model), they are the one process's, from ``proc``.
        self.cred: Credentials = initial_credentials(proc, kconfig)
        self.rlim: Rlimits = Rlimits.of(stack=proc.rlimit_stack, address_space=proc.rlimit_as,
                                        memlock=proc.rlimit_memlock)
        #: ``mm->def_flags``: VM_LOCKED/VM_LOCKONFAULT after mlockall(MCL_FUTURE), added to
        #: every later mmap and brk.
        self.def_flags = 0
        #: ``mm->context.pkey_allocation_map`` (x86): pkey 0 is allocated at exec when the
        #: CPU has protection keys; nothing at all is otherwise.
        self.pkey_allocation_map = 0x1 if kconfig.pkeys else 0
        #: The SysV IPC namespace's shm segments (``ipc_namespace.ids[IPC_SHM_IDS]``).
        self.shm_ns = _ShmNamespace()
        #: Pages holding a guard marker (MADV_GUARD_INSTALL's PTE_MARKER_GUARD): page-table
        #: state, not VMA state. Unmapping clears them, mremap moves them with the pages,
        #: DONTNEED and mprotect leave them; populating one is EFAULT. Immutable, replaced on
        #: change, so a copied address space never shares changes with its original.
        self.guard_pages: frozenset[int] = frozenset()
        #: Page-table presence per PMD index (:mod:`.pgtable`): PT_TABLE, PT_HUGE or
        #: PT_HUGE_ZERO; absent is ``pmd_none``. It decides whether a read fault takes the THP
        #: path, which gives the VMA an anon_vma.
        self.pmds: dict[int, int] = {}
        #: PF_RANDOMIZE (fs/binfmt_elf.c load_elf_binary).
        self.randomize = (not proc.personality & Personality.ADDR_NO_RANDOMIZE
                          and kconfig.randomize_va_space != 0)
        self.rng = random.Random(proc.seed)
        self.read_implies_exec = bool(proc.personality & Personality.READ_IMPLIES_EXEC)
        self.mmap_min_addr = kconfig.effective_mmap_min_addr(profile.lsm_mmap_min_addr)
        self.stack_guard_gap = kconfig.stack_guard_gap
        self.max_map_count = kconfig.max_map_count
        # Filled in by arch_pick_mmap_layout and the ELF loader.
        self.topdown = True
        self.mmap_base = 0
        self.mmap_legacy_base = 0
        #: ``mm->start_brk`` and ``mm->brk``: where the heap starts and the current break.
        self.start_brk = 0
        self.current_brk = 0
        self.start_stack = 0
        #: Where exec put the executable (its load bias) and the interpreter (AT_BASE).
        self.load_bias = 0
        self.interp_base = 0
        #: The lowest address of the executable's mappings (0 when not known).
        self.exe_start = 0
        #: shmem objects created so far (MAP_SHARED|MAP_ANONYMOUS): their inode numbers.
        self.shmem_objects = 0
        #: The gate area /proc prints last ([vsyscall]); None where there is none.
        self.gate = profile.gate
        self.events: list[ev.Event] = []
        #: Number of system calls made so far; events carry the index of their call.
        self.calls = 0
        self._vmas = VmaList()
        self._gaps = GapIndex(1 << profile.kernel_bits)
        #: ``mm->total_vm`` in bytes, for RLIMIT_AS (``may_expand_vm``).
        self._total = 0
        #: Boundaries between VMAs the kernel split and could not merge back: a second split
        #: refused at vm.max_map_count leaves the first one standing (mm/vma.c vma_modify).
        self.unmerged_splits: set[int] = set()
        #: anon_vmas of VMAs copied at fork (kernel/fork.c ``anon_vma_fork``): their
        #: anon_vma_chain also links the parent's anon_vma, so it is not singular, and a
        #: neighbour without an anon_vma may not take theirs (``vma_had_uncowed_parents``).
        self.forked_anon_vmas: set[int] = set()

    # -- the caller's limits and capabilities ---------------------------------------------------

    @property
    def rlimit_stack(self) -> int:
        """``rlimit(RLIMIT_STACK)`` of the calling task."""
        return self.rlim.stack

    @property
    def rlimit_as(self) -> int:
        """``rlimit(RLIMIT_AS)``."""
        return self.rlim.address_space

    @property
    def rlimit_memlock(self) -> int:
        """``rlimit(RLIMIT_MEMLOCK)``."""
        return self.rlim.memlock

    @property
    def cap_ipc_lock(self) -> bool:
        """``capable(CAP_IPC_LOCK)``."""
        return capable(self.cred, CAP_IPC_LOCK)

    # -- lookups -----------------------------------------------------------------------------

    @property
    def map_count(self) -> int:
        """``mm->map_count``: VMAs in the tree (the gate area is not one of them)."""
        return self._vmas._len

    def vmas(self) -> VmaList:
        """All VMAs in address order (iterable, with ``len`` and indexing)."""
        return self._vmas

    def find_vma(self, addr: int) -> Vma | None:
        """``find_vma``: the first VMA with ``end > addr``. O(log n)."""
        return self._vmas.find(addr)

    def vma_at(self, addr: int) -> Vma | None:
        """The VMA containing ``addr``, or None."""
        vma = self._vmas.find(addr)
        return vma if vma is not None and vma.start <= addr else None

    def find_vma_prev(self, addr: int) -> Vma | None:
        """The last VMA that ends at or below ``addr`` (``find_vma_prev``'s ``*pprev`` when
        ``addr`` is in a gap; the VMA before the one containing ``addr`` otherwise)."""
        vma = self._vmas.before(addr + 1)
        if vma is not None and vma.end > addr:
            return self._vmas.before(vma.start)
        return vma

    def prev_vma(self, vma: Vma) -> Vma | None:
        """The VMA before ``vma`` (or before the address ``vma.start``)."""
        return self._vmas.before(vma.start)

    def next_vma(self, vma: Vma) -> Vma | None:
        """The VMA after ``vma``."""
        return self._vmas.after(vma.start)

    def vmas_in(self, start: int, end: int) -> list[Vma]:
        """VMAs intersecting ``[start, end)``, in order (``find_vma_intersection`` and on)."""
        return self._vmas.between(start, end)

    def vm_start_gap(self, vma: Vma) -> int:
        """include/linux/mm.h ``vm_start_gap``: where the space a VMA claims begins.

        A growsdown VMA claims ``stack_guard_gap`` below itself, a shadow stack one page.
        """
        gap = 0
        if vma.flags & VM_GROWSDOWN:
            gap = self.stack_guard_gap
        elif vma.flags & VM_SHADOW_STACK:
            gap = PAGE_SIZE
        return max(vma.start - gap, 0)

    def vm_end_gap(self, vma: Vma) -> int:
        """``vm_end_gap``: VMAs only grow up on VM_GROWSUP architectures, none modelled here."""
        return vma.end

    def gaps(self):
        """Free ranges of the whole address space (including above TASK_SIZE)."""
        return iter(self._gaps)

    def largest_free_gap(self, low: int | None = None, high: int | None = None) -> int:
        """The largest free range inside ``[low, high)`` (default ``[mmap_min_addr, TASK_SIZE)``)."""
        low = self.mmap_min_addr if low is None else low
        high = self.task_size if high is None else high
        best = 0
        for s, e in self._gaps:
            s, e = max(s, low), min(e, high)
            if e - s > best:
                best = e - s
        return best

    # -- mutation primitives (callers keep the invariants) ------------------------------------

    def _insert(self, vma: Vma) -> None:
        """Put a VMA into free space."""
        self._vmas.add(vma)
        self._gaps.occupy(vma.start, vma.end)
        self._total += vma.end - vma.start

    def _remove(self, vma: Vma) -> None:
        """Take a VMA out, leaving its range free."""
        self._vmas.discard(vma.start)
        self._gaps.release(vma.start, vma.end)
        self._total -= vma.end - vma.start

    def _replace(self, old: Vma, new: Vma) -> None:
        """Swap a VMA for one covering the same range (new flags, name, anon_vma...)."""
        assert old.start == new.start and old.end == new.end
        self._vmas.set(new)

    def _resize(self, old: Vma, new: Vma) -> None:
        """Replace ``old`` by ``new`` where ``new`` only differs in its bounds; the ranges
        ``new`` covers beyond ``old`` must be free."""
        self._vmas.move(old.start, new)
        self._total += (new.end - new.start) - (old.end - old.start)
        if new.start < old.start:
            self._gaps.occupy(new.start, old.start)
        elif new.start > old.start:
            self._gaps.release(old.start, min(new.start, old.end))
        if new.end > old.end:
            self._gaps.occupy(old.end, new.end)
        elif new.end < old.end:
            self._gaps.release(max(new.end, old.start), old.end)

    def _rewrite(self, old: list[Vma], new: list[Vma]) -> None:
        """Replace VMAs by others covering exactly the same addresses (merges, re-splits)."""
        starts = {vma.start for vma in new}
        for vma in old:
            if vma.start not in starts:
                self._vmas.discard(vma.start)
        for vma in new:
            if self._vmas.get(vma.start) is not None:
                self._vmas.set(vma)
            else:
                self._vmas.add(vma)

    def _split(self, vma: Vma, addr: int) -> tuple[Vma, Vma]:
        """``__split_vma``: cut at ``addr`` into two VMAs sharing file, anon_vma and flags."""
        assert vma.start < addr < vma.end and addr % PAGE_SIZE == 0
        if self.pmds:
            _split_huge_pmd_at(self, addr)  # vma_adjust_trans_huge
        start, end, flags, pgoff, *rest = vma
        low = make_vma((start, addr, flags, pgoff, *rest))
        high = make_vma((addr, end, flags, pgoff + ((addr - start) >> PAGE_SHIFT), *rest))
        self._vmas.split(low, high)
        return low, high

    # -- merge rules ------------------------------------------------------------------------

    def is_mergeable(self, low: Vma, high: Vma) -> bool:
        """Would the kernel merge ``low`` directly followed by ``high``?

        mm/vma.c ``is_mergeable_vma`` (flags equal ignoring VM_STICKY, same file, same anon
        name), ``is_mergeable_anon_vma`` (either has none, or the same one; but a VMA whose
        anon_vma came from fork, ``vma_had_uncowed_parents``, does not lend it to a neighbour
        without one), pgoff contiguity (``can_vma_merge_after``), and never VM_SPECIAL
        mappings. Separate shared anonymous mappings never merge because each has a shmem
        file of its own.
        """
        if not (low.end == high.start
                and not (low.flags | high.flags) & VM_SPECIAL
                and (low.flags ^ high.flags) & ~VM_STICKY == 0
                and low.file is high.file
                and low.special is None and high.special is None
                and low.anon_name == high.anon_name
                and (low.nomerge is None or high.nomerge is None
                     or low.nomerge == high.nomerge)
                and low.pgoff + low.pages == high.pgoff):
            return False
        a, b = low.anon_vma, high.anon_vma
        if a is None:
            return b is None or b not in self.forked_anon_vmas
        if b is None:
            return a not in self.forked_anon_vmas
        return a == b

    # -- accounting helpers -------------------------------------------------------------------

    def _event(self, event_type, **kwargs) -> None:
        self.events.append(event_type(call=self.calls, **kwargs))

    def _map_count_exceeded(self, syscall: str) -> None:
        """Log that ``syscall`` was refused at vm.max_map_count."""
        self._event(ev.MapCountExceeded, syscall=syscall, map_count=self.map_count,
                    max_map_count=self.max_map_count)

    def region(self, vma: Vma) -> ev.Region:
        return ev.Region(vma.start, vma.end, vma.perms(), self.vma_name(vma))

    def total_vm(self) -> int:
        """``mm->total_vm``, in bytes."""
        return self._total

    def may_expand_vm(self, nbytes: int, vm_flags: int = 0) -> bool:
        """mm/mmap.c ``may_expand_vm``: RLIMIT_AS bounds the total mapped size, and
        RLIMIT_DATA the private writable non-stack memory (``mm->data_vm``) when the new
        memory is such (``vm_flags``; 0 checks RLIMIT_AS only). O(1) with RLIMIT_DATA
        unlimited, O(n) otherwise."""
        if self._total + nbytes > (self.rlimit_as & ~(PAGE_SIZE - 1)):
            return False
        if vm_flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN) != VM_WRITE:
            return True  # not is_data_mapping
        limit = self.rlim.get(RLIMIT_DATA)
        if limit is None or limit[0] >= RLIM_INFINITY:
            return True
        pages = (self.data_vm() + nbytes) >> PAGE_SHIFT
        if pages <= limit[0] >> PAGE_SHIFT:
            return True
        # "Workaround for Valgrind": a zero soft limit lets the hard one decide; without
        # the ignore_rlimit_data boot option the mapping is refused.
        return limit[0] == 0 and pages <= limit[1] >> PAGE_SHIFT

    def vm_enough_memory(self, nbytes: int) -> bool:
        """mm/util.c ``__vm_enough_memory`` (``security_vm_enough_memory_mm``): may ``nbytes``
        more be committed? vm.overcommit_memory 0 (OVERCOMMIT_GUESS) refuses one request
        larger than RAM + swap (``KernelConfig.totalram_pages + total_swap_pages``), whatever
        is already committed; 1 never refuses; 2's limit counts every process's commitment
        (Committed_AS) and is not modelled. Callers charge VM_ACCOUNT memory: mmap of private
        writable or shared anonymous memory, brk, mprotect to writable, mremap growth. O(1)."""
        if self.kconfig.overcommit_memory != 0:
            return True
        pages = nbytes >> PAGE_SHIFT
        return pages <= self.kconfig.totalram_pages + self.kconfig.total_swap_pages

    def data_vm(self) -> int:
        """``mm->data_vm`` in bytes: VMAs that are private, writable and not a stack
        (``is_data_mapping``). O(n)."""
        return sum(v.end - v.start for v in self._vmas
                   if v.flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN) == VM_WRITE)

    # -- /proc/PID/maps ----------------------------------------------------------------------

    def vma_name(self, vma: Vma) -> str:
        """fs/proc/task_mmu.c ``get_vma_name``: file path, special name, [heap], [stack], anon name."""
        if vma.file is not None:
            # Shared anonymous memory is "/dev/zero (deleted)", a SysV attach
            # "/SYSV%08x (deleted)", a memfd "/memfd:NAME (deleted)": each file's own path.
            return vma.file.path
        if vma.special is not None:
            return vma.special
        if vma.start < self.current_brk and vma.end > self.start_brk:
            return "[heap]"
        if vma.start <= self.start_stack <= vma.end:
            return "[stack]"
        if vma.anon_name is not None:
            return f"[anon:{vma.anon_name}]"
        return ""

    def maps_lines(self) -> list[str]:
        """/proc/PID/maps, one string per line, the gate area last (``show_map_vma``)."""
        bits = self.profile.kernel_bits
        lines = []
        for vma in self._vmas:
            f = vma.file
            lines.append(format_maps_line(
                vma.start, vma.end, vma.perms(), vma.file_offset(),
                f.dev if f is not None else "00:00", f.inode if f is not None else 0,
                self.vma_name(vma), kernel_bits=bits))
        gate = self.gate
        if gate is not None:
            lines.append(format_maps_line(gate.start, gate.end, gate.perms, 0, "00:00", 0,
                                          gate.name, kernel_bits=bits))
        return lines

    def maps_text(self) -> str:
        return "".join(line + "\n" for line in self.maps_lines())

    def to_json(self) -> dict:
        """The state as plain data: the mm's bases and every VMA with its kernel flags."""
        return {
            "arch": self.profile.name,
            "task_size": self.task_size,
            "topdown": self.topdown,
            "mmap_base": self.mmap_base,
            "mmap_legacy_base": self.mmap_legacy_base,
            "start_brk": self.start_brk,
            "brk": self.current_brk,
            "start_stack": self.start_stack,
            "map_count": self.map_count,
            "vmas": [{"start": v.start, "end": v.end, "perms": v.perms(),
                      "offset": v.file_offset(), "name": self.vma_name(v),
                      "vm_flags": v.flags} for v in self._vmas],
            "maps": self.maps_text(),
        }

    # -- system calls (implemented in their own modules) ---------------------------------------

    def mmap(self, addr: int, length: int, prot: int, flags: int, file=None, offset: int = 0):
        """mmap(2): an address or an Errno. See :func:`simulator.kernel.mmap.do_mmap`."""
        result = _sys_mmap(self, addr, length, prot, flags, file, offset)
        self.calls += 1
        return result

    def munmap(self, addr: int, length: int):
        """munmap(2): 0 or an Errno."""
        result = _sys_munmap(self, addr, length)
        self.calls += 1
        return result

    def mprotect(self, addr: int, length: int, prot: int):
        """mprotect(2): 0 or an Errno."""
        result = _sys_mprotect(self, addr, length, prot)
        self.calls += 1
        return result

    def mremap(self, old_addr: int, old_len: int, new_len: int, flags: int = 0, new_addr: int = 0):
        """mremap(2): the new address or an Errno."""
        result = _sys_mremap(self, old_addr, old_len, new_len, flags, new_addr)
        self.calls += 1
        return result

    def brk(self, addr: int):
        """brk(2): returns the new break, or the old one when the kernel refuses."""
        result = _sys_brk(self, addr)
        self.calls += 1
        return result

    def madvise(self, addr: int, length: int, advice: int):
        """madvise(2): 0 or an Errno. See :func:`simulator.kernel.madvise.do_madvise`."""
        result = _do_madvise(self, addr, length, advice)
        self.calls += 1
        return result

    def mlock(self, addr: int, length: int, flags: int | None = None):
        """mlock(2), or mlock2(2) when ``flags`` is given (MLOCK_ONFAULT): 0 or an Errno."""
        if flags is None:
            result = _mlock.sys_mlock(self, addr, length)
        else:
            result = _mlock.sys_mlock2(self, addr, length, flags)
        self.calls += 1
        return result

    def munlock(self, addr: int, length: int):
        """munlock(2): 0 or an Errno."""
        result = _mlock.sys_munlock(self, addr, length)
        self.calls += 1
        return result

    def mlockall(self, flags: int):
        """mlockall(2) (MCL_CURRENT/FUTURE/ONFAULT): 0 or an Errno."""
        result = _mlock.sys_mlockall(self, flags)
        self.calls += 1
        return result

    def munlockall(self):
        """munlockall(2): 0."""
        result = _mlock.sys_munlockall(self)
        self.calls += 1
        return result

    def mseal(self, addr: int, length: int, flags: int = 0):
        """mseal(2): 0 or an Errno. See :mod:`simulator.kernel.mseal`."""
        result = _do_mseal(self, addr, length, flags)
        self.calls += 1
        return result

    def shmget(self, key: int, size: int, shmflg: int):
        """shmget(2): a segment id or an Errno. See :mod:`simulator.kernel.shm`."""
        result = _shm.ksys_shmget(self, key, size, shmflg)
        self.calls += 1
        return result

    def shmat(self, shmid: int, addr: int, shmflg: int = 0):
        """shmat(2): the attach address or an Errno."""
        result = _shm.do_shmat(self, shmid, addr, shmflg)
        self.calls += 1
        return result

    def shmdt(self, addr: int):
        """shmdt(2): 0 or an Errno."""
        result = _shm.sys_shmdt(self, addr)
        self.calls += 1
        return result

    def shmctl_rmid(self, shmid: int):
        """shmctl(IPC_RMID): 0 or an Errno."""
        result = _shm.shmctl_rmid(self, shmid)
        self.calls += 1
        return result

    def shmctl_set(self, shmid: int, uid: int, gid: int, mode: int):
        """shmctl(IPC_SET): 0 or an Errno."""
        result = _shm.shmctl_set(self, shmid, uid, gid, mode)
        self.calls += 1
        return result

    def pkey_mprotect(self, addr: int, length: int, prot: int, pkey: int):
        """pkey_mprotect(2): 0 or an Errno. See :mod:`simulator.kernel.pkeys`."""
        result = (_do_mprotect_pkey(self, addr, length, prot, pkey)
                  if self.profile.arch_has_pkeys else Errno.ENOSYS)  # no pkey syscalls
        self.calls += 1
        return result

    def pkey_alloc(self, flags: int = 0, access_rights: int = 0):
        """pkey_alloc(2): a key or an Errno."""
        result = (_pkeys.sys_pkey_alloc(self, flags, access_rights)
                  if self.profile.arch_has_pkeys else Errno.ENOSYS)
        self.calls += 1
        return result

    def pkey_free(self, pkey: int):
        """pkey_free(2): 0 or an Errno."""
        result = (_pkeys.sys_pkey_free(self, pkey)
                  if self.profile.arch_has_pkeys else Errno.ENOSYS)
        self.calls += 1
        return result

    def remap_file_pages(self, addr: int, size: int, prot: int, pgoff: int, flags: int = 0):
        """remap_file_pages(2): 0 or an Errno. See :mod:`simulator.kernel.remap_file_pages`."""
        result = _remap_file_pages.sys_remap_file_pages(self, addr, size, prot, pgoff, flags)
        self.calls += 1
        return result

    def touch(self, addr: int, write: bool = True):
        """Access one byte: a page fault that may grow a stack. Returns a :class:`Fault`."""
        result = _handle_fault(self, addr, write)
        self.calls += 1
        return result

    def setrlimit_stack(self, value: int) -> int:
        """setrlimit(RLIMIT_STACK) soft limit: later growth checks use it; the layout chosen
        at exec stays."""
        hard = (self.rlim.get(RLIMIT_STACK) or (0, RLIM_INFINITY))[1]
        self.rlim = self.rlim.set(RLIMIT_STACK, (value, max(value, hard)))
        self.calls += 1
        return 0

    # -- invariants ---------------------------------------------------------------------------

    def zap_guard_markers(self, start: int, end: int) -> None:
        """The page tables of ``[start, end)`` went (unmap, MADV_GUARD_REMOVE): no guard
        marker stays there. O(markers)."""
        if self.guard_pages:
            self.guard_pages = frozenset(p for p in self.guard_pages if not start <= p < end)

    def guard_markers_in(self, start: int, end: int) -> bool:
        """Is a page of ``[start, end)`` guarded? O(markers)."""
        return any(start <= p < end for p in self.guard_pages)

    def _check(self) -> None:
        """Assert every invariant of the address space (sortedcontainers' ``_check`` habit)."""
        self._vmas._check()
        for page in self.guard_pages:
            assert page % PAGE_SIZE == 0 and self.vma_at(page) is not None, \
                f"guard marker {page:#x} outside every VMA"
        prev = None
        for vma in self._vmas:
            assert vma.start < vma.end, f"empty VMA {vma}"
            assert vma.start % PAGE_SIZE == 0 and vma.end % PAGE_SIZE == 0, f"unaligned {vma}"
            assert vma.end <= self.task_size or vma.special is not None, f"above TASK_SIZE {vma}"
            if prev is not None:
                assert prev.end <= vma.start, f"overlap {prev} {vma}"
                # Two growsdown VMAs can meet by expand_downwards, which never merges; the
                # heap never merges with what ends at start_brk (vma_prev_limit in brk()).
                both_stacks = prev.flags & vma.flags & VM_GROWSDOWN
                heap_floor = vma.start == self.start_brk
                left_split = vma.start in self.unmerged_splits
                # Pieces of a SysV shm attach are only merged where no VMA is deleted.
                shm_piece = vma.file is not None and vma.file.shm_id is not None
                # 6.12: an anon_vma is not lent to a neighbour without one (merge.py
                # _lends_anon), so such a pair may stay apart.
                anon_apart = ((prev.anon_vma is None) != (vma.anon_vma is None)
                              and not kernel_rules(self.kconfig.version).anon_vma_into_anonless)
                # 6.1: the heap may start as two VMAs (versions.py heap_may_be_split).
                heap_piece = (self.start_brk < vma.start <= page_align(self.current_brk)
                              and kernel_rules(self.kconfig.version).heap_may_be_split)
                assert (both_stacks or heap_floor or left_split or shm_piece or anon_apart
                        or heap_piece
                        or not self.is_mergeable(prev, vma)), \
                    f"unmerged neighbours {prev} {vma}"
            prev = vma
        self._gaps._check()
        # The gap index is exactly the complement of the VMAs.
        expected, cursor = [], 0
        for vma in self._vmas:
            if vma.start > cursor:
                expected.append((cursor, vma.start))
            cursor = vma.end
        if cursor < self._gaps.limit:
            expected.append((cursor, self._gaps.limit))
        assert list(self._gaps) == expected, "gap index out of date"
        assert self._total == sum(v.end - v.start for v in self._vmas)
        assert self.start_brk <= self.current_brk


__all__ = ["AddressSpace", "Errno", "RLIM_INFINITY"]

# The system calls live in their own modules, which work on an AddressSpace but never import
# this one; bound here, after the class, they cost no import at each call.
from simulator.kernel.brk import sys_brk as _sys_brk  # noqa: E402
from simulator.kernel.mmap import sys_mmap as _sys_mmap  # noqa: E402
from simulator.kernel.mprotect import sys_mprotect as _sys_mprotect  # noqa: E402
from simulator.kernel.mremap import sys_mremap as _sys_mremap  # noqa: E402
from simulator.kernel.munmap import sys_munmap as _sys_munmap  # noqa: E402
from simulator.kernel.stack import handle_fault as _handle_fault  # noqa: E402
from simulator.kernel.pgtable import split_huge_pmd_at as _split_huge_pmd_at  # noqa: E402
from simulator.kernel import mlock as _mlock, pkeys as _pkeys, shm as _shm  # noqa: E402
from simulator.kernel.madvise import do_madvise as _do_madvise  # noqa: E402
from simulator.kernel.mprotect import do_mprotect_pkey as _do_mprotect_pkey  # noqa: E402
from simulator.kernel.mseal import do_mseal as _do_mseal  # noqa: E402
from simulator.kernel import remap_file_pages as _remap_file_pages  # noqa: E402
from simulator.kernel.shm import ShmNamespace as _ShmNamespace  # noqa: E402
