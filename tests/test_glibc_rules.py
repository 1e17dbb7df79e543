"""One unit test per glibc 2.36 rule of the libc model (simulator/libc), against glibc itself.

Every test names the glibc source file and function whose rule it checks. Expected values
come from glibc's arithmetic (worked out in a comment next to the value), from the
observations in the team reference glibc.md (../shared/reference) ("glibc.md §n"), or from runs of the libc
probe (tests/libc_probe.py: tests/probe/libcprobe.c under ``strace -f``, ``setarch -R``, on
this machine's Debian 12 glibc 2.36 / Linux 6.18) made while writing these tests ("measured").
None is copied from the model's output. Where an address is the kernel's choice (an mmap
without a hint), the glibc rule is checked relative to what the kernel returned, and the
measured address is pinned too when the modelled program has the same layout as the measured
one.

The process is the modelled minimal PIE (simulator/programs.py) started by ld.so: on x86_64
its break starts at 0x555555559000 and its first thread stack lands at 0x7ffff75d0000, as in
the thr3c/mseq programs of glibc.md and the libc probe (whose mmap area is the same; only its
break differs, it has a 4 MiB .bss).

Eight of these tests first failed against the model; the model was fixed to match glibc (free
of an mmapped chunk, user stacks' DTV, the exiting thread's tcache, heap_trim's room check, the
threshold comparison with the IS_MMAPPED bit, executable thread stacks, guard-size overflow and
pthread_attr_setstacksize's minimum).
"""

from __future__ import annotations

import os

import attrs
import pytest

from simulator.host.elf import read_shared_object
from simulator.kernel.arch import get_profile
from simulator.kernel.config import ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_DENYWRITE, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MAP_STACK,
    MREMAP_MAYMOVE, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE, Errno,
)
from simulator.libc.config import GlibcConfig
from simulator.libc.ld_so import dlopen
from simulator.libc.process import start_process
from simulator.libc.pthread import ThreadAttr
from simulator.programs import typical_process_images
from simulator.units import KiB, MiB, PAGE_SIZE, RLIM_INFINITY

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
STACK = ANON | MAP_STACK
NORESERVE = ANON | MAP_NORESERVE
COPY = MAP_PRIVATE | MAP_DENYWRITE          # elf/dl-load.h MAP_COPY|MAP_FILE
DONTNEED, GUARD_INSTALL = 4, 102            # MADV_DONTNEED, MADV_GUARD_INSTALL
CACHE = 37891                               # ld.so.cache size in the glibc.md traces

BRK64 = 0x555555559000                      # the modelled PIE's break (glibc.md §1.7, §3.4)
BRK32 = 0x5655A000
HMAX64, HMAX32 = 64 * MiB, 1 * MiB          # malloc/arena.c HEAP_MAX_SIZE = 8 MiB * sizeof(long)
BLOCK_8M = 8 * MiB + P                      # default stack + one guard page = 8392704


# --------------------------------------------------------------------------- helpers

def start(arch="x86_64", *, rlimit=8 * MiB, glibc=GlibcConfig(), libs=None, exec_stack=False):
    """The modelled PIE right before main (ld.so done)."""
    profile = get_profile(arch)
    exe, rtld, typical_libs = typical_process_images(profile)
    if exec_stack:
        exe = attrs.evolve(exe, elf=attrs.evolve(exe.elf, exec_stack=True))
    mm = exec_layout(profile, exe.elf, rtld.elf, proc=ProcessConfig(rlimit_stack=rlimit))
    return start_process(mm, exe, rtld, typical_libs if libs is None else libs, glibc,
                         cache_size=CACHE)


def norm(call):
    """(name, args..., result) as strace shows them: mmap's fd is -1 or the file's name."""
    args = list(call.args)
    if call.name in ("mmap", "mmap2"):
        fd = args[4]
        args[4] = fd if fd == -1 else os.path.basename(fd.path)
    return (call.name, *args, call.result)


def calls(p, mark=0):
    return [norm(c) for c in p.syscalls[mark:]]


def step(p, fn, *args, **kwargs):
    """Run one glibc operation; its result and the system calls it made."""
    mark = len(p.syscalls)
    result = fn(*args, **kwargs)
    return result, calls(p, mark)


def only(p, fn, *args, **kwargs):
    return step(p, fn, *args, **kwargs)[1]


def finish(p, thread, joiner=None):
    """The thread returns and is joined: its stack goes to the cache."""
    p.threads.exit(thread)
    assert p.threads.join(thread, joiner) == 0


def mmap(addr, length, prot, flags, result, fd=-1, offset=0, name="mmap"):
    return (name, addr, length, prot, flags, fd, offset, result)


def up(x, a=P):
    return (x + a - 1) & ~(a - 1)


def new_thread(p, creator=None, attr=ThreadAttr()):
    t = p.threads.create(creator, attr)
    assert not isinstance(t, Errno), t
    return t


# =========================================================================== thread stacks

@pytest.mark.parametrize("arch", ["x86_64", "i686"])
@pytest.mark.parametrize("rlimit,block", [
    (8 * MiB, 8392704),              # 8 MiB + 4096
    (RLIM_INFINITY, 2101248),        # ARCH_STACK_DEFAULT_SIZE 2 MiB + 4096
    (12288, 20480),                  # below PTHREAD_STACK_MIN: 16384 + 4096
    (16 * KiB, 20480),
    (17 * KiB, 24576),               # 17408 -> ALIGN_UP 20480, + 4096
    (8193 * KiB, 8396800),           # 8389632 -> ALIGN_UP 8392704, + 4096
    (64 * MiB, 67112960),
], ids=["8M", "unlimited", "12K", "16K", "17K", "8193K", "64M"])
def test_default_stacksize_from_rlimit_stack(arch, rlimit, block):
    """sysdeps/nptl/pthread_early_init.h __pthread_early_init: the default stack is
    RLIMIT_STACK's soft limit (RLIM_INFINITY -> ARCH_STACK_DEFAULT_SIZE 2 MiB, below
    PTHREAD_STACK_MIN -> 16384), rounded up to a page; the guard page is added on top.
    Values: glibc.md §1.1 table (observed, 64- and 32-bit alike)."""
    p = start(arch, rlimit=rlimit)
    got = only(p, new_thread, p)
    assert got[0][:3] == (p.mmap_name, 0, block)


def test_default_stacksize_is_read_once_at_startup():
    """sysdeps/nptl/pthread_early_init.h: RLIMIT_STACK is read once, before main; a later
    setrlimit does not change the default thread stack (glibc.md §1.1 step 1)."""
    p = start()
    p.mm.setrlimit_stack(64 * MiB)
    got = only(p, new_thread, p)
    assert got[0][:3] == ("mmap", 0, BLOCK_8M)


@pytest.mark.parametrize("arch,mem", [("x86_64", 0x7FFFF75D0000), ("i686", 0xF758C000)])
def test_new_stack_is_reserved_prot_none_then_opened_above_the_guard(arch, mem):
    """nptl/allocatestack.c allocate_stack + setup_stack_prot: mmap(NULL, size, PROT_NONE,
    MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK), then ONE mprotect(mem + guard, size - guard, RW);
    the guard is the block's lowest page. Observed, glibc.md §1.3/§1.7 (thr3c, both arches)."""
    p = start(arch)
    got = only(p, new_thread, p)
    assert got[:2] == [
        mmap(0, BLOCK_8M, PROT_NONE, STACK, mem, name=p.mmap_name),
        ("mprotect", mem + P, 8 * MiB, RW, 0),
    ]


def test_guard_is_added_to_the_size_and_rounded_up_to_a_page():
    """nptl/allocatestack.c allocate_stack: guardsize = ALIGN_UP(attr.guardsize, PAGE) and
    size += guardsize. guard 3*4096+1 -> 16384; block 8388608 + 16384 = 8404992.
    Observed, glibc.md §1.3: mmap(NULL, 8404992, PROT_NONE) = 0x7ffff75cd000;
    mprotect(0x7ffff75d1000, 8388608, RW)."""
    p = start()
    got = only(p, new_thread, p, attr=ThreadAttr(guardsize=3 * P + 1))
    assert got[:2] == [mmap(0, 8404992, PROT_NONE, STACK, 0x7FFFF75CD000),
                       ("mprotect", 0x7FFFF75D1000, 8 * MiB, RW, 0)]


@pytest.mark.parametrize("arch,mem", [("x86_64", 0x7FFFF7400000), ("i686", 0xF758D000)])
def test_guard_zero_is_one_rw_mmap_and_no_mprotect(arch, mem):
    """nptl/allocatestack.c allocate_stack: with guardsize 0 the mmap is made with the final
    prot (`guardsize == 0 ? prot : PROT_NONE`) and setup_stack_prot is skipped.
    Observed, glibc.md §1.3: 64-bit mmap(NULL, 8388608, RW, ...MAP_STACK) = 0x7ffff7400000
    (2 MiB-aligned by the kernel's THP rule), 32-bit = 0xf758d000."""
    p = start(arch)
    got = only(p, new_thread, p, attr=ThreadAttr(guardsize=0))
    assert [c[0] for c in got].count("mprotect") == 0
    assert got[0] == mmap(0, 8 * MiB, RW, STACK, mem, name=p.mmap_name)


@pytest.mark.parametrize("stacksize,length", [(100000, 104064), (65536, 69632)])
def test_stacksize_is_rounded_down_to_the_static_tls_alignment(stacksize, length):
    """nptl/allocatestack.c allocate_stack: size &= ~(dl_tls_static_align - 1) (64), and is
    not rounded to a page: 100000 & ~63 = 99968, + 4096 = 104064. Observed, glibc.md §1.2:
    mmap(NULL, 104064, ...) and mprotect(mem+4096, 99968, ...); 65536 -> 69632 (§1.3)."""
    p = start()
    got = only(p, new_thread, p, attr=ThreadAttr(stacksize=stacksize))
    mem = got[0][-1]
    assert got[:2] == [mmap(0, length, PROT_NONE, STACK, mem),
                       ("mprotect", mem + P, length - P, RW, 0)]


def test_einval_when_the_stack_cannot_hold_guard_tls_and_minimal_rest():
    """nptl/allocatestack.c allocate_stack: EINVAL if size < ALIGN_UP(guard +
    tls_static_size_for_stack + MINIMAL_REST_STACK, PAGE), before anything is mapped.
    x86_64: ALIGN_UP(4096 + 4224 + 2048) = 12288 > (8000 & ~63) + 4096 = 12032.
    (Measured: the real pthread_create with stacksize 8000 is EINVAL with no syscall.)"""
    p = start()
    result, got = step(p, p.threads.create, None, ThreadAttr(stacksize=8000))
    assert result is Errno.EINVAL and got == []


def test_setstacksize_rejects_sizes_below_pthread_stack_min():
    """nptl/pthread_attr_setstacksize.c: stacksize < PTHREAD_STACK_MIN (16384) is EINVAL, so
    pthread_create with such an attribute never maps anything. Measured: `create 13 16383 4096`
    -> EINVAL, no system call."""
    p = start()
    result, got = step(p, p.threads.create, None, ThreadAttr(stacksize=16383))
    assert result is Errno.EINVAL and got == []


def test_guardsize_overflow_is_einval():
    """nptl/allocatestack.c allocate_stack: guardsize = (attr.guardsize + pagesize - 1) &
    ~(pagesize - 1) wraps to 0 for 0xfffffffffffff001, and `guardsize < attr->guardsize` is
    the arithmetic-overflow check: EINVAL. Measured: `create 1 16384 0xfffffffffffff001` ->
    EINVAL with no system call."""
    p = start()
    result, got = step(p, p.threads.create, None,
                       ThreadAttr(stacksize=16384, guardsize=0xFFFFFFFFFFFFF001))
    assert result is Errno.EINVAL and got == []


@pytest.mark.parametrize("arch,stacksize,length", [
    ("x86_64", 0x800000000000, 0x800000001000), ("i686", 0xF0000000, 0xF0001000)])
def test_mmap_enomem_becomes_eagain(arch, stacksize, length):
    """nptl/pthread_create.c __pthread_create_2_1: allocate_stack's ENOMEM (the stack mmap
    failed) is returned as EAGAIN; nothing else is called. Measured: `create 1 0x800000000000
    4096` (64-bit) and `create 1 0xf0000000 4096` (32-bit) -> mmap = -1 ENOMEM, EAGAIN."""
    p = start(arch)
    result, got = step(p, p.threads.create, None, ThreadAttr(stacksize=stacksize))
    assert result is Errno.EAGAIN
    assert got == [mmap(0, length, PROT_NONE, STACK, Errno.ENOMEM, name=p.mmap_name)]


def test_execstack_program_gets_executable_thread_stacks():
    """nptl/allocatestack.c allocate_stack: prot = PROT_READ|PROT_WRITE, plus PROT_EXEC when
    GL(dl_stack_flags) & PF_X (the executable's PT_GNU_STACK). Observed, glibc.md §1.3
    (-z execstack): mprotect(0x7ffff75d1000, 8388608, PROT_READ|PROT_WRITE|PROT_EXEC)."""
    p = start(exec_stack=True)
    got = only(p, new_thread, p)
    assert got[1] == ("mprotect", 0x7FFFF75D1000, 8 * MiB, RW | PROT_EXEC, 0)


def test_user_stack_maps_nothing_but_still_callocs_the_dtv():
    """nptl/allocatestack.c allocate_stack, ATTR_FLAG_STACKADDR branch: no mmap, no mprotect,
    no guard; but _dl_allocate_tls -> allocate_dtv (elf/dl-tls.c) still callocs the DTV in the
    creating thread, so the first such create from main makes the brk heap. Measured now with
    a program using pthread_attr_setstack (setarch -R): brk(NULL) = 0x555555559000,
    brk(0x55555557a000) and nothing else."""
    p = start()
    mem = p.sys_mmap(0, 65536, RW, ANON)
    got = only(p, new_thread, p, attr=ThreadAttr(stacksize=65536, stackaddr=mem + 65536))
    assert got == [("brk", 0, BRK64), ("brk", 0x55555557A000, 0x55555557A000)]


@pytest.mark.parametrize("arch,stacksize,length", [
    ("x86_64", 0, 8368128), ("i686", 0, 8372224),
    ("x86_64", 65536, 45056), ("x86_64", 131072, 110592)])
def test_exiting_thread_advises_its_stack_below_the_frame(arch, stacksize, length):
    """nptl/allocatestack.c advise_stack_range (from start_thread): madvise(mem,
    ALIGN_DOWN(sp - mem, PAGE) - PTHREAD_STACK_MIN, MADV_DONTNEED); no mapping changes.
    8 MiB: 0x7ff000 - 0x4000 = 8368128 (64-bit), 0x800000 - 0x4000 = 8372224 (32-bit),
    glibc.md §1.5; 65536 -> 45056 and 131072 -> 110592 measured."""
    p = start(arch)
    t = new_thread(p, attr=ThreadAttr(stacksize=stacksize))
    assert only(p, p.threads.exit, t) == [("madvise", t.stack.mem, length, DONTNEED, 0)]


# =========================================================================== stack cache

def test_stack_cache_keeps_40_mib_and_unmaps_the_oldest():
    """nptl/nptl-stack.c queue_stack / __nptl_free_stacks: a released block goes to the head
    of dl_stack_cache; when the cache exceeds 40 MiB the oldest blocks (from the tail) are
    unmapped until it fits. 5 * 8392704 = 41963520 > 41943040: the 5th and 6th joins each
    unmap one block, the two oldest. Observed, glibc.md §1.6 (thrvar64 default 6)."""
    p = start()
    mems = [0x7FFFF75D0000, 0x7FFFF6DCF000, 0x7FFFF65CE000, 0x7FFFF5DCD000, 0x7FFFF55CC000,
            0x7FFFF4DCB000]
    threads = [new_thread(p) for _ in range(6)]
    assert [t.stack.mem for t in threads] == mems
    unmapped = []
    for t in threads:
        p.threads.exit(t)
        unmapped.append([c for c in only(p, p.threads.join, t) if c[0] == "munmap"])
    assert unmapped == [[], [], [], [],
                        [("munmap", mems[0], BLOCK_8M, 0)], [("munmap", mems[1], BLOCK_8M, 0)]]


def test_cached_stacks_are_reused_most_recent_first_without_syscalls():
    """nptl/allocatestack.c get_cached_stack: walks dl_stack_cache from the head (the most
    recently freed) and takes the first exact size match: no mmap, no mprotect. Observed,
    glibc.md §1.6 round 2: creates 1-4 reuse 0x7ffff4dcb000, 0x7ffff55cc000, 0x7ffff5dcd000,
    0x7ffff65ce000 with no syscall; creates 5-6 mmap 0x7ffff75d0000, 0x7ffff6dcf000 again."""
    p = start()
    threads = [new_thread(p) for _ in range(6)]
    for t in threads:
        finish(p, t)
    got = [step(p, new_thread, p) for _ in range(6)]
    assert [(t.stack.mem, c) for t, c in got[:4]] == [
        (0x7FFFF4DCB000, []), (0x7FFFF55CC000, []), (0x7FFFF5DCD000, []), (0x7FFFF65CE000, [])]
    assert [c[0] for _, c in got[4:]] == [
        mmap(0, BLOCK_8M, PROT_NONE, STACK, 0x7FFFF75D0000),
        mmap(0, BLOCK_8M, PROT_NONE, STACK, 0x7FFFF6DCF000)]


def test_reused_stack_keeps_its_dtv():
    """nptl/allocatestack.c get_cached_stack: the old DTV is cleared and kept, so a reused
    block costs no calloc. x86_64 heap after three new threads: tcache chunk 0x290 + three
    DTV chunks of 0x120 (elf/dl-tls.c allocate_dtv: (1 + 14 + 2) * 16 = 272 bytes) = 0x5f0, so
    main's next malloc(16) returns 0x555555559000 + 0x5f0 + 0x10 even after a fourth create
    that reuses a cached stack (measured: the same layout gives 0x555555def600 in the probe,
    whose break starts at 0x555555def000)."""
    p = start()
    threads = [new_thread(p) for _ in range(3)]
    for t in threads:
        finish(p, t)
    assert only(p, new_thread, p) == []
    assert p.malloc.malloc(p.threads.main, 16) == BRK64 + 0x5F0 + 0x10


def test_a_larger_cached_block_is_taken_up_to_four_times_the_request():
    """nptl/allocatestack.c get_cached_stack: with no exact fit, the smallest larger block is
    taken unless it is more than 4x the requested size. Measured (same ops in the probe):
    cached 69632 (64 KiB stack) serves a 32768/guard-0 request (69632 <= 4*32768, and the
    bigger old guard is kept: 4096 > 69632 - 32768 is false, no mprotect); cached 135168 serves
    100000 (104064) but not 16384 (20480 * 4 = 81920 < 135168: a new mmap)."""
    p = start()
    t6 = new_thread(p, attr=ThreadAttr(stacksize=65536))
    finish(p, t6)
    t7, got = step(p, new_thread, p, attr=ThreadAttr(stacksize=32768, guardsize=0))
    assert got == [] and t7.stack.mem == t6.stack.mem
    t8 = new_thread(p, attr=ThreadAttr(stacksize=131072))
    finish(p, t8)
    t9, got = step(p, new_thread, p, attr=ThreadAttr(stacksize=16384))
    assert got[0][:4] == ("mmap", 0, 20480, PROT_NONE)
    t10, got = step(p, new_thread, p, attr=ThreadAttr(stacksize=100000))
    assert got == [] and t10.stack.mem == t8.stack.mem


def test_guard_size_change_on_reuse_costs_one_mprotect():
    """nptl/allocatestack.c allocate_stack, after get_cached_stack: a larger guard is
    mprotect(guard_position = mem, guardsize, PROT_NONE); a smaller one gives back
    mprotect(mem + guardsize, old - guardsize, prot) when old - new > size - reqsize.
    Measured: default block reused with stack 8384512 / guard 8192 (same 8392704 block) ->
    mprotect(0x7ffff75d0000, 8192, PROT_NONE); then a default thread on it ->
    mprotect(0x7ffff75d1000, 4096, RW); a new 8380416/12288 block reused by a default thread
    -> mprotect(0x7ffff6dd0000, 8192, RW)."""
    p = start()
    t1 = new_thread(p)
    finish(p, t1)
    t2, got = step(p, new_thread, p, attr=ThreadAttr(stacksize=8384512, guardsize=8192))
    assert got == [("mprotect", 0x7FFFF75D0000, 8192, PROT_NONE, 0)]
    finish(p, t2)
    assert only(p, new_thread, p) == [("mprotect", 0x7FFFF75D1000, 4096, RW, 0)]
    t4, got = step(p, new_thread, p, attr=ThreadAttr(stacksize=8380416, guardsize=12288))
    assert got[:2] == [mmap(0, BLOCK_8M, PROT_NONE, STACK, 0x7FFFF6DCF000),
                       ("mprotect", 0x7FFFF6DD2000, 8380416, RW, 0)]
    finish(p, t4)
    assert only(p, new_thread, p) == [("mprotect", 0x7FFFF6DD0000, 8192, RW, 0)]


def test_detached_thread_evicting_a_cached_stack_creates_no_arena():
    """nptl/nptl-stack.c __nptl_free_stacks -> _dl_deallocate_tls -> free(dtv) runs in an
    exiting detached thread after __malloc_arena_thread_freeres (malloc/arena.c) has set
    tcache_shutting_down, so tcache_init (malloc/malloc.c) returns at once: no arena is made.
    Measured: six detached 8 MiB threads exit; the 5th and 6th exits make only
    madvise + munmap(0x7ffff75d0000 / 0x7ffff6dcf000, 8392704)."""
    p = start()
    threads = [new_thread(p, attr=ThreadAttr(detached=True)) for _ in range(6)]
    got = [only(p, p.threads.exit, t) for t in threads]
    assert [[c[0] for c in g] for g in got] == [["madvise"]] * 4 + [["madvise", "munmap"]] * 2
    assert got[4][1] == ("munmap", 0x7FFFF75D0000, BLOCK_8M, 0)
    assert got[5][1] == ("munmap", 0x7FFFF6DCF000, BLOCK_8M, 0)


# =========================================================================== DTV and the main heap

@pytest.mark.parametrize("arch,expected", [
    # sysmalloc: size = ALIGN_UP(656 + 131072 + 32) = 0x21000 (tcache 656, top_pad, MINSIZE)
    ("x86_64", [("brk", 0, BRK64), ("brk", BRK64 + 0x21000, BRK64 + 0x21000)]),
    # i386: chunk2mem(brk) = brk + 8 is not 16-aligned: correction 8 + (4096 - 8) -> one more page
    ("i686", [("brk", 0, BRK32), ("brk", BRK32 + 0x21000, BRK32 + 0x21000),
              ("brk", BRK32 + 0x22000, BRK32 + 0x22000)]),
])
def test_first_create_callocs_the_dtv_on_the_main_heap(arch, expected):
    """elf/dl-tls.c allocate_dtv (from allocate_stack, after the stack's mmap/mprotect): the DTV
    is calloc'ed in the creating thread; for main's first create that creates the brk heap
    (malloc/malloc.c sysmalloc, misc/sbrk.c __sbrk's brk(NULL)). Observed, glibc.md §1.7:
    64-bit brk(NULL) = 0x555555559000, brk(0x55555557a000); 32-bit brk(NULL) = 0x5655a000,
    brk(0x5657b000), brk(0x5657c000)."""
    p = start(arch)
    got = only(p, new_thread, p)
    assert [c[0] for c in got[:2]] == [p.mmap_name, "mprotect"]
    assert got[2:] == expected


def test_dtv_of_a_thread_made_by_a_thread_goes_to_the_creators_arena():
    """elf/dl-tls.c allocate_dtv calls calloc in the creating thread; for a thread with no
    arena yet that creates one (malloc/arena.c arena_get2), after the new stack's mmap and
    mprotect. Measured (`0 create 1`, `1 create 2`): mmap stack 0x7ffff6dcf000, mprotect, then
    mmap(NULL, 134217728, PROT_NONE, NORESERVE) = 0x7fffeec00000, munmap(0x7fffeec00000,
    20971520), munmap(0x7ffff4000000, 46137344), mprotect(0x7ffff0000000, 135168, RW)."""
    p = start()
    t1 = new_thread(p)
    got = only(p, new_thread, p, t1)
    assert got == [
        mmap(0, BLOCK_8M, PROT_NONE, STACK, 0x7FFFF6DCF000),
        ("mprotect", 0x7FFFF6DD0000, 8 * MiB, RW, 0),
        mmap(0, 2 * HMAX64, PROT_NONE, NORESERVE, 0x7FFFEEC00000),
        ("munmap", 0x7FFFEEC00000, 20971520, 0),
        ("munmap", 0x7FFFF4000000, 46137344, 0),
        ("mprotect", 0x7FFFF0000000, 135168, RW, 0),
    ]


# =========================================================================== malloc, main arena

MSEQ = [
    ("malloc", "a", 16), ("malloc", "b", 131072), ("malloc", "c", 200000), ("free", "c"),
    ("malloc", "d", 200000), ("malloc", "e", 64 * MiB), ("free", "e"),
    ("malloc", "f", 1 * MiB), ("realloc", "f", 3 * MiB), ("free", "d"), ("free", "b"),
    ("malloc", "g", 300000),
]


@pytest.fixture(scope="module")
def mseq():
    """glibc.md §3.4's `mseq` program (64-bit) on the model: the calls of each step, by number."""
    p = start()
    main = p.threads.main
    slots, out = {}, {}
    for number, (op, slot, *size) in enumerate(MSEQ, 1):
        mark = len(p.syscalls)
        if op == "malloc":
            slots[slot] = p.malloc.malloc(main, size[0])
        elif op == "realloc":
            slots[slot] = p.malloc.realloc(main, slots[slot], size[0])
        else:
            p.malloc.free(main, slots.pop(slot))
        out[number] = calls(p, mark)
    return out, slots


def test_first_malloc_grows_brk_by_request_plus_top_pad_plus_minsize(mseq):
    """malloc/malloc.c sysmalloc (main arena): size = ALIGN_UP(nb + top_pad + MINSIZE, PAGE);
    the first malloc's nb is the tcache (tcache_init, 656): ALIGN_UP(656 + 131072 + 32) =
    0x21000, after __sbrk's brk(NULL). Observed, glibc.md §3.4 #1."""
    assert mseq[0][1] == [("brk", 0, BRK64), ("brk", 0x55555557A000, 0x55555557A000)]


def test_request_above_threshold_comes_from_top_when_it_fits(mseq):
    """malloc/malloc.c _int_malloc: the top chunk serves any nb with chunksize(top) >=
    nb + MINSIZE before sysmalloc looks at the mmap threshold: malloc(131072) (nb 131088)
    from the 134480-byte top makes no syscall. Observed, glibc.md §3.4 #2."""
    assert mseq[0][2] == []


@pytest.mark.parametrize("arch,length", [
    ("x86_64", 204800),     # nb = ALIGN_UP(204768 + 8, 16) = 204784; ALIGN_UP(204784 + 8, PAGE)
    ("i686", 208896),       # nb = (204768 + 4 + 15) & ~15 = 204784; ALIGN_UP(204784 + 4 + 15, PAGE)
])
def test_mmapped_chunk_length_per_word_size(arch, length):
    """malloc/malloc.c sysmalloc_mmap: length ALIGN_UP(nb + SIZE_SZ, PAGE) when
    MALLOC_ALIGNMENT == 2*SIZE_SZ (x86_64), else ALIGN_UP(nb + SIZE_SZ + MALLOC_ALIGN_MASK,
    PAGE) (i386); the user pointer is mapping + 16 on both. Measured: malloc(204768) ->
    mmap(NULL, 204800) / mmap2(NULL, 208896), pointer = mapping + 0x10."""
    p = start(arch)
    mem, got = step(p, p.malloc.malloc, p.threads.main, 204768)
    assert got[-1] == mmap(0, length, RW, ANON, mem - 16, name=p.mmap_name)


def test_free_of_mmapped_chunk_unmaps_it_and_raises_the_threshold(mseq):
    """malloc/malloc.c __libc_free + munmap_chunk: munmap of the whole mapping; a chunk above
    mmap_threshold (and not over DEFAULT_MMAP_THRESHOLD_MAX) raises it to its size (200704)
    and trim_threshold to twice that, so the same malloc(200000) then comes from brk:
    ALIGN_UP(200016 + 131072 + 32 - 3392, PAGE) = 0x51000. Observed, glibc.md §3.4 #3-#5."""
    out, _ = mseq
    assert out[3] == [mmap(0, 200704, RW, ANON, 0x7FFFF7DA0000)]
    assert out[4] == [("munmap", 0x7FFFF7DA0000, 200704, 0)]
    assert out[5] == [("brk", 0x5555555CB000, 0x5555555CB000)]


def test_threshold_is_not_raised_above_the_maximum(mseq):
    """malloc/malloc.c __libc_free: no raise when chunksize > DEFAULT_MMAP_THRESHOLD_MAX
    (4 MiB * sizeof(long) = 32 MiB): 64 MiB is mmapped (67108864 + 16 -> 67112960) and freed,
    and 1 MiB (1048576 + 16 -> 1052672 > 200704) is still mmapped afterwards. Observed,
    glibc.md §3.4 #6-#8."""
    out, _ = mseq
    assert out[6] == [mmap(0, 67112960, RW, ANON, 0x7FFFF3DD0000)]
    assert out[7] == [("munmap", 0x7FFFF3DD0000, 67112960, 0)]
    assert out[8] == [mmap(0, 1052672, RW, ANON, 0x7FFFF7CD0000)]


@pytest.mark.parametrize("arch,size,raised", [
    ("x86_64", 33546232, True),     # chunk 33550336 (32 MiB - 4 KiB) <= 32 MiB: raised
    ("i686", 500000, True),         # chunk ALIGN_UP(500016 + 19) - 8 = 503800 <= 512 KiB
    ("i686", 600000, False),        # chunk 602104 > 512 KiB
])
def test_threshold_raise_stops_at_the_word_size_maximum(arch, size, raised):
    """malloc/malloc.c __libc_free: the raise needs chunksize <= DEFAULT_MMAP_THRESHOLD_MAX,
    32 MiB on 64-bit and 512 KiB on 32-bit. Measured: 64-bit malloc(33546232) after a free
    of the same size comes from brk; i386 malloc(500000) after a free comes from brk,
    malloc(600000) after a free is mmapped again."""
    p = start(arch)
    main = p.threads.main
    p.malloc.free(main, p.malloc.malloc(main, size))
    got = only(p, p.malloc.malloc, main, size)
    assert [c[0] for c in got] == (["brk"] if raised else [p.mmap_name])


def test_threshold_raise_compares_the_size_with_its_flag_bits():
    """malloc/malloc.c __libc_free: `chunksize_nomask (p) <= DEFAULT_MMAP_THRESHOLD_MAX` sees
    the IS_MMAPPED bit: a chunk of exactly 32 MiB (malloc(33550328): ALIGN_UP(33550336 + 8,
    PAGE) = 33554432) is 0x2000002 > 0x2000000, so the threshold stays. Measured: malloc,
    free, malloc(33550328) -> the second malloc is mmap(NULL, 33554432) again."""
    p = start()
    main = p.threads.main
    p.malloc.free(main, p.malloc.malloc(main, 33550328))
    got = only(p, p.malloc.malloc, main, 33550328)
    assert [c[:3] for c in got] == [("mmap", 0, 33554432)]


def test_free_of_mmapped_chunk_does_not_pick_an_arena():
    """malloc/malloc.c __libc_free: an mmapped chunk goes to munmap_chunk before
    MAYBE_INIT_TCACHE, so a thread whose first malloc call is such a free gets no arena.
    Measured: `0 malloc a 200000`, `0 create 1`, `1 free a` -> only
    munmap(0x7ffff7da0000, 200704); thread 1's first malloc(16) then creates the arena."""
    p = start()
    main = p.threads.main
    a = p.malloc.malloc(main, 200000)
    t1 = new_thread(p)
    assert only(p, p.malloc.free, t1, a) == [("munmap", a - 16, 200704, 0)]


def test_trim_on_free_keeps_top_pad(mseq):
    """malloc/malloc.c _int_free -> systrim: after a free merges >= 64 KiB into top and
    chunksize(top) >= trim_threshold (401408 after the raise), extra = ALIGN_DOWN(top - MINSIZE
    - 1 - top_pad, PAGE) is given back with sbrk(-extra). free d: top 335168 < 401408, no
    trim; free b: top 466256 -> extra ALIGN_DOWN(466256 - 33 - 131072) = 331776 ->
    brk(0x5555555cb000 - 331776 = 0x55555557a000). Observed, glibc.md §3.3/§3.4 #10-#11."""
    out, _ = mseq
    assert out[10] == []
    assert out[11] == [("brk", 0x55555557A000, 0x55555557A000)]


def test_realloc_of_mmapped_chunk_is_mremap_maymove(mseq):
    """malloc/malloc.c __libc_realloc -> mremap_chunk: mremap(block, old, ALIGN_UP(nb +
    offset + SIZE_SZ, PAGE), MREMAP_MAYMOVE): 3 MiB -> nb 3145744 -> 3149824. Observed,
    glibc.md §3.4 #9: mremap(0x7ffff7cd0000, 1052672, 3149824, MREMAP_MAYMOVE) =
    0x7ffff79cf000; measured on i386: 600000 -> 700000 is mremap(.., 602112, 700416, ..)."""
    out, _ = mseq
    assert out[9] == [("mremap", 0x7FFFF7CD0000, 1052672, 3149824, MREMAP_MAYMOVE,
                       0x7FFFF79CF000)]


def test_request_above_raised_threshold_is_mmapped_again(mseq):
    """malloc/malloc.c sysmalloc: nb >= mp_.mmap_threshold (now 200704) and the top cannot
    serve it -> sysmalloc_mmap: malloc(300000) -> mmap(NULL, ALIGN_UP(300016 + 8) = 303104).
    Observed, glibc.md §3.4 #12 (the length)."""
    out, _ = mseq
    assert [c[:5] for c in out[12]] == [("mmap", 0, 303104, RW, ANON)]


# =========================================================================== brk failure

def blocked_heap(glibc=GlibcConfig()):
    """A process whose brk heap exists (malloc(16)) and cannot grow: a page is mapped at
    break + 4 KiB (the kernel wants new_brk + PAGE <= the next VMA), as in glibc.md §3.5."""
    p = start(glibc=glibc)
    main = p.threads.main
    p.malloc.malloc(main, 16)
    assert p.mm.current_brk == 0x55555557A000
    p.sys_mmap(0x55555557A000 + P, P, RW, ANON | MAP_FIXED)
    return p, main


def test_brk_failure_first_fallback_mmap_is_aligned_to_1_mib():
    """malloc/malloc.c sysmalloc -> sysmalloc_mmap_fallback, 2.36 with the swapped arguments:
    while the arena is contiguous, S = ALIGN_UP(size + old_top, MMAP_AS_MORECORE_SIZE), then
    max(S, PAGE). glibc.md §3.5. Top after malloc(16) and malloc(130000): 134480 - 130016 =
    4464; malloc(130000): size = ALIGN_UP(130016 + 131072 + 32 - 4464) = 258048 ->
    brk(0x55555557a000 + 258048) returns the old break -> mmap(NULL, ALIGN_UP(262512, 1 MiB) =
    1048576, RW, MAP_PRIVATE|MAP_ANONYMOUS); the chunk is the mapping's start (ptr = X + 16)."""
    p, main = blocked_heap()
    assert only(p, p.malloc.malloc, main, 130000) == []
    mem, got = step(p, p.malloc.malloc, main, 130000)
    assert got == [("brk", 0x55555557A000 + 258048, 0x55555557A000),
                   mmap(0, 1 * MiB, RW, ANON, mem - 16)]


def test_brk_failure_fallback_rounds_up_to_1_mib_multiples():
    """malloc/malloc.c sysmalloc_mmap_fallback (2.36): 1 MiB is the rounding unit, not a
    minimum: with glibc.malloc.mmap_threshold=4 MiB, malloc(1200000) when brk cannot grow:
    size = ALIGN_UP(1200016 + 131072 + 32 - 134480) = 1200128; S = ALIGN_UP(1200128 + 134480,
    1 MiB) = 2097152 (2.38+ would give ALIGN_UP(.., PAGE) = 1335296)."""
    p, main = blocked_heap(GlibcConfig(mmap_threshold=4 * MiB))
    mem, got = step(p, p.malloc.malloc, main, 1200000)
    assert got == [("brk", 0x55555557A000 + 1200128, 0x55555557A000),
                   mmap(0, 2 * MiB, RW, ANON, got[1][-1])]
    assert mem == got[1][-1] + 16


def test_brk_failure_later_fallbacks_have_no_1_mib_minimum():
    """malloc/malloc.c sysmalloc_mmap_fallback (2.36 bug, fixed in 2.38): once the arena is
    non-contiguous the size is the brk increment itself, max(size, PAGE): every later growth
    tries brk again (it fails) then mmaps ALIGN_UP(120016 + 131072 + 32) = 253952.
    Observed, glibc.md §3.5: brk(0x5555555b8000) = 0x55555557a000; mmap(NULL, 253952)."""
    p, main = blocked_heap()
    p.malloc.malloc(main, 130000)
    p.malloc.malloc(main, 130000)                        # first fallback: 1 MiB
    assert only(p, p.malloc.malloc, main, 800000) == []  # fits the 918560-byte mmapped top
    for _ in range(2):
        got = only(p, p.malloc.malloc, main, 120000)
        assert got == [("brk", 0x5555555B8000, 0x55555557A000),
                       mmap(0, 253952, RW, ANON, got[1][-1])]
        assert only(p, p.malloc.malloc, main, 120000) == []   # 253952 - 120016 left on top


# =========================================================================== arenas

@pytest.mark.parametrize("arch,expected", [
    # 64-bit: the 128 MiB reservation is THP-aligned by the kernel at 0x7fffef400000; head up
    # to the 64 MiB boundary 0x7ffff0000000 = 12582912, tail 64 MiB - head = 54525952.
    ("x86_64", [mmap(0, 2 * HMAX64, PROT_NONE, NORESERVE, 0x7FFFEF400000),
                ("munmap", 0x7FFFEF400000, 12582912, 0),
                ("munmap", 0x7FFFF4000000, 54525952, 0),
                ("mprotect", 0x7FFFF0000000, 135168, RW, 0)]),
    ("i686", [mmap(0, 2 * HMAX32, PROT_NONE, NORESERVE, 0xF738C000, name="mmap2"),
              ("munmap", 0xF738C000, 475136, 0),
              ("munmap", 0xF7500000, 573440, 0),
              ("mprotect", 0xF7400000, 135168, RW, 0)]),
])
def test_thread_first_malloc_creates_an_aligned_arena(arch, expected):
    """malloc/arena.c arena_get2 -> _int_new_arena -> new_heap/alloc_new_heap: mmap(NULL,
    2*HEAP_MAX, PROT_NONE, MAP_NORESERVE); munmap the head up to the HEAP_MAX boundary and the
    tail past HEAP_MAX; mprotect(heap, ALIGN_UP(640 + 48 + 2200 + 16 + 131072) = 135168, RW)
    (tcache request + heap_info + malloc_state + MALLOC_ALIGNMENT, plus top_pad; the same
    135168 on i386). Observed/measured: glibc.md §3.7 and the probe (`0 create 1`,
    `1 malloc x 1000`) give exactly these calls on both arches."""
    p = start(arch)
    t1 = new_thread(p)
    got = only(p, p.malloc.malloc, t1, 1000)
    assert got == expected
    hmax = HMAX64 if arch == "x86_64" else HMAX32
    p1, head, tail = got[0][-1], got[1][2], got[2][2]
    assert got[3][1] == up(p1, hmax) == p1 + head and head + tail == hmax


def test_an_aligned_reservation_leaves_its_upper_half_for_the_next_arena():
    """malloc/arena.c alloc_new_heap: when the 2*HEAP_MAX mmap is already aligned (ul == 0),
    only the upper half is unmapped and remembered in aligned_heap_area; the next new heap
    first tries mmap(aligned_heap_area, HEAP_MAX, PROT_NONE, MAP_NORESERVE) and, if the
    result is aligned, keeps it with no munmap. Measured (64-bit, threads 2 and 3 malloc):
    mmap(NULL, 134217728) = 0x7fffe8000000, munmap(0x7fffec000000, 67108864); then
    mmap(0x7fffec000000, 67108864) = 0x7fffec000000, mprotect(0x7fffec000000, 135168)."""
    p = start()
    p.malloc.malloc(new_thread(p), 1000)                 # first arena: misaligned, trimmed
    second = only(p, p.malloc.malloc, new_thread(p), 1000)
    third = only(p, p.malloc.malloc, new_thread(p), 1000)
    assert second == [mmap(0, 2 * HMAX64, PROT_NONE, NORESERVE, 0x7FFFE8000000),
                      ("munmap", 0x7FFFEC000000, HMAX64, 0),
                      ("mprotect", 0x7FFFE8000000, 135168, RW, 0)]
    assert third == [mmap(0x7FFFEC000000, HMAX64, PROT_NONE, NORESERVE, 0x7FFFEC000000),
                     ("mprotect", 0x7FFFEC000000, 135168, RW, 0)]


def test_arena_heap_grows_by_mprotect_without_top_pad():
    """malloc/malloc.c sysmalloc (non-main) -> malloc/arena.c grow_heap: diff = ALIGN_UP(MINSIZE
    + nb - old_top, PAGE), no top_pad; mprotect(h + mprotect_size, diff, RW). Top after the
    tcache: 135168 - 2256 - 656 = 132256, so the first malloc(120000) comes from it; the second
    grows by ALIGN_UP(32 + 120016 - 12240) = 110592, the third by ALIGN_UP(32 + 120016 - 2816)
    = 118784. Observed, glibc.md
    §3.7: mprotect(0x7ffff0021000, 110592, RW); mprotect(0x7ffff003c000, 118784, RW)."""
    p = start()
    t1 = new_thread(p)
    got = [only(p, p.malloc.malloc, t1, 120000) for _ in range(3)]
    assert got[0][-1] == ("mprotect", 0x7FFFF0000000, 135168, RW, 0)
    assert got[1:] == [[("mprotect", 0x7FFFF0021000, 110592, RW, 0)],
                       [("mprotect", 0x7FFFF003C000, 118784, RW, 0)]]


def grow_i386_arena_to_a_second_heap(p):
    """Thread 1 mallocs 100000 bytes until its arena needs a second heap (as measured: the
    11th malloc). Returns the thread, its chunks, and the calls of the last malloc."""
    t1 = new_thread(p)
    chunks = []
    for _ in range(11):
        mem, got = step(p, p.malloc.malloc, t1, 100000)
        chunks.append(mem)
    return t1, chunks, got


def test_arena_gets_a_new_heap_when_heap_max_is_reached():
    """malloc/malloc.c sysmalloc (non-main): when grow_heap would pass HEAP_MAX_SIZE,
    new_heap(nb + MINSIZE + sizeof(heap_info), top_pad) = ALIGN_UP(100016 + 16 + 24 + 131072)
    = 233472. Observed, glibc.md §3.7 (32-bit), and measured now (11th malloc(100000)):
    mmap2(NULL, 2097152, PROT_NONE, NORESERVE) = 0xf7200000; munmap(0xf7300000, 1048576);
    mprotect(0xf7200000, 233472, RW); the chunk is at heap + 24 (pointer 0xf7200020)."""
    p = start("i686")
    _t1, chunks, got = grow_i386_arena_to_a_second_heap(p)
    assert got == [mmap(0, 2 * HMAX32, PROT_NONE, NORESERVE, 0xF7200000, name="mmap2"),
                   ("munmap", 0xF7300000, HMAX32, 0),
                   ("mprotect", 0xF7200000, 233472, RW, 0)]
    assert chunks[-1] == 0xF7200020


def test_heap_trim_keeps_the_newest_heap_while_the_previous_one_is_full():
    """malloc/arena.c heap_trim: a heap whose top covers all of it is unmapped only if the
    previous heap then has room for top_pad: it breaks out when new_size + (HEAP_MAX -
    prev_heap->size) < pad + MINSIZE + pagesize, and shrink_heap madvises instead.
    Free of the 11th chunk: prev heap 0xf5000 bytes, 4096*11 + <32 < 135184 -> kept; top
    233448 >= trim 131072: extra = ALIGN_DOWN(233448 - 17 - 131072) = 98304 ->
    madvise(0xf7200000 + 233472 - 98304, 98304, MADV_DONTNEED). Then free of the 10th chunk
    (the free chunk before the fencepost joins new_size) -> munmap(0xf7200000, 1048576).
    Measured (`1 free m11`, `1 free m10`)."""
    p = start("i686")
    t1, chunks, _ = grow_i386_arena_to_a_second_heap(p)
    assert only(p, p.malloc.free, t1, chunks[10]) == [
        ("madvise", 0xF7221000, 98304, DONTNEED, 0)]
    assert only(p, p.malloc.free, t1, chunks[9]) == [("munmap", 0xF7200000, HMAX32, 0)]


@pytest.mark.parametrize("arch,ncpu,total", [
    ("x86_64", 2, 16),   # NARENAS_FROM_NCORES(2) = 8 * 2, measured (malloc_stats, glibc.md §3.6)
    ("i686", 2, 4),      # 2 * 2, measured
    ("x86_64", 1, 9),    # limit fixed when narenas > arena_test (8): 9 > 8 -> 8 -> 9 in all
    ("i686", 1, 3),      # arena_test 2: at 3 arenas the limit becomes 2 -> 3 in all
    ("x86_64", 4, 32),
])
def test_arena_limit_from_cpu_count(arch, ncpu, total):
    """malloc/arena.c arena_get2: narenas_limit is computed once, when narenas > arena_test,
    as NARENAS_FROM_NCORES(ncpu) (8 per CPU on 64-bit, 2 on 32-bit); a new arena is made
    while narenas <= limit - 1, so there are max(arena_test + 1, limit) arenas with main.
    Counted as the number of MAP_NORESERVE reservations made by total + 4 live threads."""
    p = start(arch, glibc=GlibcConfig(ncpu=ncpu))
    made = 0
    for _ in range(total + 4):
        got = only(p, p.malloc.malloc, new_thread(p), 1000)
        made += sum(1 for c in got if c[0] == p.mmap_name and c[4] == NORESERVE)
    assert made + 1 == total


def test_threads_past_the_limit_reuse_arenas_round_robin():
    """malloc/arena.c reused_arena: starting at next_to_use (initially &main_arena) the first
    arena it can lock is taken and next_to_use = result->next; the list is main -> newest ->
    ... -> oldest (_int_new_arena links each new arena after main). Measured (20 threads that
    each malloc(1000), 64-bit, 2 CPUs): thread 16 gets a brk-heap pointer, 17 thread 15's
    arena, 18 thread 14's, 19 thread 13's, 20 thread 12's; no syscalls."""
    p = start()
    arena_of, results = {}, {}
    for n in range(1, 21):
        t = new_thread(p)
        mem, got = step(p, p.malloc.malloc, t, 1000)
        heaps = [c[1] for c in got if c[0] == "mprotect" and c[2] == 135168]
        if heaps:
            arena_of[n] = heaps[0]
        else:
            assert got == []
        results[n] = mem
    assert sorted(arena_of) == list(range(1, 16))
    assert p.mm.start_brk <= results[16] < p.mm.current_brk
    assert [results[n] & ~(HMAX64 - 1) for n in (17, 18, 19, 20)] == [
        arena_of[15], arena_of[14], arena_of[13], arena_of[12]]


def test_an_exited_threads_arena_is_reused_by_the_next_new_thread():
    """malloc/arena.c __malloc_arena_thread_freeres puts an arena with no attached thread on
    free_list; arena_get2 -> get_free_list hands it to the next thread that needs an arena,
    with no syscall (glibc.md §3.6, observed)."""
    p = start()
    t1 = new_thread(p)
    first = p.malloc.malloc(t1, 1000)
    heap = first & ~(HMAX64 - 1)
    p.threads.exit(t1)
    t2 = new_thread(p)
    mem, got = step(p, p.malloc.malloc, t2, 1000)
    assert [c for c in got if c[0] != "madvise"] == []
    assert mem & ~(HMAX64 - 1) == heap


# =========================================================================== ld.so

LIBC64 = "/lib/x86_64-linux-gnu/libc.so.6"
LIBC32 = "/usr/lib32/libc.so.6"
LIBC_LOADS = {   # (p_vaddr, p_memsz, p_filesz, p_offset) of Debian 12's libc (glibc.md §4.2)
    LIBC64: [(0x0, 0x25388, 0x25388, 0x0), (0x26000, 0x1550FC, 0x1550FC, 0x26000),
             (0x17C000, 0x52C31, 0x52C31, 0x17C000), (0x1CF8D0, 0x12680, 0x4F98, 0x1CF8D0)],
    LIBC32: [(0x0, 0x218B4, 0x218B4, 0x0), (0x22000, 0x178FA2, 0x178FA2, 0x22000),
             (0x19B000, 0x7F543, 0x7F543, 0x19B000), (0x21B2F4, 0xC628, 0x2C24, 0x21B2F4)],
}


def real_libc(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} not on this machine")
    obj = read_shared_object(path)
    loads = [(s.vaddr, s.memsz, s.filesz, s.offset) for s in obj.elf.segments]
    if loads != LIBC_LOADS[path]:
        pytest.skip(f"{path} is not Debian 12's glibc 2.36 libc")
    return obj


def libc_calls(arch):
    """ld.so's start-up with the real libc.so.6 read from disk."""
    path = LIBC64 if arch == "x86_64" else LIBC32
    p = start(arch, libs=[real_libc(path)])
    return p, calls(p)


@pytest.mark.parametrize("arch,expected", [
    ("x86_64", [
        mmap(0, 1974096, PROT_READ, COPY, 0x7FFFF7DD4000, fd="libc.so.6"),  # 0x1cf8d0 + 0x12680
        mmap(0x7FFFF7DFA000, 1400832, PROT_READ | PROT_EXEC, COPY | MAP_FIXED, 0x7FFFF7DFA000,
             fd="libc.so.6", offset=0x26000),
        mmap(0x7FFFF7F50000, 339968, PROT_READ, COPY | MAP_FIXED, 0x7FFFF7F50000,
             fd="libc.so.6", offset=0x17C000),
        mmap(0x7FFFF7FA3000, 24576, RW, COPY | MAP_FIXED, 0x7FFFF7FA3000,
             fd="libc.so.6", offset=0x1CF000)]),
    ("i686", [
        mmap(0, 2259228, PROT_READ, COPY, 0xF7D8D000, fd="libc.so.6", name="mmap2"),
        mmap(0xF7DAF000, 1544192, PROT_READ | PROT_EXEC, COPY | MAP_FIXED, 0xF7DAF000,
             fd="libc.so.6", offset=0x22000, name="mmap2"),
        mmap(0xF7F28000, 524288, PROT_READ, COPY | MAP_FIXED, 0xF7F28000,
             fd="libc.so.6", offset=0x19B000, name="mmap2"),
        mmap(0xF7FA8000, 12288, RW, COPY | MAP_FIXED, 0xF7FA8000,
             fd="libc.so.6", offset=0x21B000, name="mmap2")]),
])
def test_dl_map_segments_reserves_the_span_then_maps_segments_fixed(arch, expected):
    """elf/dl-map-segments.h _dl_map_segments: one mmap of maplength = last.allocend -
    first.mapstart with the FIRST segment's prot and offset (MAP_COPY = MAP_PRIVATE|
    MAP_DENYWRITE), then each later segment MAP_FIXED at l_addr + mapstart, length
    ALIGN_UP(vaddr + filesz) - mapstart, offset ALIGN_DOWN(p_offset). Observed, glibc.md §4.2
    (libc.so.6, 64- and 32-bit)."""
    _p, got = libc_calls(arch)
    libc = [c for c in got if c[0].startswith("mmap") and c[5] == "libc.so.6"]
    assert libc == expected


@pytest.mark.parametrize("arch,expected", [
    # zeropage = ALIGN_UP(l_addr + 0x1cf8d0 + 0x4f98) = +0x1d5000; zeroend = +0x1e1f50: 53072
    ("x86_64", mmap(0x7FFFF7FA9000, 53072, RW, ANON | MAP_FIXED, 0x7FFFF7FA9000)),
    # 0x21b2f4 + 0xc628 = 0x22791c; ALIGN_UP(0x21b2f4 + 0x2c24) = 0x21e000: 39196
    ("i686", mmap(0xF7FAB000, 39196, RW, ANON | MAP_FIXED, 0xF7FAB000, name="mmap2")),
])
def test_bss_is_an_anonymous_fixed_mmap_of_unrounded_length(arch, expected):
    """elf/dl-map-segments.h _dl_map_segments (bss): if zeroend > zeropage, mmap(zeropage,
    zeroend - zeropage, prot, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED); the length is not rounded
    to a page. Observed, glibc.md §4.2: 53072 (64-bit), 39196 (32-bit); it follows the
    last file segment's mmap."""
    _p, got = libc_calls(arch)
    index = got.index(expected)
    assert got[index - 1][5] == "libc.so.6" and got[index - 1][3] == RW


@pytest.mark.parametrize("arch,expected", [
    ("x86_64", [("mprotect", 0x7FFFF7FA3000, 16384, PROT_READ, 0),     # libc
                ("mprotect", 0x555555557000, 4096, PROT_READ, 0),      # the executable
                ("mprotect", 0x7FFFF7FFB000, 8192, PROT_READ, 0),      # ld.so
                ("munmap", 0x7FFFF7FB6000, CACHE, 0)]),
    ("i686", [("mprotect", 0xF7FA8000, 8192, PROT_READ, 0),
              ("mprotect", 0x56558000, 4096, PROT_READ, 0),
              ("mprotect", 0xF7FFB000, 8192, PROT_READ, 0),
              ("munmap", 0xF7FB5000, CACHE, 0)]),
])
def test_relro_is_protected_read_only_in_whole_pages(arch, expected):
    """elf/dl-reloc.c _dl_protect_relro: mprotect(ALIGN_DOWN(l_addr + relro_addr),
    ALIGN_DOWN(l_addr + relro_addr + relro_size) - start, PROT_READ): libc 0x1cf8d0 +
    0x3730 -> [0x1cf000, 0x1d3000) = 16384; order libc, executable, ld.so; then
    _dl_unload_cache munmaps ld.so.cache. Observed, glibc.md §4.1/§4.2."""
    _p, got = libc_calls(arch)
    assert got[-4:] == expected


XDMCP = "/usr/lib/x86_64-linux-gnu/libXdmcp.so.6"


@pytest.fixture(scope="module")
def xdmcp():
    """libXdmcp.so.6 (p_align 0x200000: LOAD 0 R E filesz 0x46c4; LOAD 0x204de0 RW filesz
    0x308 memsz 0x310; RELRO 0x204de0+0x220) mapped into the 64-bit process by dlopen; the
    calls between the ld.so.cache mmap and munmap."""
    if not os.path.exists(XDMCP):
        pytest.skip(f"{XDMCP} not on this machine")
    obj = read_shared_object(XDMCP)
    loads = [(s.vaddr, s.memsz, s.filesz, s.offset, s.align) for s in obj.elf.segments]
    if loads != [(0, 0x46C4, 0x46C4, 0, 0x200000),
                 (0x204DE0, 0x310, 0x308, 0x4DE0, 0x200000)]:
        pytest.skip(f"{XDMCP} differs from the one in glibc.md §4.2")
    p = start()
    got = only(p, dlopen, p, obj, cache_size=CACHE)
    assert got[0][:4] == ("mmap", 0, CACHE, PROT_READ) and got[-1][0] == "munmap"
    return got[1:-1]


def test_over_aligned_library_gets_an_oversized_reservation_trimmed_to_alignment(xdmcp):
    """elf/dl-map-segments.h _dl_map_segment (mapalign 0x200000 > PAGE): mmap(NULL, maplength
    + mapalign, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS) with maplength 0x2050f0 = 2117872 ->
    4215024; the first segment MAP_FIXED at ALIGN_UP(start, 2 MiB) with length maplength;
    munmap the head, then munmap(ALIGN_UP(aligned + maplength, PAGE), start + len - that):
    the tail is not a page multiple. Observed, glibc.md §4.2 (lengths 4215024, 2117872,
    tail 1876208 when the head is 217088)."""
    start_, aligned = xdmcp[0][-1], up(xdmcp[0][-1], 0x200000)
    head = aligned - start_
    tail_at = aligned + 0x206000                  # ALIGN_UP(aligned + 0x2050f0)
    assert xdmcp[:2] == [
        mmap(0, 4215024, PROT_NONE, ANON, start_),
        mmap(aligned, 2117872, PROT_READ | PROT_EXEC, COPY | MAP_FIXED, aligned,
             fd="libXdmcp.so.6.0.0")]
    assert xdmcp[2:4] == ([("munmap", start_, head, 0)] if head else []) + [
        ("munmap", tail_at, start_ + 4215024 - tail_at, 0)]
    assert (head + 0x206000 + xdmcp[3 if head else 2][2]) == 4215024


def test_holes_between_segments_are_made_prot_none_then_filled(xdmcp):
    """elf/dl-map-segments.h _dl_map_segments: has_holes -> mprotect(l_addr + first.mapend,
    last.mapstart - first.mapend, PROT_NONE) = (+0x5000, 0x204000 - 0x5000 = 2093056); then
    the RW segment mmap(l_addr + 0x204000, ALIGN_UP(0x2050e8) - 0x204000 = 8192, RW,
    MAP_FIXED|MAP_COPY, fd, 0x4000); no bss mmap (memsz ends in the same page); RELRO
    mprotect(l_addr + 0x204000, 4096, PROT_READ) (elf/dl-reloc.c _dl_protect_relro).
    Observed, glibc.md §4.2."""
    l_addr = xdmcp[1][1]
    assert xdmcp[-3:] == [
        ("mprotect", l_addr + 0x5000, 2093056, PROT_NONE, 0),
        mmap(l_addr + 0x204000, 8192, RW, COPY | MAP_FIXED, l_addr + 0x204000,
             fd="libXdmcp.so.6.0.0", offset=0x4000),
        ("mprotect", l_addr + 0x204000, 4096, PROT_READ, 0)]


def test_dlopen_of_an_already_loaded_library_maps_nothing():
    """elf/dl-load.c _dl_map_object: a name that matches a loaded object (l_name or soname)
    returns its link map before any search, so no ld.so.cache mapping and no mmap at all."""
    path = LIBC64
    p, _ = libc_calls("x86_64")
    loaded, got = step(p, dlopen, p, read_shared_object(path), cache_size=CACHE)
    assert got == [] and loaded.l_addr == 0x7FFFF7DD4000


# =========================================================================== glibc 2.42

def test_glibc_2_42_installs_the_guard_with_madvise():
    """nptl/allocatestack.c (2.42, commit a6fbe36b7f) allocate_thread_stack/setup_stack_prot:
    mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK), then
    madvise(mem, guard, MADV_GUARD_INSTALL) and no mprotect; addresses and sizes as in 2.36,
    and the block stays ONE VMA in /proc/self/maps (no ---p guard line). glibc.md §1.8 (from
    source; the 6.18 kernel supports the advice)."""
    p = start(glibc=GlibcConfig(version="2.42"))
    t, got = step(p, p.threads.create)
    mem = 0x7FFFF75D0000
    assert got[:2] == [mmap(0, BLOCK_8M, RW, STACK, mem), ("madvise", mem, P, GUARD_INSTALL, 0)]
    assert "mprotect" not in [c[0] for c in got]
    lines = [line for line in p.mm.maps_lines()
             if mem <= int(line.split("-")[0], 16) < mem + BLOCK_8M]
    assert len(lines) == 1 and lines[0].startswith(f"{mem:x}-{mem + BLOCK_8M:x} rw-p")


def test_glibc_2_42_falls_back_to_prot_none_when_the_kernel_refuses():
    """nptl/allocatestack.c (2.42) setup_stack_prot: "If madvise fails ... it just need to
    PROT_NONE the guard area" and allocate_stack_mode becomes ALLOCATE_GUARD_PROT_NONE. After
    mlockall(MCL_FUTURE) the new stack is VM_LOCKED and the kernel refuses
    MADV_GUARD_INSTALL on locked VMAs (EINVAL, mm/madvise.c is_valid_guard_vma; measured on
    6.18 in tests/test_rules_calls.py), so the guard is an mprotect'ed ---p VMA again, and
    the next stack is made the 2.36 way; a thread's exit madvise(MADV_DONTNEED) on its
    locked stack returns the kernel's EINVAL."""
    p = start(glibc=GlibcConfig(version="2.42"))
    assert p.mm.mlockall(2) == 0  # MCL_FUTURE
    t, got = step(p, p.threads.create)
    mem = 0x7FFFF75D0000
    assert got[1] == ("madvise", mem, P, GUARD_INSTALL, Errno.EINVAL)
    assert got[2] == ("mprotect", mem, P, 0, 0)
    _, again = step(p, p.threads.create)
    assert "madvise" not in [c[0] for c in again]
    p.threads.exit(t)
    assert p.syscalls[-1].name == "madvise" and p.syscalls[-1].result is Errno.EINVAL
