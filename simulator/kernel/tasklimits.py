"""Task limits: why clone fails with EAGAIN while the address space still has room (Linux 6.18).

Every new task, a thread as much as a process, passes four checks in kernel/fork.c
``copy_process``, in this order; the first that refuses decides, and each answers -EAGAIN:

1. RLIMIT_NPROC: ``is_rlimit_overlimit(task_ucounts(p), UCOUNT_RLIMIT_NPROC,
   rlimit(RLIMIT_NPROC))``, where the count is the tasks of the caller's real uid *with the new
   one* (``copy_creds`` has already charged it), so creation fails once the user has
   ``rlimit_nproc`` tasks. Not enforced when the real user is root (``INIT_USER``) or the
   caller has CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
2. ``nr_threads >= max_threads``: every task on the system (the idle tasks excepted) against
   ``kernel.threads-max``, which fork_init sizes from memory at boot (:func:`set_max_threads`).
3. ``alloc_pid``: a pid in [1, pid_max) from the namespace's IDR, cyclically; once the cursor
   has passed RESERVED_PIDS the search wraps to 300, not 1. No free pid: ``idr_alloc_cyclic``
   says -ENOSPC, which alloc_pid turns into -EAGAIN. Since 6.14 ``pid_max`` is per pid
   namespace (``/proc/sys/kernel/pid_max`` read or written inside one is that namespace's), and
   a pid is allocated in every ancestor namespace too.
4. ``cgroup_can_fork`` → kernel/cgroup/pids.c ``pids_can_fork``: ``pids_try_charge`` adds one
   to the cgroup's (and every ancestor's) count and refuses when it exceeds ``pids.max``.

The model counts tasks instead of keeping a task table: :class:`TaskCounts` is what those
checks read, :func:`copy_process_limit` applies them. Pid numbering is assumed never to have
wrapped (a freshly booted system, or a new pid namespace): the tasks already running hold the
lowest pids, so every pid in [1, pid_max) can still be handed out. On a host whose pids have
wrapped, the pids below 300 are lost to new tasks; count them as running (see docs/threads.md).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from simulator.kernel.config import KernelConfig, ProcessConfig
from simulator.kernel.uapi import Errno
from simulator.units import KiB, PAGE_SIZE

#: include/linux/pid.h RESERVED_PIDS: after a wrap, pids restart here (kernel/pid.c).
RESERVED_PIDS = 300
#: include/linux/threads.h PID_MAX_DEFAULT (0x8000); CONFIG_BASE_SMALL kernels use 0x1000.
PID_MAX_DEFAULT = 0x8000
#: include/linux/threads.h PID_MAX_LIMIT on 64-bit kernels (4 Mi); ``pid_max`` can be set up to
#: it (systemd raises it to this on 64-bit machines, 50-pid-max.conf).
PID_MAX_LIMIT = 4 * 1024 * 1024
#: kernel/pid.c ``pid_max_min``: the lowest value /proc/sys/kernel/pid_max accepts.
PID_MAX_MIN = RESERVED_PIDS + 1
#: kernel/fork.c MIN_THREADS and MAX_THREADS (FUTEX_TID_MASK): the bounds of threads-max.
MIN_THREADS = 20
MAX_THREADS = 0x3FFFFFFF
#: arch/x86/include/asm/page_64_types.h THREAD_SIZE: PAGE_SIZE << THREAD_SIZE_ORDER (2),
#: 16 KiB (32 KiB with KASAN).
THREAD_SIZE = 16 * KiB


def set_max_threads(free_bytes: int, thread_size: int = THREAD_SIZE,
                    suggested: int = MAX_THREADS) -> int:
    """kernel/fork.c ``set_max_threads`` (fork_init, at boot): ``kernel.threads-max`` is the
    memory memblock estimates free at boot over ``8 * THREAD_SIZE``, so that kernel stacks
    can take at most an eighth of it, clamped to [MIN_THREADS, MAX_THREADS]. RLIMIT_NPROC of
    init, inherited by every process that does not change it, is half of it.

    >>> set_max_threads(8 << 30)        # 8 GiB: 8 GiB / 128 KiB
    65536
    """
    nr_pages = free_bytes // PAGE_SIZE
    threads = nr_pages * PAGE_SIZE // (thread_size * 8)
    return max(MIN_THREADS, min(threads, suggested, MAX_THREADS))


class TaskLimit(enum.Enum):
    """The limit that refused a new task; its value is its spelling in scenarios and output."""

    RLIMIT_NPROC = "rlimit_nproc"
    THREADS_MAX = "threads_max"
    PID_MAX = "pid_max"
    PIDS_MAX = "pids_max"

    @property
    def errno(self) -> Errno:
        """What clone returns: all four checks fail with -EAGAIN (alloc_pid turns the IDR's
        -ENOSPC into it, pids_try_charge returns it itself)."""
        return Errno.EAGAIN


class TaskCounts(NamedTuple):
    """What copy_process compares with the limits, before the new task exists. (A NamedTuple:
    one is made for every clone, on the thread-creation hot path.)"""

    #: kernel/fork.c ``nr_threads``: every task on the system.
    nr_threads: int
    #: Tasks of the caller's real uid (its ucounts UCOUNT_RLIMIT_NPROC), threads included.
    user_tasks: int
    #: Pids in use in the caller's pid namespace.
    pids: int
    #: Tasks charged to the caller's pids cgroup (``pids.current``).
    cgroup_tasks: int


def copy_process_limit(kconfig: KernelConfig, proc: ProcessConfig,
                       counts: TaskCounts) -> TaskLimit | None:
    """kernel/fork.c ``copy_process``'s task-limit checks, in the kernel's order: the limit
    that refuses one more task, or None when the task can be created.

    ``counts`` are taken before the new task (the caller included). The knobs are
    ``proc.rlimit_nproc`` (RLIM_INFINITY never refuses), ``proc.uid`` and
    ``proc.cap_sys_resource`` (either lifts it), ``kconfig.threads_max``, ``kconfig.pid_max``
    and ``kconfig.pids_max`` (None: "max"). Pids are assumed never to have wrapped (see the
    module docstring), so alloc_pid fails when all of [1, pid_max) are taken. O(1).

    >>> copy_process_limit(KernelConfig(), ProcessConfig(rlimit_nproc=10, uid=1000),
    ...                    TaskCounts(nr_threads=500, user_tasks=10, pids=500, cgroup_tasks=10))
    <TaskLimit.RLIMIT_NPROC: 'rlimit_nproc'>
    """
    # copy_creds has charged the new task to the user: overlimit when count + 1 > rlimit.
    # Not for INIT_USER (uid 0), CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
    if (counts.user_tasks + 1 > proc.effective_rlimit_nproc(kconfig)
            and proc.uid != 0 and not proc.cap_sys_resource):
        return TaskLimit.RLIMIT_NPROC
    if counts.nr_threads >= kconfig.threads_max:
        return TaskLimit.THREADS_MAX
    if counts.pids >= kconfig.pid_max - 1:  # pids 1 .. pid_max - 1 all taken
        return TaskLimit.PID_MAX
    if kconfig.pids_max is not None and counts.cgroup_tasks + 1 > kconfig.pids_max:
        return TaskLimit.PIDS_MAX
    return None


def copy_process_errno(kconfig: KernelConfig, proc: ProcessConfig,
                       counts: TaskCounts) -> Errno | None:
    """:func:`copy_process_limit` as the syscall returns it: Errno.EAGAIN or None."""
    limit = copy_process_limit(kconfig, proc, counts)
    return None if limit is None else limit.errno


def process_task_counts(kconfig: KernelConfig, proc: ProcessConfig, own: int) -> TaskCounts:
    """The counts for a process with ``own`` tasks (its threads, the main one included) on a
    system with ``kconfig.tasks`` others: they share the system and the pid namespace, the
    user has ``proc.user_tasks`` others, and the process is alone in its cgroup."""
    others = kconfig.tasks
    return TaskCounts(nr_threads=others + own, user_tasks=proc.user_tasks + own,
                      pids=others + own, cgroup_tasks=own)


__all__ = ["TaskLimit", "TaskCounts", "copy_process_limit", "copy_process_errno",
           "process_task_counts",
           "set_max_threads", "RESERVED_PIDS", "PID_MAX_DEFAULT", "PID_MAX_LIMIT", "PID_MAX_MIN",
           "MIN_THREADS", "MAX_THREADS", "THREAD_SIZE"]
