"""Kernel knobs and per-process settings: sysctls, boot options, personality, rlimits.

Defaults are this project's reference machine: Linux 6.18 x86_64 (Debian config), where
``/proc/sys/vm/mmap_min_addr`` reads 4096 but ``CONFIG_LSM_MMAP_MIN_ADDR=65536`` makes the
effective floor 65536 (security/min_addr.c ``update_mmap_min_addr``).
"""

from __future__ import annotations

import enum

import attrs

from simulator.units import PAGE_SIZE, RLIM_INFINITY, MiB, page_align


class Personality(enum.IntFlag):
    """Personality flags that shape the address space (include/uapi/linux/personality.h)."""

    ADDR_NO_RANDOMIZE = 0x0040000
    MMAP_PAGE_ZERO = 0x0100000
    ADDR_COMPAT_LAYOUT = 0x0200000
    READ_IMPLIES_EXEC = 0x0400000
    ADDR_LIMIT_32BIT = 0x0800000
    ADDR_LIMIT_3GB = 0x8000000

    @classmethod
    def parse(cls, text: str) -> "Personality":
        """Parse ``"ADDR_NO_RANDOMIZE,ADDR_LIMIT_3GB"``; raises ValueError naming a bad flag."""
        value = cls(0)
        for part in filter(None, (p.strip() for p in text.replace("|", ",").split(","))):
            name = part.upper()
            if name not in cls.__members__:
                known = ", ".join(cls.__members__)
                raise ValueError(f"unknown personality flag {part!r} (known: {known})")
            value |= cls[name]
        return value

    def names(self) -> list[str]:
        return [flag.name for flag in Personality if flag in self]


class GuardMode(enum.Enum):
    """How a MAP_GROWSDOWN stack is kept apart from its neighbour.

    ``GAP`` is Linux 4.12+ ("mm: larger stack guard gap, between vmas", the Stack Clash fix,
    1be7107fbe18): ``stack_guard_gap`` bytes kept free below every VM_GROWSDOWN VMA, both when
    placing mappings and when growing the stack. ``PAGE`` is 2.6.36 to 4.11: one guard page at
    the low end of the stack VMA itself (mm/memory.c ``check_stack_guard_page``), nothing at
    placement time.
    """

    GAP = "gap"
    PAGE = "page"


@attrs.frozen
class KernelConfig:
    """Sysctls, boot options and config choices (one kernel, many processes)."""

    #: boot option ``stack_guard_gap=`` in pages (mm/mmap.c), default 256 = 1 MiB.
    stack_guard_gap_pages: int = 256
    guard_mode: GuardMode = GuardMode.GAP
    #: ``vm.mmap_min_addr`` (dac_mmap_min_addr): below it, MAP_FIXED needs CAP_SYS_RAWIO.
    mmap_min_addr: int = 4096
    #: CONFIG_LSM_MMAP_MIN_ADDR; the kernel's effective floor is the larger of the two.
    #: None takes the profile's value (65536 on x86, 32768 on arm and arm64).
    lsm_mmap_min_addr: int | None = None
    #: ``vm.legacy_va_layout``.
    legacy_va_layout: int = 0
    #: ``kernel.randomize_va_space``: 0 off, 1 all but brk, 2 all.
    randomize_va_space: int = 2
    #: ``vm.max_map_count`` (include/linux/mm.h DEFAULT_MAX_MAP_COUNT = 65530).
    max_map_count: int = 65530
    #: CONFIG_TRANSPARENT_HUGEPAGE with 6.18's placement rule for large anonymous mappings.
    thp: bool = True
    #: ``/sys/kernel/mm/transparent_hugepage/enabled``: "always", "madvise" (this machine,
    #: CONFIG_TRANSPARENT_HUGEPAGE_MADVISE) or "never"; which anonymous VMAs a fault may map
    #: with a huge PMD (simulator/kernel/pgtable.py), hugepages-2048kB at "inherit".
    thp_enabled: str = "madvise"
    #: ``vm.mmap_rnd_bits`` / ``vm.mmap_rnd_compat_bits``; None means the profile's default.
    mmap_rnd_bits: int | None = None
    mmap_rnd_compat_bits: int | None = None
    #: ``vm.overcommit_memory`` (2 makes MAP_NORESERVE count, mm/mmap.c do_mmap).
    overcommit_memory: int = 0
    #: ``totalram_pages()`` and ``total_swap_pages``: with overcommit_memory 0 one accounted
    #: request larger than their sum is ENOMEM (mm/util.c ``__vm_enough_memory``). The
    #: reference machine's: MemTotal 24683792 kB = 6170948 pages, no swap.
    totalram_pages: int = 6170948
    total_swap_pages: int = 0
    #: The caller has CAP_SYS_RAWIO (root), so MAP_FIXED below mmap_min_addr is allowed.
    cap_sys_rawio: bool = True
    #: ``kernel.pid_max`` of the process's pid namespace (per namespace since 6.14):
    #: PID_MAX_DEFAULT 32768; distributions raise it to 4194304 (PID_MAX_LIMIT) on 64-bit.
    pid_max: int = 32768
    #: ``kernel.threads-max``, sized at boot by kernel/fork.c ``set_max_threads`` (modelled by
    #: ``tasklimits.set_max_threads``): the memory free at boot / (8 * THREAD_SIZE, 16 KiB).
    #: 192739 is the reference machine's (24.7 GB); 8 GiB gives 65536.
    threads_max: int = 192739
    #: The process's cgroup ``pids.max``; None is "max". The process is assumed alone in its
    #: cgroup (``systemd-run -p TasksMax=N``, a one-process container).
    pids_max: int | None = None
    #: Tasks already running besides this process, as every task limit counts them: the
    #: system (threads-max) and the pid namespace (pid_max), holding its lowest pids. 100 is a
    #: minimal system: about 60 kernel threads and a few dozen daemons (the reference machine,
    #: idle: 103).
    tasks: int = 100
    #: X86_FEATURE_OSPKE: the CPU has protection keys and the kernel enabled them. The
    #: reference machine's CPU has no ``pku`` in /proc/cpuinfo: pkey_alloc returns EINVAL and
    #: pkey_mprotect accepts only pkey -1 (arch/x86/include/asm/pkeys.h).
    pkeys: bool = False
    #: CONFIG_KSM: without it MADV_MERGEABLE and MADV_UNMERGEABLE are EINVAL
    #: (mm/madvise.c ``madvise_behavior_valid``). Distribution kernels have it.
    ksm: bool = True
    #: CONFIG_SWAP: without it MADV_WILLNEED on anonymous memory is EBADF.
    swap: bool = True
    #: Kernel version whose rules apply (simulator/kernel/versions.py): "6.18", "6.12" or "6.1".
    version: str = "6.18"

    @property
    def stack_guard_gap(self) -> int:
        """Bytes kept free below a growsdown VMA at placement (0 before 4.12)."""
        return self.stack_guard_gap_pages * PAGE_SIZE if self.guard_mode is GuardMode.GAP else 0

    def effective_mmap_min_addr(self, profile_lsm_min: int) -> int:
        """security/min_addr.c: ``max(dac_mmap_min_addr, CONFIG_LSM_MMAP_MIN_ADDR)``, page-aligned."""
        lsm = self.lsm_mmap_min_addr if self.lsm_mmap_min_addr is not None else profile_lsm_min
        return page_align(max(self.mmap_min_addr, lsm))


@attrs.frozen
class ProcessConfig:
    """What a process brings to exec: personality, RLIMIT_STACK, and an ASLR seed."""

    personality: Personality = Personality.ADDR_NO_RANDOMIZE
    rlimit_stack: int = 8 * MiB
    #: RLIMIT_AS (RLIM_INFINITY = no limit).
    rlimit_as: int = RLIM_INFINITY
    #: Seed for the random sources used when ASLR is on; the same seed gives the same layout.
    seed: int = 0
    #: RLIMIT_MEMLOCK in bytes (8 MiB: Debian's default, ``ulimit -l`` = 8192 here).
    rlimit_memlock: int = 8 * MiB
    #: CAP_IPC_LOCK: the process runs as root, as the reference runs do, so RLIMIT_MEMLOCK
    #: does not bound mlock (mm/mlock.c ``capable(CAP_IPC_LOCK)``). False models a user.
    cap_ipc_lock: bool = True
    #: Bytes the kernel copies onto the new stack at exec: filename, env and argv strings plus
    #: one pointer (fs/exec.c). It sizes the initial [stack] VMA.
    exec_strings: int = 1024
    #: RLIMIT_NPROC: tasks (threads too) the real uid may have. None is what every process
    #: inherits from init, ``threads_max / 2`` (kernel/fork.c fork_init; a threads-max set
    #: later by sysctl does not change it: then give both).
    rlimit_nproc: int | None = None
    #: The real uid. RLIMIT_NPROC is not enforced for root (kernel/fork.c copy_process).
    uid: int = 1000
    #: CAP_SYS_RESOURCE or CAP_SYS_ADMIN: RLIMIT_NPROC is not enforced either.
    cap_sys_resource: bool = False
    #: Other tasks of the same uid already running, counted against RLIMIT_NPROC.
    user_tasks: int = 0

    def effective_rlimit_nproc(self, kconfig: KernelConfig) -> int:
        """RLIMIT_NPROC, resolving None to init's ``threads_max // 2``."""
        return kconfig.threads_max // 2 if self.rlimit_nproc is None else self.rlimit_nproc
