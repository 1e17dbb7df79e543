"""kernel/fork.c dup_mmap and the task lifecycle (simulator/kernel/fork.py, task.py)."""

from __future__ import annotations

from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.arch import get_profile
from simulator.kernel.config import Personality, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.fork import dup_mmap
from simulator.kernel.task import (
    CLONE_THREAD, CLONE_VM, Credentials, Rlimits, Task, copy_process, exec_profile,
)
from simulator.kernel.uapi import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from simulator.kernel.vma import VM_DONTCOPY, VM_WIPEONFORK
from simulator.programs import typical_program

P = 4096
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def fresh(arch="x86_64"):
    profile = get_profile(arch)
    exe, interp = typical_program(profile)
    return exec_layout(profile, exe, interp,
                       proc=ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE))


def spans(mm, start, end):
    return [(v.start - start, v.end - start) for v in mm.vmas_in(start, end)]


def test_fork_copies_every_vma_and_field():
    parent = fresh()
    addr = parent.mmap(0, 2 * P, RW, ANON)
    parent.touch(addr)
    child = dup_mmap(parent)
    child._check()
    assert child.maps_text() == parent.maps_text()
    assert (child.mmap_base, child.start_brk, child.current_brk, child.start_stack) == \
        (parent.mmap_base, parent.start_brk, parent.current_brk, parent.start_stack)
    # The copy is independent: a call in the child leaves the parent alone.
    assert child.munmap(addr, P) == 0
    assert parent.vma_at(addr) is not None


def test_split_vmas_merge_back_in_the_parent_but_not_in_the_child():
    """Measured on Linux 6.18 (a C program: mmap 3 pages RW, write them, mprotect the middle
    one PROT_READ; mmap 2 pages below, write the first, mprotect the second PROT_READ; fork;
    both processes mprotect the two PROT_READ pages back to RW). The parent ends with one VMA
    for all five pages, the child with five: anon_vma_fork gave each copied VMA an anon_vma
    of its own, and the untouched page may not borrow a forked one (vma_had_uncowed_parents)."""
    parent = fresh()
    a = parent.mmap(0, 3 * P, RW, ANON)
    parent.touch(a)
    parent.mprotect(a + P, P, PROT_READ)
    b = parent.mmap(0, 2 * P, RW, ANON)
    parent.touch(b)
    parent.mprotect(b + P, P, PROT_READ)
    assert b + 2 * P == a
    child = dup_mmap(parent)
    for mm in (child, parent):
        assert mm.mprotect(a + P, P, RW) == 0
        assert mm.mprotect(b + P, P, RW) == 0
        mm._check()
    assert spans(parent, b, a + 3 * P) == [(0, 5 * P)]
    assert spans(child, b, a + 3 * P) == [(i * P, (i + 1) * P) for i in range(5)]


def test_dontcopy_is_left_out_and_wipeonfork_comes_back_unwritten():
    """kernel/fork.c dup_mmap: ``if (mpnt->vm_flags & VM_DONTCOPY) continue``; a
    VM_WIPEONFORK VMA gets ``tmp->anon_vma = NULL`` instead of anon_vma_fork."""
    parent = fresh()
    keep = parent.mmap(0, P, RW, ANON)
    wipe = parent.mmap(0, P, PROT_READ, ANON)
    gone = parent.mmap(0, P, PROT_WRITE, ANON)
    for addr, flag in ((wipe, VM_WIPEONFORK), (gone, VM_DONTCOPY)):
        vma = anon_vma_prepare(parent, parent.vma_at(addr))  # as a first write fault
        parent._replace(vma, vma._replace(flags=vma.flags | flag))
    child = dup_mmap(parent)
    child._check()
    assert child.vma_at(gone) is None
    assert child.vma_at(wipe).anon_vma is None
    assert parent.vma_at(wipe).anon_vma is not None
    assert child.vma_at(keep) is not None
    # The hole is free in the child: a MAP_FIXED_NOREPLACE there succeeds.
    assert child.mmap(gone, P, RW, ANON | 0x100000) == gone


def test_clone_vm_shares_and_fork_copies():
    mm = fresh()
    init = Task(pid=10, tgid=10, parent=1, personality=Personality.ADDR_NO_RANDOMIZE,
                rlimits=Rlimits(), creds=Credentials(), profile=mm.profile, mm=mm)
    thread = copy_process(init, 11, CLONE_VM | CLONE_THREAD)
    child = copy_process(init, 12, 0)
    assert thread.mm is mm and thread.tgid == 10 and thread.parent == 1
    assert child.mm is not mm and child.tgid == 12 and child.parent == 10
    assert child.personality == init.personality


def test_exec_of_the_other_word_size_switches_to_the_compat_profile():
    x86_64 = get_profile("x86_64")
    assert exec_profile(x86_64, 32).name == "i686"
    assert exec_profile(x86_64, 64) is x86_64
    assert exec_profile(get_profile("i686"), 64).name == "x86_64"


def test_fork_copies_page_tables_only_for_vmas_with_an_anon_vma():
    """kernel/fork.c copy_page_range (vma_needs_copy): a VMA without an anon_vma has its page
    tables left behind, so a read in the child after MADV_HUGEPAGE finds an empty PMD and takes
    the THP path (an anon_vma: mprotect(PROT_READ) keeps VM_ACCOUNT), while the same read in
    the parent finds the table its first read made (no anon_vma: VM_ACCOUNT goes). Measured
    on this machine's 6.18 with a 64- and a 32-bit C program doing exactly these calls:
    child "ac hg", parent "hg"."""
    from simulator.kernel.madvise import MADV_HUGEPAGE
    from simulator.kernel.vma import VM_ACCOUNT
    parent = fresh()
    arena = parent.mmap(0, 6 << 20, 0, ANON)
    h = -(-arena // (2 << 20)) * (2 << 20)
    assert parent.mmap(h, 2 << 20, RW, ANON | 0x10) == h  # MAP_FIXED
    parent.touch(h, write=False)
    child = dup_mmap(parent)
    for mm in (parent, child):
        assert mm.madvise(h, 2 << 20, MADV_HUGEPAGE) == 0
        mm.touch(h + 0x5000, write=False)
        assert mm.mprotect(h, 2 << 20, PROT_READ) == 0
        mm._check()
    assert not parent.vma_at(h).flags & VM_ACCOUNT
    assert child.vma_at(h).flags & VM_ACCOUNT
