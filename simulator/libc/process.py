"""A process as glibc sees it: an address space, its threads, malloc and the stack cache.

glibc reaches the kernel only through system calls; :class:`Process` makes them on the
kernel model and keeps a log of each memory call (``syscalls``), so a modelled program's calls
can be compared with ``strace`` of the real one. Task calls (clone3, exit) are logged apart
(``task_syscalls``): they change no mapping, but they meet the task limits
(:mod:`simulator.kernel.tasklimits`), so a thread count can stop there.
"""

from __future__ import annotations

from typing import NamedTuple

from simulator.kernel.config import ProcessConfig
from simulator.kernel.events import CloneRefused
from simulator.kernel.mm import AddressSpace
from simulator.kernel.tasklimits import copy_process_limit, process_task_counts
from simulator.kernel.uapi import Errno, format_map_flags, format_prot
from simulator.libc.config import GlibcConfig, word_size


class Syscall(NamedTuple):
    """One system call glibc made: its name, arguments and result (as the kernel returned it).
    A named tuple: every modelled call logs one, and a frozen attrs instance costs twice as
    much to build (bench/threads.py)."""

    name: str
    args: tuple
    result: object

    def __str__(self) -> str:
        """The call as strace would print it."""
        name, args = self.name, list(self.args)
        shown = [("NULL" if a == 0 else hex(a)) if i == 0 else str(a) for i, a in enumerate(args)]
        if name in ("mmap", "mmap2"):
            shown[2], shown[3] = format_prot(args[2]), format_map_flags(args[3])
            shown[4] = "-1" if args[4] == -1 else "fd"
            shown[5] = hex(args[5]) if args[5] else "0"
        elif name == "mprotect":
            shown[2] = format_prot(args[2])
        if isinstance(self.result, Errno):
            result = str(self.result)
        elif name in ("mmap", "mmap2", "mremap", "brk") and self.result:
            result = hex(self.result)
        else:
            result = str(self.result)
        return f"{name}({', '.join(shown)}) = {result}"


class Process:
    """glibc's state for one process on top of one :class:`AddressSpace`."""

    def __init__(self, mm: AddressSpace, glibc: GlibcConfig = GlibcConfig(),
                 proc: ProcessConfig = ProcessConfig()):
        from simulator.libc.malloc import Malloc
        from simulator.libc.pthread import Threads

        self.mm = mm
        self.glibc = glibc
        #: Credentials and RLIMIT_NPROC (the rest of ``proc`` is already in ``mm``).
        self.proc = proc
        #: The name strace shows for mmap: ``mmap2`` for 32-bit tasks.
        self.mmap_name = "mmap2" if mm.profile.task_bits == 32 else "mmap"
        self.word = word_size(mm.profile.task_bits, mm.profile.malloc_alignment)
        self.syscalls: list[Syscall] = []
        self.task_syscalls: list[Syscall] = []
        #: The kernel's side: ``signal->nr_threads``, the tasks of this process.
        self.nr_tasks = 1
        #: Objects ld.so has loaded, by real path (the link map): dlopen finds them here.
        self.loaded: dict = {}
        #: GL(dl_stack_flags) & PF_X: the executable asked for an executable stack.
        self.exec_stack = False
        self.malloc = Malloc(self)
        self.threads = Threads(self)

    # Every system call glibc makes on the address space, logged as strace would see it.

    def fork(self, child_mm: AddressSpace, forker=None) -> "Process":
        """glibc's state in the child of ``fork()`` (posix/fork.c): a copy of this one over
        ``child_mm`` (the kernel's :func:`~simulator.kernel.fork.dup_mmap` of this address
        space), in which only the forking thread runs. nptl's ``reclaim_stacks`` puts the
        other threads' stacks, still mapped in the child, into its stack cache. Cost: a deep
        copy of glibc's state."""
        import copy

        child = copy.deepcopy(self, {id(self.mm): child_mm})
        child.syscalls, child.task_syscalls = [], []
        threads = child.threads
        keep = threads.main if forker is None else threads.all[self.threads.all.index(forker)]
        for thread in threads.all:
            if thread is not keep and thread.stack is not None and not thread.stack.user:
                threads.cache.insert(0, thread.stack)
                threads.cache_size += thread.stack.size
        threads.all = [keep]
        child.nr_tasks = 1
        return child

    def _log(self, name: str, args: tuple, result):
        self.syscalls.append(Syscall(name, args, result))
        return result


    # mmap and mprotect log without _log: they run for every thread stack.

    def sys_mmap(self, addr, length, prot, flags, file=None, offset=0):
        result = self.mm.mmap(addr, length, prot, flags, file, offset)
        self.syscalls.append(Syscall(self.mmap_name, (addr, length, prot, flags,
                                                      -1 if file is None else file, offset),
                                     result))
        return result

    def sys_munmap(self, addr, length):
        return self._log("munmap", (addr, length), self.mm.munmap(addr, length))

    def sys_mprotect(self, addr, length, prot):
        result = self.mm.mprotect(addr, length, prot)
        self.syscalls.append(Syscall("mprotect", (addr, length, prot), result))
        return result

    def sys_mremap(self, addr, old_len, new_len, flags, new_addr=0):
        return self._log("mremap", (addr, old_len, new_len, flags),
                         self.mm.mremap(addr, old_len, new_len, flags, new_addr))

    def sys_brk(self, addr):
        return self._log("brk", (addr,), self.mm.brk(addr))

    def sys_madvise(self, addr, length, advice):
        """madvise(2) through the kernel model (:mod:`simulator.kernel.madvise`): glibc's
        MADV_DONTNEED on exiting threads' stacks and shrinking heaps changes no VMA but can be
        refused (EINVAL on a locked stack); MADV_GUARD_INSTALL (2.42's stack guards) marks the
        stack VMA ``gu`` and gives it its anon_vma."""
        return self._log("madvise", (addr, length, advice), self.mm.madvise(addr, length, advice))

    def sys_clone3(self, flags: int):
        """clone3(2) of a thread (CLONE_VM|CLONE_THREAD|...): a new tid, or Errno.EAGAIN when a
        task limit refuses it (kernel/fork.c ``copy_process``, :func:`copy_process_limit`);
        the limit is recorded as a :class:`CloneRefused` event. Maps nothing."""
        mm = self.mm
        mm.calls += 1
        limit = copy_process_limit(mm.kconfig, self.proc,
                                   process_task_counts(mm.kconfig, self.proc, self.nr_tasks))
        if limit is not None:
            mm.events.append(CloneRefused(mm.calls - 1, limit.value))
            result = limit.errno
        else:
            self.nr_tasks += 1
            result = mm.kconfig.tasks + self.nr_tasks  # the pid: lowest ones taken (tasklimits)
        self.task_syscalls.append(Syscall("clone3", (flags,), result))
        return result

    def sys_exit(self, status: int = 0):
        """exit(2) of one thread: the kernel's task goes away (its pid and its count)."""
        self.nr_tasks -= 1
        self.task_syscalls.append(Syscall("exit", (status,), 0))

    def memory_syscalls(self) -> list[Syscall]:
        """Every memory call glibc made, in order: mmap/mmap2, munmap, mprotect, mremap, brk
        and madvise (exiting threads' MADV_DONTNEED, 2.42's MADV_GUARD_INSTALL), whose
        returns the kernel decides like the others'."""
        return list(self.syscalls)


def start_process(mm: AddressSpace, exe, rtld, libraries, glibc: GlibcConfig = GlibcConfig(),
                  *, cache_size: int | None = None,
                  proc: ProcessConfig = ProcessConfig()) -> "Process":
    """A dynamically linked program right before ``main``: ``mm`` is the layout at exec
    (:func:`simulator.kernel.exec.exec_layout` of ``exe`` and ``rtld``), and ld.so has mapped
    ``libraries`` (:func:`simulator.libc.ld_so.dl_main`)."""
    from simulator.libc.ld_so import dl_main

    process = Process(mm, glibc, proc)
    dl_main(process, exe, mm.load_bias, rtld, mm.interp_base, libraries, cache_size=cache_size)
    return process


def attach_process(mm: AddressSpace, glibc: GlibcConfig = GlibcConfig(),
                   proc: ProcessConfig = ProcessConfig()) -> "Process":
    """glibc's state for a running program known only by its maps (``mm`` from
    /proc/PID/maps). If it has a ``[heap]``, malloc has started: the break is the heap's end
    and the main arena's top is assumed to be all of the heap but the tcache."""
    process = Process(mm, glibc, proc)
    if mm.current_brk > mm.start_brk:
        m, w = process.malloc, process.word
        arena = m.main_arena
        start = mm.start_brk
        misalign = (start + 2 * w.size_sz) & (w.malloc_alignment - 1)
        start += (w.malloc_alignment - misalign) if misalign else 0
        m.curbrk = mm.current_brk
        arena.top, arena.top_size = start, mm.current_brk - start
        main = process.threads.main
        main.tcache = {}
        main.arena = arena
        main.tcache_struct = m._int_malloc(arena, w.request2size(w.tcache_bytes))
    return process
