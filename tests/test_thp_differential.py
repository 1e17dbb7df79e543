"""THP read faults and page-table presence (simulator/kernel/pgtable.py) against this kernel.

A read fault into an empty PMD of a VM_HUGEPAGE anonymous VMA maps the huge zero page and
gives the VMA an anon_vma (mm/huge_memory.c ``do_huge_pmd_anonymous_page`` →
``vmf_anon_prepare``); a read into a PMD that already has a PTE table maps the 4 KiB zero page
without one. The anon_vma is visible through mprotect: making a never-written anonymous VMA
read-only drops VM_ACCOUNT (smaps ``ac``) only when it has no anon_vma (mm/mprotect.c
``mprotect_fixup``). THP is "madvise" on this machine, so each scenario advises
MADV_HUGEPAGE.

Each scenario works in its own 4 MiB slot of a PROT_NONE arena, at 2 MiB-aligned addresses:
a first probe run learns where the arena lands (setarch -R: the same place every run), the
second run does the scenario there. Every op is compared with the model (result, maps,
VmFlags); each scenario also asserts the kernel's own ``ac`` outcome, so that a scenario
that stopped exercising its path fails.
"""

from __future__ import annotations

import pytest

import kernel_probe
from conftest import probe_for
from simulator.trace.procmaps import parse_maps
from test_differential import compare_run
from simulator.units import MiB

PMD = 2 * MiB
SLOT = 4 * MiB
ARENA = 48 * MiB  # 11 slots and up to 2 MiB lost to alignment
FIXED_ANON = 0x32  # MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
RW, R = 3, 1
HUGEPAGE, DONTNEED, POPULATE_READ = 14, 4, 22
MREMAP_MAYMOVE_FIXED = 3


def _map(addr, length, prot=RW):
    return f"mmap {addr:#x} {length:#x} {prot} {FIXED_ANON} -1 0"


def _scenarios(h):
    """(name, ops, address whose VMA's ``ac`` is checked at the end, expected ``ac``)."""
    s = [h + k * SLOT for k in range(11)]
    return [
        # An empty PMD: the THP path, an anon_vma on a read: ac stays.
        ("fresh", [_map(s[0], PMD), f"madvise {s[0]:#x} {PMD:#x} {HUGEPAGE}",
                   f"touch {s[0] + 0x5000:#x} r", f"mprotect {s[0]:#x} {PMD:#x} {R}"],
         s[0], True),
        # A read before the advice made a PTE table: the later read takes the 4 KiB path.
        ("table-first", [_map(s[1], PMD), f"touch {s[1]:#x} r",
                         f"madvise {s[1]:#x} {PMD:#x} {HUGEPAGE}",
                         f"touch {s[1] + 0x5000:#x} r", f"mprotect {s[1]:#x} {PMD:#x} {R}"],
         s[1], False),
        # A VMA one page short of the aligned range: no THP, no anon_vma.
        ("short", [_map(s[2], PMD - 0x1000), f"madvise {s[2]:#x} {PMD - 0x1000:#x} {HUGEPAGE}",
                   f"touch {s[2]:#x} r", f"mprotect {s[2]:#x} {PMD - 0x1000:#x} {R}"],
         s[2], False),
        # MADV_DONTNEED over the whole PMD frees the emptied table (CONFIG_PT_RECLAIM).
        ("dontneed-whole", [_map(s[3], PMD), f"touch {s[3]:#x} r",
                            f"madvise {s[3]:#x} {PMD:#x} {DONTNEED}",
                            f"madvise {s[3]:#x} {PMD:#x} {HUGEPAGE}",
                            f"touch {s[3]:#x} r", f"mprotect {s[3]:#x} {PMD:#x} {R}"],
         s[3], True),
        # ...over part of it leaves the table.
        ("dontneed-part", [_map(s[4], PMD), f"touch {s[4]:#x} r",
                           f"madvise {s[4]:#x} {PMD // 2:#x} {DONTNEED}",
                           f"madvise {s[4]:#x} {PMD:#x} {HUGEPAGE}",
                           f"touch {s[4]:#x} r", f"mprotect {s[4]:#x} {PMD:#x} {R}"],
         s[4], False),
        # mremap moves the table (move_normal_pmd): the destination has it...
        ("mremap-dest", [_map(s[5], PMD), f"touch {s[5]:#x} r",
                         f"munmap {s[6]:#x} {PMD:#x}",
                         f"mremap {s[5]:#x} {PMD:#x} {PMD:#x} {MREMAP_MAYMOVE_FIXED} {s[6]:#x}",
                         f"madvise {s[6]:#x} {PMD:#x} {HUGEPAGE}",
                         f"touch {s[6]:#x} r", f"mprotect {s[6]:#x} {PMD:#x} {R}"],
         s[6], False),
        # ...and the source PMD is empty again.
        ("mremap-source", [_map(s[7], PMD), f"touch {s[7]:#x} r",
                           f"mremap {s[7]:#x} {PMD:#x} {PMD:#x} {MREMAP_MAYMOVE_FIXED} "
                           f"{s[7] + PMD:#x}",
                           _map(s[7], PMD), f"madvise {s[7]:#x} {PMD:#x} {HUGEPAGE}",
                           f"touch {s[7]:#x} r", f"mprotect {s[7]:#x} {PMD:#x} {R}"],
         s[7], True),
        # A table shared with a neighbour survives that neighbour's unmap (free_pgd_range's
        # ceiling), then goes with the last VMA in the PMD (floor below it).
        ("neighbour-unmap", [_map(s[8], 0x1000), _map(s[8] + 0x2000, 0x1000, R),
                             f"touch {s[8]:#x} r", f"munmap {s[8]:#x} 0x1000",
                             _map(s[8], PMD), f"madvise {s[8]:#x} {PMD:#x} {HUGEPAGE}",
                             f"touch {s[8]:#x} r", f"mprotect {s[8]:#x} {PMD:#x} {R}"],
         s[8], True),
        # MADV_POPULATE_READ before the advice: tables; after: the THP path.
        ("populate-read", [_map(s[9], PMD), f"madvise {s[9]:#x} {PMD:#x} {POPULATE_READ}",
                           f"madvise {s[9]:#x} {PMD:#x} {HUGEPAGE}",
                           f"touch {s[9]:#x} r", f"mprotect {s[9]:#x} {PMD:#x} {R}"],
         s[9], False),
        # A huge zero page split by a partial mprotect, the pieces merged back: the VMA keeps
        # its anon_vma; a read elsewhere changes nothing.
        ("split-huge", [_map(s[10], PMD), f"madvise {s[10]:#x} {PMD:#x} {HUGEPAGE}",
                        f"touch {s[10]:#x} r", f"mprotect {s[10]:#x} 0x1000 {R}",
                        f"mprotect {s[10]:#x} 0x1000 {RW}", f"touch {s[10] + 0x3000:#x} r",
                        f"mprotect {s[10]:#x} {PMD:#x} {R}"],
         s[10], True),
    ]


MODES = [(["x86_64", "-R"], 64), (["i686", "-R"], 32)]


@pytest.mark.parametrize("setarch,bits", MODES, ids=["x86_64", "i686"])
def test_thp_read_faults_match_the_kernel(probes, scratch_files, setarch, bits):
    binary = probe_for(probes, bits)
    arena_op = f"mmap 0x0 {ARENA:#x} 0 0x22 -1 0"
    first = kernel_probe.run_probe(binary, [arena_op], setarch=setarch, rlimit_stack=8 * MiB,
                                   scratch_files=scratch_files)
    base = first.steps[0].value
    h = -(-base // PMD) * PMD
    assert h + 11 * SLOT <= base + ARENA
    scenarios = _scenarios(h)
    ops = [arena_op] + [op for _, script, _, _ in scenarios for op in script]
    run = kernel_probe.run_probe(binary, ops, setarch=setarch, rlimit_stack=8 * MiB,
                                 scratch_files=scratch_files, smaps=True)
    assert run.steps[0].value == base, "the arena moved between the two runs"
    compare_run(run, setarch, 8 * MiB, 0, scratch_files, smaps=True)
    final = parse_maps(run.steps[-1].smaps)
    for name, _, addr, ac in scenarios:
        entry = next(e for e in final if e.start <= addr < e.end)
        assert ("ac" in entry.vmflags) == ac, f"{name}: the kernel's ac flag"
