"""Seeded randomisation sources (``get_random_long`` and friends) for ASLR.

With ASLR off (``ADDR_NO_RANDOMIZE`` or ``kernel.randomize_va_space=0``) every function here
returns its input unchanged, as the kernel's callers test ``PF_RANDOMIZE`` first. With ASLR on
the values come from the address space's own ``random.Random(seed)``, so one seed gives one
layout. The ranges are the kernel's; the random numbers are of course not.
"""

from __future__ import annotations

from simulator.units import PAGE_SHIFT, page_align


def mmap_rnd_bits(mm) -> int:
    """``mmap_rnd_bits`` or ``mmap_rnd_compat_bits`` (sysctl override, else the profile's)."""
    override = (mm.kconfig.mmap_rnd_compat_bits if mm.profile.uses_compat_rnd_sysctl
                else mm.kconfig.mmap_rnd_bits)
    return override if override is not None else mm.profile.mmap_rnd_bits


def arch_mmap_rnd(mm) -> int:
    """arch/x86/mm/mmap.c ``arch_rnd`` / mm/util.c ``arch_mmap_rnd``: a page-aligned offset
    of ``mmap_rnd_bits`` random bits (only if PF_RANDOMIZE)."""
    if not mm.randomize:
        return 0
    return mm.rng.getrandbits(mmap_rnd_bits(mm)) << PAGE_SHIFT


def randomize_stack_top(mm, stack_top: int) -> int:
    """mm/util.c: lower the stack top by up to STACK_RND_MASK pages."""
    if not mm.randomize:
        return page_align(stack_top)
    return page_align(stack_top) - ((mm.rng.getrandbits(64) & mm.profile.stack_rnd_mask)
                                    << PAGE_SHIFT)


def arch_align_stack(mm, sp: int) -> int:
    """arch/x86/kernel/process.c: a sub-page random offset, then 16-byte alignment."""
    if mm.randomize and mm.profile.stack_align_random:
        sp -= mm.rng.randrange(mm.profile.stack_align_random)
    return sp & ~0xF


def randomize_page(mm, start: int, span: int) -> int:
    """mm/util.c ``randomize_page``: a random page in ``[start, start + span)``."""
    aligned = page_align(start)
    span -= aligned - start
    pages = span >> PAGE_SHIFT
    if pages <= 0:
        return aligned
    return aligned + (mm.rng.getrandbits(64) % pages << PAGE_SHIFT)


def arch_randomize_brk(mm, brk: int) -> int:
    """x86 ``arch_randomize_brk``: 32 MiB for 32-bit tasks, 1 GiB for 64-bit (6.9+)."""
    return randomize_page(mm, brk, mm.profile.brk_rnd_range)
