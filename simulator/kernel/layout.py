"""Choosing the layout at exec: top-down or legacy, and the mmap bases.

arch/x86/mm/mmap.c (``arch_pick_mmap_layout``, ``mmap_base``, ``mmap_legacy_base``,
``mmap_is_legacy``) and mm/util.c (the generic versions used by arm64 and arm). They differ in
data only, which the profile carries: what the gap is measured from (the task size on x86,
STACK_TOP in mm/util.c), whether an unlimited RLIMIT_STACK means legacy, and the stack
randomisation pad.
"""

from __future__ import annotations

from simulator.kernel.aslr import arch_mmap_rnd
from simulator.kernel.config import Personality
from simulator.units import PAGE_SHIFT, MiB, RLIM_INFINITY, page_align

MIN_GAP = 128 * MiB


def mmap_is_legacy(mm, rlimit_stack: int) -> bool:
    """ADDR_COMPAT_LAYOUT (``setarch -L``), vm.legacy_va_layout, and on mm/util.c
    architectures an unlimited stack (x86 dropped that in 4.12)."""
    if mm.personality & Personality.ADDR_COMPAT_LAYOUT:
        return True
    if mm.profile.legacy_if_unlimited_stack and rlimit_stack == RLIM_INFINITY:
        return True
    return bool(mm.kconfig.legacy_va_layout)


def mmap_base(mm, rnd: int, rlimit_stack: int) -> int:
    """The top-down base: ``PAGE_ALIGN(top - gap - rnd)``.

    ``gap`` is RLIMIT_STACK plus the stack guard gap plus the stack's random range (skipped if
    adding them overflows an unsigned long, as it does for RLIM_INFINITY), clamped to
    [128 MiB, top / 6 * 5].
    """
    top = mm.limits.mmap_top
    word = 1 << mm.profile.kernel_bits
    gap = min(rlimit_stack, word - 1)
    pad = mm.kconfig.stack_guard_gap_pages << PAGE_SHIFT
    if mm.randomize:
        pad += mm.profile.stack_rnd_mask << PAGE_SHIFT
    if (gap + pad) % word > gap:
        gap += pad
    gap_max = top // 6 * 5
    if gap < MIN_GAP and MIN_GAP < gap_max:
        gap = MIN_GAP
    elif gap > gap_max:
        gap = gap_max
    return page_align(top - gap - rnd)


def arch_pick_mmap_layout(mm, rlimit_stack: int, rnd: int | None = None) -> None:
    """Set ``mm.topdown``, ``mm.mmap_base`` and ``mm.mmap_legacy_base`` for the rest of the
    process's life (a later setrlimit does not move them). ``rnd`` fixes the random offset
    (``arch_rnd``) instead of drawing it: replay infers it from a trace."""
    if rnd is None:
        rnd = arch_mmap_rnd(mm)
    mm.mmap_legacy_base = mm.limits.legacy_base + rnd
    if mmap_is_legacy(mm, rlimit_stack):
        mm.topdown = False
        mm.mmap_base = mm.mmap_legacy_base
    else:
        mm.topdown = True
        mm.mmap_base = mmap_base(mm, rnd, rlimit_stack)
