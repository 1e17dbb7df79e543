"""Names strace prints for the flag and value arguments of the calls the parser decodes.

strace keeps these in its ``src/xlat/*.in`` tables; the values are the kernel's uapi
headers'. Each table maps a name to its value and is used by
:func:`simulator.trace.strace._flags`, which also accepts plain numbers, ``-X verbose``
comments and ``N<<..._SHIFT`` spellings. Tables for mmap/mprotect/mremap live with the model
in :mod:`simulator.kernel.uapi`.
"""

from __future__ import annotations

import signal as _signal

# The memory calls' flag names are the kernel model's own tables (one definition each).
from simulator.kernel.madvise import MADV_NAMES  # noqa: F401
from simulator.kernel.mlock import MCL_NAMES, MLOCK_ONFAULT  # noqa: F401
from simulator.kernel.pkeys import PKEY_NAMES  # noqa: F401
from simulator.kernel.shm import IPC_CMD_NAMES, IPC_NAMES  # noqa: F401
from simulator.kernel.shm import SHM_NAMES as SHMAT_NAMES  # noqa: F401

from simulator.kernel.cred import CAP_FULL, CAP_NAMES  # noqa: F401
from simulator.kernel.resource import RLIMIT_NAMES  # noqa: F401
from simulator.units import RLIM_INFINITY  # noqa: F401

#: mlock2 flags (include/uapi/asm-generic/mman-common.h).
MLOCK_NAMES = {"MLOCK_ONFAULT": MLOCK_ONFAULT}
#: shmget flags: IPC_* (include/uapi/linux/ipc.h) and SHM_HUGETLB/SHM_NORESERVE; strace
#: prints the permission bits in octal after them ("IPC_CREAT|0600").
SHMGET_NAMES = {k: v for k, v in IPC_NAMES.items() if k != "IPC_PRIVATE"}
SHM_HUGE_SHIFT = 26
#: shmget's key.
IPC_KEY_NAMES = {"IPC_PRIVATE": IPC_NAMES["IPC_PRIVATE"]}

#: clone/clone3 flags (include/uapi/linux/sched.h).
CLONE_VM = 0x100
CLONE_VFORK = 0x4000
CLONE_THREAD = 0x10000
CLONE_NAMES = {
    "CLONE_NEWTIME": 0x80, "CLONE_VM": CLONE_VM, "CLONE_FS": 0x200, "CLONE_FILES": 0x400,
    "CLONE_SIGHAND": 0x800, "CLONE_PIDFD": 0x1000, "CLONE_PTRACE": 0x2000,
    "CLONE_VFORK": CLONE_VFORK, "CLONE_PARENT": 0x8000, "CLONE_THREAD": CLONE_THREAD,
    "CLONE_NEWNS": 0x20000, "CLONE_SYSVSEM": 0x40000, "CLONE_SETTLS": 0x80000,
    "CLONE_PARENT_SETTID": 0x100000, "CLONE_CHILD_CLEARTID": 0x200000,
    "CLONE_DETACHED": 0x400000, "CLONE_UNTRACED": 0x800000, "CLONE_CHILD_SETTID": 0x1000000,
    "CLONE_NEWCGROUP": 0x2000000, "CLONE_NEWUTS": 0x4000000, "CLONE_NEWIPC": 0x8000000,
    "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000,
    "CLONE_IO": 0x80000000, "CLONE_CLEAR_SIGHAND": 0x100000000,
    "CLONE_INTO_CGROUP": 0x200000000,
}
#: The exit signal in clone's low byte ("...|SIGCHLD"); Linux numbers as this host has them.
SIGNAL_NAMES = {s.name: int(s) for s in _signal.Signals if not s.name.startswith("SIG_")}
#: strace spells real-time signals SIGRT_N: the kernel's SIGRTMIN (32) plus N (signal.c).
SIGNAL_NAMES.update({f"SIGRT_{n}": 32 + n for n in range(33)})
#: clone flags as the kernel sets them for fork() and vfork() (kernel/fork.c).
SIGCHLD = 17
FORK_FLAGS = {"fork": SIGCHLD, "vfork": CLONE_VFORK | CLONE_VM | SIGCHLD}

#: personality(2): the execution domain in the low byte and flag bits
#: (include/uapi/linux/personality.h).
PER_MASK = 0xFF
PERSONALITY_NAMES = {
    "PER_LINUX": 0x0, "PER_SVR4": 0x1, "PER_SVR3": 0x2, "PER_SCOSVR3": 0x3, "PER_OSR5": 0x3,
    "PER_WYSEV386": 0x4, "PER_ISCR4": 0x5, "PER_BSD": 0x6, "PER_SUNOS": 0x6, "PER_XENIX": 0x7,
    "PER_LINUX32": 0x8, "PER_IRIX32": 0x9, "PER_IRIXN32": 0xA, "PER_IRIX64": 0xB,
    "PER_RISCOS": 0xC, "PER_SOLARIS": 0xD, "PER_UW7": 0xE, "PER_OSF4": 0xF, "PER_HPUX": 0x10,
    "UNAME26": 0x0020000, "ADDR_NO_RANDOMIZE": 0x0040000, "FDPIC_FUNCPTRS": 0x0080000,
    "MMAP_PAGE_ZERO": 0x0100000, "ADDR_COMPAT_LAYOUT": 0x0200000,
    "READ_IMPLIES_EXEC": 0x0400000, "ADDR_LIMIT_32BIT": 0x0800000, "SHORT_INODE": 0x1000000,
    "WHOLE_SECONDS": 0x2000000, "STICKY_TIMEOUTS": 0x4000000, "ADDR_LIMIT_3GB": 0x8000000,
}
#: personality(0xffffffff) only reads the current persona (kernel/exec_domain.c).
PERSONALITY_QUERY = 0xFFFFFFFF

#: prctl(2) options replay follows (include/uapi/linux/prctl.h) and the securebits names
#: strace prints for PR_SET_SECUREBITS (include/uapi/linux/securebits.h).
PR_NAMES = {"PR_GET_KEEPCAPS": 7, "PR_SET_KEEPCAPS": 8, "PR_CAPBSET_READ": 23,
            "PR_CAPBSET_DROP": 24, "PR_GET_SECUREBITS": 27, "PR_SET_SECUREBITS": 28}
SECBIT_NAMES = {
    "SECBIT_NOROOT": 0x1, "SECBIT_NOROOT_LOCKED": 0x2, "SECBIT_NO_SETUID_FIXUP": 0x4,
    "SECBIT_NO_SETUID_FIXUP_LOCKED": 0x8, "SECBIT_KEEP_CAPS": 0x10,
    "SECBIT_KEEP_CAPS_LOCKED": 0x20, "SECBIT_NO_CAP_AMBIENT_RAISE": 0x40,
    "SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED": 0x80, "SECBIT_EXEC_RESTRICT_FILE": 0x100,
    "SECBIT_EXEC_RESTRICT_FILE_LOCKED": 0x200, "SECBIT_EXEC_DENY_INTERACTIVE": 0x400,
    "SECBIT_EXEC_DENY_INTERACTIVE_LOCKED": 0x800,
}

#: Syscalls strace older than the call prints as ``syscall_0xNNN(...)``. Numbers from 403 on
#: are the same on every architecture (the unified numbering since Linux 5.1).
UNIFIED_SYSCALLS = {462: "mseal"}
