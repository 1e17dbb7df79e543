"""The project's seed claims, each checked on the real kernel and on the model.

1. A mapping can be placed right below a MAP_GROWSDOWN|MAP_STACK mapping by MAP_FIXED (and
   MAP_FIXED_NOREPLACE), but by a hint only outside the 1 MiB stack guard gap.
2. Thread-sized stacks (glibc ``allocate_stack``: 8 MiB + 4 KiB, MAP_STACK, PROT_NONE, then
   mprotect of all but the low guard page) land in the mmap area top-down and pack back to back
   like any large allocation.
3. A 32-bit process on a 64-bit kernel can map almost 4 GiB: filling its address space with
   mmaps until ENOMEM maps exactly 4 GiB minus mmap_min_addr, minus the top two pages
   (IA32_PAGE_OFFSET = 0xFFFFE000), minus what was mapped already, minus the stack guard gap.

Differential like tests/test_rules_mmap.py (probe under ``setarch -R``, model replayed from the
probe's initial state, every return value and /proc/self/maps compared).
"""

from __future__ import annotations


import pytest

from simulator.kernel import events as ev
from simulator.kernel.arch import get_profile
from simulator.kernel.exec import exec_layout
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_NORESERVE, MAP_PRIVATE,
    MAP_STACK, PROT_NONE, PROT_READ, PROT_WRITE, Errno,
)
from simulator.programs import typical_program
from simulator.units import GiB, MiB, PAGE_SIZE
from test_rules_mmap import I686, X64, both, mmap_op, topdown_slot

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
GUARD = 256 * P  # stack_guard_gap (mm/mmap.c)
MMAP_MIN = 0x10000  # effective mmap_min_addr: max(vm.mmap_min_addr 4096, LSM 65536)
IA32_PAGE_OFFSET = 0xFFFFE000  # arch/x86/include/asm/page_64_types.h
MMAP_BASE = {"x86_64": 0x7FFFF7FFF000, "i686": 0xF7FFE000}  # linux-mm.md §2.3, Observed


# --------------------------------------------------------------------------- claim 1

@pytest.mark.parametrize("setarch", [X64, I686], ids=["x86_64", "i686"])
def test_claim1_fixed_mapping_right_below_a_growsdown_stack(probes, setarch):
    """Claim 1. S is a 300-page MAP_GROWSDOWN|MAP_STACK mapping placed by the kernel
    (top-down; 1.17 MiB, more than the hole ld.so's unmapped cache leaves above libc on any
    machine we know - 10 pages on the reference machine, 50 on tools/perturbed-host - so it
    goes below the libraries, with free space under it); then::

        S - 1 MiB - 4 KiB [hint op4: ends exactly at vm_start_gap(S)]   accepted
        S - 1 MiB ...........  guard gap (stack_guard_gap = 256 pages)
        S - 4 KiB         [MAP_FIXED op1]            accepted (anything goes with MAP_FIXED)
                          [hint op3, same address]   rejected -> placed elsewhere
                          [MAP_FIXED_NOREPLACE op5]  accepted (pure overlap test)
        S                 [GROWSDOWN|STACK, 300 pages]

    Rules: sys_x86_64.c ``arch_get_unmapped_area_topdown`` (hint needs ``addr + len <=
    vm_start_gap(next)``), include/linux/mm.h ``vm_start_gap``, mm/mmap.c ``do_mmap``
    (MAP_FIXED skips placement; NOREPLACE only tests overlap). Observed, linux-mm.md §5.2.
    Once a mapping sits right below, S can never grow (mm/vma.c ``expand_downwards``): op6
    touches the page below the fixed mapping and faults."""
    flags = ANON | MAP_GROWSDOWN | MAP_STACK
    ops = [mmap_op(0, 300 * P, RW, flags),
           mmap_op("r0-0x1000", P, RW, ANON | MAP_FIXED),
           "munmap r0-0x1000 0x1000",
           mmap_op("r0-0x1000", P, RW, ANON),
           mmap_op("r0-0x101000", P, RW, ANON),
           mmap_op("r0-0x1000", P, RW, ANON | MAP_FIXED_NOREPLACE),
           "touch r0-0x2000 w"]
    b = both(probes, ops, setarch=setarch)
    s = b.k(0)
    assert s == topdown_slot(b.maps(-1), 300 * P, MMAP_BASE[setarch[0]])
    assert b.k(1) == s - P
    assert b.vma(1, s - P).end == s and b.vma(1, s).start == s  # adjacent, not merged
    assert b.k(3) != s - P and not s - GUARD <= b.k(3) < s
    assert b.k(4) == s - GUARD - P
    assert b.k(5) == s - P
    assert b.kernel(6) == "SIGSEGV"
    b.assert_model_agrees()
    growth = [e for e in b.mm.events if isinstance(e, ev.PlacedInGrowthRoom)]
    assert [(e.addr, e.inside_guard_gap) for e in growth][:1] == [(s - P, True)]


# --------------------------------------------------------------------------- claim 2

THREAD = 8 * MiB + P  # glibc: default stack size (RLIMIT_STACK 8 MiB) + one guard page


@pytest.mark.parametrize("setarch", [X64, I686], ids=["x86_64", "i686"])
def test_claim2_thread_stacks_pack_back_to_back(probes, setarch):
    """Claim 2. glibc ``allocate_stack`` (nptl/allocatestack.c): ``mmap(NULL, 8 MiB + 4 KiB,
    PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK)`` then ``mprotect(mem + 4 KiB, 8 MiB,
    RW)`` (guard at the low end). 8 MiB + 4 KiB is not a 2 MiB multiple, so no THP path; each
    stack goes to the top of the highest gap that holds it (mm/vma.c
    ``unmapped_area_topdown``), i.e. directly below the previous one::

        T = start of the lowest mapping of the mmap area (libc's anon block)
        T - 1L   [---p guard][rw-p 8 MiB]   thread 1
        T - 2L   [---p guard][rw-p 8 MiB]   thread 2
        T - 3L   [---p guard][rw-p 8 MiB]   thread 3
        T - 4L   [plain 8 MiB + 4 KiB rw]   any allocation of that size: same rule
    with L = 0x801000. Measured on Linux 6.18 with tests/probe."""
    ops = []
    for i in range(3):
        ops += [mmap_op(0, THREAD, PROT_NONE, ANON | MAP_STACK),
                f"mprotect r{2 * i}+0x1000 {8 * MiB:#x} 3"]
    ops.append(mmap_op(0, THREAD, RW, ANON))
    b = both(probes, ops, setarch=setarch)
    # T comes from the kernel's own initial maps (it depends on this host's libc and
    # ld.so.cache sizes): the top of the highest gap below mmap_base that holds a stack is
    # the start of the lowest mapping of the mmap area.
    top = topdown_slot(b.maps(-1), THREAD, MMAP_BASE[setarch[0]]) + THREAD
    assert any(m.start == top for m in b.maps(-1)), "T is the start of a mapping"
    starts = [b.k(0), b.k(2), b.k(4), b.k(6)]
    assert starts == [top - (i + 1) * THREAD for i in range(4)]
    last = b.maps(len(ops) - 1)
    for t in starts[:3]:
        guard = next(m for m in last if m.start == t)
        stack = next(m for m in last if m.start == t + P)
        assert (guard.end, guard.perms) == (t + P, "---p")
        assert (stack.end, stack.perms) == (t + THREAD, "rw-p")
    b.assert_model_agrees()


# --------------------------------------------------------------------------- claim 3

def _fill_ops(repeat: int = 8) -> list[str]:
    """PROT_NONE|MAP_NORESERVE mappings of 2 GiB, 1 GiB, ... 4 KiB, each size ``repeat``
    times. Every placement takes the top (top-down) or bottom (bottom-up fallback) of a gap,
    so the rest of that gap stays in one piece and is smaller than the size just tried; with
    ``repeat`` at least the number of gaps, each size level fills every gap it fits, and the
    last 4 KiB requests fail with ENOMEM only when no page is left."""
    ops = []
    for bit in range(31, 11, -1):
        ops += [mmap_op(0, 1 << bit, PROT_NONE, ANON | MAP_NORESERVE)] * repeat
    return ops


def test_claim3_i686_process_maps_almost_4_gib(probes):
    """Claim 3. A compat task's TASK_SIZE is IA32_PAGE_OFFSET = 0xFFFFE000
    (arch/x86/include/asm/page_64_types.h): all of [0, 4 GiB) but the top two pages. Of that,
    the kernel never places anything below mmap_min_addr (mm/vma.c ``unmapped_area*``: ``low =
    max(low_limit, mmap_min_addr)``, 65536 here) nor inside the 1 MiB guard gap below [stack]
    (``vm_start_gap``); top-down fills [65536, mmap_base), the bottom-up fallback
    (sys_x86_64.c) fills [mmap_base, [stack] - 1 MiB). So::

        mapped by the fill = 2^32 - 0x10000 - 2*4096 - (already mapped) - 0x100000

    Measured on Linux 6.18 with tests/probe (setarch i686 -R): the probe's initial mappings are
    0xb1f000 bytes and the fill maps 0xff3cf000 bytes = 4 GiB - 0x112000 - 0xb1f000."""
    ops = _fill_ops()
    b = both(probes, ops, setarch=I686)
    initial = sum(m.end - m.start for m in b.maps(-1))
    filled = sum(int(s.op_line_resolved.split()[2], 16) for s in b.run.steps
                 if s.value is not None)
    assert b.kernel(len(ops) - 1) == "-ENOMEM"  # filled until ENOMEM
    assert (1 << 32) - IA32_PAGE_OFFSET == 2 * P
    assert filled == (1 << 32) - MMAP_MIN - 2 * P - initial - GUARD
    final = b.maps(len(ops) - 1)
    assert final[0].start == MMAP_MIN
    stack = next(m for m in final if m.path == "[stack]")
    below_stack = max(m.end for m in final if m.end <= stack.start)
    assert (stack.end, stack.start - below_stack) == (IA32_PAGE_OFFSET, GUARD)
    b.assert_model_agrees()


def test_claim3_on_the_model_alone():
    """Claim 3 on the model's own exec layout of a typical 32-bit program (no kernel needed):
    the same greedy fill, the same arithmetic (arch/x86/include/asm/page_64_types.h
    IA32_PAGE_OFFSET, mm/vma.c ``unmapped_area*``; see the kernel test above)."""
    profile = get_profile("i686")
    mm = exec_layout(profile, *typical_program(profile))
    initial = mm.total_vm()
    filled = 0
    for bit in range(31, 11, -1):
        while True:
            addr = mm.mmap(0, 1 << bit, PROT_NONE, ANON | MAP_NORESERVE)
            if isinstance(addr, Errno):
                assert addr == Errno.ENOMEM
                break
            filled += 1 << bit
    assert filled == (1 << 32) - MMAP_MIN - 2 * P - initial - GUARD
    assert mm.largest_free_gap() == GUARD  # what is left: the stack guard gap
    mm._check()


def test_claim3_the_64bit_kernel_limit_not_3gib():
    """Contrast for claim 3: with ADDR_LIMIT_3GB (``setarch --3gb``) the same task stops at
    0xc0000000 (arch/x86/include/asm/page_64_types.h IA32_PAGE_OFFSET), like a native i386
    VMSPLIT_3G kernel: 1 GiB less, and no top two pages to lose. (The --3gb mmap_base 0xb8000000
    is checked against the kernel in tests/test_layout.py.)"""
    from simulator.kernel.config import Personality, ProcessConfig
    profile = get_profile("i686")
    mm = exec_layout(profile, *typical_program(profile),
                     proc=ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE
                                        | Personality.ADDR_LIMIT_3GB))
    initial = mm.total_vm()
    filled = 0
    for bit in range(31, 11, -1):
        while not isinstance(addr := mm.mmap(0, 1 << bit, PROT_NONE, ANON | MAP_NORESERVE),
                             Errno):
            filled += 1 << bit
    assert filled == 0xC0000000 - MMAP_MIN - initial - GUARD
    assert filled < 3 * GiB
