"""Inferring the random choices of an exec with ASLR on from the calls that reveal them.

Most logs from the field are recorded with ASLR on. The random choices are few per exec
(fs/binfmt_elf.c, arch/x86/mm/mmap.c): the mmap base, the ET_DYN load bias, the heap start
and the stack top. :class:`ExecInference` holds one exec's calls until the first returns that
reveal them have been read, and checks every guess by replaying the held calls again from a
fresh exec with that guess (:class:`~simulator.kernel.exec.ExecBases`).
"""

from __future__ import annotations

import attrs

from simulator.kernel.aslr import mmap_rnd_bits
from simulator.kernel.binfmt_elf import ElfImage
from simulator.kernel.config import KernelConfig, Personality
from simulator.kernel.exec import ExecBases, ExecError
from simulator.kernel.task import Task, exec_profile, exec_task
from simulator.kernel.uapi import MAP_FIXED, MAP_FIXED_NOREPLACE, Errno
from simulator.kernel.vma import FileRef
from simulator.trace.replay_result import InferredBases, ReplayedCall
from simulator.trace.strace import MemoryCall, format_return
from simulator.units import PAGE_MASK, PAGE_SHIFT

#: Calls of one exec held while its random bases are inferred, at most.
MAX_INFERENCE_CALLS = 512


class _Resolved:
    """The file a held call named when it was read (descriptors are reused later)."""

    def __init__(self, file: FileRef | None):
        self.file = file

    def file_for(self, fd: int, fd_path: str | None, mm=None) -> FileRef | None:
        return self.file


def return_line(c: MemoryCall) -> int:
    """The line that holds a call's return (the ``resumed>`` half of a split call)."""
    return c.end_line or c.line


def is_placed(c: MemoryCall) -> bool:
    """An mmap whose address the kernel chose freely (no hint, not fixed): it reveals the
    mmap base."""
    return (c.name in ("mmap", "mmap2") and c.args[0] == 0
            and not c.args[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE))


def _named_address(c: MemoryCall) -> int | None:
    """The address a call acts on at a place the program chose (mprotect, munmap, a fixed
    mmap, mremap's old address)."""
    if c.name in ("mprotect", "munmap", "mremap"):
        return c.args[0]
    if c.name in ("mmap", "mmap2") and c.args[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        return c.args[0]
    return None


class ExecInference:
    """The calls of one exec with ASLR on (or unknown), held until the exec's random choices
    are known; every guess is checked by replaying the held calls from a fresh exec.

    * mmap base: the first placed mmap's recorded address minus the model's with no random
      offset is ``arch_mmap_rnd`` (top-down; the other sign bottom-up). A negative or too
      large offset with the persona unknown means ASLR was off: the ADDR_NO_RANDOMIZE layout
      is tried instead.
    * PIE load bias: the first successful call naming an address in the ET_DYN window whose
      model result differs; each PT_LOAD the address could start is tried.
    * heap start: ``brk(NULL)``'s return (handled by :class:`Replay` for every exec).
    """

    def __init__(self, handlers: dict, kconfig: KernelConfig, pid, task: Task, exe: ElfImage,
                 interp: ElfImage | None, bits: int | None, path: str, line: int,
                 persona_known: bool):
        self.handlers, self.kconfig, self.pid, self.task = handlers, kconfig, pid, task
        self.exe, self.interp, self.bits, self.path, self.line = exe, interp, bits, path, line
        self.persona_known = persona_known
        self.bases = ExecBases()
        self.off = False
        #: The line of a placed mmap no mmap base explains (0: none).
        self.unexplained = 0
        self.needs = {"mmap"} | ({"load"} if exe.dynamic else set())
        self.calls: list[tuple[MemoryCall, FileRef | None]] = []

    def build(self, bases: ExecBases | None, off: bool) -> Task:
        task = self.task
        if off:
            task = attrs.evolve(task, personality=task.personality
                                | Personality.ADDR_NO_RANDOMIZE)
            bases = None
        return exec_task(task, self.exe, self.interp, elf_bits=self.bits, path=self.path,
                         kconfig=self.kconfig, bases=bases)

    def simulate(self, bases: ExecBases | None, off: bool) -> tuple[Task, list]:
        task = self.build(bases, off)
        results = [self.handlers[c.name](_Resolved(f), task.mm, c.args, c)
                   for c, f in self.calls]
        return task, results

    def matches(self, bases: ExecBases | None, off: bool, upto: int | None = None) -> bool:
        try:
            _task, results = self.simulate(bases, off)
        except ExecError:
            return False
        calls = self.calls if upto is None else self.calls[:upto]
        return all(c.ret is None or format_return(c.ret) == format_return(r)
                   for (c, _), r in zip(calls, results))

    def add(self, c: MemoryCall, file: FileRef | None) -> bool:
        """Hold one more call; True when nothing is left to infer."""
        self.calls.append((c, file))
        ok = isinstance(c.ret, int) and not isinstance(c.ret, Errno) and c.ret >= 0
        if "mmap" in self.needs and is_placed(c) and ok:
            self.needs.discard("mmap")
            self._infer_mmap(c)
        elif "load" in self.needs and ok and not self.off:
            addr = _named_address(c)
            if addr is not None and self._in_pie_window(addr):
                self._infer_load(addr)
        return not self.needs or len(self.calls) >= MAX_INFERENCE_CALLS

    def _infer_mmap(self, c: MemoryCall) -> None:
        task, results = self.simulate(self.bases, False)
        simulated = results[-1]
        if simulated == c.ret:
            return
        mm = task.mm
        delta = (simulated - c.ret) if mm.topdown else (c.ret - simulated)
        limit = (1 << mmap_rnd_bits(mm)) << PAGE_SHIFT
        if isinstance(simulated, int) and delta % (1 << PAGE_SHIFT) == 0 and 0 < delta < limit:
            candidate = attrs.evolve(self.bases, mmap_rnd=self.bases.mmap_rnd + delta)
            if self.matches(candidate, False):
                self.bases = candidate
                return
        if not self.persona_known and self.matches(None, True):
            self.off = True
            self.needs.clear()
            return
        self.unexplained = return_line(c)

    def _in_pie_window(self, addr: int) -> bool:
        profile = exec_profile(self.task.profile, self.bits)
        base = profile.task_limits(self.task.personality).pie_base
        span = max(s.vaddr + s.memsz for s in self.exe.segments)
        return base <= addr < base + (1 << (profile.mmap_rnd_bits + PAGE_SHIFT)) + span

    def _infer_load(self, addr: int) -> None:
        profile = exec_profile(self.task.profile, self.bits)
        base = profile.task_limits(self.task.personality).pie_base
        if self.matches(self.bases, False):
            self.needs.discard("load")
            return
        segments = sorted(self.exe.segments, key=lambda s: not s.flags & 2)  # writable first
        floor = base & ~(self.exe.maximum_alignment() - 1)
        for seg in segments:
            rnd = addr - (seg.vaddr & PAGE_MASK) - floor  # load_bias = align_down(base + rnd)
            if rnd < 0:
                continue
            candidate = attrs.evolve(self.bases, load_rnd=rnd)
            if self.matches(candidate, False):
                self.bases = candidate
                self.needs.discard("load")
                return

    def finish(self) -> tuple[Task, list[ReplayedCall], InferredBases]:
        task, results = self.simulate(self.bases, self.off)
        calls = [ReplayedCall(return_line(c), c.name, c.text, format_return(c.ret),
                              format_return(r), c.pid) for (c, _), r in zip(self.calls, results)]
        mm = task.mm
        if self.off:
            aslr = "off"
        elif "mmap" in self.needs or self.unexplained or not self.calls:
            aslr = "unknown"
        else:
            aslr = "on"
        known_base = not ("mmap" in self.needs or self.unexplained)
        inferred = InferredBases(self.pid, self.line, self.path, aslr,
                                 mm.mmap_base if known_base else None,
                                 mm.load_bias if self.exe.dynamic and "load" not in self.needs
                                 else None, None)
        return task, calls, inferred
