"""Differential tests of the glibc model against strace of a real program.

The libc probe (tests/probe/libcprobe.c) runs scripts of glibc operations — thread
creation with default and explicit stack and guard sizes, exits, joins and the stack cache,
malloc/calloc/realloc/free around the mmap threshold, in the main thread and in other
threads (arenas) — as a 64-bit and a 32-bit program under strace. The model runs the same
binary from its layout at exec: ld.so's start-up and every op must make the same memory
system calls (mmap, munmap, mprotect, mremap, brk, madvise) with the same arguments and
results, and malloc must return the same pointers.
"""

from __future__ import annotations

import random

import pytest

import libc_probe
from conftest import build_each, probe_for
from libc_script import ModelRun, normalise_line
from simulator.units import KiB, MiB, RLIM_INFINITY

MODES = [(["x86_64", "-R"], 64), (["i686", "-R"], 32), (["i686", "-R", "--3gb"], 32),
         (["i686", "-R", "-L"], 32)]


@pytest.fixture(scope="session")
def libc_probes(probe_dir):
    return build_each((64, 32), lambda bits: libc_probe.build_libc_probe(bits, probe_dir))


def compare(binary, bits, setarch, rlimit, ops):
    real = libc_probe.run_libc_probe(binary, ops, setarch=setarch, rlimit_stack=rlimit)
    groups = real.by_op()
    startup = [normalise_line(line) for line in groups.get(None, [])]
    cache = next(c for c in startup if c[0] in ("mmap", "mmap2") and c[3] == 1 and c[4] == 2)
    model = ModelRun(binary, bits, setarch, rlimit, cache_size=cache[2])
    assert model.calls_since(0) == startup, "ld.so start-up"
    for index, op in enumerate(ops):
        mark = len(model.process.syscalls)
        result = model.run(op)
        expected = [normalise_line(line) for line in groups.get(index, [])]
        context = f"{' '.join(setarch)} rlimit={rlimit:#x} op {index}: {op}"
        assert model.calls_since(mark) == expected, context
        assert result == real.results[index], context
    model.process.mm._check()


THREADS_AND_MALLOC = [
    "0 malloc m0 16",                      # main arena: brk heap (+ i386 alignment brk)
    "0 malloc m1 131072",                  # from the top: no syscall
    "0 malloc m2 200000",                  # above the threshold: mmap
    "0 free m2",                           # munmap, threshold rises to 200704
    "0 malloc m3 200000",                  # now from the heap: brk
    "0 calloc m4 1048576",                 # mmap
    "0 realloc m4 3145728",                # mremap MAYMOVE
    "0 free m3",
    "0 free m1",                           # trim
    "0 create 1",                          # stack mmap + mprotect, DTV calloc
    "1 malloc a 100",                      # the thread's arena: 2*HEAP_MAX reservation
    "1 malloc b 120000",
    "1 malloc c 120000",
    "1 malloc d 300000",
    "1 free b",
    "1 exit",
    "0 join 1",                            # to the stack cache
    "0 create 2",                          # reuses the cached stack: no mmap
    "2 malloc e 64",                       # the free arena is reused
    "0 create 3 65536 0",                  # explicit size, no guard
    "0 create 4 100000 12289",             # unaligned size, 4-page guard
    "3 exit",
    "0 join 3",
]


@pytest.mark.parametrize("rlimit", [8 * MiB, RLIM_INFINITY], ids=["8M", "unlimited"])
@pytest.mark.parametrize("setarch,bits", MODES, ids=lambda m: " ".join(m) if isinstance(m, list) else None)
def test_threads_and_malloc(libc_probes, setarch, bits, rlimit):
    compare(probe_for(libc_probes, bits), bits, setarch, rlimit, THREADS_AND_MALLOC)


def test_stack_cache_eviction_and_arena_limit(libc_probes):
    """Six 8 MiB stacks released: the cache keeps 40 MiB (four blocks), the oldest are
    unmapped; 20 threads that malloc hit the arena limit (8 per CPU on 64-bit)."""
    ops = []
    for n in range(1, 7):
        ops.append(f"0 create {n}")
    for n in range(1, 7):
        ops += [f"{n} exit", f"0 join {n}"]
    for n in range(7, 27):
        ops += [f"0 create {n}", f"{n} malloc x{n} 1000"]
    compare(probe_for(libc_probes, 64), 64, ["x86_64", "-R"], 8 * MiB, ops)


def random_script(rng: random.Random, n_ops: int) -> list[str]:
    ops, live, exited, slots, next_thread = [], [0], [], {}, 1
    sizes = [16, 100, 1000, 4000, 64 * KiB, 120000, 128 * KiB, 131072 + 4096, 200000,
             512 * KiB, 1 * MiB, 3 * MiB, 32 * MiB + 4096]
    for _ in range(n_ops):
        kind = rng.random()
        if kind < 0.12 and len(live) < 12:
            extra = rng.choice(["", "", " 65536 4096", " 20000 0", " 300000 8192"])
            ops.append(f"0 create {next_thread}{extra}")
            live.append(next_thread)
            next_thread += 1
        elif kind < 0.18 and len(live) > 1:
            t = rng.choice(live[1:])
            live.remove(t)
            ops.append(f"{t} exit")
            exited.append(t)
        elif kind < 0.24 and exited:
            t = exited.pop(0)
            ops.append(f"0 join {t}")
        elif kind < 0.45 and slots:
            slot = rng.choice(sorted(slots))
            owner = slots.pop(slot)
            thread = owner if owner in live else 0
            ops.append(f"{thread} free {slot}")
        else:
            t = rng.choice(live)
            slot = f"s{len(ops)}"
            verb = rng.choice(["malloc", "malloc", "calloc"])
            ops.append(f"{t} {verb} {slot} {rng.choice(sizes)}")
            slots[slot] = t
    return ops


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("setarch,bits", MODES[:2], ids=["x86_64", "i686"])
def test_random_scripts(libc_probes, setarch, bits, seed):
    ops = random_script(random.Random(seed), 80)
    compare(probe_for(libc_probes, bits), bits, setarch, 8 * MiB, ops)
