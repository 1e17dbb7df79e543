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
from simulator.host.files import FileSource, HostFiles
from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.arch import Profile
from simulator.kernel.config import KernelConfig, ProcessConfig
from simulator.kernel.exec import ExecError, exec_layout
from simulator.kernel.mm import AddressSpace
from simulator.kernel.uapi import MAP_ANONYMOUS, MREMAP_DONTUNMAP, MREMAP_FIXED, Errno
from simulator.kernel.vma import VM_SHARED, VM_WRITE, FileRef
from simulator.programs import typical_program
from simulator.trace.loadmaps import address_space_from_maps
from simulator.trace.procmaps import MapsEntry
from simulator.trace.strace import (
    ExecEvent, ExitEvent, FileEvent, MemoryCall, OtherMemoryCall, PersonalityEvent, ProcessEvent,
    Trace, format_return,
)

@attrs.frozen
class ReplayedCall:
    line: int
    syscall: str
    text: str
    recorded: str
    simulated: str
    #: Why the model's answer rests on something the trace does not show ("" if nothing).
    note: str = ""

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
                       "simulated": c.simulated, **({"note": c.note} if c.note else {})}
                      for c in self.calls],
            "matched": self.matched,
            "total": self.total,
            "skipped": self.skipped,
            "maps": self.maps,
        }


def _exec_path(trace: Trace) -> str | None:
    for event in trace.events:
        if isinstance(event, ExecEvent) and event.succeeded:
            return event.path
    return None


def initial_address_space(trace: Trace, profile: Profile, proc: ProcessConfig,
                          kconfig: KernelConfig, initial_maps: tuple[MapsEntry, ...] | None,
                          maps_source: str, files: FileSource | None = None) -> AddressSpace:
    """The state before the trace's first line: the given maps, else the layout at exec of the
    traced program (its program headers from ``files``, default this machine's), else of a
    modelled program."""
    files = HostFiles() if files is None else files
    exe_path = _exec_path(trace)
    if initial_maps is not None:
        return address_space_from_maps(initial_maps, profile, kconfig=kconfig, proc=proc,
                                       source=maps_source, exe_path=exe_path, files=files)
    exe = files.elf(exe_path) if exe_path is not None else None
    interp = files.elf(exe.interp) if exe is not None and exe.interp else None
    if exe is None or (exe.interp is not None and interp is None):
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

    def __init__(self, mm: AddressSpace, files: FileSource | None = None):
        self.mm = mm
        self.files = HostFiles() if files is None else files
        self.fds: dict[int, FileRef] = {}
        #: SysV shm ids as the trace shows them -> the model's ids.
        self.shmids: dict[int, int] = {}
        #: Set by a handler whose answer rests on something the trace does not show.
        self.note = ""
        #: The working directory, once a chdir/fchdir in the log names it.
        self.cwd: str | None = None

    def _path(self, path: str) -> str:
        """A path as the kernel resolves it: relative ones against the followed cwd."""
        if self.cwd is None or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(self.cwd, path))

    def file_event(self, event: FileEvent) -> None:
        if event.kind in ("chdir", "fchdir"):
            path = event.path
            if path is None and event.fd in self.fds:
                path = self.fds[event.fd].path
            if path is not None:
                self.cwd = self._path(path) if os.path.isabs(path) or self.cwd else None
        elif event.kind == "close":
            self.fds.pop(event.fd, None)
        elif event.kind in ("dup", "dup2", "dup3", "fcntl"):
            if event.fd in self.fds and event.new_fd is not None:
                self.fds[event.new_fd] = self.fds[event.fd]
        elif event.kind == "execve":
            self.fds.clear()
        elif event.fd is not None and event.path is not None:
            self.fds[event.fd] = self.files.file_ref(self._path(event.path),
                                                     readable=event.readable,
                                                     writable=event.writable)

    def file_for(self, fd: int, fd_path: str | None) -> FileRef | None:
        if fd in self.fds:
            return self.fds[fd]
        if fd < 0:
            return None
        ref = self.files.file_ref(fd_path, writable=True) if fd_path else FileRef(f"<fd {fd}>")
        self.fds[fd] = ref
        return ref

    def call(self, c: MemoryCall):
        """Run one recorded call on the model; returns the model's result."""
        mm = self.mm
        a = c.args
        if c.name in ("mmap", "mmap2"):
            file = None if a[3] & MAP_ANONYMOUS else self.file_for(a[4], c.fd_path)
            result = mm.mmap(a[0], a[1], a[2], a[3], file, a[5])
            if not isinstance(result, Errno):
                assume_written(mm, result, result + a[1])
            return result
        if c.name == "munmap":
            return mm.munmap(a[0], a[1])
        if c.name == "mprotect":
            result = mm.mprotect(a[0], a[1], a[2])
            if result == 0:
                assume_written(mm, a[0], a[0] + a[1])
            return result
        if c.name == "mremap":
            if a[4] is None and a[3] & MREMAP_DONTUNMAP and not a[3] & MREMAP_FIXED:
                # strace prints new_address only with MREMAP_FIXED, yet the kernel reads it
                # as MREMAP_DONTUNMAP's hint: unknown here.
                return _mremap_unknown_hint(self, c)
            # Without MREMAP_FIXED (and DONTUNMAP) the kernel ignores new_address.
            result = mm.mremap(*a[:4], a[4] or 0)
            if not isinstance(result, Errno):
                assume_written(mm, result, result + a[2])
            return result
        if c.name == "brk":
            old = mm.current_brk
            result = mm.brk(a[0])
            if result > old:
                assume_written(mm, old, result)
            return result
        handler = CALL_HANDLERS.get(c.name)
        if handler is None:
            raise ValueError(c.name)
        return handler(self, c)


def _mremap_unknown_hint(replayer: Replayer, c: MemoryCall):
    """mremap with MREMAP_DONTUNMAP but not MREMAP_FIXED uses ``new_address`` as a hint,
    and strace prints no fifth argument without MREMAP_FIXED. Replayed at the address the
    kernel returned (the trace shows that much), with a note, instead of a guessed hint."""
    a = c.args
    replayer.note = "new_address (a hint with MREMAP_DONTUNMAP) is not in the trace"
    if isinstance(c.ret, int) and not isinstance(c.ret, Errno) and c.ret >= 0:
        result = replayer.mm.mremap(a[0], a[1], a[2], a[3] | MREMAP_FIXED, c.ret)
        replayer.note += "; replayed at the recorded address"
    else:
        result = replayer.mm.mremap(a[0], a[1], a[2], a[3], 0)
        replayer.note += "; replayed with hint 0"
    if not isinstance(result, Errno):
        assume_written(replayer.mm, result, result + a[2])
    return result


def _replay_shmget(replayer: Replayer, c: MemoryCall):
    """Segment ids are the machine's: a successful shmget maps the recorded id to the
    model's and answers with the recorded one."""
    result = replayer.mm.shmget(*c.args)
    if not isinstance(result, Errno) and isinstance(c.ret, int) and c.ret >= 0 \
            and not isinstance(c.ret, Errno):
        replayer.shmids[c.ret] = result
        return c.ret
    return result


def _model_shmid(replayer: Replayer, shmid: int) -> int:
    if shmid not in replayer.shmids and shmid >= 0:
        replayer.note = f"shm id {shmid} was not created in the trace"
    return replayer.shmids.get(shmid, -1)


def _replay_shmat(replayer: Replayer, c: MemoryCall):
    shmid, addr, flags = c.args
    return replayer.mm.shmat(_model_shmid(replayer, shmid), addr, flags)


def _replay_shmctl(replayer: Replayer, c: MemoryCall):
    """Only IPC_RMID changes what the model knows; other commands answer 0 unchecked."""
    shmid, cmd = c.args[0], c.args[1] & ~0x100  # IPC_64
    if cmd != 0:
        replayer.note = "shmctl commands other than IPC_RMID are not modelled"
        return c.ret
    return replayer.mm.shmctl_rmid(_model_shmid(replayer, shmid))


def _replay_mlock(replayer: Replayer, c: MemoryCall):
    return replayer.mm.mlock(c.args[0], c.args[1])


#: Calls past mmap/munmap/mprotect/mremap/brk: name -> handler(replayer, call).
CALL_HANDLERS = {
    "madvise": lambda r, c: r.mm.madvise(*c.args),
    "mlock": _replay_mlock,
    "mlock2": lambda r, c: r.mm.mlock(*c.args),
    "munlock": lambda r, c: r.mm.munlock(*c.args),
    "mlockall": lambda r, c: r.mm.mlockall(*c.args),
    "munlockall": lambda r, c: r.mm.munlockall(),
    "mseal": lambda r, c: r.mm.mseal(*c.args),
    "shmget": _replay_shmget,
    "shmat": _replay_shmat,
    "shmdt": lambda r, c: r.mm.shmdt(*c.args),
    "shmctl": _replay_shmctl,
    "pkey_mprotect": lambda r, c: r.mm.pkey_mprotect(*c.args),
    "pkey_alloc": lambda r, c: r.mm.pkey_alloc(*c.args),
    "pkey_free": lambda r, c: r.mm.pkey_free(*c.args),
    "remap_file_pages": lambda r, c: r.mm.remap_file_pages(*c.args),
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


def _replayed(event) -> bool:
    """The events this replay acts on; the others (calls without a handler such as
    process_madvise, personality, exits, failed execs) count as skipped lines."""
    if isinstance(event, OtherMemoryCall):
        return event.name in CALL_HANDLERS
    if isinstance(event, (PersonalityEvent, ExitEvent)):
        return False
    if isinstance(event, ExecEvent):
        return event.succeeded
    return True


def replay(trace: Trace, mm: AddressSpace, files: FileSource | None = None) -> ReplayResult:
    """Replay the memory calls of ``trace`` that act on ``mm`` (changed in place), with the
    facts of opened files from ``files`` (default: this machine's).

    Calls of other processes (fork children, tasks after their own execve) are skipped and
    counted.
    """
    replayer = Replayer(mm, files)
    calls = []
    skipped = trace.skipped
    member = address_space_members(trace)
    left: set[int] = set()
    started = False
    for event in trace.events:
        if not _replayed(event):
            skipped += 1 + ((getattr(event, "end_line", None) or event.line) != event.line)
            continue
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
                                  format_return(event.ret), format_return(simulated),
                                  replayer.note))
        replayer.note = ""
    return ReplayResult(tuple(calls), skipped, mm.maps_text())
