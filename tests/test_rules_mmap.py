"""mmap(2) placement and error rules, checked against the real kernel on this machine.

Most tests are differential: the op script runs in the C probe (tests/probe/probe.c) on the
Linux 6.18 x86_64 kernel under ``setarch -R`` (ASLR off), the model replays it from the probe's
own initial /proc/self/smaps (tests/differential.py), and

* the kernel's answers are checked against the rule the test is about (an address derived in
  the docstring/comments, or a value measured on Linux 6.18 with tests/probe), and
* the model must give the same answer and the same /proc/self/maps after every op.

Addresses below are those of the probe's own layout under ``setarch -R`` with RLIMIT_STACK
8 MiB (reference linux-mm.md §7.2 and §2.3): 64-bit mmap_base 0x7ffff7fff000, [stack]
0x7ffffffde000-0x7ffffffff000; i686 mmap_base 0xf7ffe000, [stack] 0xfffdd000-0xffffe000.
Tests whose rule cannot be run here (5-level paging, arm64 52-bit, non-root) use the model
alone with values derived from the kernel source named in the docstring.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil

import attrs
import pytest

import differential
import kernel_probe
from conftest import probe_for
from strategies import fresh_address_space
from simulator.kernel import events as ev
from simulator.kernel.config import KernelConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.arch import get_profile
from simulator.kernel.mm import AddressSpace
from simulator.kernel.procfs import smaps_vmflags
from simulator.kernel.resource import RLIMIT_AS
from simulator.kernel.uapi import (
    MAP_32BIT, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_NORESERVE,
    MAP_PRIVATE, MAP_SHARED, MAP_STACK, PROT_EXEC, PROT_READ, PROT_WRITE, Errno,
)
from simulator.host.files import host_file
from simulator.programs import typical_program
from simulator.units import MiB, PAGE_SIZE

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS  # 0x22
FIXED = ANON | MAP_FIXED  # 0x32
GD = ANON | MAP_GROWSDOWN  # 0x122
NOREPLACE = ANON | MAP_FIXED_NOREPLACE
GUARD = 256 * P  # stack_guard_gap (mm/mmap.c): 256 pages = 1 MiB
MMAP_MIN = 0x10000  # effective mmap_min_addr here: max(4096, CONFIG_LSM_MMAP_MIN_ADDR=65536)

X64 = ["x86_64", "-R"]
I686 = ["i686", "-R"]
MMAP_BASE_64 = 0x7FFFF7FFF000  # linux-mm.md §2.3, Observed
MMAP_BASE_32 = 0xF7FFE000  # linux-mm.md §2.3, Observed


# --------------------------------------------------------------------------- kernel + model

def _norm(result: str) -> str:
    """The probe spells errnos it has no name for as ``-E<n>`` (EBADF is ``-E9``)."""
    m = re.fullmatch(r"-E(\d+)", result)
    return f"-{Errno(int(m.group(1))).name}" if m else result


@dataclasses.dataclass
class Both:
    """One op script, run on the kernel (the probe) and replayed on the model."""

    run: kernel_probe.ProbeRun
    mm: AddressSpace
    model: list[str]
    model_maps: list[str]

    def kernel(self, i: int) -> str:
        return _norm(self.run.steps[i].result)

    def k(self, i: int) -> int:
        value = self.run.steps[i].value
        assert value is not None, f"op {i} failed on the kernel: {self.kernel(i)}"
        return value

    def maps(self, i: int) -> list[kernel_probe.MapsLine]:
        """The kernel's maps after op ``i`` (``-1``: before the first op)."""
        text = self.run.initial_maps if i < 0 else self.run.steps[i].maps
        return kernel_probe.parse_maps(text)

    def vma(self, i: int, addr: int):
        return next((m for m in self.maps(i) if m.start <= addr < m.end), None)

    def assert_model_agrees(self) -> None:
        for step, got, maps in zip(self.run.steps, self.model, self.model_maps):
            context = f"op {step.index}: {step.op_line_resolved}"
            assert got == _norm(step.result), context
            assert maps == step.maps, context


def both(probes, ops, setarch=X64, rlimit=8 * MiB, files=(), smaps=False,
         rlimit_as=None) -> Both:
    """Run ``ops`` in the probe (under ``setarch``, RLIMIT_STACK ``rlimit``; RLIMIT_AS
    ``rlimit_as`` through util-linux ``prlimit``) and replay them on the model."""
    bits = 32 if setarch[0] == "i686" else 64
    binary = probe_for(probes, bits)
    argv = list(setarch)
    if rlimit_as is not None:
        if shutil.which("prlimit") is None:
            pytest.skip("prlimit (util-linux) not found")
        argv += ["prlimit", f"--as={rlimit_as}", "--"]  # setarch execs prlimit execs the probe
    try:
        run = kernel_probe.run_probe(binary, ops, setarch=argv, rlimit_stack=rlimit,
                                     scratch_files=files, smaps=smaps)
    except kernel_probe.ProbeUnavailable as exc:
        pytest.skip(f"cannot run the probe: {exc.reason}")
    mm = differential.model_for(run, setarch, rlimit)
    if rlimit_as is not None:
        mm.rlim = mm.rlim.set(RLIMIT_AS, (rlimit_as, rlimit_as))  # prlimit --as sets both
    refs = differential.scratch_refs(files)
    model, maps = [], []
    for step in run.steps:
        assert step.result != "SKIPPED", f"op {step.index} would touch the probe's own mappings"
        model.append(_norm(differential.apply(mm, step.op_line_resolved, refs)))
        maps.append(mm.maps_text())
        mm._check()
    return Both(run, mm, model, maps)


def topdown_slot(maps, length: int, high: int, low: int = MMAP_MIN) -> int:
    """mm/vma.c ``unmapped_area_topdown`` on a maps listing without growsdown VMAs below
    ``high``: the top of the highest gap inside ``[low, high)`` that holds ``length``."""
    edges = [(m.start, m.end) for m in maps]
    cursor, gaps = 0, []
    for start, end in edges:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    for start, end in reversed(gaps):
        start, end = max(start, low), min(end, high)
        if end - start >= length:
            return end - length
    raise AssertionError("no gap")


def mmap_op(addr, length, prot, flags, fd=-1, off=0) -> str:
    def f(x):
        return x if isinstance(x, str) else hex(x)
    return f"mmap {f(addr)} {f(length)} {prot:#x} {flags:#x} {fd} {f(off)}"


# --------------------------------------------------------------------------- hints

def test_free_hint_is_honoured(probes):
    """arch/x86/kernel/sys_x86_64.c ``arch_get_unmapped_area_topdown``: a page-aligned hint
    that passes ``mmap_address_hint_valid`` and ends at or below ``vm_start_gap`` of the next
    VMA is returned as is, anywhere below TASK_SIZE."""
    b = both(probes, [mmap_op(0x7FF000000000, P, RW, ANON)])
    assert b.k(0) == 0x7FF000000000
    b.assert_model_agrees()
    b32 = both(probes, [mmap_op(0x80000000, P, RW, ANON)], setarch=I686)
    assert b32.k(0) == 0x80000000
    b32.assert_model_agrees()


def test_hint_overlapping_a_mapping_falls_back_to_the_search(probes):
    """sys_x86_64.c ``arch_get_unmapped_area_topdown``: a hint whose range meets a VMA is
    dropped (no "nearest fit"); the normal top-down search places the mapping at the top of the
    highest free gap below mmap_base (mm/vma.c ``unmapped_area_topdown``)::

        0x7ff000000000  [ op0: 2 pages ]
        0x7ff000001000       ^ hint of op1 (2 pages) overlaps -> ignored
    """
    ops = [mmap_op(0x7FF000000000, 2 * P, RW, ANON),
           mmap_op(0x7FF000001000, 2 * P, RW, ANON)]
    b = both(probes, ops)
    assert b.k(0) == 0x7FF000000000
    assert b.k(1) == topdown_slot(b.maps(0), 2 * P, MMAP_BASE_64)
    b.assert_model_agrees()
    ignored = [e for e in b.mm.events if isinstance(e, ev.HintIgnored)]
    assert [(e.hint, e.result) for e in ignored] == [(0x7FF000001000, b.k(1))]
    assert "overlaps" in ignored[0].reason


def test_hint_inside_a_growsdown_guard_gap_is_rejected(probes):
    """sys_x86_64.c: a hint is taken only if ``addr + len <= vm_start_gap(next)``, and
    include/linux/mm.h ``vm_start_gap`` is ``vm_start - stack_guard_gap`` for VM_GROWSDOWN::

        G - 1 MiB - 4 KiB  [hint op3: ends at G - 1 MiB]  accepted
        G - 1 MiB          [hint op2: ends 4 KiB inside]  rejected
        ...                 1 MiB guard gap
        G - 4 KiB          [hint op1]                     rejected
        G = 0x7f0000000000 [ MAP_GROWSDOWN, 16 pages ]

    Measured on Linux 6.18 with tests/probe (setarch x86_64 -R), matching linux-mm.md §5.2.
    """
    G = 0x7F0000000000
    ops = [mmap_op(G, 16 * P, RW, GD | MAP_FIXED),
           mmap_op(G - P, P, RW, ANON),
           mmap_op(G - GUARD, P, RW, ANON),
           mmap_op(G - GUARD - P, P, RW, ANON)]
    b = both(probes, ops)
    assert b.k(1) != G - P and b.k(2) != G - GUARD
    assert b.k(1) == topdown_slot(b.maps(0), P, MMAP_BASE_64)
    assert b.k(3) == G - GUARD - P
    b.assert_model_agrees()
    reasons = [e.reason for e in b.mm.events if isinstance(e, ev.HintIgnored)]
    assert len(reasons) == 2 and all("guard gap" in r for r in reasons)


def test_hint_above_mmap_base_is_honoured(probes):
    """sys_x86_64.c: x86 has no upper bound for hints but TASK_SIZE, so the room between
    mmap_base and the stack's guard gap is usable by hint::

        0x7ffffffde000 [stack] ... guard gap 1 MiB from 0x7fffffede000
        0x7fffffedd000 [hint: ends exactly at vm_start_gap([stack])]  accepted
        0x7fffffede000 [hint: first page inside the gap]               rejected
        0x7ffff8000000 [hint]                                          accepted
        0x7ffff7fff000 mmap_base

    Measured on Linux 6.18 with tests/probe (setarch x86_64 -R / i686 -R), linux-mm.md §3.3.
    """
    ops = [mmap_op(0x7FFFF8000000, P, RW, ANON),
           mmap_op(0x7FFFFFEDD000, P, RW, ANON),
           mmap_op(0x7FFFFFEDE000, P, RW, ANON)]
    b = both(probes, ops)
    assert (b.k(0), b.k(1)) == (0x7FFFF8000000, 0x7FFFFFEDD000)
    assert b.k(2) < MMAP_BASE_64
    b.assert_model_agrees()
    b32 = both(probes, [mmap_op(0xF8000000, P, RW, ANON)], setarch=I686)
    assert b32.k(0) == 0xF8000000
    b32.assert_model_agrees()


def test_unaligned_hint_is_rounded_down(probes):
    """mm/mmap.c ``round_hint_to_min``: ``addr &= PAGE_MASK`` (down, not up)."""
    b = both(probes, [mmap_op(0x7FE000000123, P, RW, ANON)])
    assert b.k(0) == 0x7FE000000000
    b.assert_model_agrees()


@pytest.mark.parametrize("setarch", [X64, I686], ids=["x86_64", "i686"])
def test_hint_below_mmap_min_addr_is_raised(probes, setarch):
    """mm/mmap.c ``round_hint_to_min``: a non-zero hint below mmap_min_addr becomes
    ``PAGE_ALIGN(mmap_min_addr)`` = 0x10000 here (security/min_addr.c: max(4096, LSM 65536));
    a hint that rounds down to 0 is no hint at all."""
    b = both(probes, [mmap_op(0x2000, P, RW, ANON), mmap_op(0xFFF, P, RW, ANON)],
             setarch=setarch)
    assert b.k(0) == MMAP_MIN
    base = MMAP_BASE_64 if setarch is X64 else MMAP_BASE_32
    assert b.k(1) == topdown_slot(b.maps(0), P, base)
    b.assert_model_agrees()


def test_hint_above_47_bits_is_ignored_on_4_level_paging(probes):
    """arch/x86/mm/mmap.c ``mmap_address_hint_valid``: ``addr > TASK_SIZE - len`` fails
    (TASK_SIZE = 2^47 - 4096 without LA57); ``high_limit += TASK_SIZE_MAX - DEFAULT_MAP_WINDOW``
    adds 0 on 4-level paging, so the mapping goes to the normal top-down slot."""
    b = both(probes, [mmap_op(1 << 50, P, RW, ANON)])
    assert b.k(0) == topdown_slot(b.maps(-1), P, MMAP_BASE_64)
    b.assert_model_agrees()


# --------------------------------------------------------------------------- MAP_FIXED

def test_map_fixed_replaces_and_reports_what_it_destroyed(probes):
    """mm/vma.c ``__mmap_region`` → ``vms_gather_munmap_vmas``: MAP_FIXED silently unmaps
    whatever the range covers, splitting VMAs at its edges::

        B          B+P        B+2P                 B+4P
        [   rw-p 4 pages (op0)                       ]
                   [r-- op1 ]                              -> rw | r-- | rw
        B+3P .. B+6P fixed (op3) over [rw tail][hole][B+5P r-x (op2)]

    The FixedReplaced event must list exactly the VMAs the kernel's maps showed in the range
    before the call."""
    B = 0x7F0000000000
    ops = [mmap_op(B, 4 * P, RW, FIXED),
           mmap_op(B + P, P, PROT_READ, FIXED),
           mmap_op(B + 5 * P, P, PROT_READ | PROT_EXEC, FIXED),
           mmap_op(B + 3 * P, 3 * P, PROT_READ, FIXED)]
    b = both(probes, ops)
    assert [b.k(i) for i in range(4)] == [B, B + P, B + 5 * P, B + 3 * P]
    after = [(m.start, m.end, m.perms) for m in b.maps(3) if B <= m.start < B + 8 * P]
    assert after == [(B, B + P, "rw-p"), (B + P, B + 2 * P, "r--p"),
                     (B + 2 * P, B + 3 * P, "rw-p"), (B + 3 * P, B + 6 * P, "r--p")]
    b.assert_model_agrees()
    fixed = [e for e in b.mm.events if isinstance(e, ev.FixedReplaced)]
    assert [(e.call, e.addr, e.length) for e in fixed] == [(1, B + P, P), (3, B + 3 * P, 3 * P)]
    for e in fixed:
        before = b.maps(e.call - 1)
        expected = tuple(ev.Region(m.start, m.end, m.perms, m.path) for m in before
                         if m.start < e.addr + e.length and m.end > e.addr)
        assert e.destroyed == expected


def test_map_fixed_splits_a_growsdown_vma_in_three(probes):
    """mm/vma.c ``__mmap_region`` → ``vms_gather_munmap_vmas``: MAP_FIXED may land inside a
    MAP_GROWSDOWN VMA and splits it like any other (linux-mm.md §3.7, Observed: 3 pieces)::

        G [gd gd] G+2P [fixed] G+3P [gd gd gd gd gd]
    """
    G = 0x7F0000000000
    b = both(probes, [mmap_op(G, 8 * P, RW, GD | MAP_FIXED), mmap_op(G + 2 * P, P, RW, FIXED)])
    pieces = [(m.start, m.end) for m in b.maps(1) if G <= m.start < G + 8 * P]
    assert pieces == [(G, G + 2 * P), (G + 2 * P, G + 3 * P), (G + 3 * P, G + 8 * P)]
    b.assert_model_agrees()


def test_map_fixed_noreplace(probes):
    """mm/mmap.c ``do_mmap``: MAP_FIXED_NOREPLACE is MAP_FIXED plus EEXIST when any VMA
    intersects the range — a pure overlap test, so right below a growsdown VMA (inside its
    guard gap) is allowed; and EEXIST is checked before the map type (an invalid type 0 with
    an overlap gives EEXIST)::

        G - P  [noreplace op1]  allowed (guard gap is not an overlap)
        G      [GROWSDOWN op0]  <- noreplace op2 at G: EEXIST; op3 type 0 at G: EEXIST
        far    [noreplace type 0, op4]: EINVAL
    """
    G = 0x7F0000000000
    ops = [mmap_op(G, 4 * P, RW, GD | MAP_FIXED),
           mmap_op(G - P, P, RW, NOREPLACE),
           mmap_op(G, P, RW, NOREPLACE),
           mmap_op(G, P, RW, MAP_ANONYMOUS | MAP_FIXED_NOREPLACE),
           mmap_op(0x7E0000000000, P, RW, MAP_ANONYMOUS | MAP_FIXED_NOREPLACE)]
    b = both(probes, ops)
    assert b.k(1) == G - P
    assert [b.kernel(i) for i in (2, 3, 4)] == ["-EEXIST", "-EEXIST", "-EINVAL"]
    b.assert_model_agrees()


# --------------------------------------------------------------------------- MAP_32BIT

def test_map_32bit_window_64bit(probes):
    """sys_x86_64.c ``find_start_end``: a 64-bit MAP_32BIT mapping is placed bottom-up in
    [0x40000000, 0x80000000) whatever the layout; a hint outside the window is dropped, a free
    hint below it is honoured (``arch_get_unmapped_area`` has no lower bound)::

        0x10000000 [op3 hint honoured]
        0x40000000 [op0][op1 merged][op2: hint 0x90000000 rejected -> next free]

    Measured on Linux 6.18 with tests/probe (setarch x86_64 -R), linux-mm.md §3.4."""
    flags = ANON | MAP_32BIT
    ops = [mmap_op(0, P, RW, flags), mmap_op(0, P, RW, flags),
           mmap_op(0x90000000, P, RW, flags), mmap_op(0x10000000, P, RW, flags)]
    b = both(probes, ops)
    assert [b.k(i) for i in range(4)] == [0x40000000, 0x40001000, 0x40002000, 0x10000000]
    assert (b.vma(2, 0x40000000).start, b.vma(2, 0x40000000).end) == (0x40000000, 0x40003000)
    b.assert_model_agrees()


def test_bottom_up_search_skips_past_a_growsdown_vma(probes):
    """mm/vma.c ``unmapped_area`` (bottom-up): if the candidate window reaches into the guard
    gap of the VMA above the gap (``vm_start_gap(next) < gap + length - 1``) the search
    restarts at ``next->vm_end`` — the rest of that gap is skipped entirely::

        0x40000000 [1 MiB op2]   (fits: ends exactly at vm_start_gap(G) = 0x40100000)
        0x40100000 ... 1 MiB guard gap ...
        0x40200000 G [GROWSDOWN 16 pages, op0]
        0x40210000 [1.5 MiB op1: did not fit below G]   0x40390000 [4 KiB op3: above, not below]

    MAP_32BIT searches bottom-up from 0x40000000 (sys_x86_64.c ``find_start_end``).
    Observed, linux-mm.md §3.5; measured on Linux 6.18 with tests/probe."""
    flags = ANON | MAP_32BIT
    ops = [mmap_op(0x40200000, 16 * P, RW, GD | MAP_FIXED), mmap_op(0, 0x180000, RW, flags),
           mmap_op(0, 0x100000, RW, flags), mmap_op(0, P, RW, flags)]
    b = both(probes, ops)
    assert [b.k(i) for i in range(4)] == [0x40200000, 0x40210000, 0x40000000, 0x40390000]
    b.assert_model_agrees()


def test_map_32bit_is_ignored_for_i686(probes):
    """sys_x86_64.c: MAP_32BIT is tested only for 64-bit syscalls (``!in_32bit_syscall()``);
    a compat mmap with it is an ordinary top-down placement."""
    b = both(probes, [mmap_op(0, P, RW, ANON | MAP_32BIT)], setarch=I686)
    assert b.k(0) == topdown_slot(b.maps(-1), P, MMAP_BASE_32)
    b.assert_model_agrees()


# --------------------------------------------------------------------------- flags and merging

def test_map_growsdown_sets_vm_growsdown_and_is_anonymous_private_only(probes, scratch_files):
    """mm/mmap.c ``do_mmap``: MAP_GROWSDOWN → VM_GROWSDOWN ("gd" in smaps); with MAP_SHARED
    or a file → EINVAL. The VMA is exactly the requested range (nothing reserved below)."""
    ops = [mmap_op(0x7F0000000000, 2 * P, RW, GD | MAP_FIXED),
           mmap_op(0, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN),
           mmap_op(0, P, RW, MAP_PRIVATE | MAP_GROWSDOWN, fd=0)]
    b = both(probes, ops, files=scratch_files, smaps=True)
    flags = kernel_probe.parse_smaps_vmflags(b.run.steps[0].smaps)
    assert "gd" in flags[0x7F0000000000]
    assert b.vma(0, 0x7F0000000000).end == 0x7F0000002000
    assert [b.kernel(1), b.kernel(2)] == ["-EINVAL", "-EINVAL"]
    b.assert_model_agrees()
    model = b.mm.vma_at(0x7F0000000000)
    assert smaps_vmflags(model.flags) == frozenset(flags[0x7F0000000000])


def test_map_stack_does_not_merge_with_plain_anonymous_memory(probes):
    """include/linux/mman.h ``calc_vm_flag_bits``: MAP_STACK → VM_NOHUGEPAGE ("nh", 6.8+), and
    mm/vma.c ``is_mergeable_vma`` wants equal flags, so a MAP_STACK page next to a plain RW page
    stays separate; two MAP_STACK pages merge with each other::

        B      [plain rw]  B+P [MAP_STACK]  B+2P [MAP_STACK]   -> 2 VMAs
    """
    B = 0x7F0000000000
    ops = [mmap_op(B, P, RW, FIXED), mmap_op(B + P, P, RW, FIXED | MAP_STACK),
           mmap_op(B + 2 * P, P, RW, FIXED | MAP_STACK)]
    b = both(probes, ops, smaps=True)
    assert [(m.start, m.end) for m in b.maps(2) if B <= m.start < B + 3 * P] == \
        [(B, B + P), (B + P, B + 3 * P)]
    assert "nh" in kernel_probe.parse_smaps_vmflags(b.run.steps[2].smaps)[B + P]
    b.assert_model_agrees()


# --------------------------------------------------------------------------- THP

def test_thp_alignment_of_2mib_multiples(probes):
    """mm/mmap.c ``__get_unmapped_area``: an anonymous mapping with no hint and
    ``len % PMD_SIZE == 0`` goes through mm/huge_memory.c ``__thp_get_unmapped_area``: search
    for ``len + 2 MiB`` top-down, then slide to a 2 MiB boundary (``ret + 2 MiB`` if ``ret`` is
    already aligned). Free space tops out at T = 0x7ffff7dd1000 (start of libc's anon block):

        2 MiB : ret = T - 4 MiB = 0x7ffff79d1000 -> round up   = 0x7ffff7a00000
        4 MiB : ret = 0x7ffff7a00000 - 6 MiB = 0x7ffff7400000 aligned -> +2 MiB = 0x7ffff7600000
        3 MiB : not a multiple -> plain top-down: 0x7ffff7600000 - 3 MiB = 0x7ffff7300000
        2M+4K : not a multiple -> 0x7ffff7300000 - 0x201000 = 0x7ffff70ff000
        2 MiB with a free hint: honoured, no THP path (6.13 "respect mmap hint address")
        2 MiB MAP_STACK: still aligned (VM_NOHUGEPAGE does not disable placement):
                ret = 0x7ffff70ff000 - 4 MiB = 0x7ffff6cff000 -> 0x7ffff6e00000

    Measured on Linux 6.18 with tests/probe (setarch x86_64 -R), linux-mm.md §3.9."""
    ops = [mmap_op(0, 2 * MiB, RW, ANON), mmap_op(0, 4 * MiB, RW, ANON),
           mmap_op(0, 3 * MiB, RW, ANON), mmap_op(0, 2 * MiB + P, RW, ANON),
           mmap_op(0x7FF000000000, 2 * MiB, RW, ANON), mmap_op(0, 2 * MiB, RW, ANON | MAP_STACK)]
    b = both(probes, ops)
    assert [b.k(i) for i in range(6)] == [0x7FFFF7A00000, 0x7FFFF7600000, 0x7FFFF7300000,
                                          0x7FFFF70FF000, 0x7FF000000000, 0x7FFFF6E00000]
    b.assert_model_agrees()


def test_thp_alignment_with_map_32bit(probes):
    """huge_memory.c ``__thp_get_unmapped_area`` with MAP_32BIT: the padded search is bottom-up
    from 0x40000000, ``ret`` = 0x40000000 is aligned and the mm is top-down, so ``ret + 2 MiB``
    = 0x40200000 (Observed, linux-mm.md §3.9)."""
    b = both(probes, [mmap_op(0, 2 * MiB, RW, ANON | MAP_32BIT)])
    assert b.k(0) == 0x40200000
    b.assert_model_agrees()


def test_no_thp_alignment_for_i686(probes):
    """mm/huge_memory.c ``__thp_get_unmapped_area`` returns 0 for compat syscalls (6.8,
    "don't force huge page alignment on 32 bit"): 2 MiB goes to the top of the highest gap
    that holds it (right under libc's anon block), not aligned down to 2 MiB (Observed:
    0xf7b8d000 on the reference machine; the slot depends on this host's libc size, so it is
    derived from the kernel's initial maps)."""
    b = both(probes, [mmap_op(0, 2 * MiB, RW, ANON)], setarch=I686)
    slot = topdown_slot(b.maps(-1), 2 * MiB, MMAP_BASE_32)
    if slot % (2 * MiB) == 0:
        pytest.skip("the top-down slot is 2 MiB-aligned on this host: both rules agree")
    assert b.k(0) == slot
    b.assert_model_agrees()


def test_thp_file_offset_near_2_63(probes, scratch_files):
    """mm/huge_memory.c ``__thp_get_unmapped_area`` for a file on ext4 at offset
    0x7fffffffffffe000, 1 page: ``off_align = round_up(off, PMD_SIZE)`` = 2^63 overflows loff_t
    to LLONG_MIN, ``off_end <= off_align`` is false and ``off_end - off_align`` compared with
    an unsigned size is huge, so the padded search runs: ret = 0x7ffff7dd1000 - 0x201000 =
    0x7ffff7bd0000, off_sub = (off - ret) & 0x1fffff = 0x2e000 → 0x7ffff7bfe000.
    Measured on Linux 6.18 with tests/probe (setarch x86_64 -R)."""
    b = both(probes, [mmap_op(0, P, RW, MAP_PRIVATE, fd=0, off=0x7FFFFFFFFFFFE000)],
             files=scratch_files)
    assert b.k(0) == 0x7FFFF7BFE000
    b.assert_model_agrees()


# --------------------------------------------------------------------------- errors

ERROR_CASES = [
    # (id, op, errno, source)
    ("len0", mmap_op(0, 0, RW, ANON), "-EINVAL", "do_mmap: !len"),
    ("fixed-unaligned", mmap_op(0x7FF000000800, P, RW, FIXED), "-EINVAL",
     "__get_unmapped_area: offset_in_page(addr)"),
    ("offset-unaligned", mmap_op(0, P, RW, MAP_PRIVATE, fd=0, off=0x800), "-EINVAL",
     "arch/x86/kernel/sys_x86_64.c sys_mmap: off & ~PAGE_MASK"),
    ("type0", mmap_op(0, P, RW, MAP_ANONYMOUS), "-EINVAL", "do_mmap: unknown MAP_TYPE"),
    ("anon-shared-validate", mmap_op(0, P, RW, MAP_ANONYMOUS | 3), "-EINVAL",
     "do_mmap: anonymous memory knows SHARED and PRIVATE only"),
    ("len-wraps", mmap_op(0, 0xFFFFFFFFFFFFF001, RW, ANON), "-ENOMEM",
     "do_mmap: PAGE_ALIGN(len) == 0"),
    ("len-2^47", mmap_op(0, 1 << 47, RW, ANON), "-ENOMEM", "__get_unmapped_area: len > TASK_SIZE"),
    ("fixed-at-task-size", mmap_op(0x7FFFFFFFF000, P, RW, FIXED), "-ENOMEM",
     "__get_unmapped_area: addr > TASK_SIZE - len"),
    ("no-fd", mmap_op(0, P, RW, MAP_PRIVATE), "-EBADF", "ksys_mmap_pgoff: fget(-1)"),
    ("eoverflow", mmap_op(0, 2 * P, RW, MAP_PRIVATE, fd=0, off=0x7FFFFFFFFFFFE000), "-EOVERFLOW",
     "mm/mmap.c file_mmap_ok: pgoff > (MAX_LFS_FILESIZE - len) >> PAGE_SHIFT"),
    ("eoverflow-huge-offset", mmap_op(0, P, RW, MAP_PRIVATE, fd=0, off=0xFFFFFFFFFFFFF000),
     "-EOVERFLOW", "mm/mmap.c file_mmap_ok"),
]
@pytest.mark.parametrize("op,errno,source", [
    pytest.param(op, errno, src, id=name) for name, op, errno, src in ERROR_CASES])
def test_mmap_errors(probes, scratch_files, op, errno, source):
    """The errno of each failing mmap, in the order mm/mmap.c ``do_mmap`` checks
    (kernel-rules.md §8); the expected errno is the kernel's, measured with tests/probe."""
    b = both(probes, [op], files=scratch_files)
    assert b.kernel(0) == errno, source
    assert b.model[0] == errno, source
    b.assert_model_agrees()


def test_file_offset_just_below_the_eoverflow_limit_is_accepted(probes, scratch_files):
    """mm/mmap.c ``file_mmap_ok``: maxsize = MAX_LFS_FILESIZE = 2^63 - 1; for len = 1 page,
    (maxsize - len) >> 12 = 0x7fffffffffffe, so pgoff 0x7fffffffffffe (offset
    0x7fffffffffffe000) is the largest that maps (the next page up is EOVERFLOW above)."""
    b = both(probes, [mmap_op(0, P, PROT_READ, MAP_PRIVATE, fd=0, off=0x7FFFFFFFFFFFE000)],
             files=scratch_files)
    assert b.run.steps[0].value is not None  # the kernel maps it
    assert b.model[0].startswith("0x")  # so must the model (the address itself: see
    # test_thp_file_offset_near_2_63 for where it goes)


def test_eacces_from_file_access_modes():
    """mm/mmap.c ``do_mmap``: MAP_SHARED with PROT_WRITE on a file not open for writing →
    EACCES; any mapping of a file not open for reading → EACCES; MAP_PRIVATE with PROT_WRITE
    of a read-only file is fine (copy-on-write). Measured on Linux 6.18 with a one-off C
    program (O_RDONLY / O_WRONLY descriptors of an ext4 file): EACCES, ok, ok, EACCES, EACCES.
    The probe opens its scratch files O_RDWR, so this test runs on the model only."""
    mm = exec_layout(get_profile("x86_64"), *typical_program(get_profile("x86_64")))
    ro = host_file(__file__, writable=False)
    wo = host_file(__file__, readable=False)
    assert mm.mmap(0, P, RW, MAP_SHARED, ro) == Errno.EACCES
    assert not isinstance(mm.mmap(0, P, RW, MAP_PRIVATE, ro), Errno)
    assert not isinstance(mm.mmap(0, P, PROT_READ, MAP_SHARED, ro), Errno)
    assert mm.mmap(0, P, PROT_READ, MAP_PRIVATE, wo) == Errno.EACCES
    assert mm.mmap(0, P, PROT_WRITE, MAP_SHARED, wo) == Errno.EACCES


def test_rlimit_as_limits_mmap(probes):
    """mm/vma.c ``__mmap_region``: ``if (!may_expand_vm(mm, vm_flags, pglen - nr_replaced))
    return -ENOMEM`` with mm/mmap.c ``may_expand_vm``: ``total_vm + npages > RLIMIT_AS pages``
    fails — for every mapping, even PROT_NONE|MAP_NORESERVE; pages a MAP_FIXED replaces do
    not count. The probe runs under ``prlimit --as`` = its initial total_vm + 16 pages::

        op0 8P ok (8 used)   op1 16P ENOMEM   op2 GROWSDOWN 1P ok (9)
        op3 stack grows 7P ok (16)  op4 one more: SIGSEGV  op5 1P PROT_NONE NORESERVE ENOMEM
        op6 munmap op0 (8)  op7 7P ok (15)  op8/op9 MAP_FIXED over op7's pages ok (15)
        op10 mremap grows op8's page by one, moving it: ok (16)
    Measured on Linux 6.18 with tests/probe (setarch x86_64 -R prlimit --as=...)."""
    first = both(probes, [])
    # total_vm counts every VMA in the tree (vdso included), not the [vsyscall] gate page
    total = sum(m.end - m.start for m in first.maps(-1) if m.end <= 1 << 47)
    # The limit holds from exec on: while ld.so maps libc, its /etc/ld.so.cache (10 pages
    # when this was measured) is mapped too. A larger cache on this machine needs X more
    # pages of room at start-up; op0 and op7 take them, so every total above is X higher.
    X = max(0, -(-os.stat("/etc/ld.so.cache").st_size // P) - 10)
    G = 0x7F0000000000
    ops = [mmap_op(0, (8 + X) * P, RW, ANON), mmap_op(0, 16 * P, RW, ANON),
           mmap_op(G, P, RW, GD | MAP_FIXED),
           f"touch {G - 7 * P:#x} w", f"touch {G - 8 * P:#x} w",
           mmap_op(0, P, 0, ANON | MAP_NORESERVE), f"munmap r0 {(8 + X) * P:#x}",
           mmap_op(0, (7 + X) * P, 0, ANON | MAP_NORESERVE), mmap_op("r7", P, RW, FIXED),
           mmap_op("r7+0x1000", P, RW, FIXED), "mremap r8 0x1000 0x2000 1 0"]
    b = both(probes, ops, rlimit_as=total + (16 + X) * P)
    assert [b.kernel(i).startswith("0x") or b.kernel(i) for i in range(11)] == [
        True, "-ENOMEM", True, "ok", "SIGSEGV", "-ENOMEM", True, True, True, True, True]
    b.assert_model_agrees()


# --------------------------------------------------------------------------- mmap_min_addr

def test_map_fixed_below_mmap_min_addr(probes):
    """security/commoncap.c ``cap_mmap_addr``: below ``dac_mmap_min_addr`` (the sysctl, 4096)
    MAP_FIXED needs CAP_SYS_RAWIO; root has it, so MAP_FIXED at 0 and 0x1000 succeed on the
    kernel (Observed, linux-mm.md §3.2). Without the capability (model, cap_sys_rawio=False),
    address 0 is EPERM and 0x1000 (not below 4096) is allowed."""
    b = both(probes, [mmap_op(0, P, RW, FIXED), mmap_op(0x3000, P, RW, NOREPLACE)])
    assert (b.k(0), b.k(1)) == (0, 0x3000)
    b.assert_model_agrees()
    profile = get_profile("x86_64")
    user = exec_layout(profile, *typical_program(profile),
                       kconfig=KernelConfig(cap_sys_rawio=False))
    assert user.mmap(0, P, RW, FIXED) == Errno.EPERM
    assert user.mmap(0x1000, P, RW, FIXED) == 0x1000
    assert user.mmap(0x2000, P, RW, ANON) == MMAP_MIN  # the hint rule is the same for all


# --------------------------------------------------------------------------- fallback, legacy

def _fill_ops(top_bit: int, repeat: int = 8) -> list[str]:
    """PROT_NONE MAP_NORESERVE mappings of 2^top_bit, 2^(top_bit-1), ... 4 KiB bytes, each size
    ``repeat`` times: greedily fills every gap (a top-down placement keeps the rest of its gap
    contiguous, so each size fits at most once per gap after the size above it)."""
    ops = []
    for bit in range(top_bit, 11, -1):
        ops += [mmap_op(0, 1 << bit, 0, ANON | MAP_NORESERVE)] * repeat
    return ops


def test_topdown_falls_back_to_bottom_up(probes):
    """sys_x86_64.c ``arch_get_unmapped_area_topdown``: when nothing below mmap_base fits, it
    calls ``arch_get_unmapped_area`` (bottom-up from the legacy base 0x55555000 to
    0xffffe000). The first mapping that no longer fits below mmap_base therefore lands exactly
    at mmap_base = 0xf7ffe000, just above ld.so (Observed, linux-mm.md §3.3)::

        0xffffe000 top | [stack] | 1 MiB guard | ... free ... | 0xf7ffe000 <- first fallback
        ld.so ... everything below filled by the earlier, larger mmaps
    """
    b = both(probes, _fill_ops(31), setarch=I686)
    placed = [b.k(i) for i, s in enumerate(b.run.steps) if s.value is not None]
    above = [a for a in placed if a >= MMAP_BASE_32]
    assert above and above[0] == MMAP_BASE_32
    b.assert_model_agrees()
    fallbacks = [e for e in b.mm.events if isinstance(e, ev.TopDownFallback)]
    assert fallbacks and fallbacks[0].result == MMAP_BASE_32
    assert {e.result for e in fallbacks} == set(above)


@pytest.mark.parametrize("setarch,legacy_base", [(X64 + ["-L"], 0x2AAAAAAAB000),
                                                 (I686 + ["-L"], 0x55555000)],
                         ids=["x86_64", "i686"])
def test_legacy_layout_is_bottom_up(probes, setarch, legacy_base):
    """arch/x86/mm/mmap.c: with ADDR_COMPAT_LAYOUT (``setarch -L``) mmap_base is the legacy
    base PAGE_ALIGN(TASK_SIZE/3) and sys_x86_64.c ``arch_get_unmapped_area`` searches bottom-up:
    each mapping takes the lowest free page above it (ld.so starts exactly there)."""
    ops = [mmap_op(0, P, RW, ANON), mmap_op(0, P, PROT_READ, ANON), mmap_op(0, 3 * P, RW, ANON)]
    b = both(probes, ops, setarch=setarch)
    ld_so = next(m for m in b.maps(-1) if "ld-linux" in m.path)
    assert ld_so.start == legacy_base
    maps = b.maps(-1)
    for i, length in enumerate((P, P, 3 * P)):
        # lowest gap above legacy_base that holds length (mm/vma.c unmapped_area)
        cursor = legacy_base
        for m in sorted(maps, key=lambda m: m.start):
            if m.end <= cursor:
                continue
            if m.start - cursor >= length:
                break
            cursor = max(cursor, m.end)
        assert b.k(i) == cursor
        maps = b.maps(i)
    b.assert_model_agrees()


def test_legacy_va_layout_sysctl_selects_bottom_up():
    """arch/x86/mm/mmap.c ``mmap_is_legacy``: vm.legacy_va_layout != 0 has the same effect as
    ADDR_COMPAT_LAYOUT: mmap_base = PAGE_ALIGN(0x7ffffffff000 / 3) = 0x2aaaaaaab000, bottom-up."""
    profile = get_profile("x86_64")
    mm = exec_layout(profile, *typical_program(profile), kconfig=KernelConfig(legacy_va_layout=1))
    assert (mm.topdown, mm.mmap_base) == (False, 0x2AAAAAAAB000)
    first = mm.mmap(0, P, RW, ANON)
    assert 0x2AAAAAAAB000 <= first < 0x2AAAAAAAB000 + 16 * MiB


# --------------------------------------------------------------------------- 5-level / 52-bit

def _fresh(name: str) -> AddressSpace:
    profile = get_profile(name)
    return exec_layout(profile, *typical_program(profile))


def test_x86_5level_hint_above_47_bits():
    """arch/x86/kernel/sys_x86_64.c + arch/x86/mm/mmap.c with LA57 (TASK_SIZE_MAX = 2^56 - 4096,
    DEFAULT_MAP_WINDOW = 2^47 - 4096; no LA57 CPU here, but the same hints on a real 6.12.118
    kernel under QEMU give these addresses: tests/data/qemu/x86_64-5level, probe-hints):

    * a free hint above 2^47 passes ``mmap_address_hint_valid`` and is honoured;
    * an occupied hint above 2^47 searches top-down with ``high_limit = mmap_base +
      (TASK_SIZE_MAX - DEFAULT_MAP_WINDOW)`` = 0x7ffff7fff000 + (2^56 - 2^47) = 0xfffffff7fff000,
      so one page lands at 0xfffffff7ffe000;
    * a hint straddling DEFAULT_MAP_WINDOW is invalid and stays below;
    * without a hint nothing is placed above 2^47 (mmap_base, stack, PIE all below);
    * MAP_FIXED above 2^47 is accepted (only ``addr <= TASK_SIZE - len``)."""
    mm = _fresh("x86_64-5level")
    assert mm.mmap(1 << 50, P, RW, ANON) == 1 << 50
    assert mm.mmap(1 << 50, P, RW, ANON) == 0xFFFFFFF7FFE000
    assert mm.mmap((1 << 47) - P, 2 * P, RW, ANON) < 1 << 47
    for _ in range(4):
        assert mm.mmap(0, 64 * MiB, RW, ANON) + 64 * MiB <= (1 << 47) - P
    assert max(v.end for v in mm.vmas() if v.start < 1 << 50) <= (1 << 47) - P
    assert mm.mmap(1 << 55, P, RW, FIXED) == 1 << 55
    assert mm.mmap((1 << 56) - P, P, RW, FIXED) == Errno.ENOMEM  # TASK_SIZE = 2^56 - 4096
    mm._check()


def test_aarch64_52bit_hint_above_48_bits():
    """arch/arm64/include/asm/processor.h ``arch_get_mmap_end``/``arch_get_mmap_base`` with
    VA_BITS=52 (measured under QEMU too: tests/data/qemu/aarch64-52, probe-hints):
    DEFAULT_MAP_WINDOW = 2^48; a hint above it gives mmap_end = 2^52 and
    the top-down ``high = mmap_base + TASK_SIZE - DEFAULT_MAP_WINDOW`` = 0xfffff8000000 +
    (2^52 - 2^48) = 0xffffff8000000. mm/mmap.c ``generic_get_unmapped_area_topdown``."""
    mm = _fresh("aarch64-52")
    assert mm.mmap(1 << 50, P, RW, ANON) == 1 << 50
    assert mm.mmap(1 << 50, P, RW, ANON) == 0xFFFFFF8000000 - P
    for _ in range(4):
        assert mm.mmap(0, 64 * MiB, RW, ANON) + 64 * MiB <= 1 << 48
    assert mm.mmap((1 << 48) - P, 2 * P, RW, ANON) < 1 << 48
    mm._check()


# --------------------------------------------------------------------------- overcommit

G = 1 << 30
OB = 0x7F0000000000  # far from the probe's own mappings


def test_overcommit_heuristic_refuses_one_request_larger_than_ram_and_swap(probes):
    """mm/util.c ``__vm_enough_memory`` with vm.overcommit_memory 0 (OVERCOMMIT_GUESS): an
    accounted request of more pages than ``totalram_pages() + total_swap_pages`` is ENOMEM.
    This machine has MemTotal 24683792 kB = 6170948 pages and no swap (KernelConfig's
    documented default), so 100 GiB (26214400 pages) is refused wherever it is charged:

        mmap 100G rw private anon          -> ENOMEM (mmap_region, VM_ACCOUNT)
        mmap 100G rw private anon NORESERVE-> mapped (not accounted)
        mmap 100G r-- private, mprotect rw -> ENOMEM (mprotect_fixup charges it)
        mmap 100G rw shared anon           -> ENOMEM (shmem_zero_setup -> shmem_acct_size)
        mremap 1G -> 100G                  -> ENOMEM (the growth is charged)
        brk(brk0 + 100G)                   -> the old break (do_brk_flags)
    while 4 GiB (1048576 pages) is no problem (Observed here on 6.18.44)."""
    NR = ANON | MAP_NORESERVE
    ops = [mmap_op(0, 100 * G, RW, ANON), mmap_op(0, 100 * G, RW, NR), "munmap r1 " + hex(100 * G),
           mmap_op(OB, 100 * G, PROT_READ, FIXED), f"mprotect {OB:#x} {100 * G:#x} 0x3",
           f"munmap {OB:#x} {100 * G:#x}",
           mmap_op(0, 100 * G, RW, MAP_SHARED | MAP_ANONYMOUS),
           mmap_op(OB, G, RW, FIXED), f"mremap {OB:#x} {G:#x} {100 * G:#x} 0x1 0x0",
           f"brk brk0+{100 * G:#x}", f"mremap {OB:#x} {G:#x} {4 * G:#x} 0x1 0x0",
           f"munmap {OB:#x} {4 * G:#x}", mmap_op(0, 4 * G, RW, ANON)]
    b = both(probes, ops)
    for i in (0, 4, 6, 8):
        assert b.kernel(i) == "-ENOMEM", (i, b.kernel(i))
    assert b.k(1) and b.k(3) == OB and b.k(7) == OB and b.k(10) == OB and b.k(12)
    assert b.k(9) == b.run.brk0
    b.assert_model_agrees()


def test_overcommit_knobs():
    """The model's knobs: RAM + swap pages bound one request (a 512 MiB VM refuses 1 GiB, as
    the QEMU recordings show on arm64), vm.overcommit_memory 1 never refuses, and a
    MAP_FIXED that replaces accounted memory is charged only for what it adds."""
    small = KernelConfig(totalram_pages=128 * 1024, total_swap_pages=64 * 1024)  # 512M + 256M
    mm = fresh_address_space("x86_64", kconfig=small)
    assert mm.mmap(0, G, RW, ANON) == Errno.ENOMEM
    a = mm.mmap(0, 768 * MiB, RW, ANON)  # exactly RAM + swap: allowed
    assert not isinstance(a, Errno)
    assert mm.mmap(a, 768 * MiB + P, RW, FIXED) == a  # charged one page
    assert mm.brk(mm.current_brk + G) == mm.current_brk
    mm._check()
    mm = fresh_address_space("x86_64", kconfig=attrs.evolve(small, overcommit_memory=1))
    assert not isinstance(mm.mmap(0, 100 * G, RW, ANON), Errno)
    mm._check()
