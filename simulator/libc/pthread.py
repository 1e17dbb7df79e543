"""Threads and their stacks (nptl/allocatestack.c, nptl/nptl-stack.c, nptl/pthread_create.c).

A thread stack is one mapping: ``size + guard`` bytes, reserved PROT_NONE with MAP_STACK and
then made read-write except the guard at its low end (glibc 2.36). Stacks are ordinary mmaps:
they land wherever the kernel's placement puts any large allocation, back to back, with no
gap between them (MAP_STACK is not MAP_GROWSDOWN). Released stacks wait in a 40 MiB cache
for reuse; the DTV of each new thread is calloc'ed in the creating thread's arena.
"""

from __future__ import annotations

import enum

import attrs

from simulator.kernel.events import CloneRefused, MapCountExceeded
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_PRIVATE, MAP_STACK, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE, Errno,
)
from simulator.units import MiB, PAGE_SIZE, RLIM_INFINITY, align_down, align_up

MADV_DONTNEED = 4
MADV_GUARD_INSTALL = 102
#: sysdeps/unix/sysv/linux/bits/pthread_stack_min.h (x86, arm).
PTHREAD_STACK_MIN = 16384
#: sysdeps/x86/nptl/pthreaddef.h (2 MiB on arm and aarch64 too).
ARCH_STACK_DEFAULT_SIZE = 2 * MiB
MINIMAL_REST_STACK = 2048
#: nptl/pthread_create.c create_thread: CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM |
#: CLONE_SIGHAND | CLONE_THREAD | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID.
CLONE_THREAD_FLAGS = 0x3D0F00


class Status(enum.Enum):
    RUNNING = "running"
    EXITED = "exited"
    JOINED = "joined"


@attrs.frozen
class ThreadAttr:
    """``pthread_attr_t``: stack size, guard size, a user-supplied stack, detach state.
    ``stacksize=0`` means the default fixed at startup from RLIMIT_STACK."""

    stacksize: int = 0
    guardsize: int = PAGE_SIZE
    stackaddr: int | None = None
    detached: bool = False


@attrs.define(eq=False)
class Stack:
    """A stack block: ``[mem, mem + size)``, the guard being its lowest ``guard`` bytes."""

    mem: int
    size: int
    guard: int
    user: bool = False
    #: The thread's DTV (calloc'ed when the block was first mapped, kept while cached).
    dtv: int | None = None


@attrs.define(eq=False)
class Thread:
    tid: int
    is_main: bool = False
    stack: Stack | None = None
    status: Status = Status.RUNNING
    detached: bool = False
    arena: object = None
    tcache: dict | None = None
    tcache_struct: int | None = None
    #: malloc/malloc.c tcache_shutting_down: set at thread exit, no tcache after it.
    tcache_shut_down: bool = False


def default_stacksize(rlimit_stack: int, tls_static_size: int) -> int:
    """sysdeps/nptl/pthread_early_init.h: RLIMIT_STACK at startup (2 MiB if unlimited),
    at least PTHREAD_STACK_MIN and room for the static TLS, rounded up to a page."""
    size = ARCH_STACK_DEFAULT_SIZE if rlimit_stack == RLIM_INFINITY else rlimit_stack
    size = max(size, PTHREAD_STACK_MIN, PAGE_SIZE + tls_static_size + MINIMAL_REST_STACK)
    return align_up(size, PAGE_SIZE)


class Threads:
    """The threads of one process and the stack cache."""

    def __init__(self, process):
        self.p = process
        w = process.word
        self.tls_static = align_up(w.tls_static_size, w.tls_static_align)
        self.default_stacksize = default_stacksize(process.mm.rlimit_stack, w.tls_static_size)
        self.main = Thread(tid=1, is_main=True)
        self.all: list[Thread] = [self.main]
        #: dl_stack_cache: most recently released first.
        self.cache: list[Stack] = []
        self.cache_size = 0
        self.guard_by_madvise = process.glibc.guard_by_madvise
        #: Why the last pthread_create failed: the failing syscall and its errno.
        self.last_failure: tuple[str, Errno] | None = None
        #: _stack_geometry of the attributes of the last allocate_stack, kept for the next.
        self._geometry_attr: ThreadAttr | None = None
        self._geometry: tuple[int, int] | Errno = Errno.EINVAL

    @property
    def stack_prot(self) -> int:
        """allocate_stack's ``prot``: PROT_EXEC too when GL(dl_stack_flags) has PF_X."""
        return PROT_READ | PROT_WRITE | (PROT_EXEC if self.p.exec_stack else 0)

    # -- pthread_create -------------------------------------------------------------------

    def create(self, creator: Thread | None = None, attr: ThreadAttr = ThreadAttr()):
        """``pthread_create``: a new Thread, or Errno.EAGAIN (no memory for the stack or its
        DTV: the mmap ENOMEM glibc turns into EAGAIN; or clone3 refused by a task limit) or
        Errno.EINVAL (stack too small).

        The stack comes first (allocate_stack), then clone3 (create_thread → __clone_internal).
        When clone3 fails, glibc 2.36 "lied for a second": __nptl_deallocate_stack puts the
        block, mapped and with its DTV, in the stack cache (queue_stack), so it stays in the
        map and the next pthread_create takes it back without a syscall."""
        creator = creator or self.main
        self.last_failure = None
        if attr.stacksize and attr.stacksize < PTHREAD_STACK_MIN:
            # nptl/pthread_attr_setstacksize.c (and pthread_attr_setstack) refuse such a
            # size with EINVAL; the model reports it where the program would stop.
            return Errno.EINVAL
        stack = self.allocate_stack(creator, attr)
        if isinstance(stack, Errno):
            return Errno.EAGAIN if stack is Errno.ENOMEM else stack
        tid = self.p.sys_clone3(CLONE_THREAD_FLAGS)
        if isinstance(tid, Errno):
            self.last_failure = ("clone3", tid)
            self._deallocate_stack(stack, creator)
            return Errno.EAGAIN if tid is Errno.ENOMEM else tid
        thread = Thread(tid=len(self.all) + 1, stack=stack, detached=attr.detached)
        self.all.append(thread)
        return thread

    def allocate_stack(self, creator: Thread, attr: ThreadAttr):
        """nptl/allocatestack.c ``allocate_stack``: a Stack, or an Errno."""
        p = self.p
        if attr.stackaddr is not None:
            # A user stack maps nothing, but _dl_allocate_tls still callocs the DTV.
            stack = Stack(attr.stackaddr - attr.stacksize, attr.stacksize, 0, user=True)
            return self._allocate_dtv(creator, stack)
        if attr is self._geometry_attr:  # the same attributes as last time (a thread loop)
            geometry = self._geometry
        else:
            geometry = self._geometry = self._stack_geometry(attr)
            self._geometry_attr = attr
        if isinstance(geometry, Errno):
            return geometry
        size, guard = geometry
        cached = self._get_cached_stack(size) if self.cache else None
        if cached is not None:
            return self._reuse(cached, size, guard)
        prot = self.stack_prot
        reserve = prot if guard == 0 or self.guard_by_madvise else PROT_NONE
        mem = p.sys_mmap(0, size, reserve, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK)
        if isinstance(mem, Errno):
            self.last_failure = (p.mmap_name, mem)
            return mem
        if guard:
            if self.guard_by_madvise:
                if isinstance(p.sys_madvise(mem, guard, MADV_GUARD_INSTALL), Errno):
                    # setup_stack_prot (2.42): the kernel refused (before 6.13, or a stack
                    # locked by mlockall(MCL_FUTURE)): fall back to a PROT_NONE guard for this
                    # and every later stack (allocate_stack_mode = ALLOCATE_GUARD_PROT_NONE).
                    self.guard_by_madvise = False
                    result = p.sys_mprotect(mem, guard, PROT_NONE)
                    if isinstance(result, Errno):
                        self.last_failure = ("mprotect", result)
                        p.sys_munmap(mem, size)
                        return result
            else:
                result = p.sys_mprotect(mem + guard, size - guard, prot)
                if isinstance(result, Errno):
                    self.last_failure = ("mprotect", result)
                    p.sys_munmap(mem, size)
                    return result
        stack = self._allocate_dtv(creator, Stack(mem, size, guard))
        if isinstance(stack, Errno):
            p.sys_munmap(mem, size)
        return stack

    def _stack_geometry(self, attr: ThreadAttr):
        """allocate_stack's arithmetic: ``(size, guard)`` of the block for ``attr``, the
        guard included in the size, or Errno.EINVAL. Depends only on ``attr`` and on values
        fixed at startup (the default size, the static TLS, the profile's minimum guard)."""
        w = self.p.word
        size = attr.stacksize or self.default_stacksize
        size &= ~(w.tls_static_align - 1)
        # size_t arithmetic: a huge guard size wraps, which glibc catches as EINVAL.
        size_max = (1 << (8 * w.size_sz)) - 1
        guard = align_up(attr.guardsize, PAGE_SIZE) & size_max
        min_guard = self.p.mm.profile.min_thread_guard
        if 0 < guard < min_guard:
            guard = min_guard  # ARCH_MIN_GUARD_SIZE (aarch64: 64 KiB)
        if guard < attr.guardsize or (size + guard) & size_max < guard:
            return Errno.EINVAL
        size += guard
        if size < align_up(guard + self.tls_static + MINIMAL_REST_STACK, PAGE_SIZE):
            return Errno.EINVAL
        return size, guard

    def _allocate_dtv(self, creator: Thread, stack: Stack):
        """elf/dl-tls.c ``_dl_allocate_tls`` → ``allocate_dtv``: the DTV is calloc'ed in
        the creating thread's arena (the first create from main makes the brk heap)."""
        dtv = self.p.malloc.calloc(creator, self.p.word.dtv_bytes)
        if dtv is None:
            self.last_failure = ("calloc", Errno.ENOMEM)
            return Errno.ENOMEM
        stack.dtv = dtv
        return stack

    def _get_cached_stack(self, size: int) -> Stack | None:
        """The first exact fit, else the smallest larger block, but not over 4× the size."""
        best = None
        for stack in self.cache:
            if stack.size >= size:
                if stack.size == size:
                    best = stack
                    break
                if best is None or best.size > stack.size:
                    best = stack
        if best is None or best.size > 4 * size:
            return None
        self.cache.remove(best)
        self.cache_size -= best.size
        return best

    def _reuse(self, stack: Stack, reqsize: int, guard: int):
        """A cached block: no mmap, no new DTV; only a changed guard costs an mprotect."""
        p = self.p
        if guard > stack.guard:
            result = p.sys_mprotect(stack.mem, guard, PROT_NONE)
            if isinstance(result, Errno):
                return result
            stack.guard = guard
        elif stack.guard - guard > stack.size - reqsize:
            result = p.sys_mprotect(stack.mem + guard, stack.guard - guard, self.stack_prot)
            if isinstance(result, Errno):
                return result
            stack.guard = guard
        return stack

    # -- exit, join, the cache ------------------------------------------------------------

    def exit(self, thread: Thread) -> None:
        """The thread returns or calls pthread_exit: its tcache and arena are released
        (``__libc_thread_freeres``), its stack pages advised away; a detached thread's stack
        goes to the cache now, a joinable one's at pthread_join."""
        p = self.p
        stack = thread.stack
        if stack is not None and not stack.user:
            # advise_stack_range: everything below the thread's last stack frame, which sits
            # just under the static TLS and the thread descriptor at the top of the block.
            freesize = align_down(stack.size - self.tls_static - 0x100, PAGE_SIZE)
            if freesize > PTHREAD_STACK_MIN:
                p.sys_madvise(stack.mem, freesize - PTHREAD_STACK_MIN, MADV_DONTNEED)
        p.malloc.thread_exit(thread)
        p.sys_exit(0)
        thread.status = Status.EXITED
        if thread.detached:
            self._release(thread)

    def join(self, thread: Thread, joiner: Thread | None = None) -> int:
        """``pthread_join`` of an exited thread: its stack goes to the cache."""
        if thread.detached or thread.status is not Status.EXITED:
            return Errno.EINVAL
        thread.status = Status.JOINED
        self._release(thread, joiner or self.main)
        return 0

    def _release(self, thread: Thread, releaser: Thread | None = None) -> None:
        """The stack of a joined or exited detached thread is deallocated."""
        if thread.stack is not None:
            self._deallocate_stack(thread.stack, releaser or thread)

    def _deallocate_stack(self, stack: Stack, releaser: Thread) -> None:
        """nptl/nptl-stack.c ``__nptl_deallocate_stack``: a user stack only frees its DTV
        (``_dl_deallocate_tls``); a mapped one goes to the cache (``queue_stack``), which is
        trimmed to glibc.pthread.stack_cache_size from its oldest end."""
        if stack.user:
            if stack.dtv is not None:
                self.p.malloc.free(releaser, stack.dtv)
                stack.dtv = None
            return
        self.cache.insert(0, stack)
        self.cache_size += stack.size
        if self.cache_size > self.p.glibc.stack_cache_size:
            self._free_stacks(self.p.glibc.stack_cache_size, releaser)

    def _free_stacks(self, limit: int, releaser: Thread) -> None:
        """``__nptl_free_stacks``: unmap from the oldest until the cache fits; their DTVs
        are freed."""
        for stack in reversed(list(self.cache)):
            self.cache.remove(stack)
            self.cache_size -= stack.size
            if stack.dtv is not None:
                self.p.malloc.free(releaser, stack.dtv)
            self.p.sys_munmap(stack.mem, stack.size)
            if self.cache_size <= limit:
                break

    def live(self) -> list[Thread]:
        return [t for t in self.all if t.status is Status.RUNNING]

    def create_until_failure(self, attr: ThreadAttr = ThreadAttr(),
                             limit: int = 10_000_000) -> "ExhaustionResult":
        """Create threads (from the main thread, each blocking forever) until pthread_create
        fails: the classic "how many threads fit" experiment."""
        mm = self.p.mm
        stacks: list[Stack] = []
        failure = None
        while len(stacks) < limit:
            events_before = len(mm.events)
            result = self.create(self.main, attr)
            if isinstance(result, Errno):
                failure = result
                new_events = mm.events[events_before:]
                break
            stacks.append(result.stack)
        else:
            new_events = []
        stopped_by = self.failure_reason(failure, new_events) if failure else "limit"
        call = self.last_failure[0] if self.last_failure else None
        return ExhaustionResult(len(stacks), stopped_by, failure, call, tuple(stacks))

    def failure_reason(self, error: Errno, events) -> str:
        """Why the last pthread_create failed with ``error``, given the kernel events it
        caused: a task limit that refused clone3 ("rlimit_nproc", "threads_max", "pid_max",
        "pids_max"), "max_map_count", the failing call and its errno ("mmap ENOMEM",
        "mprotect ENOMEM", "calloc ENOMEM"), or the error itself ("EINVAL")."""
        for e in events:
            if isinstance(e, CloneRefused):
                return e.limit
        if any(isinstance(e, MapCountExceeded) for e in events):
            return "max_map_count"
        if self.last_failure is not None:
            call, errno = self.last_failure
            return f"{'mmap' if call.startswith('mmap') else call} {errno.name}"
        return error.name


@attrs.frozen
class ExhaustionResult:
    """How many threads were created, and why the next pthread_create failed."""

    threads: int
    #: :meth:`Threads.failure_reason`, or "limit" when none failed.
    stopped_by: str
    error: Errno | None
    failed_call: str | None
    stacks: tuple[Stack, ...]


__all__ = ["Threads", "Thread", "ThreadAttr", "Stack", "default_stacksize", "PROT_EXEC"]
