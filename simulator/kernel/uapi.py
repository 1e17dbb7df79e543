"""User-visible constants: mmap/mprotect/mremap flags and errno values.

Values from include/uapi/asm-generic/mman-common.h, include/uapi/linux/mman.h,
arch/x86/include/uapi/asm/mman.h (MAP_32BIT, MAP_ABOVE4G) and include/uapi/asm-generic/errno*.h.
x86, arm and arm64 share these numbers.
"""

from __future__ import annotations

import enum

PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

PROT_NAMES = {
    "PROT_NONE": PROT_NONE,
    "PROT_READ": PROT_READ,
    "PROT_WRITE": PROT_WRITE,
    "PROT_EXEC": PROT_EXEC,
    "PROT_SEM": PROT_SEM,
    "PROT_GROWSDOWN": PROT_GROWSDOWN,
    "PROT_GROWSUP": PROT_GROWSUP,
}

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_DROPPABLE = 0x08  # 6.11+
MAP_TYPE = 0x0F
#: MAP_DROPPABLE (6.11+): anonymous memory the kernel may drop under pressure.
MAP_DROPPABLE = 0x08
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_32BIT = 0x40  # x86-64 only
MAP_ABOVE4G = 0x80  # x86-64 only
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MAP_UNINITIALIZED = 0x4000000
MAP_HUGE_SHIFT = 26
MAP_HUGE_MASK = 0x3F

MAP_NAMES = {
    "MAP_SHARED": MAP_SHARED,
    "MAP_PRIVATE": MAP_PRIVATE,
    "MAP_SHARED_VALIDATE": MAP_SHARED_VALIDATE,
    "MAP_DROPPABLE": MAP_DROPPABLE,
    "MAP_FIXED": MAP_FIXED,
    "MAP_ANONYMOUS": MAP_ANONYMOUS,
    "MAP_ANON": MAP_ANONYMOUS,
    "MAP_32BIT": MAP_32BIT,
    "MAP_ABOVE4G": MAP_ABOVE4G,
    "MAP_GROWSDOWN": MAP_GROWSDOWN,
    "MAP_DENYWRITE": MAP_DENYWRITE,
    "MAP_EXECUTABLE": MAP_EXECUTABLE,
    "MAP_LOCKED": MAP_LOCKED,
    "MAP_NORESERVE": MAP_NORESERVE,
    "MAP_POPULATE": MAP_POPULATE,
    "MAP_NONBLOCK": MAP_NONBLOCK,
    "MAP_STACK": MAP_STACK,
    "MAP_HUGETLB": MAP_HUGETLB,
    "MAP_SYNC": MAP_SYNC,
    "MAP_FIXED_NOREPLACE": MAP_FIXED_NOREPLACE,
    "MAP_UNINITIALIZED": MAP_UNINITIALIZED,
    "MAP_FILE": 0,
}
# strace spells huge page sizes as MAP_HUGE_2MB, MAP_HUGE_1GB, ... (log2 of the size << MAP_HUGE_SHIFT).
for _shift, _label in ((16, "64KB"), (19, "512KB"), (20, "1MB"), (21, "2MB"), (23, "8MB"),
                       (24, "16MB"), (25, "32MB"), (28, "256MB"), (29, "512MB"), (30, "1GB"),
                       (31, "2GB"), (34, "16GB")):
    MAP_NAMES[f"MAP_HUGE_{_label}"] = _shift << MAP_HUGE_SHIFT

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

MREMAP_NAMES = {
    "MREMAP_MAYMOVE": MREMAP_MAYMOVE,
    "MREMAP_FIXED": MREMAP_FIXED,
    "MREMAP_DONTUNMAP": MREMAP_DONTUNMAP,
}


class Errno(enum.IntEnum):
    """The errno values the memory system calls return (include/uapi/asm-generic/errno-base.h).

    A simulated syscall returns one of these as a value where the kernel returns ``-errno``.
    ``str()`` gives strace's spelling of the failed return, e.g. ``-1 ENOMEM``.
    """

    EPERM = 1
    ENOENT = 2
    EBADF = 9
    EINTR = 4
    EAGAIN = 11
    ENOMEM = 12
    EACCES = 13
    EFAULT = 14
    EBUSY = 16
    EEXIST = 17
    ENODEV = 19
    EINVAL = 22
    ETXTBSY = 26
    EFBIG = 27
    ENOSPC = 28
    ENOSYS = 38
    EIDRM = 43
    EOVERFLOW = 75
    EOPNOTSUPP = 95
    #: ENOTSUPP, kernel-internal (include/linux/errno.h) but returned by mmap(MAP_DROPPABLE)
    #: where VM_DROPPABLE does not exist (32-bit kernels).
    ENOTSUPP = 524

    def __str__(self) -> str:
        return f"-1 {self.name}"


def _format_bits(value: int, table: dict[str, int], zero: str) -> str:
    names = []
    for name, bit in table.items():
        if bit and value & bit == bit and name not in ("MAP_ANON", "MAP_SHARED_VALIDATE"):
            if name.startswith("MAP_HUGE_") and value & (MAP_HUGE_MASK << MAP_HUGE_SHIFT) != bit:
                continue
            names.append(name)
            value &= ~bit
    if value:
        names.append(hex(value))
    return "|".join(names) or zero


def format_prot(prot: int) -> str:
    """``PROT_READ|PROT_WRITE`` as strace prints it."""
    return _format_bits(prot, PROT_NAMES, "PROT_NONE")


def format_map_flags(flags: int) -> str:
    """``MAP_PRIVATE|MAP_ANONYMOUS`` as strace prints it (MAP_SHARED_VALIDATE for type 3)."""
    if flags & MAP_TYPE == MAP_SHARED_VALIDATE:
        rest = _format_bits(flags & ~MAP_TYPE, MAP_NAMES, "")
        return "MAP_SHARED_VALIDATE" + ("|" + rest if rest else "")
    return _format_bits(flags, MAP_NAMES, "0")
