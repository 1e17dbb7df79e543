"""Self-tests of the libc probe and its driver (tests/libc_probe.py), not of the simulator.

Tests needing gcc, gcc-multilib (-m32), strace, setarch, ptrace or IA32 emulation skip with
the reason (fail instead with VASIM_REQUIRE_KERNEL=1, like conftest's kernel probe).
"""

from __future__ import annotations

import os
import re

import pytest

import libc_probe as lp
from simulator.trace.strace import parse_strace

SETARCH = {64: ["x86_64", "-R"], 32: ["i686", "-R"]}
#: 2 * HEAP_MAX_SIZE: the PROT_NONE|MAP_NORESERVE reservation of a new arena's first heap
ARENA_RESERVATION = {64: 134217728, 32: 2097152}

SCRIPT = [
    "0 malloc m 100",            # 0  main arena: brk
    "0 create 1",                # 1  thread stack: mmap + mprotect
    "1 malloc a 200000",         # 2  first malloc of thread 1: new arena + mmapped chunk
    "1 malloc b 100000",         # 3
    "1 malloc c 131072",         # 4
    "1 free a",                  # 5  munmap, raises the mmap threshold
    "1 malloc d 1048576",        # 6
    "1 free d",                  # 7
    "1 malloc a 200000",         # 8  now from the arena
    "0 create 2 65536 4096",     # 9
    "2 malloc a2 100000",        # 10 thread 2: another arena
    "2 malloc b2 131072",        # 11
    "2 malloc c2 200000",        # 12
    "2 free c2",                 # 13
    "2 malloc d2 1048576",       # 14
    "2 free d2",                 # 15
    "2 malloc c2 200000",        # 16
    "2 realloc b2 300000",       # 17
    "2 calloc e2 5000",          # 18
    "1 exit",                    # 19
    "0 join 1",                  # 20
    "2 detach 2",                # 21
    "2 exit",                    # 22
    "0 createmany 3",            # 23 first one reuses a cached stack
    "0 mark",                    # 24
]


def _unavailable(what: str, exc: lp.ProbeUnavailable):
    if os.environ.get("VASIM_REQUIRE_KERNEL") == "1":
        pytest.fail(f"{what}: {exc.reason}")
    pytest.skip(f"{what}: {exc.reason}")


@pytest.fixture(scope="session")
def libc_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("libcprobe-build")


def _binary(bits, workdir):
    try:
        return lp.build_libc_probe(bits, workdir)
    except lp.ProbeUnavailable as exc:
        _unavailable(f"{bits}-bit libc probe unavailable", exc)


def _run(bits, workdir, ops, **kw):
    binary = _binary(bits, workdir)
    kw.setdefault("rlimit_stack", 8 << 20)
    try:
        return lp.run_libc_probe(binary, ops, setarch=SETARCH[bits], **kw)
    except lp.ProbeUnavailable as exc:
        _unavailable(f"cannot run the {bits}-bit libc probe", exc)


@pytest.fixture(scope="module")
def runs(libc_workdir):
    """Two runs of SCRIPT per word size (computed lazily, once)."""
    cache = {}

    def get(bits):
        if bits not in cache:
            cache[bits] = (_run(bits, libc_workdir, SCRIPT), _run(bits, libc_workdir, SCRIPT))
        return cache[bits]

    return get


def _name(line):
    return re.match(r"\w+", lp.strip_pid(line)).group(0)


@pytest.mark.parametrize("bits", [64, 32])
def test_build_is_cached(bits, libc_workdir):
    first = _binary(bits, libc_workdir)
    assert first.name == f"libcprobe{bits}" and first.exists()
    assert lp.build_libc_probe(bits, libc_workdir) == first


@pytest.mark.parametrize("bits", [64, 32])
def test_results(bits, runs):
    run, _ = runs(bits)
    res = run.results
    assert len(res) == len(SCRIPT)
    mallocs = [i for i, op in enumerate(SCRIPT) if op.split()[1] in ("malloc", "calloc", "realloc")]
    for i in mallocs:
        value = int(res[i], 16)
        assert value and value < (1 << bits), (i, res[i])
        assert value % 16 == 0 or bits == 32 and value % 8 == 0
    for i, op in enumerate(SCRIPT):
        kind = op.split()[1]
        if kind in ("create", "join", "detach"):
            assert res[i] == "0", (op, res[i])
        elif kind in ("free", "exit", "mark"):
            assert res[i] == "ok", (op, res[i])
    assert res[23] == "3 0"
    assert run.command[0].endswith("strace") and "setarch" in run.command[run.command.index("-e") + 2]


@pytest.mark.parametrize("bits", [64, 32])
def test_syscalls_grouped_by_op(bits, runs):
    run, _ = runs(bits)
    groups = run.by_op()
    assert set(groups) == {None, *range(len(SCRIPT))}
    mmap = "mmap" if bits == 64 else "mmap2"
    # startup: ld.so maps libc after the probe's execve; nothing of setarch's
    startup = [lp.strip_pid(x) for x in groups[None]]
    assert startup[0].startswith("brk(NULL)")
    assert any("MAP_DENYWRITE" in x for x in startup)
    assert not any("MAP_SHARED" in x for x in startup)  # setarch's locale files
    # first malloc of the main thread: brk
    assert groups[0] and all(_name(x) == "brk" for x in groups[0])
    # thread creation: a PROT_NONE MAP_STACK mapping, then mprotect of all but the guard
    create = [lp.strip_pid(x) for x in groups[1]]
    assert [_name(x) for x in create] == [mmap, "mprotect"]
    assert "MAP_STACK" in create[0] and f"(NULL, {(8 << 20) + 4096}, PROT_NONE" in create[0]
    create2 = [lp.strip_pid(x) for x in groups[9]]
    assert f"(NULL, {65536 + 4096}, PROT_NONE" in create2[0]
    # first malloc of a fresh thread: its arena's reservation, trimmed to alignment, then the chunk
    for index in (2, 10):
        first = [lp.strip_pid(x) for x in groups[index]]
        assert first[0].startswith(f"{mmap}(NULL, {ARENA_RESERVATION[bits]}, PROT_NONE, "
                                   "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0) = 0x"), first
        assert any(x.startswith("mprotect(") and "PROT_READ|PROT_WRITE" in x for x in first)
    assert any(x.startswith(f"{mmap}(NULL, 200704, PROT_READ|PROT_WRITE") for x in map(lp.strip_pid, groups[2]))
    # free of an mmapped chunk: munmap; afterwards 200000 comes from the arena
    assert [_name(x) for x in groups[5]] == ["munmap"]
    assert all(_name(x) != mmap for x in groups[8])
    # exit: the dying thread madvises its stack
    for index in (19, 22):
        parsed = [lp.parse_madvise(x) for x in groups[index]]
        assert parsed and all(p is not None and p[2] == "MADV_DONTNEED" for p in parsed)
    # join and detach: nothing; createmany: the first stack comes from the cache
    assert groups[20] == [] and groups[21] == [] and groups[24] == []
    assert [_name(x) for x in groups[23]] == [mmap, "mprotect"] * 2
    # the groups' mmap/munmap/mprotect/brk lines decode with the project's strace parser
    for index, lines in groups.items():
        calls = parse_strace("\n".join(lines)).memory_calls
        assert len(calls) == sum(1 for x in lines if _name(x) != "madvise"), index


@pytest.mark.parametrize("bits", [64, 32])
def test_runs_are_reproducible(bits, runs):
    a, b = runs(bits)
    assert a.results == b.results

    def norm(run):
        return {k: [lp.strip_pid(x) for x in v] for k, v in run.by_op().items()}

    assert norm(a) == norm(b)


def test_createmany_until_failure(libc_workdir):
    run = _run(32, libc_workdir, ["0 createmany 100000", "0 malloc x 300000"])
    count, err = run.results[0].split()
    assert int(count) > 100 and err == "EAGAIN"
    last = lp.strip_pid(run.by_op()[0][-1])
    assert last.startswith("mmap2(") and last.endswith("= -1 ENOMEM (Cannot allocate memory)")


def test_bad_scripts(libc_workdir):
    with pytest.raises(lp.ProbeError, match="would block forever"):
        _run(64, libc_workdir, ["0 create 1", "0 join 1"])
    with pytest.raises(lp.ProbeError, match="unknown op"):
        _run(64, libc_workdir, ["0 frobnicate"])
    run = _run(64, libc_workdir, ["0 create 1 16 4096"])
    assert run.results == ["EINVAL"]  # stack size below PTHREAD_STACK_MIN


def test_split_by_op_joins_unfinished_calls():
    text = "\n".join([
        '100  execve("/usr/bin/setarch", ["setarch"], 0x7ffd0 /* 1 var */) = 0',
        "100  brk(NULL)                         = 0x5000",
        '100  execve("/tmp/libcprobe64", ["x"], 0x7ffd0 /* 1 var */) = 0',
        "100  brk(NULL)                         = 0x6000",
        '100  write(1, "OP 0 0 create 1\\n", 16) = 16',
        "100  mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0 <unfinished ...>",
        "101  +++ exited with 0 +++",
        "100  <... mmap resumed>)               = 0x7ffff75d0000",
        '100  write(1, "RET 0 0\\n", 8)          = 8',
        '101  write(1, "OP 1 1 exit\\n", 13 <unfinished ...>',
        "100  madvise(0x7ffff75d0000, 8368128, MADV_DONTNEED) = 0",
        "101  <... write resumed>)    = 13",
        "101  mlock(0x1000, 4096) = 0",
    ])
    groups = lp.split_by_op(text)
    assert groups[None] == ["100  brk(NULL)                         = 0x6000"]
    # completion order: the madvise completed before the OP 1 write did
    assert groups[0] == ["100  mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0)"
                         "               = 0x7ffff75d0000",
                         "100  madvise(0x7ffff75d0000, 8368128, MADV_DONTNEED) = 0"]
    assert groups[1] == []
    assert lp.split_by_op(text, names={"mlock"})[1] == ["101  mlock(0x1000, 4096) = 0"]
    assert lp.parse_madvise(groups[0][1]) == (0x7ffff75d0000, 8368128, "MADV_DONTNEED", "0")
    assert parse_strace("\n".join(groups[0])).memory_calls[0].ret == 0x7ffff75d0000
