"""munmap, mprotect, VMA merging, anon_vma and vm.max_map_count, against the real kernel.

Differential like tests/test_rules_mmap.py (whose ``both`` helper runs an op script in the probe
and replays it on the model): the kernel's answer is checked against the rule, and the model
must agree on every return value and every /proc/self/maps. The max_map_count tests use the
model alone with a small ``KernelConfig(max_map_count=...)`` (the sysctl is machine-wide, so
it is not changed here); their boundaries are the kernel's comparisons, quoted from the source
and observed at the default 65530 (linux-mm.md §4.3, kernel-rules.md §4/§5).

Addresses: ``B = 0x7f0000000000`` is far from everything the probe maps itself.
"""

from __future__ import annotations

import copy

import pytest

from simulator.kernel.arch import get_profile
from simulator.kernel.config import KernelConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_FIXED, MAP_GROWSDOWN, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE,
    MAP_SHARED, MAP_STACK, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE, Errno,
)
from simulator.programs import typical_program
from simulator.units import PAGE_SIZE
from test_rules_mmap import both, mmap_op

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
B = 0x7F0000000000


def ranges(b, i, lo=B, hi=B + 0x100000):
    """(start, end, perms) of the kernel's VMAs after op ``i`` inside [lo, hi)."""
    return [(m.start, m.end, m.perms) for m in b.maps(i) if lo <= m.start < hi]


# --------------------------------------------------------------------------- munmap

def test_munmap_splits(probes):
    """mm/vma.c ``vms_gather_munmap_vmas``: a hole in the middle of a VMA splits it twice
    (two VMAs remain); removing the head or the tail splits once::

        B [ 8 pages rw ]  munmap B+3P..B+5P   -> [B,B+3P) hole [B+5P,B+8P)
                          munmap B          -> [B+P,B+3P)        [B+5P,B+8P)
                          munmap B+7P       -> [B+P,B+3P)        [B+5P,B+7P)
    munmap of an unmapped range returns 0 (nothing to do)."""
    ops = [mmap_op(B, 8 * P, RW, FIXED), f"munmap {B + 3 * P:#x} {2 * P:#x}",
           f"munmap {B:#x} {P:#x}", f"munmap {B + 7 * P:#x} {P:#x}",
           f"munmap {B + 3 * P:#x} {P:#x}"]
    b = both(probes, ops)
    assert ranges(b, 1) == [(B, B + 3 * P, "rw-p"), (B + 5 * P, B + 8 * P, "rw-p")]
    assert ranges(b, 3) == [(B + P, B + 3 * P, "rw-p"), (B + 5 * P, B + 7 * P, "rw-p")]
    assert b.kernel(4) == "0x0" and ranges(b, 4) == ranges(b, 3)
    b.assert_model_agrees()


@pytest.mark.parametrize("op,errno", [
    (f"munmap {B + 0x800:#x} {P:#x}", "-EINVAL"),          # start not page aligned
    (f"munmap {B:#x} 0", "-EINVAL"),                         # len 0
    ("munmap 0x7ffffffff000 0x2000", "-EINVAL"),             # len > TASK_SIZE - start
    ("munmap 0x800000000000 0x1000", "-EINVAL"),             # start > TASK_SIZE
], ids=["unaligned", "len0", "past-task-size", "above-task-size"])
def test_munmap_errors(probes, op, errno):
    """mm/mmap.c munmap syscall + mm/vma.c ``do_vmi_munmap``: EINVAL for an unaligned start,
    an empty length, or a range beyond TASK_SIZE (Observed, kernel-rules.md §5)."""
    b = both(probes, [op])
    assert b.kernel(0) == errno
    b.assert_model_agrees()


# --------------------------------------------------------------------------- merging

def test_adjacent_anonymous_mappings_merge(probes):
    """mm/vma.c ``vma_merge_new_range``: a new private anonymous RW range adjacent to one with
    the same flags merges (pgoff = addr >> 12 is always contiguous). Fixed neighbours merge,
    and so do consecutive top-down mmaps (each lands right below the previous one)."""
    ops = [mmap_op(B, P, RW, FIXED), mmap_op(B + P, P, RW, FIXED), mmap_op(B - P, P, RW, FIXED),
           mmap_op(0, 3 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS),
           mmap_op(0, 2 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS)]
    b = both(probes, ops)
    assert ranges(b, 2, lo=B - P) == [(B - P, B + 2 * P, "rw-p")]
    assert b.k(4) == b.k(3) - 2 * P
    assert b.vma(4, b.k(4)).start <= b.k(4) and b.vma(4, b.k(4)).end >= b.k(3) + 3 * P
    b.assert_model_agrees()


@pytest.mark.parametrize("prot,flags,merges", [
    (RW, FIXED | MAP_POPULATE, True),    # no VM_ flag for POPULATE (populating the *new* page)
    (RW, FIXED | MAP_NORESERVE, False),  # VM_NORESERVE, no VM_ACCOUNT
    (RW, FIXED | MAP_STACK, False),      # VM_NOHUGEPAGE
    (RW, FIXED | MAP_GROWSDOWN, False),  # VM_GROWSDOWN
    (PROT_READ, FIXED, False),           # VM_WRITE and VM_ACCOUNT differ
    (RW | PROT_EXEC, FIXED, False),      # VM_EXEC differs
    (RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, False),  # shmem file of its own
], ids=["populate", "noreserve", "stack", "growsdown", "readonly", "exec", "shared"])
def test_flag_differences_prevent_merging(probes, prot, flags, merges):
    """mm/vma.c ``is_mergeable_vma``: flags must be equal but for VM_SOFTDIRTY, and the file
    the same. The new page goes right above a plain RW page at B::

        B [plain rw] B+P [variant]  -> one VMA iff the flags (and file) match
    (Observed, kernel-rules.md §3.1 and linux-mm.md §4.1)."""
    b = both(probes, [mmap_op(B, P, RW, FIXED), mmap_op(B + P, P, prot, flags)])
    expected = 1 if merges else 2
    assert len(ranges(b, 1)) == expected
    b.assert_model_agrees()


def test_file_mappings_merge_only_with_the_same_open_file_and_contiguous_offsets(
        probes, scratch_files):
    """mm/vma.c ``is_mergeable_vma`` compares the ``vm_file`` pointer, and
    ``can_vma_merge_after`` wants ``prev.pgoff + pages(prev) == pgoff``::

        B     f0 @0      } one VMA (same open file, offsets 0, 0x1000)
        B+P   f0 @0x1000 }
        B+2P  f1 @0x2000   other file: separate
        B+3P  f0 @0x5000   same file, offset not contiguous: separate
        B+4P  anonymous    never merges with a file
    """
    ro = PROT_READ
    ops = [mmap_op(B, P, ro, MAP_PRIVATE | MAP_FIXED, fd=0, off=0),
           mmap_op(B + P, P, ro, MAP_PRIVATE | MAP_FIXED, fd=0, off=P),
           mmap_op(B + 2 * P, P, ro, MAP_PRIVATE | MAP_FIXED, fd=1, off=2 * P),
           mmap_op(B + 3 * P, P, ro, MAP_PRIVATE | MAP_FIXED, fd=0, off=5 * P),
           mmap_op(B + 4 * P, P, ro, FIXED)]
    b = both(probes, ops, files=scratch_files)
    assert [(s, e) for s, e, _ in ranges(b, 4)] == [
        (B, B + 2 * P), (B + 2 * P, B + 3 * P), (B + 3 * P, B + 4 * P), (B + 4 * P, B + 5 * P)]
    b.assert_model_agrees()


def test_mprotect_splits_and_remerges(probes):
    """mm/mprotect.c ``mprotect_fixup`` → mm/vma.c ``vma_modify_flags``: changing the middle
    page splits the VMA in three; changing it back merges all three again
    (``vma_merge_existing_range`` with both neighbours)::

        [rw rw rw] -> [rw|r--|rw] -> [rw rw rw]
    """
    ops = [mmap_op(B, 3 * P, RW, FIXED), f"mprotect {B + P:#x} {P:#x} 1",
           f"mprotect {B + P:#x} {P:#x} 3", f"mprotect {B:#x} {P:#x} 1",
           f"mprotect {B:#x} {P:#x} 3"]
    b = both(probes, ops)
    assert ranges(b, 1) == [(B, B + P, "rw-p"), (B + P, B + 2 * P, "r--p"),
                            (B + 2 * P, B + 3 * P, "rw-p")]
    assert ranges(b, 2) == [(B, B + 3 * P, "rw-p")]
    assert ranges(b, 3) == [(B, B + P, "r--p"), (B + P, B + 3 * P, "rw-p")]
    assert ranges(b, 4) == [(B, B + 3 * P, "rw-p")]
    b.assert_model_agrees()


@pytest.mark.parametrize("access,merges", [(None, True), ("r", True), ("w", False)],
                         ids=["untouched", "read", "written"])
def test_mprotect_readonly_merge_depends_on_anon_vma(probes, access, merges):
    """mm/mprotect.c ``mprotect_fixup``: making a private anonymous VMA read-only keeps
    VM_ACCOUNT, except (6.7+) when it has no anon_vma yet, i.e. was never write-faulted
    (mm/memory.c ``do_anonymous_page``: a read fault maps the zero page without one). Without
    VM_ACCOUNT its flags equal a fresh read-only page's, so they merge::

        B [rw -> r--] B+P [r-- fresh]     untouched / read: one VMA; written: two
    (Observed, linux-mm.md §4.2)."""
    ops = [mmap_op(B, P, RW, FIXED)]
    if access:
        ops.append(f"touch {B:#x} {access}")
    ops += [mmap_op(B + P, P, PROT_READ, FIXED), f"mprotect {B:#x} {P:#x} 1"]
    b = both(probes, ops)
    assert len(ranges(b, len(ops) - 1)) == (1 if merges else 2)
    b.assert_model_agrees()


def test_written_pages_with_different_anon_vmas_merge_only_on_one_side(probes):
    """mm/vma.c ``can_vma_merge_right``: with both neighbours, prev's and next's anon_vmas must
    be compatible. Two separately written pages have different anon_vmas (the RO page between
    them blocks ``find_mergeable_anon_vma``), so making the middle RW merges it with the left
    one only::

        [rw written A][r-- middle][rw written C]  --mprotect(middle, RW)-->  [A+mid][C]
    (Observed, linux-mm.md §4.2)."""
    ops = [mmap_op(B, P, RW, FIXED), f"touch {B:#x} w", mmap_op(B + 2 * P, P, RW, FIXED),
           f"touch {B + 2 * P:#x} w", mmap_op(B + P, P, PROT_READ, FIXED),
           f"mprotect {B + P:#x} {P:#x} 3"]
    b = both(probes, ops)
    assert ranges(b, 5) == [(B, B + 2 * P, "rw-p"), (B + 2 * P, B + 3 * P, "rw-p")]
    b.assert_model_agrees()


@pytest.mark.parametrize("first", ["rw", "rwx"])
def test_neighbour_anon_vma_is_reused(probes, first):
    """mm/vma.c ``find_mergeable_anon_vma``: a VMA faulting first borrows the anon_vma of an
    adjacent VMA whose flags differ only in R/W/X (``anon_vma_compatible``; next tried before
    prev), so after both are written ``mprotect(rwx page, RW)`` merges them
    (Observed, kernel-rules.md §2.2)::

        B [rw written] B+P [rwx written]  -> mprotect(B+P, RW) -> one VMA
    """
    order = [B, B + P] if first == "rw" else [B + P, B]
    ops = [mmap_op(B, P, RW, FIXED), mmap_op(B + P, P, RW | PROT_EXEC, FIXED),
           f"touch {order[0]:#x} w", f"touch {order[1]:#x} w", f"mprotect {B + P:#x} {P:#x} 3"]
    b = both(probes, ops)
    assert ranges(b, 4) == [(B, B + 2 * P, "rw-p")]
    b.assert_model_agrees()


def test_mprotect_errors_keep_earlier_changes(probes):
    """mm/mprotect.c ``do_mprotect_pkey``: a hole inside the range is ENOMEM, but the VMAs
    before the hole are already changed; a start in a hole is ENOMEM with nothing changed;
    an unaligned start is EINVAL; len 0 is 0 (Observed, kernel-rules.md §4.1)::

        B [rw] B+P (hole) B+2P [rw]   mprotect(B, 3P, R) -> ENOMEM, [B] is now r--
    """
    ops = [mmap_op(B, P, RW, FIXED), mmap_op(B + 2 * P, P, RW, FIXED),
           f"mprotect {B:#x} {3 * P:#x} 1", f"mprotect {B + P:#x} {2 * P:#x} 1",
           f"mprotect {B + 1:#x} {P:#x} 1", f"mprotect {B:#x} 0 1"]
    b = both(probes, ops)
    assert [b.kernel(i) for i in (2, 3, 4, 5)] == ["-ENOMEM", "-ENOMEM", "-EINVAL", "0x0"]
    assert ranges(b, 5) == [(B, B + P, "r--p"), (B + 2 * P, B + 3 * P, "rw-p")]
    b.assert_model_agrees()


# --------------------------------------------------------------------------- max_map_count

MAX_EXTRA = 16
VICTIM = 0x7E0000000000  # a 3-page RW VMA to split
FILL = 0x7D0000000000


def at_map_count(rel: int):
    """A fresh x86_64 address space with ``max_map_count = m0 + 16`` (m0 = VMAs after exec)
    holding a 3-page RW VMA at VICTIM and single-page VMAs of alternating protection (so none
    merge) until ``map_count == max_map_count + rel``. Returns (mm, max)."""
    profile = get_profile("x86_64")
    m0 = exec_layout(profile, *typical_program(profile)).map_count
    limit = m0 + MAX_EXTRA
    mm = exec_layout(profile, *typical_program(profile),
                     kconfig=KernelConfig(max_map_count=limit))
    assert mm.mmap(VICTIM, 3 * P, RW, FIXED) == VICTIM
    i = 0
    while mm.map_count < limit + rel:
        assert mm.mmap(FILL + i * P, P, PROT_READ if i % 2 else RW, FIXED) == FILL + i * P
        i += 1
    assert mm.map_count == limit + rel
    return mm, limit


@pytest.mark.parametrize("rel,ok", [(0, True), (1, False)], ids=["mc=max", "mc=max+1"])
def test_max_map_count_mmap(rel, ok):
    """mm/mmap.c ``do_mmap``: ``if (mm->map_count > sysctl_max_map_count) return -ENOMEM`` —
    strictly greater, so a new VMA is still allowed at ``map_count == max`` (reaching max+1)
    and refused at max+1. Observed at 65530: mmaps succeed until map_count = 65531."""
    mm, limit = at_map_count(rel)
    new = mm.mmap(0, P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
    assert (not isinstance(new, Errno)) == ok
    assert mm.map_count == (limit + 1 if ok else limit + rel)
    if not ok:
        assert new == Errno.ENOMEM
    mm._check()


@pytest.mark.parametrize("rel,edge_ok,middle_ok", [(0, False, False), (-1, True, False),
                                                   (-2, True, True)],
                         ids=["mc=max", "mc=max-1", "mc=max-2"])
def test_max_map_count_mprotect_splits(rel, edge_ok, middle_ok):
    """mm/vma.c ``split_vma``: ENOMEM if ``map_count >= max``. mprotect of an edge page needs
    one split (ok up to max-1); of a middle page two (ok up to max-2; at max-1 the first split
    is done, the second fails: ENOMEM with the VMA left in two pieces). Observed at 65530
    (linux-mm.md §4.3, kernel-rules.md §4.2)::

        VICTIM [rw rw rw]   edge: [r--|rw rw]   middle: [rw|r--|rw]
    """
    mm, limit = at_map_count(rel)
    edge, middle = copy.deepcopy(mm), copy.deepcopy(mm)
    assert (edge.mprotect(VICTIM, P, PROT_READ) == 0) == edge_ok
    assert edge.map_count == limit + rel + (1 if edge_ok else 0)
    result = middle.mprotect(VICTIM + P, P, PROT_READ)
    assert (result == 0) == middle_ok
    if middle_ok:
        assert middle.map_count == limit + rel + 2
    else:
        assert result == Errno.ENOMEM
        pieces = [(v.start, v.end) for v in middle.vmas() if VICTIM <= v.start < VICTIM + 3 * P]
        if rel == -1:  # first split made, second refused
            assert pieces == [(VICTIM, VICTIM + P), (VICTIM + P, VICTIM + 3 * P)]
        else:
            assert pieces == [(VICTIM, VICTIM + 3 * P)]
    edge._check()
    if middle_ok or rel != -1:
        middle._check()


def test_failed_second_split_state_passes_the_invariant_check():
    """The state the kernel leaves after mprotect of a middle page at ``map_count == max-1``
    (mm/mprotect.c ``mprotect_fixup``: the first split stays, the second fails; Observed at
    65530, kernel-rules.md §4.2) is real: two adjacent VMAs with equal flags. The model's own
    invariant check must accept it."""
    mm, _limit = at_map_count(-1)
    assert mm.mprotect(VICTIM + P, P, PROT_READ) == Errno.ENOMEM
    mm._check()


def test_max_map_count_merge_needs_no_split():
    """mm/vma.c ``vma_merge_existing_range``: an mprotect that merges the changed page into its
    neighbour needs no split, so it succeeds even at ``map_count == max`` (kernel-rules.md §3.2).
    VICTIM+3P is given the victim's new protection first so the edge page can merge into it."""
    mm, limit = at_map_count(-1)
    assert mm.mmap(VICTIM + 3 * P, P, PROT_READ, FIXED) == VICTIM + 3 * P
    assert mm.map_count == limit
    assert mm.mprotect(VICTIM + 2 * P, P, PROT_READ) == 0  # tail merges into the r-- page
    assert mm.map_count == limit
    mm._check()


@pytest.mark.parametrize("rel,middle_ok", [(0, False), (-1, True)], ids=["mc=max", "mc=max-1"])
def test_max_map_count_munmap(rel, middle_ok):
    """mm/vma.c ``vms_gather_munmap_vmas``: ENOMEM only when the range starts and ends inside
    the same VMA (two splits) and ``map_count >= max``; a head or tail unmap is never refused.
    Observed at 65530: middle page at max → ENOMEM, at max-1 ok; head page at max ok."""
    mm, limit = at_map_count(rel)
    head, middle = copy.deepcopy(mm), copy.deepcopy(mm)
    assert head.munmap(VICTIM, P) == 0
    result = middle.munmap(VICTIM + P, P)
    assert (result == 0) == middle_ok
    assert middle.map_count == limit + rel + (1 if middle_ok else 0)
    if not middle_ok:
        assert result == Errno.ENOMEM
    # MAP_FIXED over the middle page gathers the same way (mm/vma.c __mmap_region)
    fixed = copy.deepcopy(mm).mmap(VICTIM + P, P, PROT_READ, FIXED)
    assert (fixed == VICTIM + P) == middle_ok
