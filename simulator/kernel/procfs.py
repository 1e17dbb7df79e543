"""/proc/PID/maps as the kernel prints it (fs/proc/task_mmu.c ``show_map_vma``)."""

from __future__ import annotations


def maps_name_column(kernel_bits: int) -> int:
    """The width ``show_vma_header_prefix`` pads to: ``25 + sizeof(void *) * 6 - 1``.

    It depends on the *kernel's* pointer size, so a 32-bit process on a 64-bit kernel gets the
    64-bit layout (names start at column 73).
    """
    return 25 + (kernel_bits // 8) * 6 - 1


def format_maps_line(start: int, end: int, perms: str, offset: int, dev: str, inode: int,
                     name: str, *, kernel_bits: int = 64) -> str:
    """One line, without the newline.

    ``"%08lx-%08lx %s %08llx %s %lu "`` then, when there is a name, spaces up to the name
    column (``seq_pad``) and the name. Unnamed lines keep the trailing space.
    """
    prefix = f"{start:08x}-{end:08x} {perms} {offset:08x} {dev} {inode} "
    if not name:
        return prefix
    width = maps_name_column(kernel_bits)
    return prefix.ljust(width) + " " + name


def smaps_vmflags(flags: int) -> frozenset[str]:
    """The two-letter ``VmFlags:`` mnemonics of /proc/PID/smaps for ``vm_flags``
    (``show_smap_vma_flags``), as a set."""
    from simulator.kernel.vma import SMAPS_FLAG_NAMES
    return frozenset(name for name, bit in SMAPS_FLAG_NAMES.items() if flags & bit)
