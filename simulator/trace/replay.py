"""Replay a real ``strace -f`` log against the model and compare every return value.

Calls with MAP_FIXED (or MAP_FIXED_NOREPLACE, MREMAP_FIXED) are replayed at their recorded
address; every other call gets the model's own answer. Later calls use the recorded
arguments, so one divergence can cause others: the first one is the one to read.

Writes are invisible in a trace, yet they decide whether neighbouring VMAs can merge (the
anon_vma). Replay assumes a program writes to private writable memory as soon as it has it
(the heap, malloc'd chunks, thread stacks and relocated data all are), and gives such memory
an anon_vma right after each call, as the first write fault would.
"""

from __future__ import annotations

import os

import attrs

from simulator.errors import InputError
from simulator.host.elf import read_elf
from simulator.host.files import host_file
from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.arch import Profile
from simulator.kernel.config import KernelConfig, ProcessConfig
from simulator.kernel.exec import ExecError, exec_layout
from simulator.kernel.mm import AddressSpace
from simulator.kernel.uapi import MAP_ANONYMOUS, Errno
from simulator.kernel.vma import VM_SHARED, VM_WRITE, FileRef
from simulator.programs import typical_program
from simulator.trace.loadmaps import address_space_from_maps
from simulator.trace.procmaps import MapsEntry
from simulator.trace.strace import FileEvent, MemoryCall, ProcessEvent, Trace, format_return

@attrs.frozen
class ReplayedCall:
    line: int
    syscall: str
    text: str
    recorded: str
    simulated: str

    @property
    def matched(self) -> bool:
        return self.recorded == "?" or self.recorded == self.simulated


@attrs.frozen
class ReplayResult:
    calls: tuple[ReplayedCall, ...]
    skipped: int
    maps: str

    @property
    def total(self) -> int:
        return len(self.calls)

    @property
    def matched(self) -> int:
        return sum(1 for c in self.calls if c.matched)

    @property
    def first_divergence(self) -> ReplayedCall | None:
        return next((c for c in self.calls if not c.matched), None)

    def to_json(self) -> dict:
        return {
            "calls": [{"line": c.line, "syscall": c.syscall, "recorded": c.recorded,
                       "simulated": c.simulated} for c in self.calls],
            "matched": self.matched,
            "total": self.total,
            "skipped": self.skipped,
            "maps": self.maps,
        }


def _exec_path(trace: Trace) -> str | None:
    for event in trace.events:
        if isinstance(event, FileEvent) and event.kind == "execve":
            return event.path
    return None


def initial_address_space(trace: Trace, profile: Profile, proc: ProcessConfig,
                          kconfig: KernelConfig, initial_maps: tuple[MapsEntry, ...] | None,
                          maps_source: str) -> AddressSpace:
    """The state before the trace's first line: the given maps, else the layout at exec of the
    traced program (read from disk when it exists here), else of a modelled program."""
    exe_path = _exec_path(trace)
    if initial_maps is not None:
        return address_space_from_maps(initial_maps, profile, kconfig=kconfig, proc=proc,
                                       source=maps_source, exe_path=exe_path)
    exe, interp = typical_program(profile)
    if exe_path is not None and os.path.isfile(exe_path):
        try:
            exe = read_elf(exe_path)
            interp = read_elf(exe.interp) if exe.interp else None
        except InputError:
            exe, interp = typical_program(profile)
    try:
        return exec_layout(profile, exe, interp, kconfig=kconfig, proc=proc)
    except ExecError as err:
        raise InputError(maps_source, None, str(err)) from None


def assume_written(mm: AddressSpace, start: int, end: int) -> None:
    """Give private writable VMAs in ``[start, end)`` an anon_vma, as a first write would."""
    for vma in mm.vmas_in(start, end):
        if vma.flags & (VM_WRITE | VM_SHARED) == VM_WRITE and vma.anon_vma is None:
            anon_vma_prepare(mm, vma)


class Replayer:
    """Feeds a trace's calls to an address space, tracking open files by descriptor."""

    def __init__(self, mm: AddressSpace):
        self.mm = mm
        self.fds: dict[int, FileRef] = {}

    def file_event(self, event: FileEvent) -> None:
        if event.kind == "close":
            self.fds.pop(event.fd, None)
        elif event.kind in ("dup", "dup2", "dup3", "fcntl"):
            if event.fd in self.fds and event.new_fd is not None:
                self.fds[event.new_fd] = self.fds[event.fd]
        elif event.kind == "execve":
            self.fds.clear()
        elif event.fd is not None and event.path is not None:
            self.fds[event.fd] = host_file(event.path, readable=event.readable,
                                           writable=event.writable)

    def file_for(self, fd: int, fd_path: str | None) -> FileRef | None:
        if fd in self.fds:
            return self.fds[fd]
        if fd < 0:
            return None
        ref = host_file(fd_path) if fd_path else FileRef(f"<fd {fd}>")
        self.fds[fd] = ref
        return ref

    def call(self, c: MemoryCall):
        """Run one recorded call on the model; returns the model's result."""
        return SYSCALL_HANDLERS[c.name](self, self.mm, c.args, c)


# One handler per system call: (replayer, address space, decoded args, the call) -> result.
# Other memory calls (madvise, mlock, ...) slot in here.

def _replay_mmap(replayer: Replayer, mm: AddressSpace, a: tuple, c: MemoryCall):
    file = None if a[3] & MAP_ANONYMOUS else replayer.file_for(a[4], c.fd_path)
    result = mm.mmap(a[0], a[1], a[2], a[3], file, a[5])
    if not isinstance(result, Errno):
        assume_written(mm, result, result + a[1])
    return result


def _replay_munmap(replayer: Replayer, mm: AddressSpace, a: tuple, c: MemoryCall):
    return mm.munmap(a[0], a[1])


def _replay_mprotect(replayer: Replayer, mm: AddressSpace, a: tuple, c: MemoryCall):
    result = mm.mprotect(a[0], a[1], a[2])
    if result == 0:
        assume_written(mm, a[0], a[0] + a[1])
    return result


def _replay_mremap(replayer: Replayer, mm: AddressSpace, a: tuple, c: MemoryCall):
    result = mm.mremap(*a)
    if not isinstance(result, Errno):
        assume_written(mm, result, result + a[2])
    return result


def _replay_brk(replayer: Replayer, mm: AddressSpace, a: tuple, c: MemoryCall):
    old = mm.current_brk
    result = mm.brk(a[0])
    if result > old:
        assume_written(mm, old, result)
    return result


SYSCALL_HANDLERS = {
    "mmap": _replay_mmap,
    "mmap2": _replay_mmap,
    "munmap": _replay_munmap,
    "mprotect": _replay_mprotect,
    "mremap": _replay_mremap,
    "brk": _replay_brk,
}


def address_space_members(trace: Trace):
    """Which pids act on the traced program's address space.

    A task created with CLONE_VM (a thread; vfork) by a member is a member until its own
    execve; a child without CLONE_VM (fork) has a copy and is not. The relation is read from
    the whole log first, because strace often prints a new thread's first calls before the
    parent's ``clone3(...) = TID`` line. Pids whose creation the log does not show count as
    members (threads that existed before tracing started).
    """
    created = {e.child: (e.pid, e.shares_vm) for e in trace.events
               if isinstance(e, ProcessEvent)}

    def member(pid, seen=()):
        if pid not in created or pid in seen:
            return True
        parent, shares_vm = created[pid]
        return shares_vm and member(parent, seen + (pid,))

    return member


def replay(trace: Trace, mm: AddressSpace) -> ReplayResult:
    """Replay the memory calls of ``trace`` that act on ``mm`` (changed in place).

    Calls of other processes (fork children, tasks after their own execve) are skipped and
    counted.
    """
    replayer = Replayer(mm)
    calls = []
    skipped = trace.skipped
    member = address_space_members(trace)
    left: set[int] = set()
    started = False
    for event in trace.events:
        if event.pid in left or (event.pid is not None and not member(event.pid)):
            skipped += 1
            continue
        if isinstance(event, ProcessEvent):
            continue
        if isinstance(event, FileEvent):
            if event.kind == "execve" and started and event.pid is not None:
                left.add(event.pid)  # a thread or vfork child leaves for a new program
                continue
            replayer.file_event(event)
            continue
        started = True
        simulated = replayer.call(event)
        calls.append(ReplayedCall(event.line, event.name, event.text,
                                  format_return(event.ret), format_return(simulated)))
    return ReplayResult(tuple(calls), skipped, mm.maps_text())
