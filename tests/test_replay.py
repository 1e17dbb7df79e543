"""Recordings of the real kernel replay exactly: every return value and the final map.

tests/data/recordings/ holds strace -f logs of real programs (CPython, ls, /bin/true, C
programs with threads, malloc and raw memory calls, 32-bit thread exhaustion) recorded on
Linux 6.18 with the maps before the first and at the last call (tools/record.py; the list is
in tests/data/recordings/README.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.host.files import RecordedFiles
from simulator.kernel.arch import get_profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.trace.procmaps import read_maps
from simulator.trace.recording import mapped_paths
from simulator.trace.replay import initial_address_space, replay
from simulator.trace.strace import read_strace
from simulator.units import RLIM_INFINITY

ROOT = Path(__file__).parent / "data" / "recordings"
RECORDINGS = sorted(p.name for p in ROOT.iterdir() if (p / "meta.json").exists())
_SHMEM = re.compile(r"^(\S+ \S+ \S+ \S+ )(\d+)( +/dev/zero \(deleted\))$", re.M)


def normalise_shmem(maps: str) -> str:
    """shmem inode numbers come from a global counter (get_next_ino): renumber them in order
    of first appearance so that the same objects compare equal."""
    numbers: dict[str, str] = {}
    return _SHMEM.sub(lambda m: m.group(1) + numbers.setdefault(m.group(2), str(len(numbers)))
                      .ljust(len(m.group(2))) + m.group(3), maps)


def recorded_files(name: str) -> RecordedFiles:
    """The recording's own file facts (tools/derive_recording_facts.py): replay never stats
    this machine's files, whose inodes and sizes differ from the recording machine's."""
    return RecordedFiles.load(ROOT / name / "files.json")


def recording_config(name: str):
    meta = json.loads((ROOT / name / "meta.json").read_text())
    personality = Personality(0)
    for flag in meta["personality"]:
        if flag in Personality.__members__:
            personality |= Personality[flag]
    rlimit = RLIM_INFINITY if meta["rlimit_stack"] == "unlimited" else int(meta["rlimit_stack"])
    return meta, get_profile(meta["arch"]), ProcessConfig(personality=personality,
                                                          rlimit_stack=rlimit)


@pytest.mark.parametrize("initial", ["initial.maps", "initial.gdb"])
@pytest.mark.parametrize("name", RECORDINGS)
def test_recording_replays_exactly(name, initial):
    _meta, profile, proc = recording_config(name)
    trace = read_strace(ROOT / name / "trace.txt")
    entries = read_maps(ROOT / name / initial)
    files = recorded_files(name)
    mm = initial_address_space(trace, profile, proc, KernelConfig(), entries, initial, files=files)
    result = replay(trace, mm, files=files)
    assert result.first_divergence is None, result.first_divergence
    assert files.host_paths == set()
    assert result.matched == result.total > 0
    final = (ROOT / name / "final.maps").read_text()
    if initial == "initial.gdb":
        # gdb shows no device or inode: compare ranges, permissions, offsets and names.
        strip = lambda text: [(e.start, e.end, e.perms, e.offset, e.name.split(" (deleted)")[0])
                              for e in read_maps_text(text)]
        assert strip(result.maps) == strip(final)
    else:
        assert normalise_shmem(result.maps) == normalise_shmem(final)
        mm._check()


def read_maps_text(text):
    from simulator.trace.procmaps import parse_maps
    return parse_maps(text)


@pytest.mark.parametrize("name", ["true64", "py64-pass", "ls64"])
def test_replay_without_initial_maps_builds_the_exec_layout(name):
    """Without --initial-maps the layout at exec comes from the traced program's ELF file
    (fs/binfmt_elf.c), which for these system binaries exists on this machine."""
    _meta, profile, proc = recording_config(name)
    trace = read_strace(ROOT / name / "trace.txt")
    files = recorded_files(name)
    mm = initial_address_space(trace, profile, proc, KernelConfig(), None, "trace", files=files)
    result = replay(trace, mm, files=files)
    mapped, execs = mapped_paths(trace)
    assert files.missing.isdisjoint(mapped + execs) and files.host_paths == set()
    assert result.first_divergence is None
    assert normalise_shmem(result.maps) == normalise_shmem((ROOT / name / "final.maps").read_text())


def test_cli_replay_json(capsys):
    """A recording directory replays with its own file facts: the final maps equal the
    recording machine's, inode for inode, on any host."""
    code = main(["replay", str(ROOT / "py64-pass"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) == {"calls", "matched", "total", "skipped", "maps", "processes", "inferred",
                        "notes", "final_maps", "missing_facts"}
    assert len({c["pid"] for c in out["calls"]}) == 1  # one process: its pid on every call
    assert out["matched"] == out["total"] == len(out["calls"])
    first = out["calls"][0]
    # The log's first memory call: "brk(NULL) = 0x..." on line 2 (line 1 is the execve).
    trace_lines = (ROOT / "py64-pass" / "trace.txt").read_text().splitlines()
    assert trace_lines[first["line"] - 1].split(None, 1)[1].startswith("brk(NULL)")
    assert first["recorded"] == first["simulated"] and first["recorded"].startswith("0x")
    assert out["maps"] == (ROOT / "py64-pass" / "final.maps").read_text()
    assert out["final_maps"] == {"2032": "match"}  # meta.json: pid
    assert out["missing_facts"] == []


def test_cli_replay_reports_a_divergence(tmp_path, capsys):
    """A tampered return value: exit status 1 and the line of the first divergence."""
    lines = (ROOT / "true64" / "trace.txt").read_text().splitlines(keepends=True)
    index = next(i for i, l in enumerate(lines) if " mmap(NULL" in l)
    lines[index] = re.sub(r"= 0x[0-9a-f]+", "= 0x12345000", lines[index])
    trace = tmp_path / "trace.txt"
    trace.write_text("".join(lines))
    code = main(["replay", str(trace), "--initial-maps",
                 str(ROOT / "true64" / "initial.maps")])
    out = capsys.readouterr().out
    assert code == 1
    assert f"first divergence at {trace}:{index + 1}:" in out
    assert "recorded 0x12345000" in out


@pytest.mark.parametrize("args,message", [
    (["replay", "/nonexistent/trace"], "/nonexistent/trace: cannot read"),
    (["replay", "{trace}", "--rlimit-stack", "8Q"], "'8Q' is not a size"),
    (["replay", "{trace}", "--arch", "pdp11"], "unknown arch 'pdp11'"),
    (["replay", "{trace}", "--personality", "ADDR_BOGUS"], "unknown personality flag"),
    (["replay", "{trace}", "--initial-maps", "{garbage}"], "{garbage}:1:"),
    (["replay", "{garbled}"], "{garbled}:2: mmap:"),
])
def test_cli_bad_input_is_one_line_and_status_2(tmp_path, capsys, args, message):
    trace = ROOT / "true64" / "trace.txt"
    garbage = tmp_path / "garbage.maps"
    garbage.write_text("this is not a maps file\n")
    garbled = tmp_path / "garbled.txt"
    garbled.write_text('execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n'
                       "mmap(NULL, 8192, PROT_READ|PROT_BOGUS, MAP_PRIVATE, -1, 0) = 0x7f0000\n")
    subst = {"trace": str(trace), "garbage": str(garbage), "garbled": str(garbled)}
    code = main([a.format(**subst) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message.format(**subst) in err


def test_threads_share_the_address_space_and_fork_children_have_a_copy():
    """strace prints a new thread's first calls before the parent's clone3 returns; a fork
    child (no CLONE_VM) has its own copy of the parent's address space at the fork
    (kernel/fork.c copy_mm: CLONE_VM shares the mm, otherwise dup_mm)."""
    from simulator.kernel.exec import exec_layout
    from simulator.programs import typical_program
    from simulator.trace.strace import parse_strace

    text = (
        '100 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n'
        "100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, "
        "stack=0x7f0000000000, stack_size=0x7fff80}, 88 <unfinished ...>\n"
        "101 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fc1000\n"
        "100 <... clone3 resumed>) = 101\n"
        "100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
        "child_tidptr=0x7f) = 102\n"
        "102 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fc0000\n"
        "100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fc0000\n"
    )
    profile = get_profile("x86_64")
    exe, ld_so = typical_program(profile)
    mm = exec_layout(profile, exe, ld_so,
                     proc=ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE))
    # ld.so ends at mmap_base 0x7ffff7fff000 and the vDSO block (0x8000) sits below it, at
    # 0x7ffff7fc2000: the first free page top-down is 0x7ffff7fc1000, the next 0x7ffff7fc0000
    # both in the parent and in the child's copy (the thread's page was mapped before the fork).
    result = replay(parse_strace(text), mm)
    assert [(c.line, c.pid, c.simulated) for c in result.calls] == [
        (3, 101, "0x7ffff7fc1000"), (6, 102, "0x7ffff7fc0000"), (7, 100, "0x7ffff7fc0000")]
    assert result.first_divergence is None
    assert [p.pid for p in result.processes] == [100, 102]
    assert result.processes[1].parent == 100
