"""mremap(2) and brk(2), against the real kernel (mm/mremap.c, mm/mmap.c, mm/vma.c).

Differential like tests/test_rules_mmap.py: each op script runs in the probe under
``setarch -R`` and is replayed on the model; the kernel's answers are checked against the rule
(kernel-rules.md §1 and §6, whose observations these reproduce) and the model must agree on
every return value and /proc/self/maps. map_count limits use the model alone with a small
``max_map_count`` (the sysctl is machine-wide).

``B = 0x7f0000000000`` and ``D = 0x7e0000000000`` are far from the probe's own mappings;
``S`` is the probe's initial break (``brk0``, 0x555555e2c000 for probe64 under -R).
"""

from __future__ import annotations

import pytest

from simulator.host.elf import read_elf
from simulator.kernel import events as ev
from simulator.kernel.arch import get_profile
from simulator.kernel.config import KernelConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_FIXED, MAP_GROWSDOWN, MAP_PRIVATE, MREMAP_DONTUNMAP, MREMAP_FIXED,
    MREMAP_MAYMOVE, PROT_READ, PROT_WRITE, Errno,
)
from simulator.units import MiB, PAGE_SIZE
from strategies import fresh_address_space
from test_rules_mmap import I686, X64, both, mmap_op, topdown_slot
from test_rules_vma import FILL, VICTIM, at_map_count, ranges

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
FIXED = ANON | MAP_FIXED
B = 0x7F0000000000
D = 0x7E0000000000
MAYMOVE, MFIXED, DONTUNMAP = MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP


def mremap_op(old, old_len, new_len, flags=0, new=0) -> str:
    return f"mremap {old:#x} {old_len:#x} {new_len:#x} {flags:#x} {new:#x}"


# --------------------------------------------------------------------------- mremap

def test_mremap_shrink_unmaps_the_tail(probes):
    """mm/mremap.c ``mremap_at`` SHRINK: ``do_vmi_munmap(addr + new_len, delta)``, returns
    ``addr``::

        B [4 pages] -> mremap(B, 4P, 2P) -> B [2 pages]
    """
    b = both(probes, [mmap_op(B, 4 * P, RW, FIXED), mremap_op(B, 4 * P, 2 * P)])
    assert b.k(1) == B
    assert ranges(b, 1) == [(B, B + 2 * P, "rw-p")]
    b.assert_model_agrees()


def test_mremap_plain_shrink_ignores_vma_bounds(probes):
    """mm/mremap.c ``check_prep_vma`` returns early for a plain shrink, so nothing checks that
    ``[addr, addr+old_len)`` is one VMA: the munmap of the tail removes whatever is there::

        B [P] hole B+2P [P]   mremap(B, 4P, P)  -> B kept, B+2P unmapped
        B [P] hole B+2P [P]   mremap(B, 4P, 3P) -> tail [B+3P, B+4P) is empty: no change
    (Observed, kernel-rules.md §1.5)."""
    ops = [mmap_op(B, P, RW, FIXED), mmap_op(B + 2 * P, P, RW, FIXED),
           mremap_op(B, 4 * P, 3 * P), mremap_op(B, 4 * P, P)]
    b = both(probes, ops)
    assert (b.k(2), b.k(3)) == (B, B)
    assert ranges(b, 2) == [(B, B + P, "rw-p"), (B + 2 * P, B + 3 * P, "rw-p")]
    assert ranges(b, 3) == [(B, B + P, "rw-p")]
    b.assert_model_agrees()


@pytest.mark.parametrize("write,merged", [(False, True), (True, False)],
                         ids=["unfaulted", "written"])
def test_mremap_grows_in_place_and_merges_with_next(probes, write, merged):
    """mm/mremap.c ``expand_vma``: the range ends at ``vm_end`` and ``[vm_end, vm_end+delta)``
    is free, so the VMA grows in place (``vma_merge_extend``), absorbing the next VMA if it is
    mergeable — which two separately written VMAs are not (different anon_vmas)::

        B [2P] hole(P) B+3P [P]   mremap(B, 2P, 3P) -> [B, B+3P) touches B+3P
    (Observed, kernel-rules.md §1.6)."""
    ops = [mmap_op(B, 2 * P, RW, FIXED), mmap_op(B + 3 * P, P, RW, FIXED)]
    if write:
        ops += [f"touch {B:#x} w", f"touch {B + 3 * P:#x} w"]
    ops.append(mremap_op(B, 2 * P, 3 * P))
    b = both(probes, ops)
    last = len(ops) - 1
    assert b.k(last) == B
    expected = ([(B, B + 4 * P, "rw-p")] if merged
                else [(B, B + 3 * P, "rw-p"), (B + 3 * P, B + 4 * P, "rw-p")])
    assert ranges(b, last) == expected
    b.assert_model_agrees()


def test_mremap_grows_in_place_into_a_guard_gap(probes):
    """mm/mremap.c ``vma_expandable``: only a plain overlap with another VMA and ``end <=
    TASK_SIZE`` are checked, not the next VMA's stack guard gap — a VMA grows right up to a
    MAP_GROWSDOWN VMA (Observed, kernel-rules.md §1.4)::

        B [P] .................. B+16P [GROWSDOWN]   mremap(B, P, 16P) -> [B, B+16P)
    """
    ops = [mmap_op(B + 16 * P, P, RW, FIXED | MAP_GROWSDOWN), mmap_op(B, P, RW, FIXED),
           mremap_op(B, P, 16 * P)]
    b = both(probes, ops)
    assert b.k(2) == B
    assert ranges(b, 2) == [(B, B + 16 * P, "rw-p"), (B + 16 * P, B + 17 * P, "rw-p")]
    b.assert_model_agrees()


def test_mremap_grow_needs_maymove_to_move(probes):
    """mm/mremap.c ``expand_vma``: if the VMA cannot grow in place, ENOMEM without
    MREMAP_MAYMOVE; with it, ``get_unmapped_area(NULL, 0, new_len, ...)`` places it like a fresh
    mmap — including the THP path for a 2 MiB multiple (Observed: a 4 KiB anon VMA grown to
    2 MiB landed at 0x7ffff7a00000, kernel-rules.md §1.7)::

        B [P][B+P blocker]   mremap(B, P, 2 MiB) -> ENOMEM; with MAYMOVE -> 0x7ffff7a00000
    """
    ops = [mmap_op(B, P, RW, FIXED), mmap_op(B + P, P, PROT_READ, FIXED),
           mremap_op(B, P, 2 * MiB), mremap_op(B, P, 2 * MiB, MAYMOVE),
           mmap_op(D, P, RW, FIXED), mmap_op(D + P, P, PROT_READ, FIXED),
           mremap_op(D, P, 3 * P, MAYMOVE)]
    b = both(probes, ops)
    assert b.kernel(2) == "-ENOMEM"
    assert b.k(3) == 0x7FFFF7A00000
    assert b.vma(3, B) is None  # the old range is gone
    # 3 pages: not a 2 MiB multiple -> plain top-down slot
    assert b.k(6) == topdown_slot(b.maps(5), 3 * P, 0x7FFFF7FFF000)
    b.assert_model_agrees()


def test_mremap_fixed_moves_and_replaces_the_destination(probes):
    """mm/mremap.c ``mremap_to``: MREMAP_FIXED first ``do_munmap(new_addr, new_len)``, then
    moves the VMA there; the FixedReplaced event names what was at the destination::

        B [4P rw]          D [P r--] (destination, replaced)
        mremap(B, 4P, 4P, MAYMOVE|FIXED, D) -> D [4P rw], B empty
    """
    ops = [mmap_op(B, 4 * P, RW, FIXED), mmap_op(D, P, PROT_READ, FIXED),
           mremap_op(B, 4 * P, 4 * P, MAYMOVE | MFIXED, D)]
    b = both(probes, ops)
    assert b.k(2) == D
    assert ranges(b, 2, lo=D) == [(D, D + 4 * P, "rw-p")]
    b.assert_model_agrees()
    fixed = [e for e in b.mm.events if isinstance(e, ev.FixedReplaced)]
    assert [(e.addr, e.length) for e in fixed] == [(D, 4 * P)]
    assert fixed[0].destroyed == (ev.Region(D, D + P, "r--p", ""),)


def test_mremap_dontunmap(probes):
    """mm/mremap.c ``mremap_to`` with MREMAP_DONTUNMAP and no FIXED: ``new_addr`` is a hint
    (honoured when free); the old range stays mapped, and (6.18 ``dontunmap_complete``) the old
    VMA keeps VM_ACCOUNT but loses its anon_vma, so a new RW page right below it merges
    (Observed, kernel-rules.md §1.7)::

        B [2P rw, written]  -> D [2P rw]  and B [2P rw] still mapped; B-P new page merges
    """
    ops = [mmap_op(B, 2 * P, RW, FIXED), f"touch {B:#x} w",
           mremap_op(B, 2 * P, 2 * P, MAYMOVE | DONTUNMAP, D), mmap_op(B - P, P, RW, FIXED)]
    b = both(probes, ops)
    assert b.k(2) == D
    assert ranges(b, 2, lo=D, hi=D + P * 16) == [(D, D + 2 * P, "rw-p")]
    assert ranges(b, 2) == [(B, B + 2 * P, "rw-p")]
    assert ranges(b, 3, lo=B - P) == [(B - P, B + 2 * P, "rw-p")]
    b.assert_model_agrees()


def test_mremap_dontunmap_of_an_unfaulted_vma_merges_with_the_source(probes):
    """mm/vma.c ``copy_vma``: a never-faulted anonymous VMA gets the new range's linear pgoff,
    so a destination right above the source continues it and, on 6.18, merges into the very
    VMA MREMAP_DONTUNMAP leaves behind: one VMA (Observed here on 6.18.44)::

        B [2P r--, never touched]  -> mremap(B, 2P, 2P, MAYMOVE|DONTUNMAP|FIXED, B+2P)
        6.18: [B, B+4P) r--p        6.12.118: [B, B+2P) and [B+2P, B+4P), two VMAs

    Debian's 6.12.118 (``copy_vma(..., keep_source)``) clears ``vmg.prev``/``vmg.next`` when
    they are the source: measured under QEMU on 32-bit arm and arm64 compat
    (tests/data/qemu/arm-3g, aarch64-compat probe-s2-inf op 28), replayed here on the model
    with ``version = "6.12"`` (versions.py ``dontunmap_keeps_source_apart``).
    """
    ops = [mmap_op(B, 2 * P, PROT_READ, FIXED),
           mremap_op(B, 2 * P, 2 * P, MAYMOVE | MFIXED | DONTUNMAP, B + 2 * P)]
    b = both(probes, ops)
    assert b.k(1) == B + 2 * P
    assert ranges(b, 1) == [(B, B + 4 * P, "r--p")]
    b.assert_model_agrees()

    mm = fresh_address_space("x86_64", kconfig=KernelConfig(version="6.12"))
    assert mm.mmap(B, 2 * P, PROT_READ, FIXED) == B
    assert mm.mremap(B, 2 * P, 2 * P, MAYMOVE | MFIXED | DONTUNMAP, B + 2 * P) == B + 2 * P
    assert [(v.start, v.end) for v in mm.vmas_in(B, B + 4 * P)] == [(B, B + 2 * P),
                                                                  (B + 2 * P, B + 4 * P)]
    mm._check()


def test_mremap_fixed_moves_several_vmas_with_their_holes(probes):
    """mm/mremap.c ``remap_move`` (6.17+): MREMAP_FIXED with ``old_len == new_len`` may span
    several VMAs; holes inside the range are reproduced at the destination, the parts outside
    stay (Observed, kernel-rules.md §1.8)::

        B [rw rw] B+2P hole  B+3P [r--]  B+4P [rw rw]
            |<------- moved: [B+P, B+5P) ------->|
        D [rw] D+P hole D+2P [r--] D+3P [rw]      source left: [B] rw, [B+5P] rw
    A range starting in a hole is EFAULT.
    """
    ops = [mmap_op(B, 2 * P, RW, FIXED), mmap_op(B + 3 * P, P, PROT_READ, FIXED),
           mmap_op(B + 4 * P, 2 * P, RW, FIXED),
           mremap_op(B + 2 * P, 2 * P, 2 * P, MAYMOVE | MFIXED, D + 0x100000),
           mremap_op(B + P, 4 * P, 4 * P, MAYMOVE | MFIXED, D)]
    b = both(probes, ops)
    assert b.kernel(3) == "-EFAULT"
    assert b.k(4) == D
    assert ranges(b, 4, lo=D, hi=D + 0x200000) == [
        (D, D + P, "rw-p"), (D + 2 * P, D + 3 * P, "r--p"), (D + 3 * P, D + 4 * P, "rw-p")]
    assert ranges(b, 4) == [(B, B + P, "rw-p"), (B + 5 * P, B + 6 * P, "rw-p")]
    b.assert_model_agrees()


MREMAP_ERRORS = [
    # (id, op after "mmap B 2P" (B is a 2-page RW VMA), errno, kernel check)
    ("bad-flags", mremap_op(B, P, 2 * P, 8), "-EINVAL", "check_mremap_params: unknown flag"),
    ("unaligned", mremap_op(B + 0x800, P, 2 * P, MAYMOVE), "-EINVAL", "addr not page aligned"),
    ("new-len-0", mremap_op(B, P, 0, MAYMOVE), "-EINVAL", "new_len == 0"),
    ("new-len-2^47", mremap_op(B, P, 1 << 47, MAYMOVE), "-EINVAL", "new_len > TASK_SIZE"),
    ("fixed-no-maymove", mremap_op(B, P, P, MFIXED, D), "-EINVAL", "FIXED without MAYMOVE"),
    ("dontunmap-resize", mremap_op(B, P, 2 * P, MAYMOVE | DONTUNMAP, D), "-EINVAL",
     "DONTUNMAP and old_len != new_len"),
    ("overlap", mremap_op(B, 2 * P, 2 * P, MAYMOVE | MFIXED, B + P), "-EINVAL",
     "source and destination overlap"),
    ("fixed-at-top", mremap_op(B, P, P, MAYMOVE | MFIXED, 0x7FFFFFFFF000), "-EINVAL",
     "new_addr > TASK_SIZE - new_len"),
    ("old-len-0-private", mremap_op(B, 0, P, MAYMOVE), "-EINVAL",
     "check_prep_vma: old_len 0 on a private mapping"),
    ("hole", mremap_op(D, P, 2 * P, MAYMOVE), "-EFAULT", "check_prep_vma: no VMA at addr"),
    ("crosses-vma-end", mremap_op(B, 4 * P, 8 * P, MAYMOVE), "-EFAULT",
     "check_prep_vma: old_len > vm_end - addr"),
    ("grow-blocked", mremap_op(B, 2 * P, 3 * P), "-ENOMEM", "expand_vma: no MAYMOVE"),
]


@pytest.mark.parametrize("op,errno,rule", [pytest.param(o, e, r, id=i)
                                           for i, o, e, r in MREMAP_ERRORS])
def test_mremap_errors(probes, op, errno, rule):
    """mm/mremap.c ``check_mremap_params`` / ``check_prep_vma`` / ``expand_vma`` errors
    (kernel-rules.md §1.2–1.4; each measured with tests/probe). ``grow-blocked``: an R-- page
    at B+2P keeps the VMA from growing in place."""
    ops = [mmap_op(B, 2 * P, RW, FIXED), mmap_op(B + 2 * P, P, PROT_READ, FIXED), op]
    b = both(probes, ops)
    assert b.kernel(2) == errno, rule
    b.assert_model_agrees()


def _blocked_single_page(mm) -> int:
    """A single-page VMA of the fill whose neighbours are both mapped (cannot grow in place)."""
    addr = FILL + 5 * P
    assert mm.vma_at(addr).start == addr and mm.vma_at(addr + P) is not None
    return addr


@pytest.mark.parametrize("rel,ok", [(-4, True), (-3, False)], ids=["mc=max-4", "mc=max-3"])
def test_max_map_count_mremap_move(rel, ok):
    """mm/mremap.c ``prep_move_vma``: ``if (mm->map_count >= sysctl_max_map_count - 3)
    return -ENOMEM`` — an expand-move works at ``max-4`` and fails at ``max-3``
    (Observed at 65530, kernel-rules.md §1.7)."""
    mm, limit = at_map_count(rel)
    addr = _blocked_single_page(mm)
    result = mm.mremap(addr, P, 2 * P, MAYMOVE)
    assert (not isinstance(result, Errno)) == ok
    if not ok:
        assert result == Errno.ENOMEM and mm.vma_at(addr).start == addr
    mm._check()


@pytest.mark.parametrize("rel,ok", [(-6, True), (-5, False)], ids=["mc=max-6", "mc=max-5"])
def test_max_map_count_mremap_fixed(rel, ok):
    """mm/mremap.c ``check_mremap_params``: for FIXED/DONTUNMAP ``if (mm->map_count + 2 >=
    sysctl_max_map_count - 3) return -ENOMEM`` (before anything is unmapped): ok at max-6,
    ENOMEM from max-5 (Observed at 65530, kernel-rules.md §1.2 step 11)."""
    mm, limit = at_map_count(rel)
    dest = 0x7C0000000000  # free, away from VICTIM and the fill
    result = mm.mremap(VICTIM, 3 * P, 3 * P, MAYMOVE | MFIXED, dest)
    assert (result == dest) == ok
    if not ok:
        assert result == Errno.ENOMEM and mm.vma_at(VICTIM).end == VICTIM + 3 * P
    mm._check()


def test_max_map_count_mremap_shrink_over_the_limit():
    """mm/mremap.c ``mremap_at``: a plain shrink unmaps a VMA's tail through mm/vma.c
    ``do_vmi_munmap`` (one split, never refused):
    it succeeds even at ``map_count == max + 1`` (Observed, kernel-rules.md §1.5)."""
    mm, limit = at_map_count(1)
    assert mm.mremap(VICTIM, 3 * P, P) == VICTIM
    assert mm.map_count == limit + 1
    mm._check()


# --------------------------------------------------------------------------- brk

def test_brk_start_is_the_end_of_the_executable(probes):
    """fs/binfmt_elf.c ``load_elf_binary``: ``mm->start_brk = mm->brk = ELF_PAGEALIGN(elf_brk)``
    (the end of the highest PT_LOAD, no gap with ASLR off). The model's exec layout of the
    probe binary must give the kernel's initial break (brk0 as the probe measured it)."""
    for setarch, bits, arch in ((X64, 64, "x86_64"), (I686, 32, "i686")):
        b = both(probes, ["brk 0"], setarch=setarch)
        binary = b.run.command[len(setarch) + 1]
        exe = read_elf(binary)
        mm = exec_layout(get_profile(arch), exe, read_elf(exe.interp))
        assert mm.start_brk == mm.current_brk == b.run.brk0 == b.k(0)
        assert b.model[0] == hex(b.run.brk0)


def test_brk_grows_until_one_page_before_a_mapping(probes):
    """mm/mmap.c brk: growth needs ``newbrk + PAGE_SIZE <= vm_start_gap(next)`` — one free page
    above the heap; a refused brk returns the old break (never an errno)::

        S [heap ... S+9P] S+9P free page  S+10P [fixed r--]
        brk(S+9P) ok;  brk(S+9P+1) -> PAGE_ALIGN = S+10P, no free page left -> returns S+9P
    (Observed, kernel-rules.md §6)."""
    ops = ["brk brk0+0x3000", "mmap brk0+0xa000 0x1000 0x1 0x32 -1 0", "brk brk0+0x9000",
           "brk brk0+0x9001"]
    b = both(probes, ops)
    S = b.run.brk0
    assert b.k(0) == S + 3 * P
    heap = b.vma(0, S)
    assert (heap.start, heap.end, heap.path) == (S, S + 3 * P, "[heap]")
    assert b.k(2) == S + 9 * P
    assert b.k(3) == S + 9 * P
    b.assert_model_agrees()
    refused = [e for e in b.mm.events if isinstance(e, ev.BrkRefused)]
    assert [(e.requested, e.current) for e in refused] == [(S + 9 * P + 1, S + 9 * P)]
    assert refused[0].blocker == ev.Region(S + 10 * P, S + 11 * P, "r--p", "")


def test_brk_stops_a_guard_gap_before_a_growsdown_vma(probes):
    """mm/mmap.c brk: ``vm_start_gap(next)`` of a VM_GROWSDOWN VMA is 256 pages below it, so
    with a growsdown page at S+300P the break can reach S+43P (S+43P + P = S+300P - 256P) but
    not S+44P (Observed, kernel-rules.md §6)::

        S [heap] .. S+43P | S+44P ... 1 MiB guard ... | S+300P [GROWSDOWN]
    """
    ops = [f"mmap brk0+{300 * P:#x} 0x1000 0x3 {FIXED | MAP_GROWSDOWN:#x} -1 0",
           f"brk brk0+{43 * P:#x}", f"brk brk0+{44 * P:#x}"]
    b = both(probes, ops)
    S = b.run.brk0
    assert (b.k(1), b.k(2)) == (S + 43 * P, S + 43 * P)
    b.assert_model_agrees()
    refused = [e for e in b.mm.events if isinstance(e, ev.BrkRefused)]
    assert len(refused) == 1 and refused[0].blocker.start == S + 300 * P


def test_brk_shrink_and_limits(probes):
    """mm/mmap.c brk: below ``start_brk`` the call fails and returns the current break;
    shrinking unmaps ``[PAGE_ALIGN(newbrk), oldbrk)``; ``brk(start_brk)`` removes the heap VMA;
    an anon RW mapping placed right after the heap merges into it, after which the heap cannot
    grow (no free page) but can still shrink out of the merged VMA (Observed, kernel-rules.md §6)::

        S [heap 3P]  -> brk(S-1): S+3P;  brk(S+P): [S, S+P);  brk(S): no heap
        brk(S+2P); mmap(S+2P, P) merges -> [S, S+3P); brk(S+4P) refused;
        brk(S+P) -> [S, S+P) + [S+2P, S+3P)
    """
    ops = ["brk brk0+0x3000", "brk brk0-1", "brk brk0+0x1000", "brk brk0", "brk brk0+0x2000",
           "mmap brk0+0x2000 0x1000 0x3 0x22 -1 0", "brk brk0+0x4000", "brk brk0+0x1000"]
    b = both(probes, ops)
    S = b.run.brk0
    assert [b.k(i) for i in range(8)] == [S + 3 * P, S + 3 * P, S + P, S, S + 2 * P, S + 2 * P,
                                          S + 2 * P, S + P]
    assert ranges(b, 3, lo=S, hi=S + 16 * P) == []
    assert ranges(b, 5, lo=S, hi=S + 16 * P) == [(S, S + 3 * P, "rw-p")]
    assert ranges(b, 7, lo=S, hi=S + 16 * P) == [(S, S + P, "rw-p"), (S + 2 * P, S + 3 * P, "rw-p")]
    b.assert_model_agrees()


def test_max_map_count_brk():
    """mm/vma.c ``do_brk_flags``: ``if (mm->map_count > sysctl_max_map_count)`` fail — the same
    strict test as mmap: a new heap VMA is allowed at ``max``, refused at ``max + 1``."""
    for rel, ok in ((0, True), (1, False)):
        mm, limit = at_map_count(rel)
        start = mm.start_brk
        assert (mm.brk(start + P) == start + P) == ok
        assert mm.map_count == limit + rel + (1 if ok else 0)
        mm._check()
