"""Memory protection keys: pkey_alloc, pkey_free and the pkey part of pkey_mprotect
(mm/mprotect.c, arch/x86/include/asm/pkeys.h, Linux 6.18).

A VMA's key lives in its flags (VM_PKEY_BIT0..3), so VMAs with different keys never merge,
and pkey_mprotect on part of a VMA splits it. Whether keys exist is a property of the CPU
(:class:`KernelConfig` ``pkeys``): without X86_FEATURE_OSPKE, as on the reference machine,
``arch_max_pkey()`` is 1 but the allocation map is empty, so pkey_alloc fails with EINVAL
(``arch_set_user_pkey_access``) and pkey_mprotect accepts only pkey -1, i.e. works as
mprotect; every other key, 0 included, is EINVAL (measured here). With keys, 16 exist and
key 0 is allocated at exec. The execute-only key that a PROT_EXEC-only mprotect takes
(``arch_override_mprotect_pkey``) is not modelled.
"""

from __future__ import annotations

from simulator.kernel.uapi import Errno
from simulator.kernel.vma import VM_PKEY_MASK, VM_PKEY_SHIFT

PKEY_DISABLE_ACCESS = 0x1
PKEY_DISABLE_WRITE = 0x2
PKEY_ACCESS_MASK = PKEY_DISABLE_ACCESS | PKEY_DISABLE_WRITE
PKEY_NAMES = {"PKEY_DISABLE_ACCESS": PKEY_DISABLE_ACCESS, "PKEY_DISABLE_WRITE": PKEY_DISABLE_WRITE}


def arch_max_pkey(mm) -> int:
    """16 keys with OSPKE, else 1 (x86)."""
    return 16 if mm.kconfig.pkeys else 1


def mm_pkey_is_allocated(mm, pkey: int) -> bool:
    """``mm_pkey_is_allocated``: in range and set in the allocation map."""
    if pkey < 0 or pkey >= arch_max_pkey(mm):
        return False
    return bool(mm.pkey_allocation_map & (1 << pkey))


def vma_pkey_flags(flags: int, pkey: int) -> int:
    """``flags`` with the VMA's key replaced (``calc_vm_prot_bits(prot, pkey)``); pkey -1
    keeps the VMA's own key (``arch_override_mprotect_pkey``)."""
    if pkey == -1:
        return flags
    return (flags & ~VM_PKEY_MASK) | (pkey << VM_PKEY_SHIFT)


def vma_pkey(flags: int) -> int:
    return (flags & VM_PKEY_MASK) >> VM_PKEY_SHIFT


def sys_pkey_alloc(mm, flags: int, init_val: int) -> int | Errno:
    """pkey_alloc(2): the lowest free key; EINVAL for flags or rights bits, ENOSPC when all
    are taken, EINVAL without OSPKE."""
    if flags or init_val & ~PKEY_ACCESS_MASK:
        return Errno.EINVAL
    full = (1 << arch_max_pkey(mm)) - 1
    if mm.pkey_allocation_map == full:
        return Errno.ENOSPC
    pkey = next(k for k in range(arch_max_pkey(mm)) if not mm.pkey_allocation_map & (1 << k))
    if not mm.kconfig.pkeys:
        return Errno.EINVAL  # arch_set_user_pkey_access: no OSPKE
    mm.pkey_allocation_map |= 1 << pkey
    return pkey


def sys_pkey_free(mm, pkey: int) -> int | Errno:
    """pkey_free(2): EINVAL for a key not allocated. VMAs keep the key."""
    if not mm_pkey_is_allocated(mm, pkey):
        return Errno.EINVAL
    mm.pkey_allocation_map &= ~(1 << pkey)
    return 0


__all__ = ["sys_pkey_alloc", "sys_pkey_free", "mm_pkey_is_allocated", "vma_pkey_flags"]
