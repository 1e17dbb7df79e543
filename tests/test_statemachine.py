"""A hypothesis state machine over the memory system calls, on a fresh exec layout.

Each run draws a layout (profile and personality, ASLR off), an RLIMIT_STACK and sometimes a
tiny vm.max_map_count, then applies random mmap / munmap / mprotect / mremap / brk / touch
calls. Expected outcomes come from the rules in docs/reference/kernel-rules.md (cited by section
as "§n") and the team reference linux-mm.md (../shared/reference) ("REF §n"); the gap search is compared with
the independent O(n) implementation in tests/naive.py.

Invariants after every step:

* ``mm._check()``; the gap index equals the complement of the VMAs (:func:`naive.naive_gaps`);
* the fast top-down and bottom-up searches equal the naive ones for realistic requests;
* ``map_count <= max_map_count + 1``. Derivation: mmap and brk refuse only when
  ``map_count > max`` before the call (REF §4.3, observed "mmaps succeed until map_count =
  max+1"), so each can reach max+1 and no further; splits by mprotect are refused at
  ``map_count >= max``; munmap (and the unmap under MAP_FIXED) refuses the one case that adds
  a VMA (a hole strictly inside one VMA) at ``map_count >= max``, and every other unmap removes
  at least as many VMAs as it splits off (mm/vma.c ``vms_gather_munmap_vmas``: "Make sure that
  map_count on return from munmap() will not exceed its limit"); a MAP_FIXED spanning two VMAs
  at ``map_count == max`` ends at max+1; mremap moves need ``map_count < max - 3`` (§1.7).
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from naive import naive_gaps, naive_unmapped_area, naive_unmapped_area_topdown, start_gap
from strategies import (
    anon_flags, fresh_address_space, hints, layouts, page_aligned_lengths, page_offsets,
    profiles, prots, rlimit_stacks, thp_lengths, vmas_of,
)
from simulator.kernel.config import KernelConfig
from simulator.kernel.madvise import (
    MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP, MADV_DONTFORK, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
)
from simulator.kernel.mlock import MLOCK_ONFAULT
from simulator.kernel.stack import Fault
from simulator.kernel.uapi import (
    MAP_32BIT, MAP_ANONYMOUS, MAP_FIXED, MAP_GROWSDOWN, MAP_PRIVATE,
    MREMAP_FIXED, MREMAP_MAYMOVE, PROT_NONE, PROT_READ, PROT_WRITE, Errno,
)
from simulator.kernel.unmapped_area import UnmappedAreaInfo, unmapped_area, unmapped_area_topdown
from simulator.kernel.vma import (
    VM_ACCESS_FLAGS, VM_DONTCOPY, VM_DONTDUMP, VM_DONTEXPAND, VM_GROWSDOWN, VM_HUGEPAGE,
    VM_LOCKED, VM_PFNMAP, VM_READ, VM_SOFTDIRTY, VM_WRITE,
)
from simulator.units import GiB, MiB, PAGE_MASK, PAGE_SIZE, RLIM_INFINITY, page_align

P = PAGE_SIZE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
DEFAULT_MAX = KernelConfig().max_map_count
#: Small limits so a 40-step run reaches the map-count paths (the exec layout has 7-12 VMAs).
SMALL_MAX = (20, 28, 40)


# -- helpers -----------------------------------------------------------------------------------

def outcome(rule: str, result, detail: str = "") -> None:
    """Label the step for ``--hypothesis-show-statistics`` (which paths the runs reach)."""
    name = result.name if isinstance(result, Errno) else ("ok" if result is not None else "-")
    if isinstance(result, Fault):
        name = result.value
    event(f"{rule}: {name}{' ' + detail if detail else ''}")


def snapshot(mm):
    """Everything a failed call must leave alone."""
    return tuple(mm.vmas()), mm.start_brk, mm.current_brk, mm.map_count


def subtract(start: int, end: int, holes) -> list[tuple[int, int]]:
    """``[start, end)`` minus the ``holes`` ranges."""
    pieces = [(start, end)]
    for hs, he in holes:
        out = []
        for s, e in pieces:
            if he <= s or hs >= e:
                out.append((s, e))
                continue
            if s < hs:
                out.append((s, hs))
            if he < e:
                out.append((he, e))
        pieces = out
    return pieces


def canonical(vmas, holes=()):
    """The mapped memory outside ``holes`` as maximal runs of identical mapping: flags (but
    VM_SOFTDIRTY), file, special name, anon name, with contiguous page offsets. Splits and
    merges do not change it, so "nothing outside the range changed" is equality of this."""
    runs: list[list] = []
    for v in vmas:
        key = (v.flags & ~VM_SOFTDIRTY, v.file, v.special, v.anon_name)
        for s, e in subtract(v.start, v.end, holes):
            pgoff = v.pgoff + ((s - v.start) >> 12)
            last = runs[-1] if runs else None
            if (last is not None and last[1] == s and last[2] == key
                    and last[3] + ((last[1] - last[0]) >> 12) == pgoff):
                last[1] = e
            else:
                runs.append([s, e, key, pgoff])
    return [tuple(r) for r in runs]


def covering(mm, start: int, end: int):
    """The VMAs covering ``[start, end)`` if they cover all of it without a hole, else None."""
    vmas = mm.vmas_in(start, end)
    cursor = start
    for v in vmas:
        if v.start > cursor:
            return None
        cursor = v.end
    return vmas if vmas and cursor >= end else None


def splits_inside_one(vmas, start: int, end: int) -> bool:
    """The range is strictly inside one VMA: unmapping it needs two splits of that VMA."""
    return any(v.start < start and end < v.end for v in vmas)


def cuts_special(vmas, start: int, end: int) -> bool:
    """An edge of the range falls inside a special mapping ([vdso], [vvar]...), which the
    kernel refuses to split (see test_split_of_special_mapping_is_refused below)."""
    return any(v.special is not None and (v.start < start < v.end or v.start < end < v.end)
               for v in vmas)


def gather_error(vmas, start: int, end: int, map_count: int, max_map_count: int):
    """What ``vms_gather_munmap_vmas`` (§5) says about unmapping ``[start, end)``: (errno or
    None, VMAs added by a split that stays after a failure). The first VMA is split at
    ``start`` only after the map-count test for a hole inside it (ENOMEM); a special mapping
    refuses any split (EINVAL, mm/mmap.c special_mapping_split via __split_vma); a failed end
    split leaves the start split in place."""
    inside = mm_vmas_in(vmas, start, end)
    if not inside:
        return None, 0
    first, last = inside[0], inside[-1]
    split = 0
    if start > first.start:
        if end < first.end and map_count >= max_map_count:
            return Errno.ENOMEM, 0
        if first.special is not None:
            return Errno.EINVAL, 0
        split = 1
    if last.end > end and last.special is not None:
        return Errno.EINVAL, split
    return None, 0


def touches_special(vmas, start: int, end: int) -> bool:
    return any(v.special is not None and v.start < end and start < v.end for v in vmas)


def search_infos(mm, length: int):
    """The two requests the mm's own placement makes (§9.2, REF §3): top-down below
    mmap_base, and bottom-up from the legacy base to TASK_SIZE."""
    return (UnmappedAreaInfo(length=length, low_limit=P, high_limit=mm.mmap_base, topdown=True),
            UnmappedAreaInfo(length=length, low_limit=mm.mmap_legacy_base,
                             high_limit=mm.task_size))


def compare_search(mm, info) -> None:
    if info.topdown:
        fast, slow = unmapped_area_topdown(mm, info), naive_unmapped_area_topdown(mm, info)
    else:
        fast, slow = unmapped_area(mm, info), naive_unmapped_area(mm, info)
    assert (None if fast is Errno.ENOMEM else fast) == slow, (info, fast, slow)


# -- the machine -------------------------------------------------------------------------------

class AddressSpaceMachine(RuleBasedStateMachine):

    @initialize(layout=layouts(), rlimit=rlimit_stacks(),
                max_map_count=st.sampled_from((DEFAULT_MAX, DEFAULT_MAX) + SMALL_MAX),
                overcommit=st.sampled_from((0, 1)))
    def exec_fresh(self, layout, rlimit, max_map_count, overcommit):
        name, personality = layout
        # vm.overcommit_memory 1 lets brk grow across a 64-bit layout's terabytes to the next
        # mapping, so the guard-gap rule there is reached; 0 (the default) refuses a charge
        # larger than RAM + swap first (brk's oracle below).
        self.mm = fresh_address_space(name, personality, rlimit,
                                      KernelConfig(max_map_count=max_map_count,
                                                   overcommit_memory=overcommit))
        #: Splits left by calls refused at a special mapping (vms_abort_munmap_vmas keeps
        #: them): the kernel's ``map_count <= max_map_count + 1`` holds after every call that
        #: succeeds, and such a refusal may add one more past it (measured: EINVAL at [vvar]).
        self.leftover_splits = 0

    # -- checks shared by the rules --------------------------------------------------------------

    def assert_unchanged(self, before) -> None:
        assert snapshot(self.mm) == before

    def assert_outside_unchanged(self, before_vmas, holes) -> None:
        assert canonical(self.mm.vmas(), holes) == canonical(before_vmas, holes)

    def assert_placement(self, before_vmas, before_gaps, addr: int, length: int) -> None:
        """A non-fixed placement: page-aligned, at or above mmap_min_addr (hints are raised to
        it, searches start there: §8 step 4, §10), ending at or below TASK_SIZE (§9.1), inside
        one gap that existed before the call, and clear of the guard gap of a growsdown VMA
        above it (REF §5.2; every hint test and the search use vm_start_gap)."""
        mm = self.mm
        assert addr % P == 0, hex(addr)
        assert addr >= mm.mmap_min_addr, hex(addr)
        assert addr + length <= mm.task_size, hex(addr)
        assert any(s <= addr and addr + length <= e for s, e in before_gaps), hex(addr)
        above = [v for v in before_vmas if v.start >= addr + length]
        if above and above[0].flags & VM_GROWSDOWN:
            assert addr + length <= start_gap(mm, above[0]), (hex(addr), above[0])

    def assert_mapped(self, start: int, end: int, prot: int, growsdown: bool | None = None):
        vmas = covering(self.mm, start, end)
        assert vmas is not None, f"[{start:#x}, {end:#x}) not mapped"
        for v in vmas:
            assert v.flags & VM_ACCESS_FLAGS == prot, v
            if growsdown is not None:
                assert bool(v.flags & VM_GROWSDOWN) == growsdown, v

    def assert_unmapped(self, start: int, end: int) -> None:
        assert not self.mm.vmas_in(start, end), f"[{start:#x}, {end:#x}) still mapped"

    # -- mmap ------------------------------------------------------------------------------------

    def do_mmap_free(self, hint: int, length: int, prot: int, flags: int) -> None:
        mm = self.mm
        before = snapshot(mm)
        gaps = naive_gaps(mm)
        result = mm.mmap(hint, length, prot, flags)
        outcome("mmap", result, "big" if length >= 2 * MiB else "")
        length = page_align(length)
        if before[3] > mm.max_map_count:  # §8 step 4: map_count > max -> ENOMEM, before placement
            assert result is Errno.ENOMEM
        if isinstance(result, Errno):
            # A private anonymous mapping with valid arguments can only lack room (or count).
            assert result is Errno.ENOMEM
            self.assert_unchanged(before)
            return
        self.assert_placement(before[0], gaps, result, length)
        if flags & MAP_32BIT and mm.profile.map_32bit:
            # §9.2 find_start_end: MAP_32BIT searches (and accepts hints) below 2 GiB.
            assert result + length <= 2 * GiB
        self.assert_mapped(result, result + length, prot, bool(flags & MAP_GROWSDOWN))
        self.assert_outside_unchanged(before[0], [(result, result + length)])

    @rule(data=st.data())
    def mmap_anywhere(self, data):
        """No hint, a hint near existing mappings, or an unaligned hint; small, large or 2 MiB
        multiple lengths, sometimes unaligned."""
        mm = self.mm
        length = data.draw(st.one_of(page_aligned_lengths(600), thp_lengths(),
                                     st.integers(1, 8 * P)), label="length")
        hint = data.draw(st.one_of(st.just(0), hints(mm, page_align(length))), label="hint")
        self.do_mmap_free(hint, length, data.draw(prots(), label="prot"),
                          data.draw(anon_flags("free"), label="flags"))

    @rule(data=st.data())
    def mmap_growsdown_near(self, data):
        """A MAP_GROWSDOWN mapping right below or above something, so later searches, hints
        and brk meet guard gaps."""
        mm = self.mm
        length = data.draw(page_aligned_lengths(64), label="length")
        if data.draw(st.booleans(), label="a guard gap above a vma"):
            below = data.draw(vmas_of(mm), label="below")
            hint = below.end + mm.stack_guard_gap + data.draw(st.integers(0, 8)) * P
        else:
            hint = data.draw(hints(mm, length), label="hint")
        self.do_mmap_free(hint, length, PROT_READ | PROT_WRITE, ANON | MAP_GROWSDOWN)

    @rule(count=st.integers(2, 16), hinted=st.booleans())
    def mmap_flood(self, count, hinted):
        """Many one-page mappings of alternating protection (they never merge with each other),
        to push map_count towards a small vm.max_map_count."""
        for i in range(count):
            hint = self.mm.mmap_legacy_base + 2 * i * P if hinted else 0
            self.do_mmap_free(hint, P, PROT_READ if i % 2 else PROT_READ | PROT_WRITE, ANON)

    def fixed_target(self, data, max_extra: int = 8):
        """An (addr, length) over or next to an existing VMA, or in free space."""
        mm = self.mm
        if data.draw(st.booleans(), label="over a vma"):
            v = data.draw(vmas_of(mm), label="vma")
            addr = v.start + data.draw(st.integers(-4, v.pages + 1), label="page") * P
            length = data.draw(st.integers(1, v.pages + max_extra), label="pages") * P
        else:
            length = data.draw(page_aligned_lengths(64), label="length")
            addr = data.draw(hints(mm, length), label="addr") & PAGE_MASK
        return max(addr, mm.mmap_min_addr), length

    @rule(data=st.data())
    def mmap_fixed(self, data):
        """MAP_FIXED: replaces whatever is there (§5, §5.1, §8)."""
        mm = self.mm
        addr, length = self.fixed_target(data)
        vmas = list(mm.vmas())
        prot = data.draw(prots(), label="prot")
        flags = data.draw(anon_flags("fixed"), label="flags")
        before = snapshot(mm)
        mc = mm.map_count
        result = mm.mmap(addr, length, prot, flags)
        outcome("mmap fixed", result, "over" if vmas_overlap(vmas, addr, addr + length) else "free")
        if mc > mm.max_map_count:                                  # §8 step 4
            expected = Errno.ENOMEM
        elif addr + length > mm.task_size:                         # §8 step 5
            expected = Errno.ENOMEM
        else:
            # The unmap under MAP_FIXED: §5.1, REF §4.3.
            expected, split = gather_error(vmas, addr, addr + length, mc, mm.max_map_count)
            expected = expected or addr
        assert result == expected
        if isinstance(result, Errno):
            if expected is Errno.EINVAL:
                self.assert_outside_unchanged(before[0], [])
                assert mm.map_count == mc + split
                self.leftover_splits += split
            else:
                self.assert_unchanged(before)
            return
        self.assert_mapped(addr, addr + length, prot, bool(flags & MAP_GROWSDOWN))
        self.assert_outside_unchanged(before[0], [(addr, addr + length)])

    @rule(data=st.data())
    def mmap_fixed_noreplace(self, data):
        """MAP_FIXED_NOREPLACE: EEXIST over any existing VMA, changing nothing (§8 step 6)."""
        mm = self.mm
        addr, length = self.fixed_target(data)
        prot = data.draw(prots(), label="prot")
        flags = data.draw(anon_flags("noreplace"), label="flags")
        before = snapshot(mm)
        mc = mm.map_count
        overlap = bool(mm.vmas_in(addr, addr + length))
        result = mm.mmap(addr, length, prot, flags)
        outcome("mmap noreplace", result)
        if mc > mm.max_map_count or addr + length > mm.task_size:
            expected = Errno.ENOMEM
        elif overlap:
            expected = Errno.EEXIST
        else:
            expected = addr
        assert result == expected
        if isinstance(result, Errno):
            self.assert_unchanged(before)
            return
        self.assert_mapped(addr, addr + length, prot, bool(flags & MAP_GROWSDOWN))
        self.assert_outside_unchanged(before[0], [(addr, addr + length)])

    # -- munmap ----------------------------------------------------------------------------------

    @rule(data=st.data())
    def munmap(self, data):
        """Part of a VMA, a range spanning several, or random; sometimes invalid (§5)."""
        mm = self.mm
        vmas = list(mm.vmas())
        v = data.draw(vmas_of(mm), label="vma")
        start = v.start + data.draw(st.integers(-2, v.pages), label="start page") * P
        kind = data.draw(st.sampled_from(("inside", "span", "bad")), label="kind")
        if kind == "span":
            w = data.draw(st.sampled_from([x for x in vmas if x.start >= v.start]), label="to")
            end = w.end - data.draw(st.integers(0, w.pages - 1), label="end back") * P
            end = max(end, start + P)
        else:
            end = start + data.draw(st.integers(1, v.pages + 2), label="pages") * P
        start = max(start, 0)
        length = end - start
        if kind == "bad":
            start, length = data.draw(st.sampled_from(((start + 1, length), (start, 0))),
                                      label="bad args")
        before = snapshot(mm)
        mc = mm.map_count
        split = 0
        result = mm.munmap(start, length)
        outcome("munmap", result, kind)
        if start % P or length == 0:
            expected = Errno.EINVAL
        elif start + length > mm.task_size:
            expected = Errno.EINVAL
        else:
            expected, split = gather_error(vmas, start, start + length, mc, mm.max_map_count)
            expected = expected or 0
        assert result == expected
        if result is Errno.EINVAL and start % P == 0 and length and start + length <= mm.task_size:
            # A refused split of a special mapping: earlier splits stay, nothing is unmapped.
            self.assert_outside_unchanged(before[0], [])
            assert mm.map_count == mc + split
            self.leftover_splits += split
            return
        if result != 0:
            self.assert_unchanged(before)
            return
        self.assert_unmapped(start, start + length)
        self.assert_outside_unchanged(before[0], [(start, start + length)])
        assert (mm.start_brk, mm.current_brk) == before[1:3]

    # -- mprotect --------------------------------------------------------------------------------

    @rule(data=st.data())
    def mprotect(self, data):
        """Whole VMA, head, tail, middle, or a range over several VMAs (§4, REF §4.2-4.3)."""
        mm = self.mm
        v = data.draw(vmas_of(mm, special=False), label="vma")
        kind = data.draw(st.sampled_from(("whole", "head", "tail", "middle", "span")),
                         label="kind")
        if kind in ("head", "tail", "middle") and v.pages < (3 if kind == "middle" else 2):
            kind = "whole"
        if kind == "whole":
            start, end = v.start, v.end
        elif kind == "head":
            start, end = v.start, v.start + data.draw(st.integers(1, v.pages - 1)) * P
        elif kind == "tail":
            start, end = v.end - data.draw(st.integers(1, v.pages - 1)) * P, v.end
        elif kind == "middle":
            a = data.draw(st.integers(1, v.pages - 2))
            b = data.draw(st.integers(a + 1, v.pages - 1))
            start, end = v.start + a * P, v.start + b * P
        else:
            start = v.start + data.draw(st.integers(0, v.pages - 1)) * P
            end = start + data.draw(st.integers(1, 600)) * P
        vmas = list(mm.vmas())
        if touches_special(vmas, start, end):
            return
        prot = data.draw(prots(), label="prot")
        before = snapshot(mm)
        mc = mm.map_count
        gaps = naive_gaps(mm)
        result = mm.mprotect(start, end - start, prot)
        outcome("mprotect", result, kind)

        expected = None  # None: not predicted here (merges with neighbours decide)
        if kind != "span":
            below = [x for x in vmas if x.end <= v.start]
            above = [x for x in vmas if x.start >= v.end]
            prev_adjacent = bool(below) and below[-1].end == v.start
            next_adjacent = bool(above) and above[0].start == v.end
            if prot & ~(v.flags >> 4) & VM_ACCESS_FLAGS:
                expected = Errno.EACCES                      # §4.1: VM_MAY* bit missing
            elif prot == v.flags & VM_ACCESS_FLAGS:
                expected = 0                                 # §4.2: newflags == oldflags
            elif kind == "whole":
                expected = 0                                 # no split needed
            elif kind == "middle":
                # Two splits, each refused at map_count >= max; the first one stays (§4.2).
                expected = Errno.ENOMEM if mc >= mm.max_map_count - 1 else 0
            elif (kind == "head" and not prev_adjacent) or (kind == "tail" and not next_adjacent):
                # One split, no neighbour to merge with (§4.2 vma_modify).
                expected = Errno.ENOMEM if mc >= mm.max_map_count else 0
            if expected is not None:
                assert result == expected
            if expected is Errno.EACCES or prot == v.flags & VM_ACCESS_FLAGS:
                self.assert_unchanged(before)
            if kind == "middle" and expected is Errno.ENOMEM:
                # "ENOMEM at max-1 with the VMA left split in two" (§4 observed).
                assert mm.map_count == (mc + 1 if mc == mm.max_map_count - 1 else mc)
        if result == 0:
            for x in mm.vmas_in(start, end):
                assert x.flags & VM_ACCESS_FLAGS == prot, x
        # mprotect never maps or unmaps, and never touches what lies outside its range.
        assert naive_gaps(mm) == gaps
        self.assert_outside_unchanged(before[0], [(start, end)])

    # -- madvise and mlock (issue 10) ------------------------------------------------------------

    def flag_range(self, data, v):
        """A head, tail, middle or whole sub-range of ``v``, or one spanning on from it."""
        a = data.draw(st.integers(0, v.pages - 1), label="first page")
        if data.draw(st.booleans(), label="span"):
            return v.start + a * P, v.start + a * P + data.draw(st.integers(1, 600)) * P
        b = data.draw(st.integers(a + 1, v.pages), label="end page")
        return v.start + a * P, v.start + b * P

    @rule(data=st.data(), advice=st.sampled_from([(MADV_DONTDUMP, VM_DONTDUMP, True),
                                                  (MADV_DODUMP, VM_DONTDUMP, False),
                                                  (MADV_DONTFORK, VM_DONTCOPY, True),
                                                  (MADV_DOFORK, VM_DONTCOPY, False),
                                                  (MADV_HUGEPAGE, VM_HUGEPAGE, True),
                                                  (MADV_NOHUGEPAGE, VM_HUGEPAGE, False)]))
    def madvise_flags(self, data, advice):
        """Flag advice never maps or unmaps, changes nothing outside its range, and on success
        leaves the flag set (or clear) on every VMA of the range; a hole is ENOMEM with the
        mapped parts changed (mm/madvise.c madvise_walk_vmas)."""
        mm = self.mm
        v = data.draw(vmas_of(mm, special=False), label="vma")
        start, end = self.flag_range(data, v)
        if touches_special(list(mm.vmas()), start, end):
            return
        code, bit, on = advice
        before = snapshot(mm)
        gaps = naive_gaps(mm)
        holes = subtract(start, end, [(x.start, x.end) for x in mm.vmas_in(start, end)])
        result = mm.madvise(start, end - start, code)
        outcome("madvise", result)
        assert result in (0, Errno.ENOMEM, Errno.EAGAIN)
        if result == 0 or (result is Errno.ENOMEM and holes):
            for x in mm.vmas_in(start, end):
                assert bool(x.flags & bit) == on, x
        assert (result is Errno.ENOMEM) == bool(holes) or result is Errno.EAGAIN
        assert naive_gaps(mm) == gaps
        self.assert_outside_unchanged(before[0], [(start, end)])

    @rule(data=st.data(), lock=st.booleans())
    def mlock_onfault(self, data, lock):
        """mlock2(MLOCK_ONFAULT) / munlock: VM_LOCKED|VM_LOCKONFAULT set or cleared on the
        range, a hole stops with ENOMEM (mm/mlock.c apply_vma_lock_flags); never maps or
        unmaps, never changes what lies outside the range."""
        mm = self.mm
        v = data.draw(vmas_of(mm, special=False), label="vma")
        start, end = self.flag_range(data, v)
        if touches_special(list(mm.vmas()), start, end):
            return
        before = snapshot(mm)
        gaps = naive_gaps(mm)
        result = (mm.mlock(start, end - start, MLOCK_ONFAULT) if lock
                  else mm.munlock(start, end - start))
        outcome("mlock" if lock else "munlock", result)
        holes = subtract(start, end, [(x.start, x.end) for x in mm.vmas_in(start, end)])
        assert result in (0, Errno.ENOMEM)
        if not holes and result == 0:
            for x in mm.vmas_in(start, end):
                assert bool(x.flags & VM_LOCKED) == lock, x
        if holes:
            assert result is Errno.ENOMEM
        assert naive_gaps(mm) == gaps
        self.assert_outside_unchanged(before[0], [(start, end)])

    # -- mremap ----------------------------------------------------------------------------------

    def pick_source(self, data):
        """A non-special VMA, an address in it and an old length ending at most at its end."""
        v = data.draw(vmas_of(self.mm, special=False), label="vma")
        addr = v.start + data.draw(st.integers(0, v.pages - 1), label="page") * P
        to_end = (v.end - addr) // P
        old_pages = data.draw(st.one_of(st.just(to_end), st.integers(1, to_end)),
                              label="old pages")
        return v, addr, old_pages * P

    @rule(data=st.data())
    def mremap_shrink(self, data):
        """A plain shrink unmaps the tail ``[addr+new_len, addr+old_len)`` (§1.4, §1.5)."""
        mm = self.mm
        v, addr, old_len = self.pick_source(data)
        if old_len < 2 * P:
            return
        new_len = data.draw(st.integers(1, old_len // P - 1), label="new pages") * P
        flags = data.draw(st.sampled_from((0, MREMAP_MAYMOVE)), label="flags")
        vmas = list(mm.vmas())
        before = snapshot(mm)
        mc = mm.map_count
        result = mm.mremap(addr, old_len, new_len, flags)
        outcome("mremap shrink", result)
        tail = (addr + new_len, addr + old_len)
        if splits_inside_one(vmas, *tail) and mc >= mm.max_map_count:
            expected = Errno.ENOMEM                           # §1.5 / §5
        else:
            expected = addr
        assert result == expected
        if isinstance(result, Errno):
            self.assert_unchanged(before)
            return
        self.assert_unmapped(*tail)
        self.assert_outside_unchanged(before[0], [tail])

    @rule(data=st.data())
    def mremap_grow(self, data):
        """Grow in place if ``[vm_end, vm_end + delta)`` is free (guard gaps ignored), else
        move with MREMAP_MAYMOVE, else ENOMEM (§1.4, §1.7)."""
        mm = self.mm
        v, addr, old_len = self.pick_source(data)
        delta = data.draw(st.one_of(page_aligned_lengths(64), thp_lengths(2)), label="delta")
        new_len = old_len + delta
        flags = data.draw(st.sampled_from((0, MREMAP_MAYMOVE)), label="flags")
        vmas = list(mm.vmas())
        gaps = naive_gaps(mm)
        before = snapshot(mm)
        mc = mm.map_count
        result = mm.mremap(addr, old_len, new_len, flags)
        outcome("mremap grow", result, "in place" if result == addr else "")
        in_place = (addr + old_len == v.end and not mm_vmas_in(vmas, v.end, v.end + delta)
                    and v.end + delta <= mm.task_size)
        if v.flags & (VM_DONTEXPAND | VM_PFNMAP):
            assert result is Errno.EFAULT                      # §1.3
        elif in_place:
            assert result == addr
        elif not flags & MREMAP_MAYMOVE:
            assert result is Errno.ENOMEM
        elif mc >= mm.max_map_count - 3:
            assert result is Errno.ENOMEM                      # §1.7 prep_move_vma
        if isinstance(result, Errno):
            self.assert_unchanged(before)
            return
        if result == addr:
            self.assert_mapped(addr, addr + new_len, v.flags & VM_ACCESS_FLAGS)
            self.assert_outside_unchanged(before[0], [(v.end, v.end + delta)])
            return
        # Moved: placed like an mmap without a hint, the old range gone (§1.7).
        self.assert_placement(before[0], gaps, result, new_len)
        self.assert_unmapped(addr, addr + old_len)
        moved = covering(mm, result, result + new_len)
        assert moved is not None
        for x in moved:
            assert x.flags & ~VM_SOFTDIRTY == v.flags & ~VM_SOFTDIRTY, (x, v)
        self.assert_outside_unchanged(before[0], [(addr, addr + old_len),
                                                  (result, result + new_len)])

    @rule(data=st.data())
    def mremap_fixed(self, data):
        """MREMAP_FIXED|MREMAP_MAYMOVE to a chosen address, replacing what is there (§1.2,
        §1.7, §1.8)."""
        mm = self.mm
        v, addr, old_len = self.pick_source(data)
        new_len = data.draw(st.integers(1, old_len // P + 8), label="new pages") * P
        new_addr = max(data.draw(hints(mm, new_len), label="new addr") & PAGE_MASK,
                       mm.mmap_min_addr)
        vmas = list(mm.vmas())
        if cuts_special(vmas, new_addr, new_addr + new_len) or \
                (new_len < old_len and cuts_special(vmas, addr + new_len, addr + old_len)):
            return
        before = snapshot(mm)
        mc = mm.map_count
        result = mm.mremap(addr, old_len, new_len, MREMAP_FIXED | MREMAP_MAYMOVE, new_addr)
        outcome("mremap fixed", result)
        if new_addr > mm.task_size - new_len:
            expected = Errno.EINVAL                            # §1.2 step 6
        elif addr + old_len > new_addr and new_addr + new_len > addr:
            expected = Errno.EINVAL                            # §1.2 step 10
        elif mc + 2 >= mm.max_map_count - 3:
            expected = Errno.ENOMEM                            # §1.2 step 11
        elif new_len > old_len and v.flags & (VM_DONTEXPAND | VM_PFNMAP):
            expected = Errno.EFAULT                            # §1.3
        else:
            expected = new_addr
        assert result == expected
        if isinstance(result, Errno):
            self.assert_unchanged(before)
            return
        self.assert_unmapped(addr, addr + old_len)
        assert covering(mm, new_addr, new_addr + new_len) is not None
        for x in mm.vmas_in(new_addr, new_addr + new_len):
            assert x.flags & ~VM_SOFTDIRTY == v.flags & ~VM_SOFTDIRTY, (x, v)
        self.assert_outside_unchanged(before[0], [(addr, addr + old_len),
                                                  (new_addr, new_addr + new_len)])

    # -- brk -------------------------------------------------------------------------------------

    @rule(data=st.data())
    def brk(self, data):
        """Grow or shrink the heap; the rules of §6, including its failure modes."""
        mm = self.mm
        target = mm.current_brk + data.draw(page_offsets(40), label="delta") \
            + data.draw(st.sampled_from((0, 0, 1, P - 1)), label="bytes")
        mode = data.draw(st.sampled_from(("near", "near", "near", "next", "below")), label="mode")
        if mode == "below":
            target = mm.start_brk - P
        elif mode == "next":
            # Right up to where the next mapping's claim begins: one page (plus its guard gap
            # if it grows down) must stay free (§6).
            nxt = [v for v in mm.vmas() if v.end > page_align(mm.current_brk)]
            if nxt:
                target = start_gap(mm, nxt[0]) - P \
                    + data.draw(st.sampled_from((-P, 0, 1, P)), label="edge")
        vmas = list(mm.vmas())
        before = snapshot(mm)
        mc = mm.map_count
        old = mm.current_brk
        result = mm.brk(target)
        outcome("brk", None, f"{mode} " + ("moved" if result == target else "refused"))
        newbrk, oldbrk = page_align(target), page_align(old)
        if target < mm.start_brk:
            ok = False
        elif newbrk == oldbrk:
            ok = True
        elif target <= old:  # shrink: unmaps [newbrk, oldbrk), must find something there
            ok = bool(mm_vmas_in(vmas, newbrk, oldbrk)) and not (
                splits_inside_one(vmas, newbrk, oldbrk) and mc >= mm.max_map_count)
        else:  # grow: room for one more page, and the guard gap below a growsdown next VMA
            nxt = [v for v in vmas if v.end > oldbrk]
            # mm/util.c __vm_enough_memory, OVERCOMMIT_GUESS: one charge of more pages than
            # RAM + swap is refused (checked on this kernel by tests/test_rules_mmap.py).
            kc = mm.kconfig
            commit_ok = (kc.overcommit_memory != 0
                         or (newbrk - oldbrk) // P <= kc.totalram_pages + kc.total_swap_pages)
            ok = (newbrk <= mm.task_size and mc <= mm.max_map_count and commit_ok
                  and not (nxt and newbrk + P > start_gap(mm, nxt[0])))
        if not ok:
            assert result == old
            self.assert_unchanged(before)
            return
        assert result == target and mm.current_brk == target
        if newbrk == oldbrk:
            assert tuple(mm.vmas()) == before[0]
        elif newbrk < oldbrk:
            self.assert_unmapped(newbrk, oldbrk)
            self.assert_outside_unchanged(before[0], [(newbrk, oldbrk)])
        else:
            self.assert_mapped(oldbrk, newbrk, PROT_READ | PROT_WRITE)
            self.assert_outside_unchanged(before[0], [(oldbrk, newbrk)])

    # -- page faults -----------------------------------------------------------------------------

    @rule(data=st.data())
    def touch(self, data):
        """An access inside a VMA, below a growsdown VMA, or anywhere (§7)."""
        mm = self.mm
        vmas = list(mm.vmas())
        stacks = [v for v in vmas if v.flags & VM_GROWSDOWN]
        guarded = [(v, p) for v, p in zip(vmas[1:], vmas) if v.flags & VM_GROWSDOWN
                   and p.end + mm.stack_guard_gap - 2 * P < v.start]
        kinds = (["inside", "anywhere"] + (["below stack"] * 3 if stacks else [])
                 + (["guard edge"] * 2 if guarded else []))
        kind = data.draw(st.sampled_from(kinds), label="kind")
        if kind == "inside":
            v = data.draw(st.sampled_from(vmas), label="vma")
            addr = v.start + data.draw(st.integers(0, v.size - 1), label="offset")
        elif kind == "below stack":
            v = data.draw(st.sampled_from(stacks), label="stack")
            pages = data.draw(st.one_of(st.integers(1, 300),
                                        st.integers(1, 4 * 256 + 2200)), label="pages below")
            addr = max(v.start - pages * P + data.draw(st.integers(0, P - 1)), 0)
        elif kind == "guard edge":
            # The growth refusal boundary: stack_guard_gap above an accessible VMA (§7.2).
            v, below = data.draw(st.sampled_from(guarded), label="stack and below")
            addr = below.end + mm.stack_guard_gap + data.draw(page_offsets(2), label="edge") \
                + data.draw(st.integers(0, P - 1), label="byte")
            addr = min(addr, v.start - 1)
        else:
            addr = data.draw(st.integers(0, mm.task_size - 1), label="addr")
        write = data.draw(st.booleans(), label="write")
        before = snapshot(mm)
        result = mm.touch(addr, write)
        outcome("touch", result, kind)

        v = next((x for x in vmas if x.end > addr), None)  # find_vma
        if v is None or (v.start > addr and not v.flags & VM_GROWSDOWN):
            assert result is Fault.SIGSEGV
            self.assert_unchanged(before)
            return
        if v.start > addr:  # §7.2 expand_downwards
            page = addr & PAGE_MASK
            below = [x for x in vmas if x.end <= v.start]
            prev = below[-1] if below else None
            refused = (page < mm.mmap_min_addr
                       or (prev is not None and not prev.flags & VM_GROWSDOWN
                           and prev.flags & VM_ACCESS_FLAGS
                           and page - prev.end < mm.stack_guard_gap)
                       or (v.start - page) // P > v.pgoff
                       or v.end - page > mm.rlimit_stack)
            if refused:
                # expand_downwards prepares the anon_vma before the limits are checked (§7.2),
                # so only the layout is unchanged.
                assert result is Fault.SIGSEGV
                assert canonical(mm.vmas()) == canonical(before[0])
                assert mm.map_count == before[3]
                return
            assert mm.vma_at(page) is not None and mm.vma_at(page).end == v.end
            self.assert_outside_unchanged(before[0], [(page, v.start)])
        else:
            assert canonical(mm.vmas()) == canonical(before[0])
        # The access check comes after growth (§7.1 item 3).
        if v.file is None and v.special is None:
            if write:
                assert result is (Fault.OK if v.flags & VM_WRITE else Fault.SIGSEGV)
            elif v.flags & (VM_READ | VM_WRITE):
                # x86 access_error: a read needs any access bit; arm64 and arm accept
                # VM_WRITE for reads too (exec-only differs with arm64 EPAN: not predicted).
                assert result is Fault.OK
            elif not v.flags & VM_ACCESS_FLAGS:
                assert result is Fault.SIGSEGV

    # -- the gap search ----------------------------------------------------------------------------

    @rule(data=st.data())
    def search_random_window(self, data):
        """Fast and naive searches agree for arbitrary windows, alignments and start gaps."""
        mm = self.mm
        edges = sorted({0, mm.task_size, mm.mmap_base, mm.mmap_legacy_base}
                       | {e for v in mm.vmas() for e in (v.start, v.end, start_gap(mm, v))})
        point = st.one_of(st.sampled_from(edges),
                          st.builds(lambda e, d: min(max(e + d, 0), mm.task_size),
                                    st.sampled_from(edges), page_offsets(300)),
                          st.integers(0, mm.task_size // P).map(lambda n: n * P))
        low, high = data.draw(point, label="low"), data.draw(point, label="high")
        huge = st.integers(1, max(mm.task_size // P, 1)).map(lambda n: n * P)
        length = data.draw(st.one_of(page_aligned_lengths(600), thp_lengths(), huge),
                           label="length")
        align_mask = data.draw(st.sampled_from((0, 0, 16 * P - P, 2 * MiB - P)), label="mask")
        info = UnmappedAreaInfo(
            length=length, low_limit=low, high_limit=high,
            align_mask=align_mask,
            align_offset=data.draw(st.integers(0, 1023), label="offset pages") * P,
            start_gap=data.draw(st.sampled_from((0, 0, P)), label="start gap"))
        compare_search(mm, info)
        compare_search(mm, attrs.evolve(info, topdown=True))

    @rule(data=st.data())
    def search_at_guard_edges(self, data):
        """Windows whose edge sits a page or so from a VMA's start or its guard gap, where the
        retry rules of §10 decide (bottom-up compares with ``gap + length - 1``)."""
        mm = self.mm
        vmas = list(mm.vmas())
        stacks = [v for v in vmas if v.flags & VM_GROWSDOWN]
        n = data.draw(st.sampled_from(stacks) if stacks and data.draw(st.integers(0, 3))
                      else st.sampled_from(vmas), label="vma")
        length = data.draw(page_aligned_lengths(300), label="length")
        edge = data.draw(st.sampled_from((start_gap(mm, n), n.start)), label="edge")
        shift = data.draw(st.sampled_from((-P, 0, P, -2 * P, 2 * P)), label="shift")
        slack = data.draw(page_offsets(3).map(abs), label="slack")
        low = max(edge - length + shift, 0)
        bottom_up = UnmappedAreaInfo(length=length, low_limit=low,
                                     high_limit=min(n.end + slack, mm.task_size))
        top_down = UnmappedAreaInfo(length=length, low_limit=max(edge - length - slack, 0),
                                    high_limit=max(edge + shift, 0), topdown=True)
        compare_search(mm, bottom_up)
        compare_search(mm, top_down)

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def structure(self):
        mm = self.mm
        mm._check()
        assert list(mm.gaps()) == naive_gaps(mm)
        assert mm.map_count <= mm.max_map_count + 1 + self.leftover_splits

    @invariant()
    def searches_agree(self):
        mm = self.mm
        half = page_align(mm.task_size // 2)
        for length in (P, 5 * P, 1 * MiB, 4 * MiB, 256 * MiB, 1 * GiB, half):
            for info in search_infos(mm, length):
                compare_search(mm, info)


def vmas_overlap(vmas, start: int, end: int) -> bool:
    return bool(mm_vmas_in(vmas, start, end))


def mm_vmas_in(vmas, start: int, end: int):
    return [v for v in vmas if v.start < end and start < v.end]


AddressSpaceMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestAddressSpace = AddressSpaceMachine.TestCase


@settings(max_examples=60, deadline=None)
@given(profile=profiles(), rlimit=rlimit_stacks(),
       length=st.one_of(page_aligned_lengths(600), thp_lengths(), st.sampled_from((GiB, 3 * GiB))),
       data=st.data())
def test_fresh_layout_searches_agree_for_every_profile(profile, rlimit, length, data):
    """Right after exec, on every profile, the fast searches equal the naive ones for the mm's
    own requests and for a window starting or ending at a VMA edge; then a growsdown mapping
    placed by hint changes nothing about that."""
    mm = fresh_address_space(profile, rlimit_stack=rlimit)
    mm._check()
    assert list(mm.gaps()) == naive_gaps(mm)
    for info in search_infos(mm, length):
        compare_search(mm, info)
    v = data.draw(vmas_of(mm), label="vma")
    window = UnmappedAreaInfo(length=length, low_limit=v.end, high_limit=mm.task_size)
    compare_search(mm, window)
    compare_search(mm, attrs.evolve(window, low_limit=P, high_limit=v.start, topdown=True))
    hint = data.draw(hints(mm, P), label="hint")
    if not isinstance(mm.mmap(hint, P, PROT_READ | PROT_WRITE, ANON | MAP_GROWSDOWN), Errno):
        mm._check()
        for info in search_infos(mm, length):
            compare_search(mm, info)


# -- vm.max_map_count boundaries (REF §4.3 and §1.7, §4, §5 "Observed" values) ------------------

MAX = 40
BASE = 1 << 32  # free in the x86_64 exec layout: between mmap_min_addr and the executable


def filled(extra_below: int, *, setup=()):
    """An x86_64 address space with vm.max_map_count = MAX, the mappings ``setup`` (each an
    (addr, pages, prot) MAP_FIXED mapping), then one-page mappings of alternating protection
    (which never merge) until map_count == MAX - extra_below."""
    mm = fresh_address_space("x86_64", kconfig=KernelConfig(max_map_count=MAX))
    for addr, pages, prot in setup:
        assert mm.mmap(addr, pages * P, prot, ANON | MAP_FIXED) == addr
    i = 0
    while mm.map_count < MAX - extra_below:
        addr = BASE + (1 << 30) + 2 * i * P
        assert mm.mmap(addr, P, PROT_READ if i % 2 else PROT_NONE, ANON | MAP_FIXED) == addr
        i += 1
    assert mm.map_count == MAX - extra_below
    return mm


def test_mmap_allowed_until_max_plus_one():
    """REF §4.3: "mmaps succeed until map_count = max+1, the next fails ENOMEM"."""
    mm = filled(0)
    assert not isinstance(mm.mmap(0, P, PROT_READ, ANON), Errno)
    assert mm.map_count == MAX + 1
    before = snapshot(mm)
    assert mm.mmap(0, P, PROT_WRITE, ANON) is Errno.ENOMEM
    assert snapshot(mm) == before


@pytest.mark.parametrize("extra_below, ok", [(2, True), (1, False)])
def test_mprotect_middle_page_needs_two_splits(extra_below, ok):
    """§4.1 Observed: middle page ok at mc = max-2; ENOMEM at max-1, VMA left split in two."""
    mm = filled(extra_below, setup=[(BASE, 3, PROT_READ | PROT_WRITE)])
    result = mm.mprotect(BASE + P, P, PROT_READ)
    assert result == (0 if ok else Errno.ENOMEM)
    starts = [v.start for v in mm.vmas_in(BASE, BASE + 3 * P)]
    assert starts == ([BASE, BASE + P, BASE + 2 * P] if ok else [BASE, BASE + P])


@pytest.mark.parametrize("extra_below, ok", [(1, True), (0, False)])
def test_mprotect_edge_page_needs_one_split(extra_below, ok):
    """§4.1 Observed: first page (1 split) ok at mc = max-1, ENOMEM at max."""
    mm = filled(extra_below, setup=[(BASE, 3, PROT_READ | PROT_WRITE)])
    assert mm.mprotect(BASE, P, PROT_READ) == (0 if ok else Errno.ENOMEM)


@pytest.mark.parametrize("extra_below, ok", [(1, True), (0, False)])
def test_munmap_middle_page(extra_below, ok):
    """§5 Observed: middle page at mc = max -> ENOMEM, at max-1 ok."""
    mm = filled(extra_below, setup=[(BASE, 3, PROT_READ | PROT_WRITE)])
    before = snapshot(mm)
    assert mm.munmap(BASE + P, P) == (0 if ok else Errno.ENOMEM)
    if not ok:
        assert snapshot(mm) == before


def test_munmap_edge_page_at_and_above_max():
    """REF §4.3: at max, munmap of the head/tail page of a VMA is OK (one unchecked split);
    the same holds at max+1 (§1.5 observed a tail unmap succeeding at mc = max+1)."""
    mm = filled(0, setup=[(BASE, 4, PROT_READ | PROT_WRITE)])
    assert mm.munmap(BASE, P) == 0
    assert mm.map_count == MAX
    assert not isinstance(mm.mmap(0, P, PROT_READ, ANON), Errno)
    assert mm.map_count == MAX + 1
    assert mm.munmap(BASE + 3 * P, P) == 0
    assert mm.map_count == MAX + 1
    assert [(v.start, v.end) for v in mm.vmas_in(BASE, BASE + 4 * P)] == [(BASE + P, BASE + 3 * P)]


@pytest.mark.parametrize("extra_below, ok", [(4, True), (3, False)])
def test_mremap_expand_move(extra_below, ok):
    """§1.7 Observed: plain expand-move works at mc = max-4, fails (ENOMEM) at max-3."""
    mm = filled(extra_below, setup=[(BASE, 1, PROT_READ | PROT_WRITE),
                                    (BASE + P, 1, PROT_READ)])
    result = mm.mremap(BASE, P, 2 * P, MREMAP_MAYMOVE)
    assert (result is Errno.ENOMEM) != ok
    assert (mm.vma_at(BASE) is None) == ok


@pytest.mark.parametrize("extra_below, ok", [(6, True), (5, False)])
def test_mremap_fixed_move(extra_below, ok):
    """§1.2 step 11 Observed: FIXED moves succeed at mc = max-6, fail at max-5."""
    target = BASE + 64 * P
    mm = filled(extra_below, setup=[(BASE, 2, PROT_READ | PROT_WRITE)])
    result = mm.mremap(BASE, 2 * P, 2 * P, MREMAP_FIXED | MREMAP_MAYMOVE, target)
    assert result == (target if ok else Errno.ENOMEM)


@pytest.mark.parametrize("extra_below, ok", [(0, True), (-1, False)])
def test_brk_growth_at_max(extra_below, ok):
    """§6: do_brk_flags refuses when map_count > max (strict, as mmap)."""
    mm = filled(max(extra_below, 0))
    if extra_below < 0:
        assert not isinstance(mm.mmap(0, P, PROT_READ, ANON), Errno)
    old = mm.current_brk
    target = old + 4 * P
    assert mm.brk(target) == (target if ok else old)


# -- boundaries observed on the real kernel (§6, §7.2 "Observed", ASLR off) ---------------------

def test_brk_keeps_one_page_below_the_next_mapping():
    """§6 Observed: next VMA at S+10P -> brk(S+9P) ok, brk(S+9P+1) fails (returns the old)."""
    mm = fresh_address_space("x86_64")
    s = mm.start_brk
    assert mm.mmap(s + 10 * P, P, PROT_READ, ANON | MAP_FIXED) == s + 10 * P
    assert mm.brk(s + 9 * P) == s + 9 * P
    assert mm.brk(s + 9 * P + 1) == s + 9 * P
    assert mm.current_brk == s + 9 * P


def test_brk_keeps_the_guard_gap_below_a_growsdown_mapping():
    """§6 Observed: GROWSDOWN VMA at S+300P -> brk(S+43P) ok, brk(S+44P) fails."""
    mm = fresh_address_space("x86_64")
    s = mm.start_brk
    assert mm.mmap(s + 300 * P, P, PROT_READ | PROT_WRITE,
                   ANON | MAP_FIXED | MAP_GROWSDOWN) == s + 300 * P
    assert mm.brk(s + 44 * P) == s
    assert mm.brk(s + 43 * P) == s + 43 * P


def stack_above(prev_prot: int, prev_flags: int = 0):
    """A one-page RW MAP_GROWSDOWN VMA 400 pages above a one-page VMA at BASE."""
    mm = fresh_address_space("x86_64")
    assert mm.mmap(BASE, P, prev_prot, ANON | MAP_FIXED | prev_flags) == BASE
    top = BASE + P + 400 * P
    assert mm.mmap(top, P, PROT_READ | PROT_WRITE, ANON | MAP_FIXED | MAP_GROWSDOWN) == top
    return mm, BASE + P, top


def test_stack_growth_stops_a_guard_gap_above_an_accessible_mapping():
    """§7.2 Observed: prev read-only, address - prev_end = 255 pages -> SIGSEGV, 256 -> ok."""
    mm, prev_end, top = stack_above(PROT_READ)
    assert mm.touch(prev_end + 255 * P) is Fault.SIGSEGV
    assert mm.vma_at(top).start == top
    assert mm.touch(prev_end + 256 * P) is Fault.OK
    assert mm.vma_at(prev_end + 256 * P).start == prev_end + 256 * P
    assert mm.vma_at(prev_end + 256 * P).end == top + P


@pytest.mark.parametrize("prev_prot, prev_flags", [(PROT_NONE, 0),
                                                   (PROT_READ | PROT_WRITE, MAP_GROWSDOWN)])
def test_stack_grows_right_up_to_inaccessible_or_growsdown_mapping(prev_prot, prev_flags):
    """§7.2 Observed: a PROT_NONE or a GROWSDOWN RW prev lets the stack grow up to it (adjacent,
    not merged)."""
    mm, prev_end, top = stack_above(prev_prot, prev_flags)
    assert mm.touch(prev_end) is Fault.OK
    assert mm.vma_at(prev_end).start == prev_end
    assert mm.vma_at(BASE).end == prev_end
    assert mm.map_count == fresh_address_space("x86_64").map_count + 2


def test_stack_growth_is_limited_by_rlimit_stack_on_the_whole_vma():
    """§7.2 Observed: RLIMIT_STACK = 16 pages: total size 16 pages ok, 17 -> SIGSEGV."""
    mm, _, top = stack_above(PROT_NONE)
    mm.setrlimit_stack(16 * P)
    assert mm.touch(top - 16 * P) is Fault.SIGSEGV
    assert mm.touch(top - 15 * P) is Fault.OK
    assert mm.vma_at(top).start == top - 15 * P


# -- special mappings and read faults (kernel source; both were model bugs when written) -----------

def test_split_of_special_mapping_is_refused():
    """mm/mmap.c special_mapping_split() returns -EINVAL through vm_ops->may_split, which
    mm/vma.c __split_vma() consults first: munmap of one page of the two-page [vdso] fails
    with EINVAL and changes nothing; unmapping all of it is allowed."""
    mm = fresh_address_space("x86_64")
    vdso = next(v for v in mm.vmas() if v.special == "[vdso]")
    assert vdso.pages == 2
    before = snapshot(mm)
    assert mm.munmap(vdso.start + P, P) is Errno.EINVAL
    assert mm.munmap(vdso.start, P) is Errno.EINVAL
    assert snapshot(mm) == before
    assert mm.munmap(vdso.start, 2 * P) == 0
    assert mm.vma_at(vdso.start) is None


def test_read_of_write_only_mapping():
    """arch/x86/mm/fault.c access_error(): a read fails only if !vma_is_accessible() (any of
    VM_READ|VM_WRITE|VM_EXEC will do), so reading a PROT_WRITE-only page is fine; a
    PROT_NONE page faults either way."""
    mm = fresh_address_space("x86_64")
    addr = mm.mmap(0, P, PROT_WRITE, ANON)
    assert mm.touch(addr, write=False) is Fault.OK
    none = mm.mmap(0, P, PROT_NONE, ANON)
    assert mm.touch(none, write=False) is Fault.SIGSEGV


def test_failed_unmap_keeps_its_split():
    """mm/vma.c vms_gather_munmap_vmas: the split at the start stays when the end cannot be
    split (a special mapping), and the two halves do not merge back. Measured on this kernel
    (a static x86_64 program, setarch -R): mmap MAP_FIXED two pages below [vvar], munmap of
    the last one and [vvar]'s first page -> EINVAL, and maps shows the two pages as two VMAs.
    (This was a model bug when the test was written: the split was not recorded.)"""
    mm = fresh_address_space("x86_64")
    vvar = next(v for v in mm.vmas() if v.special == "[vvar]")
    below = vvar.start - 2 * P
    assert mm.mmap(below, 2 * P, PROT_READ | PROT_WRITE, ANON | MAP_FIXED) == below
    count = mm.map_count
    assert mm.munmap(vvar.start - P, 2 * P) is Errno.EINVAL   # cannot split [vvar]
    assert mm.map_count == count + 1                           # the first split stays
    assert [(v.start, v.end) for v in mm.vmas_in(below, vvar.start)] == \
        [(below, below + P), (below + P, vvar.start)]
    mm._check()


def test_unlimited_stack_selects_legacy_layout_on_mm_util_arches():
    """mm/util.c mmap_is_legacy: RLIMIT_STACK = RLIM_INFINITY means the legacy (bottom-up)
    layout on arm and arm64; x86 stopped doing so in 4.12. The machine's bottom-up runs
    depend on this."""
    assert not fresh_address_space("arm-3g", rlimit_stack=RLIM_INFINITY).topdown
    assert not fresh_address_space("aarch64-48", rlimit_stack=RLIM_INFINITY).topdown
    assert fresh_address_space("x86_64", rlimit_stack=RLIM_INFINITY).topdown
