"""Whole programs replayed as users record them: setarch's exec, then the program's; fork
children with copies of their parent's address space; execs in children; ASLR on.

Recorded on Linux 6.18 (tests/data/strace/lifecycle/, gzip):

    strace -f -o R_NAME.txt setarch -R PROG...   # the documented recipe (ASLR off)
    strace -f -o A_NAME.txt PROG...              # ASLR on

sh: ``sh -c 'ls | wc -l'`` (sh forks ls and wc, each execs); ls: ``ls -la /usr/lib``; gcc:
``gcc -c small.c`` (gcc forks cc1 and as); fe: fe.c, which forks a child that maps, unmaps
part of a parent mapping and execs /bin/true; thr32: thr.c built with ``gcc -m32 -pthread``
recorded under ``setarch i686 [-R] --3gb`` (four threads that malloc and mmap at once);
script: ``./s.sh``, a ``#!/bin/sh`` script that runs /bin/true (fs/binfmt_script.c: the exec
loads /bin/sh's ELF). Every recorded return must come out of the
model. The programs' ELF headers are read from this machine (a bare strace log), so these
tests need the same Debian binaries; recordings with their own file facts are `vasim record`'s.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from simulator.kernel.config import Personality
from simulator.trace.replay import replay
from simulator.trace.strace import parse_strace

DATA = Path(__file__).parent / "data" / "strace" / "lifecycle"
PROGRAMS = {"sh": ["/usr/bin/sh", "/usr/bin/ls", "/usr/bin/wc"], "ls": ["/usr/bin/ls"],
            "gcc": ["/usr/bin/gcc", "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "/usr/bin/as"],
            "fe": ["/bin/true"], "thr32": ["/usr/lib32/libc.so.6"],
            "script": ["/bin/sh", "/bin/true"]}
#: Processes each log shows (setarch's and the program's execs happen in one pid).
PROCESSES = {"sh": 3, "ls": 1, "gcc": 3, "fe": 2, "thr32": 1, "script": 2}
BUILD = {"fe": ["gcc", "-O0", "-o", "fe", "fe.c"],
         "thr32": ["gcc", "-m32", "-O0", "-pthread", "-o", "thr32", "thr.c"],
         "script": ["chmod", "+x", "s.sh"]}


def load(name: str):
    return parse_strace(gzip.decompress((DATA / f"{name}.txt.gz").read_bytes()).decode(),
                        name)


def build_here(name, tmp_path, monkeypatch):
    """The log names ./NAME: build it from its source in a scratch directory, replay there."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    source = BUILD[name][-1]
    shutil.copy(DATA / source, tmp_path / source)
    if subprocess.run(BUILD[name], cwd=tmp_path).returncode != 0:
        pytest.skip(f"cannot build {name} here")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("aslr", ["R", "A"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_call_of_every_process_matches(name, aslr, tmp_path, monkeypatch):
    if not all(os.path.exists(p) for p in PROGRAMS[name]):
        pytest.skip("the recorded programs are not installed here")
    if name in BUILD:
        build_here(name, tmp_path, monkeypatch)
    result = replay(load(f"{aslr}_{name}"))
    assert result.first_divergence is None, result.first_divergence
    assert result.total > 20
    assert len(result.processes) == PROCESSES[name]
    pids = {c.pid for c in result.calls}
    assert {p.pid for p in result.processes} <= pids  # every process's calls were replayed
    if aslr == "A":
        # One inference per exec, the bases revealed by the returns (ASLR on everywhere).
        assert result.inferred and all(i.aslr == "on" for i in result.inferred)
        assert all(i.mmap_base is not None for i in result.inferred)
    else:
        # Only setarch's own exec ran with ASLR on: its persona call turned it off for the
        # program and every child.
        assert [i.executable for i in result.inferred] == ["/usr/bin/setarch"]


def test_the_first_process_is_the_program_after_setarch():
    if not os.path.exists("/usr/bin/ls"):
        pytest.skip("ls is not installed")
    result = replay(load("R_ls"))
    root = result.processes[0]
    assert root.executable == "/usr/bin/ls" and result.maps == root.maps
    # ASLR off (setarch -R): ls is a PIE at ELF_ET_DYN_BASE, 0x555555554000 on x86_64
    # (arch/x86/include/asm/elf.h: 2/3 of TASK_SIZE, page aligned).
    assert root.maps.startswith("555555554000-")


def test_overlapping_thread_calls_are_replayed_in_the_kernels_order(tmp_path, monkeypatch):
    """R_thr32 lines 169-175: threads 11272 and 11273 both mmap2 2 MiB for their malloc
    arenas at once; strace prints 11273's return (0xb6188000, line 174) first, yet 11272 got
    the higher address 0xb6388000 (line 175), so the kernel served it first (top-down
    placement). Replay finds that order and marks both calls."""
    build_here("thr32", tmp_path, monkeypatch)
    result = replay(load("R_thr32"))
    assert result.first_divergence is None
    assert [(c.line, c.pid, c.simulated) for c in result.calls if c.reordered] == [
        (175, 11272, "0xb6388000"), (174, 11273, "0xb6188000")]


def test_cli_json_has_pids_processes_and_the_programs_maps(tmp_path, capsys):
    import json

    from simulator.cli import main

    if not all(os.path.exists(p) for p in PROGRAMS["sh"]):
        pytest.skip("the recorded programs are not installed here")
    log = tmp_path / "R_sh.txt"
    log.write_bytes(gzip.decompress((DATA / "R_sh.txt.gz").read_bytes()))
    assert main(["replay", str(log), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matched"] == out["total"] == len(out["calls"])
    sh, ls, wc = out["processes"]
    # setarch execs sh in the traced pid; sh forks ls and wc (recorded: clone ... = PID).
    assert sh["executable"] == "/usr/bin/sh" and sh["parent"] is None
    assert (ls["executable"], wc["executable"]) == ("/usr/bin/ls", "/usr/bin/wc")
    assert ls["parent"] == wc["parent"] == sh["pid"]
    assert out["maps"] == sh["maps"]
    assert {c["pid"] for c in out["calls"]} == {sh["pid"], ls["pid"], wc["pid"]}


def test_a_long_chain_of_clone_vm_threads_replays():
    """Each thread creates the next (a regression: the membership test recursed once per
    clone and a 3,059-long chain raised RecursionError)."""
    lines = ['1000 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0']
    for i in range(5000):
        lines.append(f"{1000 + i} clone(child_stack=0x7f0000000000, flags=CLONE_VM|CLONE_FS|"
                     f"CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD) = {1001 + i}")
    # The last thread maps a page: it shares the first process's address space.
    lines.append("6000 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ?")
    result = replay(parse_strace("\n".join(lines) + "\n"),
                    personality=Personality.ADDR_NO_RANDOMIZE)
    assert [c.pid for c in result.calls] == [6000]
    assert len(result.processes) == 1  # threads are not processes
    page = int(result.calls[0].simulated, 16)
    assert f"{page:x}-{page + 4096:x} r--p" in result.maps  # in the first process's map


def test_personality_option_overrides_the_log():
    """--personality replaces the persona of every exec. ADDR_COMPAT_LAYOUT (setarch -L)
    makes the mmap area grow bottom-up from TASK_UNMAPPED_BASE (arch/x86/mm/mmap.c), so
    the placements recorded top-down no longer come out. ADDR_NO_RANDOMIZE is what setarch
    -R gave ls (its exec is line 116): ls's calls all match, while setarch's own, recorded
    with ASLR on, now diverge from its first brk(NULL)."""
    if not os.path.exists("/usr/bin/ls"):
        pytest.skip("ls is not installed")
    result = replay(load("R_ls"), personality=Personality.ADDR_NO_RANDOMIZE
                    | Personality.ADDR_COMPAT_LAYOUT)
    assert any(not c.matched for c in result.calls if c.line > 116)
    result = replay(load("R_ls"), personality=Personality.ADDR_NO_RANDOMIZE)
    assert result.first_divergence.line == 2
    assert all(c.matched for c in result.calls if c.line > 116)


#: Where kernel-fe and kernel-thr32 were built and recorded (their logs name these paths).
BUILD_DIR = Path("/tmp/vasim-record/lifecycle")


_FILE_IDS = re.compile(r"^(\S+ \S+ \S+ )\S+ +\d+( +)(/\S.*)$", re.M)


def without_build_inodes(maps: str) -> str:
    """These logs replay against this machine's programs (they carry no file facts; the
    recordings in tests/data/corpus do, and are compared inode for inode): the binaries built
    for the test get new inodes each time, and a host's libraries may be other copies (CI's
    perturbed host). So file mappings are compared by range, permissions, offset and path,
    with device and inode blanked."""
    return _FILE_IDS.sub(lambda m: f"{m.group(1)}-- 0 {m.group(3)}", maps)


def kernel_recording(name: str):
    directory = DATA / f"kernel-{name}"
    meta = json.loads((directory / "meta.json").read_text())
    personality = Personality(0)
    for flag in meta["personality"]:
        personality |= Personality.__members__.get(flag, Personality(0))
    text = gzip.decompress((directory / "trace.txt.gz").read_bytes()).decode()
    return directory, personality, parse_strace(text, name)


@pytest.mark.parametrize("name", ["sh", "gcc", "fe", "thr32"])
def test_final_maps_of_every_process_are_the_kernels(name):
    """Recorded with `vasim record` (ASLR off; setarch outside strace, so the persona comes
    from meta.json as --personality would give it): every call of every process matches,
    and each process's final map equals the kernel's /proc/PID/maps read on entry to its
    exit_group."""
    if not all(os.path.exists(p) for p in PROGRAMS[name]):
        pytest.skip("the recorded programs are not installed here")
    if name in BUILD:
        if shutil.which("gcc") is None:
            pytest.skip("gcc is not installed")
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        source = BUILD[name][-1]
        shutil.copy(DATA / source, BUILD_DIR / source)
        if subprocess.run(BUILD[name], cwd=BUILD_DIR).returncode != 0:
            pytest.skip(f"cannot build {name} here")
    directory, personality, trace = kernel_recording(name)
    result = replay(trace, personality=personality)
    assert result.first_divergence is None, result.first_divergence
    first, *others = result.processes
    expected = {first.pid: directory / "final.maps"}
    expected.update({p.pid: directory / f"final-{p.pid}.maps" for p in others})
    assert all(path.exists() for path in expected.values())
    for process in result.processes:
        kernel = expected[process.pid].read_text()
        assert without_build_inodes(process.maps) == without_build_inodes(kernel), process.pid


def test_aslr_on_legacy_layout_infers_a_bottom_up_base():
    """`strace -f setarch -L ls` with ASLR on: setarch's exec is top-down, ls's legacy
    (ADDR_COMPAT_LAYOUT from setarch's personality call): its mmap area grows up from
    TASK_UNMAPPED_BASE + rnd (arch/x86/mm/mmap.c mmap_legacy_base)."""
    if not os.path.exists("/usr/bin/ls"):
        pytest.skip("ls is not installed")
    result = replay(load("A_ls-legacy"))
    assert result.first_divergence is None
    setarch, ls = result.inferred
    assert setarch.aslr == ls.aslr == "on"
    # x86_64 TASK_UNMAPPED_BASE is a third of TASK_SIZE (0x2aaaaaaab000 page aligned), plus
    # up to 2^28 random pages (mmap_rnd_bits 28): recorded 0x2b6c777c5000.
    assert 0x2AAAAAAAB000 <= ls.mmap_base < 0x2AAAAAAAB000 + (1 << 40)


def test_rlimit_stack_outside_the_log_is_said_not_guessed():
    """`ulimit -s unlimited; strace -f ls` with ASLR on: with RLIMIT_STACK unlimited the mmap
    base sits at TASK_SIZE/6 minus the random offset (mm gap clamped to 5/6 of the space).
    The log does not show the limit: replayed with the default 8M, no base explains the
    first mmap and the output says which setting is missing; with --rlimit-stack unlimited
    every call matches."""
    from simulator.units import RLIM_INFINITY

    if not os.path.exists("/usr/bin/ls"):
        pytest.skip("ls is not installed")
    result = replay(load("A_ls-unlimited"))
    assert result.first_divergence is not None
    assert any("RLIMIT_STACK" in note and "line 3" in note for note in result.notes)
    assert result.inferred[0].mmap_base is None
    result = replay(load("A_ls-unlimited"), rlimit_stack=RLIM_INFINITY)
    assert result.first_divergence is None and not result.notes


def test_a_vfork_child_shares_memory_until_its_exec_but_not_the_fd_table():
    """posix_spawn: clone(CLONE_VM|CLONE_VFORK) without CLONE_FILES. The child maps into the
    parent's address space until it execs; its exec closes its copy of the descriptors,
    not the parent's, so the parent's later mmap of fd 3 still names the opened file."""
    text = (
        '100 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n'
        '100 openat(AT_FDCWD, "/bin/true", O_RDONLY|O_CLOEXEC) = 3\n'
        "100 clone(child_stack=0x7f0000000000, flags=CLONE_VM|CLONE_VFORK|SIGCHLD) = 101\n"
        "101 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ?\n"
        '101 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n'
        "100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = ?\n"
    )
    result = replay(parse_strace(text), personality=Personality.ADDR_NO_RANDOMIZE)
    parent, child = result.processes
    child_page, parent_page = (int(c.simulated, 16) for c in result.calls)
    assert f"{child_page:x}-{child_page + 4096:x} r--p" in parent.maps  # shared until exec
    assert f"{child_page:x}-" not in child.maps  # the exec's fresh address space
    assert "/usr/bin/true" in parent.maps.split(f"{parent_page:x}-", 1)[1].splitlines()[0]


def test_a_failed_execve_changes_nothing():
    """fs/exec.c: an execve that fails (here ENOENT, as a PATH search prints them) leaves the
    caller's address space as it was: the next mmap lands next to the previous one."""
    text = (
        '100 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n'
        "100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ?\n"
        '100 execve("/nonexistent/true", ["true"], 0x7ffe /* 1 var */) = -1 ENOENT '
        "(No such file or directory)\n"
        "100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ?\n"
    )
    result = replay(parse_strace(text), personality=Personality.ADDR_NO_RANDOMIZE)
    first, second = (int(c.simulated, 16) for c in result.calls)
    assert second == first - 4096  # top-down, right below the first page: same space
    assert result.processes[0].executable == "/bin/true"


def test_a_task_whose_creation_is_never_shown_is_a_thread_of_the_first_process():
    """strace -p of a running program: threads that existed before tracing started have no
    clone line; their events are held until the end of the log, then replayed as threads of
    the first process, and the output says so."""
    text = (
        '100 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n'
        "555 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ?\n"
        "100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ?\n"
    )
    result = replay(parse_strace(text), personality=Personality.ADDR_NO_RANDOMIZE)
    assert [c.pid for c in result.calls] == [100, 555]  # 555 held until the log ended
    thread_page = int(result.calls[1].simulated, 16)
    assert f"{thread_page:x}-" in result.maps  # in the first process's address space
    assert any("pid 555" in note for note in result.notes)


def test_cwd_resolves_a_relative_program_from_elsewhere(tmp_path, monkeypatch, capsys):
    """R_thr32 execs ./thr32 (a 32-bit program) after setarch's 64-bit exec: replayed from
    another directory, the log's relative path finds nothing, so the model runs a modelled
    64-bit program and the note says why; ``--cwd`` names the directory it started in and every
    call matches (the brk of the real run, 0x5655... for a 32-bit PIE, comes out)."""
    from simulator.cli import main

    if not os.path.exists("/usr/lib32/libc.so.6"):
        pytest.skip("the recorded programs are not installed here")
    build = tmp_path / "build"
    build.mkdir()
    build_here("thr32", build, monkeypatch)
    log = tmp_path / "R_thr32.txt"
    log.write_bytes(gzip.decompress((DATA / "R_thr32.txt.gz").read_bytes()))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["replay", str(log)]) == 1
    out = capsys.readouterr().out
    assert f"./thr32: no ELF headers here (relative to {elsewhere})" in out
    assert "pass --cwd DIR" in out
    assert main(["replay", "--cwd", str(build), str(log)]) == 0
    out = capsys.readouterr().out
    assert "no ELF headers" not in out
    # A directory that is not there is bad input, not a silent modelled program.
    missing = tmp_path / "missing"
    assert main(["replay", "--cwd", str(missing), str(log)]) == 2
    assert capsys.readouterr().err.strip() == f"{missing}: --cwd: not a directory"
