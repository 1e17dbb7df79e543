"""Resource limits: ``task->signal->rlim`` and ``do_prlimit`` (kernel/sys.c, Linux 6.18).

One :class:`Rlimits` value per thread group (the kernel keeps them in ``signal_struct``,
shared by the threads, copied at fork, kept across exec). Each limit is a (soft, hard) pair
or None where the model has no value for it: a limit nothing in the model reads starts
unknown, and a log's ``prlimit64``/``getrlimit`` query, or a successful set, makes it known.

The ones the model reads have documented defaults, the reference machine's (Debian, root):
RLIMIT_STACK 8 MiB / unlimited, RLIMIT_MEMLOCK 8 MiB / 8 MiB (``ulimit -l`` 8192),
RLIMIT_AS and RLIMIT_DATA unlimited.
"""

from __future__ import annotations

import attrs

from simulator.kernel.cred import CAP_SYS_RESOURCE, Credentials, capable
from simulator.kernel.uapi import Errno
from simulator.units import RLIM_INFINITY, MiB

# include/uapi/asm-generic/resource.h
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_RSS = range(6)
RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_LOCKS = range(6, 11)
RLIM_NLIMITS = 16
RLIMIT_NAMES = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
#: fs/file.c sysctl_nr_open default (1024 * 1024): RLIMIT_NOFILE's hard limit may not exceed it.
NR_OPEN = 1 << 20

Limit = tuple[int, int]


def _defaults() -> tuple[Limit | None, ...]:
    limits: list[Limit | None] = [None] * RLIM_NLIMITS
    limits[RLIMIT_STACK] = (8 * MiB, RLIM_INFINITY)
    limits[RLIMIT_MEMLOCK] = (8 * MiB, 8 * MiB)
    limits[RLIMIT_AS] = (RLIM_INFINITY, RLIM_INFINITY)
    limits[RLIMIT_DATA] = (RLIM_INFINITY, RLIM_INFINITY)
    return tuple(limits)


@attrs.frozen
class Rlimits:
    """``signal->rlim``: (soft, hard) per resource, None where unknown."""

    limits: tuple[Limit | None, ...] = attrs.field(factory=_defaults)

    @classmethod
    def of(cls, *, stack: int = 8 * MiB, address_space: int = RLIM_INFINITY,
           memlock: int = 8 * MiB) -> Rlimits:
        """The defaults with these soft limits (hard: unlimited, memlock's its soft one)."""
        return (cls().set(RLIMIT_STACK, (stack, RLIM_INFINITY))
                .set(RLIMIT_AS, (address_space, RLIM_INFINITY))
                .set(RLIMIT_MEMLOCK, (memlock, max(memlock, 8 * MiB))))

    def get(self, resource: int) -> Limit | None:
        return self.limits[resource]

    def set(self, resource: int, limit: Limit) -> Rlimits:
        limits = list(self.limits)
        limits[resource] = limit
        return Rlimits(tuple(limits))

    def cur(self, resource: int, default: int = RLIM_INFINITY) -> int:
        """``rlimit(resource)``: the soft limit (``default`` if unknown)."""
        limit = self.limits[resource]
        return default if limit is None else limit[0]

    @property
    def stack(self) -> int:
        return self.cur(RLIMIT_STACK)

    @property
    def address_space(self) -> int:
        return self.cur(RLIMIT_AS)

    @property
    def memlock(self) -> int:
        return self.cur(RLIMIT_MEMLOCK, 8 * MiB)


def do_prlimit(rlim: Rlimits, cred: Credentials, resource: int,
               new: Limit | None) -> Rlimits | Errno | None:
    """kernel/sys.c ``do_prlimit``: the limits after setting ``resource`` to ``new`` (soft,
    hard) by a task with ``cred``, in the kernel's order: EINVAL for an unknown resource or
    soft above hard, EPERM for RLIMIT_NOFILE above ``nr_open``, EPERM for raising the hard
    limit without CAP_SYS_RESOURCE. None when the answer rests on a hard limit the model
    does not know. O(1)."""
    if not 0 <= resource < RLIM_NLIMITS:
        return Errno.EINVAL
    if new is None:
        return rlim
    cur, hard = (min(v, RLIM_INFINITY) for v in new)  # rlim64_to_rlim
    if cur > hard:
        return Errno.EINVAL
    if resource == RLIMIT_NOFILE and hard > NR_OPEN:
        return Errno.EPERM
    old = rlim.get(resource)
    if old is None:
        if capable(cred, CAP_SYS_RESOURCE):
            return rlim.set(resource, (cur, hard))
        return None
    if hard > old[1] and not capable(cred, CAP_SYS_RESOURCE):
        return Errno.EPERM
    return rlim.set(resource, (cur, hard))


__all__ = ["Rlimits", "do_prlimit", "RLIMIT_NAMES", "RLIMIT_STACK", "RLIMIT_MEMLOCK",
           "RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_NPROC", "RLIM_NLIMITS"]
