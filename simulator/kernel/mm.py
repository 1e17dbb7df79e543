"""The address space: the VMA tree and the primitives every system call is built from.

Mirrors ``struct mm_struct`` with its maple tree of VMAs (mm/vma.c, include/linux/mm_types.h),
and gVisor's ``MemoryManager`` (pkg/sentry/mm). The system calls themselves live in their own
modules (:mod:`.mmap`, :mod:`.munmap`, :mod:`.mprotect`, :mod:`.mremap`, :mod:`.brk`,
:mod:`.stack`); :class:`AddressSpace` exposes them as methods.

Invariants (:meth:`AddressSpace._check`): VMAs sorted, disjoint, page-aligned, non-empty; no
two neighbours that the kernel would have merged; all inside ``[0, TASK_SIZE)``; map_count
equal to the number of VMAs; the gap index equal to the complement of the VMAs.
"""

from __future__ import annotations

import random

import attrs
from sortedcontainers import SortedDict

from simulator.kernel import events as ev
from simulator.kernel.arch import Profile
from simulator.kernel.config import GuardMode, KernelConfig, Personality, ProcessConfig
from simulator.kernel.gaps import GapIndex
from simulator.kernel.procfs import format_maps_line
from simulator.kernel.uapi import Errno
from simulator.kernel.vma import (
    VM_ACCESS_FLAGS, VM_GROWSDOWN, VM_SHADOW_STACK, VM_SOFTDIRTY, VM_SPECIAL, Vma,
)
from simulator.units import PAGE_SHIFT, PAGE_SIZE, RLIM_INFINITY


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
        self.rlimit_stack = proc.rlimit_stack
        self.rlimit_as = proc.rlimit_as
        #: PF_RANDOMIZE (fs/binfmt_elf.c load_elf_binary).
        self.randomize = (not proc.personality & Personality.ADDR_NO_RANDOMIZE
                          and kconfig.randomize_va_space != 0)
        self.rng = random.Random(proc.seed)
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
        self._vmas: SortedDict = SortedDict()
        self._gaps = GapIndex(1 << profile.kernel_bits)
        #: ``mm->total_vm`` in bytes, for RLIMIT_AS (``may_expand_vm``).
        self._total = 0
        #: Boundaries between VMAs the kernel split and could not merge back: a second split
        #: refused at vm.max_map_count leaves the first one standing (mm/vma.c vma_modify).
        self.unmerged_splits: set[int] = set()

    # -- lookups -----------------------------------------------------------------------------

    @property
    def map_count(self) -> int:
        """``mm->map_count``: VMAs in the tree (the gate area is not one of them)."""
        return len(self._vmas)

    def vmas(self):
        """All VMAs in address order."""
        return self._vmas.values()

    def find_vma(self, addr: int) -> Vma | None:
        """``find_vma``: the first VMA with ``end > addr``. O(log n)."""
        vmas = self._vmas
        i = vmas.bisect_right(addr) - 1
        if i >= 0:
            vma = vmas.peekitem(i)[1]
            if vma.end > addr:
                return vma
        if i + 1 < len(vmas):
            return vmas.peekitem(i + 1)[1]
        return None

    def vma_at(self, addr: int) -> Vma | None:
        """The VMA containing ``addr``, or None."""
        vma = self.find_vma(addr)
        return vma if vma is not None and vma.start <= addr else None

    def find_vma_prev(self, addr: int) -> Vma | None:
        """The last VMA that ends at or below ``addr`` (``find_vma_prev``'s ``*pprev`` when
        ``addr`` is in a gap; the VMA before the one containing ``addr`` otherwise)."""
        vmas = self._vmas
        i = vmas.bisect_right(addr) - 1
        while i >= 0:
            vma = vmas.peekitem(i)[1]
            if vma.end <= addr:
                return vma
            i -= 1
        return None

    def prev_vma(self, vma: Vma) -> Vma | None:
        """The VMA before ``vma`` (or before the address ``vma.start``)."""
        i = self._vmas.bisect_left(vma.start) - 1
        return self._vmas.peekitem(i)[1] if i >= 0 else None

    def next_vma(self, vma: Vma) -> Vma | None:
        """The VMA after ``vma``."""
        i = self._vmas.bisect_right(vma.start)
        return self._vmas.peekitem(i)[1] if i < len(self._vmas) else None

    def vmas_in(self, start: int, end: int) -> list[Vma]:
        """VMAs intersecting ``[start, end)``, in order (``find_vma_intersection`` and on)."""
        vmas = self._vmas
        i = max(vmas.bisect_right(start) - 1, 0)
        out = []
        n = len(vmas)
        while i < n:
            vma = vmas.peekitem(i)[1]
            if vma.start >= end:
                break
            if vma.end > start:
                out.append(vma)
            i += 1
        return out

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
        self._vmas[vma.start] = vma
        self._gaps.occupy(vma.start, vma.end)
        self._total += vma.end - vma.start

    def _remove(self, vma: Vma) -> None:
        """Take a VMA out, leaving its range free."""
        del self._vmas[vma.start]
        self._gaps.release(vma.start, vma.end)
        self._total -= vma.end - vma.start

    def _replace(self, old: Vma, new: Vma) -> None:
        """Swap a VMA for one covering the same range (new flags, name, anon_vma...)."""
        assert old.start == new.start and old.end == new.end
        self._vmas[old.start] = new

    def _resize(self, old: Vma, new: Vma) -> None:
        """Replace ``old`` by ``new`` where ``new`` only differs in its bounds; the ranges
        ``new`` covers beyond ``old`` must be free."""
        del self._vmas[old.start]
        self._vmas[new.start] = new
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
        for vma in old:
            del self._vmas[vma.start]
        for vma in new:
            self._vmas[vma.start] = vma

    def _split(self, vma: Vma, addr: int) -> tuple[Vma, Vma]:
        """``__split_vma``: cut at ``addr`` into two VMAs sharing file, anon_vma and flags."""
        assert vma.start < addr < vma.end and addr % PAGE_SIZE == 0
        low = attrs.evolve(vma, end=addr)
        high = attrs.evolve(vma, start=addr, pgoff=vma.pgoff + ((addr - vma.start) >> PAGE_SHIFT))
        self._vmas[vma.start] = low
        self._vmas[addr] = high
        return low, high

    def _join(self, low: Vma, high: Vma, *, anon_vma: int | None = None) -> Vma:
        """Merge two adjacent VMAs into one (the caller checked they may merge)."""
        assert low.end == high.start
        merged = attrs.evolve(low, end=high.end,
                              anon_vma=low.anon_vma if low.anon_vma is not None else high.anon_vma)
        del self._vmas[high.start]
        self._vmas[low.start] = merged
        return merged

    # -- merge rules ------------------------------------------------------------------------

    @staticmethod
    def is_mergeable(low: Vma, high: Vma) -> bool:
        """Would the kernel merge ``low`` directly followed by ``high``?

        mm/vma.c ``is_mergeable_vma`` (flags equal ignoring VM_SOFTDIRTY, same file, same anon
        name), ``is_mergeable_anon_vma`` (either has none, or the same one), pgoff contiguity
        (``can_vma_merge_after``), and never VM_SPECIAL mappings. Separate shared anonymous
        mappings never merge because each has a shmem file of its own.
        """
        return (low.end == high.start
                and not (low.flags | high.flags) & VM_SPECIAL
                and (low.flags ^ high.flags) & ~VM_SOFTDIRTY == 0
                and low.file is high.file
                and low.special is None and high.special is None
                and low.anon_name == high.anon_name
                and low.nomerge == high.nomerge
                and low.pgoff + low.pages == high.pgoff
                and (low.anon_vma is None or high.anon_vma is None
                     or low.anon_vma == high.anon_vma))

    # -- accounting helpers -------------------------------------------------------------------

    def _event(self, event_type, **kwargs) -> None:
        self.events.append(event_type(call=self.calls, **kwargs))

    def region(self, vma: Vma) -> ev.Region:
        return ev.Region(vma.start, vma.end, vma.perms(), self.vma_name(vma))

    def total_vm(self) -> int:
        """``mm->total_vm``, in bytes."""
        return self._total

    def may_expand_vm(self, nbytes: int) -> bool:
        """mm/mmap.c ``may_expand_vm``: RLIMIT_AS bounds the total mapped size."""
        return self._total + nbytes <= (self.rlimit_as & ~(PAGE_SIZE - 1))

    # -- /proc/PID/maps ----------------------------------------------------------------------

    def vma_name(self, vma: Vma) -> str:
        """fs/proc/task_mmu.c ``get_vma_name``: file path, special name, [heap], [stack], anon name."""
        if vma.file is not None:
            if vma.file.shmem:
                return "/dev/zero (deleted)"
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
        for vma in self._vmas.values():
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
                      "vm_flags": v.flags} for v in self._vmas.values()],
            "maps": self.maps_text(),
        }

    # -- system calls (implemented in their own modules) ---------------------------------------

    def mmap(self, addr: int, length: int, prot: int, flags: int, file=None, offset: int = 0):
        """mmap(2): an address or an Errno. See :func:`simulator.kernel.mmap.do_mmap`."""
        from simulator.kernel.mmap import sys_mmap
        return self._syscall(sys_mmap, addr, length, prot, flags, file, offset)

    def munmap(self, addr: int, length: int):
        from simulator.kernel.munmap import sys_munmap
        return self._syscall(sys_munmap, addr, length)

    def mprotect(self, addr: int, length: int, prot: int):
        from simulator.kernel.mprotect import sys_mprotect
        return self._syscall(sys_mprotect, addr, length, prot)

    def mremap(self, old_addr: int, old_len: int, new_len: int, flags: int = 0, new_addr: int = 0):
        from simulator.kernel.mremap import sys_mremap
        return self._syscall(sys_mremap, old_addr, old_len, new_len, flags, new_addr)

    def brk(self, addr: int):
        """brk(2): returns the new break, or the old one when the kernel refuses."""
        from simulator.kernel.brk import sys_brk
        return self._syscall(sys_brk, addr)

    def touch(self, addr: int, write: bool = True):
        """Access one byte: a page fault that may grow a stack. Returns a :class:`Fault`."""
        from simulator.kernel.stack import handle_fault
        return self._syscall(handle_fault, addr, write)

    def setrlimit_stack(self, value: int) -> int:
        """setrlimit(RLIMIT_STACK): later growth checks use it; the layout chosen at exec stays."""
        self.rlimit_stack = value
        self.calls += 1
        return 0

    def _syscall(self, fn, *args):
        try:
            return fn(self, *args)
        finally:
            self.calls += 1

    # -- invariants ---------------------------------------------------------------------------

    def _check(self) -> None:
        """Assert every invariant of the address space (sortedcontainers' ``_check`` habit)."""
        prev = None
        for start, vma in self._vmas.items():
            assert start == vma.start, "key out of date"
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
                assert both_stacks or heap_floor or left_split or not self.is_mergeable(prev, vma), \
                    f"unmerged neighbours {prev} {vma}"
            prev = vma
        assert self.map_count == len(self._vmas)
        self._gaps._check()
        # The gap index is exactly the complement of the VMAs.
        expected, cursor = [], 0
        for vma in self._vmas.values():
            if vma.start > cursor:
                expected.append((cursor, vma.start))
            cursor = vma.end
        if cursor < self._gaps.limit:
            expected.append((cursor, self._gaps.limit))
        assert list(self._gaps) == expected, "gap index out of date"
        assert self._total == sum(v.end - v.start for v in self._vmas.values())
        assert self.start_brk <= self.current_brk


def is_accessible(vma: Vma) -> bool:
    """``vma_is_accessible``: any of read, write, exec."""
    return bool(vma.flags & VM_ACCESS_FLAGS)


def guard_mode(mm: AddressSpace) -> GuardMode:
    return mm.kconfig.guard_mode


__all__ = ["AddressSpace", "Errno", "RLIM_INFINITY"]
