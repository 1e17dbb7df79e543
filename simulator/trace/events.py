"""The events :mod:`simulator.trace.strace` reads from a log: memory calls, file and process
events, exits; and :class:`Trace`, all of a log's events collected.  Frozen values."""

from __future__ import annotations

import attrs

from simulator.kernel.uapi import Errno
from simulator.trace import xlat


@attrs.frozen
class _Call:
    """Fields of a decoded memory call (see :class:`MemoryCall`)."""

    line: int
    end_line: int
    pid: int | None
    name: str
    #: Decoded arguments in the kernel's order: flag names turned into their values.  mremap's
    #: fifth (new_address) is ``None`` when strace did not print it (it does only with
    #: MREMAP_FIXED): the value the kernel saw is unknown.  process_madvise's iovec is
    #: ``None`` here; see ``iov``.
    args: tuple[int | None, ...]
    fd_path: str | None
    ret: int | Errno | None
    text: str
    #: -t/-tt/-ttt stamp of the first half in ns (since midnight, or the epoch with -ttt; the
    #: running sum of -r deltas); ``end_time_ns`` that of the ``<... resumed>`` half, if split.
    time_ns: int | None = None
    end_time_ns: int | None = None
    #: -T: time spent in the call, in ns.
    duration_ns: int | None = None
    #: process_madvise: the (iov_base, iov_len) pairs; ``None`` if strace abbreviated them.
    iov: tuple[tuple[int, int], ...] | None = None


@attrs.frozen
class MemoryCall(_Call):
    """One mmap/mmap2/munmap/mprotect/mremap/brk call as strace printed it."""


@attrs.frozen
class OtherMemoryCall(_Call):
    """One madvise, process_madvise, mlock, mlock2, munlock, mlockall, munlockall, mseal,
    shmat, shmdt, shmget, pkey_mprotect, pkey_alloc, pkey_free or remap_file_pages call.
    mseal printed by an older strace as ``syscall_0x1ce(...)`` gets its name; its ``text``
    stays as printed."""


@attrs.frozen
class TaskCall(_Call):
    """A call that changes or reports the calling task's credentials or resource limits:
    set[re[s]]uid/gid (and their ``32`` names), capset/capget, prlimit64, setrlimit,
    getrlimit/ugetrlimit. ``args``: the ids as given (``-1`` keeps an id); capset/capget
    ``(pid, effective, permitted, inheritable)`` from the data strace printed (None where it
    printed an address); prlimit64 ``(pid, resource, new, old)`` and setrlimit/getrlimit
    ``(resource, limit)`` with each limit a ``(soft, hard)`` pair or None."""


@attrs.frozen
class FileEvent:
    """A call that changes which file an fd names, the working directory, or replaces the
    address space (execve, see :class:`ExecEvent`).

    ``kind`` is the syscall name.  open/openat/openat2/creat/memfd_create: ``fd`` is the new
    descriptor (a memfd's path is ``/memfd:NAME (deleted)``, as /proc/PID/maps shows it);
    close: ``fd`` is the closed one; dup/dup2/dup3/fcntl(F_DUPFD*): ``fd`` → ``new_fd``;
    chdir: ``path``; fchdir: ``fd`` (and ``path`` with -y); unlink, unlinkat (not of a
    directory): ``path``.  ``path`` is the ``-y``
    decoration when strace printed one (the kernel's resolved path, as /proc/PID/maps names
    it), else the path argument as written.  Only successful calls become events, except
    execve.
    """

    line: int
    pid: int | None
    kind: str
    fd: int | None
    path: str | None
    new_fd: int | None
    #: For calls that open a file: whether it was opened for reading and for writing
    #: (O_RDONLY / O_WRONLY / O_RDWR; creat is write-only, memfd_create read-write).
    readable: bool = True
    writable: bool = False
    end_line: int | None = None
    time_ns: int | None = None
    end_time_ns: int | None = None
    duration_ns: int | None = None


@attrs.frozen
class ExecEvent(FileEvent):
    """An execve/execveat, successful or not (fs/exec.c: a failure changes nothing).

    ``path`` is the filename argument, ``argv0`` the first element of argv as printed
    (``None`` for ``NULL`` or ``[]``; ``argv0_complete`` is False when strace cut it at
    ``-s`` characters), ``ret`` 0 or the error.
    """

    argv0: str | None = None
    argv0_complete: bool = True
    ret: int | Errno | None = 0

    @property
    def succeeded(self) -> bool:
        return self.ret == 0


@attrs.frozen
class ProcessEvent:
    """A new task from clone/clone3/fork/vfork.  Only successful calls become events.

    ``flags`` are the clone flags with the exit signal in the low byte, as the kernel got
    them (fork is ``SIGCHLD``, vfork ``CLONE_VM|CLONE_VFORK|SIGCHLD``, kernel/fork.c);
    clone3's ``exit_signal`` is folded into the low byte the same way.  ``shares_vm``:
    CLONE_VM (a thread; a vfork child until its execve).
    """

    line: int
    pid: int | None
    kind: str
    child: int
    shares_vm: bool
    flags: int | None = None
    end_line: int | None = None
    time_ns: int | None = None
    end_time_ns: int | None = None
    duration_ns: int | None = None

    @property
    def vfork(self) -> bool:
        return bool((self.flags or 0) & xlat.CLONE_VFORK)

    @property
    def thread(self) -> bool:
        return bool((self.flags or 0) & xlat.CLONE_THREAD)


@attrs.frozen
class PersonalityEvent:
    """``personality(persona) = old``: ``persona`` is 0xffffffff for a query (changes
    nothing, kernel/exec_domain.c); ``ret`` is the previous persona or an error."""

    line: int
    end_line: int
    pid: int | None
    persona: int
    ret: int | Errno | None
    time_ns: int | None = None
    end_time_ns: int | None = None
    duration_ns: int | None = None

    @property
    def query(self) -> bool:
        return self.persona == xlat.PERSONALITY_QUERY


@attrs.frozen
class ExitEvent:
    """The end of a task or process.

    ``kind``: ``exit`` / ``exit_group`` (the call, ``status`` its argument), ``exited``
    (``+++ exited with N +++``), ``killed`` (``+++ killed by SIG +++``, ``signal`` its name,
    ``core_dumped``), ``superseded`` (``+++ superseded by execve in pid N +++``: the thread
    ``by`` exec'd and took over ``pid``, fs/exec.c de_thread).
    """

    line: int
    pid: int | None
    kind: str
    status: int | None = None
    signal: str | None = None
    core_dumped: bool = False
    by: int | None = None
    time_ns: int | None = None


Event = MemoryCall | OtherMemoryCall | TaskCall | FileEvent | ProcessEvent | PersonalityEvent | ExitEvent


@attrs.frozen
class Trace:
    """The events of a log, in completion order, and how many lines were not events."""

    events: tuple[Event, ...]
    skipped: int

    @property
    def memory_calls(self) -> tuple[MemoryCall, ...]:
        return tuple(e for e in self.events if isinstance(e, MemoryCall))
