"""Replay a real ``strace -f`` log against the model and compare every return value.

Each process has its own address space, with the kernel's lifecycle (kernel/fork.c,
fs/exec.c; see simulator/kernel/task.py): a successful execve, in any process and as often as
it happens, starts a fresh address space from that binary's ELF; fork, vfork and clone
without CLONE_VM give the child ``dup_mmap`` of the parent at that instant; CLONE_VM shares
it. ``personality()`` calls set the persona the next execve uses, and children inherit it.

Calls with MAP_FIXED (or MAP_FIXED_NOREPLACE, MREMAP_FIXED) are replayed at their recorded
address; every other call gets the model's own answer. Later calls use the recorded
arguments, so one divergence can cause others: the first one is the one to read.

Writes are invisible in a trace, yet they decide whether neighbouring VMAs can merge (the
anon_vma). Replay assumes a program writes to private writable memory as soon as it has it
(the heap, malloc'd chunks, thread stacks and relocated data all are), and gives such memory
an anon_vma right after each call, as the first write fault would.

ASLR: an exec with ASLR on (or whose persona the log does not show) is replayed with its
random choices inferred from the first returns that reveal them
(:class:`~simulator.trace.exec_inference.ExecInference`):
the mmap base from the first placed mmap, the PIE load bias from the first call naming an
address inside the executable, the heap start from ``brk(NULL)``. The stack top is revealed
by no memory call; it is reported as not inferred.

Replay is streaming: :meth:`Replay.run` consumes events one at a time and yields each
replayed call as soon as its result is known; memory stays flat in the length of the log.
"""

from __future__ import annotations

import os
import random
import re
from collections import deque
from typing import Iterable, Iterator

import attrs

from simulator.errors import InputError
from simulator.host.files import FileSource, HostFiles
from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.arch import Profile, get_profile
from simulator.kernel.binfmt_elf import ElfImage
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.exec import ExecError, exec_layout, mm_randomizes
from simulator.kernel.mm import AddressSpace
from simulator.kernel.shm import IPC_RMID, IPC_SET, exit_shm
from simulator.kernel.task import (
    CLONE_THREAD, CLONE_VM, Credentials, Rlimits, Task, copy_process, exec_task, exec_profile,
)
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MREMAP_DONTUNMAP, MREMAP_FIXED, PROT_WRITE, Errno,
)
from simulator.kernel.vma import VM_SHARED, VM_WRITE, FileRef
from simulator.programs import typical_program
from simulator.trace.loadmaps import address_space_from_maps
from simulator.trace.exec_inference import ExecInference, is_placed, return_line
from simulator.trace.procmaps import MapsEntry
from simulator.trace.replay_result import (  # noqa: F401 - re-exported
    InferredBases, ProcessSummary, ReplayedCall, ReplayResult,
)
from simulator.trace.replay_creds import TASK_HANDLERS, is_query
from simulator.trace.strace import (
    ExitEvent, FileEvent, MemoryCall, OtherMemoryCall, PersonalityEvent, ProcessEvent, TaskCall,
    Trace, format_return,
)

#: Personality bits the address-space model knows (the rest, such as PER_LINUX32, are kept
#: by the kernel but shape nothing here).
_KNOWN_PERSONALITY = sum(Personality)
#: Events of tasks whose creation line has not been read yet, held at most (strace prints a
#: new task's first lines before its parent's ``clone(...) = PID`` line).
MAX_BUFFERED = 100_000


#: fs/exec.c: at most this many interpreters (#! scripts) stacked in one exec.
BINPRM_MAX_RECURSION = 4

#: PT_INTERP names that say the word size of the program that asks for them.
_INTERP_BITS = {"ld-linux.so.2": 32, "ld-linux-armhf.so.3": 32, "ld-linux.so.3": 32,
                "ld-linux-x86-64.so.2": 64, "ld-linux-aarch64.so.1": 64}


def elf_bits(image: ElfImage, path: str) -> int | None:
    """The ELF class (32 or 64) of an exec'd image: its interpreter's name, an address above
    4 GiB, or the file's EI_CLASS byte when the file is here; None if none of them tell."""
    if image.interp is not None and os.path.basename(image.interp) in _INTERP_BITS:
        return _INTERP_BITS[os.path.basename(image.interp)]
    if any(seg.vaddr + seg.memsz > 1 << 32 for seg in image.segments):
        return 64
    try:
        with open(path, "rb") as f:
            ident = f.read(5)
    except OSError:
        return None
    if ident[:4] == b"\x7fELF" and ident[4] in (1, 2):
        return 32 if ident[4] == 1 else 64
    return None


def _exec_path(trace: Trace) -> str | None:
    for event in trace.events:
        if isinstance(event, FileEvent) and event.kind == "execve":
            return event.path
    return None


#: include/uapi/linux/personality.h PER_CLEAR_ON_SETID (the flags the model has).
PER_CLEAR_ON_SETID = (Personality.READ_IMPLIES_EXEC | Personality.ADDR_NO_RANDOMIZE
                      | Personality.ADDR_COMPAT_LAYOUT | Personality.MMAP_PAGE_ZERO)


def initial_address_space(trace: Trace, profile: Profile, proc: ProcessConfig,
                          kconfig: KernelConfig, initial_maps: tuple[MapsEntry, ...] | None,
                          maps_source: str, files: FileSource | None = None) -> AddressSpace:
    """The state before the trace's first line: the given maps, else the layout at exec of the
    traced program (its program headers from ``files``, default this machine's), else of a
    modelled program. (:class:`Replay` without ``initial_mm`` builds the latter itself from
    the log's execve.)"""
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


def _snapshot(mm: AddressSpace) -> AddressSpace:
    """An exact copy of ``mm`` (same anon_vmas: not a fork), to try calls in another order.
    Cost: O(n) list copies."""
    copy = AddressSpace.__new__(AddressSpace)
    copy.__dict__.update(mm.__dict__)
    copy.rng = random.Random()
    copy.rng.setstate(mm.rng.getstate())
    copy.events = []
    copy._vmas = mm._vmas.copy()
    copy._gaps = mm._gaps.copy()
    copy.unmerged_splits = set(mm.unmerged_splits)
    copy.forked_anon_vmas = set(mm.forked_anon_vmas)
    copy.pmds = dict(mm.pmds)
    return copy


class _Files:
    """A task's open files by descriptor (``files_struct``) and working directory
    (``fs_struct``): shared by CLONE_VM threads, copied at fork, resolved through a
    :class:`FileSource`."""

    def __init__(self, source, fds: dict[int, FileRef] | None = None, cwd: str | None = None,
                 shmids: dict[int, int] | None = None):
        self.source = source
        self.fds: dict[int, FileRef] = dict(fds or {})
        #: The working directory, once a chdir/fchdir in the log names it.
        self.cwd = cwd
        #: SysV shm ids as the log shows them -> the model's (one IPC namespace: shared).
        self.shmids: dict[int, int] = {} if shmids is None else shmids
        #: Set by a handler whose answer rests on something the log does not show.
        self.note = ""

    def copy(self) -> "_Files":
        """fork: ``dup_fd`` and ``copy_fs_struct``; the IPC namespace stays shared."""
        return _Files(self.source, self.fds, self.cwd, self.shmids)

    @staticmethod
    def _numbered(ref: FileRef, mm: AddressSpace | None) -> FileRef:
        """A memfd or anon_inode file gets an inode of its own, from the counter the model
        numbers shmem objects with (the kernel's ``get_next_ino`` serves both)."""
        if mm is not None and ref.inode == 0 and ref.path.startswith(("/memfd:", "anon_inode:")):
            mm.shmem_objects += 1
            return attrs.evolve(ref, inode=mm.shmem_objects)
        return ref

    def path(self, path: str) -> str:
        """A path as the kernel resolves it: relative ones against the followed cwd."""
        if self.cwd is None or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(self.cwd, path))

    def file_event(self, event: FileEvent, mm: AddressSpace | None = None) -> None:
        if event.kind in ("chdir", "fchdir"):
            path = event.path
            if path is None and event.fd in self.fds:
                path = self.fds[event.fd].path
            if path is not None:
                self.cwd = self.path(path) if os.path.isabs(path) or self.cwd else None
        elif event.kind == "close":
            self.fds.pop(event.fd, None)
        elif event.kind in ("dup", "dup2", "dup3", "fcntl"):
            if event.fd in self.fds and event.new_fd is not None:
                self.fds[event.new_fd] = self.fds[event.fd]
        elif event.kind in ("execve", "execveat"):
            self.fds.clear()
        elif event.fd is not None and event.path is not None:
            self.fds[event.fd] = self._numbered(self.source.file_ref(
                self.path(event.path), readable=event.readable, writable=event.writable), mm)

    def file_for(self, fd: int, fd_path: str | None,
                 mm: AddressSpace | None = None) -> FileRef | None:
        if fd in self.fds:
            return self.fds[fd]
        if fd < 0:
            return None
        # An fd the log never showed opened: its access mode is unknown, so it may be shared
        # and written (a refusal would be a guess).
        ref = self.source.file_ref(fd_path, writable=True) if fd_path else FileRef(f"<fd {fd}>")
        ref = self.fds[fd] = self._numbered(ref, mm)
        return ref


# One handler per system call: (replayer, address space, decoded args, the call) -> result.
# Other memory calls (madvise, mlock, ...) slot in here.

def _replay_mmap(ctx, mm: AddressSpace, a: tuple, c: MemoryCall):
    file = None if a[3] & MAP_ANONYMOUS else ctx.file_for(a[4], c.fd_path, mm)
    result = mm.mmap(a[0], a[1], a[2], a[3], file, a[5])
    # Only PROT_WRITE makes VM_WRITE (a merged neighbour has the same flags), so without it
    # there is nothing to assume written, and no need to look.
    if a[2] & PROT_WRITE and not isinstance(result, Errno):
        assume_written(mm, result, result + a[1])
    return result


def _replay_munmap(ctx, mm: AddressSpace, a: tuple, c: MemoryCall):
    return mm.munmap(a[0], a[1])


def _replay_mprotect(ctx, mm: AddressSpace, a: tuple, c: MemoryCall):
    result = mm.mprotect(a[0], a[1], a[2])
    if result == 0 and a[2] & PROT_WRITE:
        assume_written(mm, a[0], a[0] + a[1])
    return result


def _replay_mremap(ctx, mm: AddressSpace, a: tuple, c: MemoryCall):
    if a[4] is None and a[3] & MREMAP_DONTUNMAP and not a[3] & MREMAP_FIXED:
        return _mremap_unknown_hint(ctx, mm, a, c)
    # strace prints new_address only with MREMAP_FIXED; without it the kernel ignores it.
    result = mm.mremap(*a[:4], a[4] or 0)
    if not isinstance(result, Errno):
        assume_written(mm, result, result + a[2])
    return result


def _mremap_unknown_hint(ctx, mm: AddressSpace, a: tuple, c: MemoryCall):
    """mremap with MREMAP_DONTUNMAP but not MREMAP_FIXED uses ``new_address`` as a hint,
    and strace prints no fifth argument without MREMAP_FIXED. Replayed at the address the
    kernel returned (the log shows that much), with a note, instead of a guessed hint."""
    ctx.note = "new_address (a hint with MREMAP_DONTUNMAP) is not in the trace"
    if isinstance(c.ret, int) and not isinstance(c.ret, Errno) and c.ret >= 0:
        result = mm.mremap(a[0], a[1], a[2], a[3] | MREMAP_FIXED, c.ret)
        ctx.note += "; replayed at the recorded address"
    else:
        result = mm.mremap(a[0], a[1], a[2], a[3], 0)
        ctx.note += "; replayed with hint 0"
    if not isinstance(result, Errno):
        assume_written(mm, result, result + a[2])
    return result


def _replay_brk(ctx, mm: AddressSpace, a: tuple, c: MemoryCall):
    old = mm.current_brk
    result = mm.brk(a[0])
    if result > old:
        assume_written(mm, old, result)
    return result


def _replay_shmget(ctx, mm: AddressSpace, a: tuple, c):
    """Segment ids are the machine's: a successful shmget maps the recorded id to the
    model's and answers with the recorded one."""
    result = mm.shmget(*a)
    if (not isinstance(result, Errno) and isinstance(c.ret, int)
            and not isinstance(c.ret, Errno) and c.ret >= 0):
        ctx.shmids[c.ret] = result
        return c.ret
    return result


def _model_shmid(ctx, shmid: int) -> int:
    if shmid not in ctx.shmids and shmid >= 0:
        ctx.note = f"shm id {shmid} was not created in the trace"
    return ctx.shmids.get(shmid, -1)


def _replay_shmat(ctx, mm: AddressSpace, a: tuple, c):
    shmid, addr, flags = a
    return mm.shmat(_model_shmid(ctx, shmid), addr, flags)


#: shmctl(IPC_SET)'s structure as strace prints it: the fields the kernel takes.
_SHM_PERM = re.compile(r"shm_perm=\{uid=(\d{1,10}), gid=(\d{1,10}), mode=(0[0-7]{0,6})")


def _replay_shmctl(ctx, mm: AddressSpace, a: tuple, c):
    """IPC_RMID and IPC_SET change what the model knows; other commands answer as
    recorded."""
    shmid, cmd = a[0], a[1] & ~0x100  # IPC_64
    perm = _SHM_PERM.search(c.text) if cmd == IPC_SET else None
    if perm is not None:
        uid, gid, mode = int(perm.group(1)), int(perm.group(2)), int(perm.group(3), 8)
        return mm.shmctl_set(_model_shmid(ctx, shmid), uid, gid, mode)
    if cmd != IPC_RMID:
        ctx.note = "shmctl commands other than IPC_RMID and IPC_SET are not modelled"
        return c.ret
    return mm.shmctl_rmid(_model_shmid(ctx, shmid))


#: One handler per system call: (the task's files, address space, decoded args, the call).
SYSCALL_HANDLERS = {
    "mmap": _replay_mmap,
    "mmap2": _replay_mmap,
    "munmap": _replay_munmap,
    "mprotect": _replay_mprotect,
    "mremap": _replay_mremap,
    "brk": _replay_brk,
    "madvise": lambda ctx, mm, a, c: mm.madvise(*a),
    "mlock": lambda ctx, mm, a, c: mm.mlock(a[0], a[1]),
    "mlock2": lambda ctx, mm, a, c: mm.mlock(*a),
    "munlock": lambda ctx, mm, a, c: mm.munlock(*a),
    "mlockall": lambda ctx, mm, a, c: mm.mlockall(*a),
    "munlockall": lambda ctx, mm, a, c: mm.munlockall(),
    "mseal": lambda ctx, mm, a, c: mm.mseal(*a),
    "shmget": _replay_shmget,
    "shmat": _replay_shmat,
    "shmdt": lambda ctx, mm, a, c: mm.shmdt(*a),
    "shmctl": _replay_shmctl,
    "pkey_mprotect": lambda ctx, mm, a, c: mm.pkey_mprotect(*a),
    "pkey_alloc": lambda ctx, mm, a, c: mm.pkey_alloc(*a),
    "pkey_free": lambda ctx, mm, a, c: mm.pkey_free(*a),
    "remap_file_pages": lambda ctx, mm, a, c: mm.remap_file_pages(*a),
}


class Replay:
    """Replays a whole log: a table pid → :class:`~simulator.kernel.task.Task`.

    ``profile`` (None: x86_64, or what the first exec's ELF asks for) and ``personality``
    (None: as the log sets it; else forced on every exec) are the command line's
    ``--arch``/``--personality``. ``initial_mm`` is the first process's address space after
    its first execve (from ``--initial-maps``); without it that execve builds one.
    After :meth:`run` is exhausted, :attr:`processes`, :attr:`inferred` and :attr:`notes`
    describe the run.
    """

    def __init__(self, *, profile: Profile | None = None, personality: Personality | None = None,
                 rlimit_stack: int = 8 << 20, kconfig: KernelConfig = KernelConfig(),
                 initial_mm: AddressSpace | None = None, files: FileSource | None = None,
                 profile_forced: bool = False, creds: Credentials = Credentials(),
                 rlimits: Rlimits | None = None, cwd: str | None = None):
        self.profile = profile or get_profile("x86_64")
        #: The first task's working directory (``--cwd``): relative paths in the log resolve
        #: against it; None leaves them relative to this process's own directory.
        self.cwd = os.path.abspath(cwd) if cwd is not None else None
        self.profile_forced = profile_forced
        self.personality = personality
        self.rlimit_stack = rlimit_stack
        #: The first task's credentials (a recording's AT_UID...; root by default).
        self.creds = creds
        self.rlimits = rlimits or Rlimits.of(stack=rlimit_stack)
        self.kconfig = kconfig
        self.initial_mm = initial_mm
        self.files = files or HostFiles()
        self.tasks: dict[int | None, Task] = {}
        self.fds: dict[int | None, _Files] = {}
        self.root: int | None = None
        self._started = False
        self._root_exec_skipped = False
        self._persona_known: set[int | None] = set()
        self._brk_unknown: set[int | None] = set()
        self._inference: dict[int | None, ExecInference] = {}
        self._buffered: dict[int | None, deque] = {}
        self._buffered_count = 0
        self._processes: dict[int | None, Task] = {}
        self.inferred: list[InferredBases] = []
        self.notes: list[str] = []
        self.skipped = 0
        #: Files unlinked so far (``_file_key``), and as each process saw them at its exit.
        self._unlinked: set = set()
        self._exit_unlinked: dict = {}
        #: A diverging call that overlapped in time with calls of other threads of its
        #: address space: (call, its result, the address space before it, that space).
        self._suspect: tuple | None = None
        self._reordered: list[ReplayedCall] = []
        #: id(mm) -> number of tasks in the pid table using it.
        self._mm_users: dict[int, int] = {}
        self._task_note = ""
        #: Tasks that exited, and address spaces whose last user did (``id``).
        self._gone: set = set()
        self._dropped: set[int] = set()

    # -- the run --------------------------------------------------------------------------

    def run(self, events: Iterable) -> Iterator[ReplayedCall]:
        """Replay ``events`` (in log order), yielding each call once its result is known."""
        for event in events:
            yield from self._event(event)
            while self._buffered_count > MAX_BUFFERED:
                yield from self._adopt(next(iter(self._buffered)))
        for pid in list(self._buffered):
            yield from self._adopt(pid)
        if self._suspect is not None:
            yield self._suspect[1]
            self._suspect = None
        for pid in list(self._inference):
            yield from self._finish_inference(pid)

    def _event(self, event) -> Iterator[ReplayedCall]:
        pid = event.pid
        if self._suspect is not None:
            if self._reorder(event):
                yield from self._reordered
                self._reordered.clear()
                return
            yield self._suspect[1]
            self._suspect = None
        if not self._started:
            self._started = True
            self._create_root(event)
            if self.tasks[pid] is None:  # the root's first execve builds it
                yield from self._execve(event)
                return
        if pid not in self.tasks:
            self._buffered.setdefault(pid, deque()).append(event)
            self._buffered_count += 1
            return
        handler = _handler(type(event))
        if handler is None:
            self.skipped += 1  # calls the model does not replay (yet), exits
            return
        yield from handler(self, event)

    def _create_root(self, event) -> None:
        pid = self.root = event.pid
        personality = self.personality if self.personality is not None else Personality(0)
        if self.personality is not None:
            self._persona_known.add(pid)
        is_exec = (isinstance(event, FileEvent) and event.kind in ("execve", "execveat")
                   and getattr(event, "succeeded", True))
        mm = self.initial_mm
        if mm is None and not is_exec:
            # Attached to a running program: the layout of a modelled one, ASLR off.
            proc = ProcessConfig(personality=personality | Personality.ADDR_NO_RANDOMIZE,
                                 rlimit_stack=self.rlimit_stack)
            exe, interp = typical_program(self.profile)
            mm = exec_layout(self.profile, exe, interp, kconfig=self.kconfig, proc=proc)
            self.notes.append("the log shows no execve: replayed from a modelled program's "
                              "layout at exec")
        task = Task(pid=pid, tgid=pid, parent=None, personality=personality,
                    rlimits=self.rlimits, creds=self.creds,
                    profile=mm.profile if mm is not None else self.profile, mm=mm)
        if self.initial_mm is not None:
            task = attrs.evolve(task, personality=Personality(mm.personality))
            self._persona_known.add(pid)
        self._set_task(pid, task if mm is not None else None)
        self._pending_root = task
        self.fds[pid] = _Files(self.files, cwd=self.cwd)
        self._processes[pid] = task

    # -- event handlers ---------------------------------------------------------------------

    def _memory(self, c: MemoryCall) -> Iterator[ReplayedCall]:
        pid = c.pid
        if c.name not in SYSCALL_HANDLERS:  # process_madvise...: not modelled
            self.skipped += 1
            return
        files = self.fds[pid]
        inference = self._inference.get(pid)
        if c.name == "brk" and pid in self._brk_unknown:
            self._observe_brk(pid, c)
        if inference is not None:
            file = None
            if c.name in ("mmap", "mmap2") and not c.args[3] & MAP_ANONYMOUS:
                file = files.file_for(c.args[4], c.fd_path)
            if inference.add(c, file):
                yield from self._finish_inference(pid)
            return
        mm = self.tasks[pid].enter()
        before = None
        if c.line != c.end_line and is_placed(c) and self._shared(mm):
            before = _snapshot(mm)
        simulated = SYSCALL_HANDLERS[c.name](files, mm, c.args, c)
        call = ReplayedCall(return_line(c), c.name, c.text, format_return(c.ret),
                            format_return(simulated), pid, note=files.note)
        files.note = ""
        if not call.matched and before is not None:
            self._suspect = (c, call, before, mm)  # decided by the next event
            return
        yield call

    def _task_call(self, c: TaskCall) -> Iterator[ReplayedCall]:
        """Credentials and limits (:mod:`simulator.trace.replay_creds`): checked like a
        memory call when the model can judge the return, else taken as a fact."""
        if c.pid in self._inference and not is_query(c):
            yield from self._finish_inference(c.pid)  # later calls see the new credentials
        handler = TASK_HANDLERS.get(c.name)
        task = self.tasks.get(c.pid)
        if handler is None or task is None or task.mm is None:
            self.skipped += 1
            return
        simulated = handler(self, task, c)
        if simulated is None:
            self.skipped += 1
            if self._task_note:  # about this call, which is not listed: not the next one's
                self.notes.append(f"{c.name} at line {return_line(c)}: {self._task_note}")
                self._task_note = ""
            return
        yield ReplayedCall(return_line(c), c.name, c.text, format_return(c.ret),
                           format_return(simulated), c.pid, note=self._task_note)
        self._task_note = ""

    def note(self, c, text: str) -> None:
        self._task_note = text

    def set_creds(self, pid, creds) -> None:
        """``commit_creds`` for one task (credentials are per thread)."""
        self._set_task(pid, attrs.evolve(self.tasks[pid], creds=creds))

    def set_rlimits(self, pid, rlimits) -> None:
        """A new ``signal->rlim`` for every thread of ``pid``'s thread group."""
        tgid = self.tasks[pid].tgid
        for other, task in list(self.tasks.items()):
            if task is not None and task.tgid == tgid:
                self._set_task(other, attrs.evolve(task, rlimits=rlimits))

    def _set_task(self, pid, task: Task | None) -> None:
        """Put ``task`` in the pid table, keeping count of the tasks using each mm."""
        old = self.tasks.get(pid)
        if old is not None and old.mm is not None:
            self._mm_users[id(old.mm)] -= 1
        if task is not None and task.mm is not None:
            self._mm_users[id(task.mm)] = self._mm_users.get(id(task.mm), 0) + 1
        self.tasks[pid] = task

    def _shared(self, mm: AddressSpace) -> bool:
        """More than one task uses ``mm`` (threads). O(1)."""
        return self._mm_users.get(id(mm), 0) > 1

    def _reorder(self, d) -> bool:
        """Concurrent calls: strace prints completions in an order that need not be the
        kernel's. When the suspect call diverged and ``d``, a call of another thread of the
        same address space, overlapped it in time (it started before the suspect ended), try
        ``d`` first: if both recorded returns then come out, that was the kernel's order."""
        c, call, before, mm = self._suspect
        if not (isinstance(d, MemoryCall) and d.pid != c.pid and d.pid in self.tasks
                and d.pid not in self._inference and self.tasks[d.pid].mm is mm
                and d.line < c.end_line):
            return False
        trial = _snapshot(before)
        trial.cred, trial.rlim = self.tasks[d.pid].creds, self.tasks[d.pid].rlimits
        first = SYSCALL_HANDLERS[d.name](self.fds[d.pid], trial, d.args, d)
        trial.cred, trial.rlim = self.tasks[c.pid].creds, self.tasks[c.pid].rlimits
        second = SYSCALL_HANDLERS[c.name](self.fds[c.pid], trial, c.args, c)
        calls = [ReplayedCall(return_line(d), d.name, d.text, format_return(d.ret),
                              format_return(first), d.pid, reordered=True),
                 ReplayedCall(return_line(c), c.name, c.text, format_return(c.ret),
                              format_return(second), c.pid, reordered=True)]
        if not all(x.matched for x in calls):
            return False
        for pid, task in self.tasks.items():
            if task is not None and task.mm is mm:
                self._set_task(pid, attrs.evolve(task, mm=trial))
        for pid, task in self._processes.items():
            if task is not None and task.mm is mm:
                self._processes[pid] = attrs.evolve(task, mm=trial)
        self._suspect = None
        self._reordered.extend(calls)
        return True

    def _observe_brk(self, pid, c: MemoryCall) -> None:
        """``brk(NULL)`` after an exec with a randomised heap: its return is the heap start
        (``arch_randomize_brk``), used for every later brk of this exec."""
        self._brk_unknown.discard(pid)
        if c.args[0] != 0 or not isinstance(c.ret, int) or isinstance(c.ret, Errno):
            return
        inference = self._inference.get(pid)
        if inference is not None:
            inference.bases = attrs.evolve(inference.bases, brk=c.ret)
            return
        mm = self.tasks[pid].mm
        if mm.current_brk != mm.start_brk or c.ret == mm.start_brk:
            return
        if not mm.vmas_in(c.ret, c.ret + 1):
            mm.start_brk = mm.current_brk = c.ret

    def _file(self, event: FileEvent) -> Iterator[ReplayedCall]:
        if event.kind in ("execve", "execveat"):
            if getattr(event, "succeeded", True):  # a failed execve changes nothing
                yield from self._execve(event)
        elif event.kind in ("unlink", "unlinkat"):
            files = self.fds[event.pid]
            self._unlinked.add(_file_key(self.files.file_ref(files.path(event.path))))
        else:
            task = self.tasks.get(event.pid)
            self.fds[event.pid].file_event(event, task.mm if task is not None else None)

    def _exit(self, event: ExitEvent) -> Iterator[ReplayedCall]:
        """A process's end: its maps as /proc shows them then (recordings take them on entry
        to exit_group) name the files unlinked so far ``PATH (deleted)``."""
        self.skipped += 1
        task = self.tasks.get(event.pid)
        if event.kind in ("exit_group", "exited", "killed") and task is not None:
            self._exit_unlinked.setdefault(task.tgid, frozenset(self._unlinked))
        if task is not None and event.kind != "superseded":
            gone = ([p for p, t in self.tasks.items() if t is not None and t.tgid == task.tgid]
                    if event.kind == "exit_group" else [event.pid])
            self._gone.update(gone)
            self._drop_mm(task.mm)
        return iter(())

    def _drop_mm(self, mm: AddressSpace | None) -> None:
        """kernel/fork.c ``mmput`` → ``exit_mmap``: once no live task uses ``mm``, its SysV
        shm attaches are dropped (a segment marked for removal goes with its last)."""
        if mm is None or id(mm) in self._dropped:
            return
        if any(t is not None and t.mm is mm and p not in self._gone
               for p, t in self.tasks.items()):
            return
        self._dropped.add(id(mm))
        exit_shm(mm)

    def _maps_text(self, task: Task) -> str:
        return maps_with_unlinked(task.mm, self._exit_unlinked.get(task.tgid, self._unlinked))

    def _personality(self, event: PersonalityEvent) -> Iterator[ReplayedCall]:
        """kernel/exec_domain.c: a successful call that is not a query sets the persona."""
        ret = getattr(event, "ret", 0)
        failed = ret is None or isinstance(ret, Errno) or ret < 0
        if self.personality is None and event.persona != 0xFFFFFFFF and not failed:
            task = self.tasks[event.pid]
            self._set_task(event.pid, attrs.evolve(
                task, personality=Personality(event.persona & _KNOWN_PERSONALITY)))
            self._persona_known.add(event.pid)
        return iter(())

    def _clone(self, event: ProcessEvent) -> Iterator[ReplayedCall]:
        parent = event.pid
        if parent in self._inference:
            yield from self._finish_inference(parent)
        flags = (CLONE_VM if event.shares_vm else 0) | (CLONE_THREAD if event.thread else 0)
        child = copy_process(self.tasks[parent], event.child, flags)
        self._gone.discard(event.child)  # a pid used again
        self._set_task(event.child, child)
        # Threads share the fd table (CLONE_FILES); a fork or vfork child (posix_spawn's
        # CLONE_VM|CLONE_VFORK too) gets a copy, which its execve then clears.
        self.fds[event.child] = (self.fds[parent] if event.thread
                                 else self.fds[parent].copy())
        if parent in self._persona_known:
            self._persona_known.add(event.child)
        if not event.thread:
            self._processes[event.child] = child
        yield from self._release(event.child)

    def _release(self, pid) -> Iterator[ReplayedCall]:
        """Replay the held events of a task whose creation line has now been read."""
        held = self._buffered.pop(pid, None)
        if held:
            self._buffered_count -= len(held)
            for event in held:
                yield from self._event(event)

    def _adopt(self, pid) -> Iterator[ReplayedCall]:
        """A task whose creation the log never shows: a thread that existed before tracing
        started, sharing the first process's address space."""
        root = self.tasks.get(self.root)
        if root is None:
            held = self._buffered.pop(pid)
            self._buffered_count -= len(held)
            self.skipped += len(held)
            return
        self._set_task(pid, attrs.evolve(root, pid=pid))
        self.fds[pid] = self.fds[self.root]
        self.notes.append(f"pid {pid}: its creation is not in the log; replayed as a thread "
                          f"of pid {self.root}")
        yield from self._release(pid)

    def _execve(self, event: FileEvent) -> Iterator[ReplayedCall]:
        pid = event.pid
        if pid in self._inference:
            yield from self._finish_inference(pid)
        self.fds[pid].file_event(event)
        if self.initial_mm is not None and pid == self.root and not self._root_exec_skipped:
            self._root_exec_skipped = True  # --initial-maps is the state after it
            return
        task = self.tasks.get(pid) or self._pending_root
        path = self.fds[pid].path(event.path) if event.path else "?"
        exe = self._load_binary(path) if event.path else None
        interp = None
        if exe is not None and exe.interp:
            interp = self.files.elf(exe.interp)
            if interp is None:
                self.notes.append(f"{exe.interp}: not found; {path} replayed without it")
        bits = elf_bits(exe, exe.file.path) if exe is not None else None
        if exe is None:
            exe, interp = typical_program(task.profile)
            where = advice = ""
            if not os.path.isabs(path):  # not resolved against --cwd or a followed chdir
                where = f" (relative to {os.getcwd()})"
                advice = (": run vasim replay in the directory the program started in, or "
                          "pass --cwd DIR")
            self.notes.append(f"{path}: no ELF headers here{where}; replayed with a modelled "
                              f"program{advice}")
        if self.personality is not None:
            task = attrs.evolve(task, personality=self.personality)
        elif event.path and getattr(self.files, "setid", None) and self.files.setid(path):
            # fs/exec.c bprm_fill_uid, begin_new_exec: a set-id exec clears these, so a
            # set-uid program runs with ASLR on even under setarch -R (measured: su).
            task = attrs.evolve(task, personality=task.personality & ~PER_CLEAR_ON_SETID)
        if self.profile_forced:
            task, bits = attrs.evolve(task, profile=self.profile), None
        profile = exec_profile(task.profile, bits)
        proc = task.process_config()
        try:
            if mm_randomizes(profile, self.kconfig, proc):
                inference = ExecInference(SYSCALL_HANDLERS, self.kconfig, pid, task, exe, interp, bits, path, event.line,
                                           pid in self._persona_known)
                task = inference.build(inference.bases, False)
                self._inference[pid] = inference
                if self.kconfig.randomize_va_space > 1:
                    self._brk_unknown.add(pid)
            else:
                task = exec_task(task, exe, interp, elf_bits=bits, path=path,
                                 kconfig=self.kconfig)
                self._brk_unknown.discard(pid)
        except ExecError as err:
            raise InputError(path, None, f"exec at log line {event.line}: {err}") from None
        old = self.tasks.get(pid)
        self._set_task(pid, task)
        if old is not None:
            self._drop_mm(old.mm)  # exec_mmap: the old mm's last user may have been this task
        if self._processes.get(pid) is not None or pid == self.root:
            self._processes[pid] = task

    def _load_binary(self, path: str) -> ElfImage | None:
        """fs/exec.c ``search_binary_handler``: the ELF itself, or for a ``#!`` script (when
        the file source can read scripts) the ELF of its interpreter."""
        interpreter = getattr(self.files, "interpreter", None)
        for _depth in range(BINPRM_MAX_RECURSION + 1):
            exe = self.files.elf(path)
            if exe is not None or interpreter is None:
                return exe
            path = interpreter(path)
            if path is None:
                return None
        return None

    def _finish_inference(self, pid) -> Iterator[ReplayedCall]:
        inference = self._inference.pop(pid)
        task, calls, inferred = inference.finish()
        brk = inference.bases.brk
        if brk is not None and not inference.off:
            inferred = attrs.evolve(inferred, brk=brk)
        if inference.off:
            self._persona_known.add(pid)
        old = self.tasks[pid]
        task = attrs.evolve(task, personality=task.personality if inference.off
                            else old.personality, creds=old.creds, rlimits=old.rlimits)
        self._set_task(pid, task)
        self._processes[pid] = task
        self.inferred.append(inferred)
        if inference.unexplained:
            self.notes.append(
                f"pid {pid} exec of {inference.path}: no mmap base explains the mmap at line "
                f"{inference.unexplained}; the base depends on RLIMIT_STACK and the persona "
                "(ulimit -s, setarch run outside strace), which a log does not show: pass "
                "--rlimit-stack and --personality as the program had them")
        yield from calls

    # -- the end ---------------------------------------------------------------------------

    @property
    def processes(self) -> tuple[ProcessSummary, ...]:
        out = []
        for pid, task in self._processes.items():
            task = self.tasks.get(pid) or task
            if task is None or task.mm is None:
                continue
            out.append(ProcessSummary(pid, task.parent, task.executable, self._maps_text(task)))
        return tuple(out)

    @property
    def maps(self) -> str:
        """The final maps of the log's first process (after its last exec)."""
        task = self.tasks.get(self.root)
        return self._maps_text(task) if task is not None and task.mm is not None else ""


_DISPATCH = {
    MemoryCall: Replay._memory,
    OtherMemoryCall: Replay._memory,
    TaskCall: Replay._task_call,
    FileEvent: Replay._file,
    PersonalityEvent: Replay._personality,
    ProcessEvent: Replay._clone,
    ExitEvent: Replay._exit,
}


def _file_key(ref: FileRef):
    """A file's identity: its device and inode, or its path where the inode is unknown."""
    return (ref.dev, ref.inode) if ref.inode else ref.path


def maps_with_unlinked(mm: AddressSpace, unlinked) -> str:
    """/proc/PID/maps as the kernel prints it after some mapped files were unlinked: d_path
    (fs/d_path.c) appends `` (deleted)`` to the name of a file whose dentry is unlinked."""
    lines = mm.maps_lines()
    if unlinked:
        for i, vma in enumerate(mm.vmas()):
            if (vma.file is not None and _file_key(vma.file) in unlinked
                    and not lines[i].endswith(" (deleted)")):
                lines[i] += " (deleted)"
    return "".join(line + "\n" for line in lines)


def _handler(kind: type):
    """The handler of an event type or of its nearest base class (an exec event is a file
    event); None for events replay does not act on."""
    for cls in kind.__mro__:
        if cls in _DISPATCH:
            _DISPATCH[kind] = _DISPATCH[cls]
            return _DISPATCH[cls]
    return None


def replay(trace: Trace, mm: AddressSpace | None = None, **options) -> ReplayResult:
    """Replay a whole parsed log; ``mm`` is the first process after its first execve (None:
    built from that execve). Collects every call (use :class:`Replay` to stream)."""
    run = Replay(initial_mm=mm, **options)
    calls = tuple(run.run(trace.events))
    return ReplayResult(calls, trace.skipped + run.skipped, run.maps, run.processes,
                        tuple(run.inferred), tuple(run.notes))
