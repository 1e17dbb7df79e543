"""`vasim explain` against real processes.

tests/probe/explainprobe.c builds a process state on this machine's kernel and glibc (threads
until pthread_create fails, or threads that each malloc in their own arena), reports what it
did (the number of threads pthread_create gave, the heaps malloc_info lists), prints its
/proc/self/maps, and then answers "does an mmap of N bytes succeed now?" for sizes the test
sends. The expected values are the real process's: its thread count, its arena count, and the
kernel's answer to the largest-mmap question (the size explain reports must succeed, one page
more must fail).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import kernel_probe
from conftest import build_each, probe_for
from simulator.cli import main
from simulator.explain import explain, label_regions
from simulator.kernel.arch import get_profile
from simulator.kernel.config import Personality, ProcessConfig
from simulator.trace.procmaps import parse_maps
from simulator.trace.strace import ProcessEvent, read_strace
from simulator.units import MiB, PAGE_SIZE, RLIM_INFINITY

SOURCE = Path(__file__).parent / "probe" / "explainprobe.c"
RECORDINGS = Path(__file__).parent / "data" / "recordings"


@pytest.fixture(scope="session")
def explainprobe(probe_dir):
    def build(bits):
        gcc = kernel_probe._gcc()
        flags = ["-m32"] if bits == 32 else []
        if bits == 32:
            kernel_probe._check_m32(gcc, probe_dir)
        out = probe_dir / f"explainprobe{bits}"
        cmd = [gcc, *flags, "-O1", "-pthread", "-o", str(out), str(SOURCE)]
        cp = subprocess.run(cmd, capture_output=True, text=True)
        if cp.returncode != 0:
            raise kernel_probe.ProbeUnavailable(f"{' '.join(cmd)}: {cp.stderr[-500:]}")
        return out

    return build_each((32, 64), build)


class Live:
    """The probe, stopped after its snapshot, answering mmap questions."""

    def __init__(self, binary, setarch, rlimit, args):
        self.proc = subprocess.Popen(
            ["setarch", *setarch, str(binary), *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=dict(kernel_probe.DEFAULT_ENV),
            preexec_fn=kernel_probe._set_rlimit_stack(rlimit))
        head = []
        for line in self.proc.stdout:
            if line == "END\n":
                break
            head.append(line)
        text = "".join(head)
        self.count = int(re.search(r"COUNT (\d+)", text).group(1))
        self.arenas = int(re.search(r"ARENAS (\d+)", text).group(1))
        self.maps = text.split("MAPS\n", 1)[1]

    def mmap_ok(self, size: int) -> bool:
        self.proc.stdin.write(f"{size}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer in ("OK", "ENOMEM"), answer
        return answer == "OK"

    def touch_ok(self, addr: int) -> bool:
        self.proc.stdin.write(f"touch {addr:x}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer in ("OK", "SEGV"), answer
        return answer == "OK"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_live(explainprobe, bits, setarch, rlimit, args):
    live = Live(probe_for(explainprobe, bits), setarch, rlimit, args)
    return live


# The layouts of docs/threads.md, measured there: setarch flags, RLIMIT_STACK, personality.
LAYOUTS = [
    ([], 8 * MiB, Personality(0)),
    (["--3gb"], 8 * MiB, Personality.ADDR_LIMIT_3GB),
    (["-L"], 8 * MiB, Personality.ADDR_COMPAT_LAYOUT),
    ([], 2 * MiB, Personality(0)),
    ([], RLIM_INFINITY, Personality(0)),
]


def _id(layout):
    flags, rlimit, _ = layout
    limit = "unlimited" if rlimit == RLIM_INFINITY else f"{rlimit >> 20}M"
    return "-".join(["i686", *(f.strip("-") for f in flags), limit])


@pytest.mark.parametrize("layout", LAYOUTS, ids=[_id(x) for x in LAYOUTS])
def test_exhausted_32bit_process_is_that_many_stacks_with_none_left(explainprobe, layout):
    """A 32-bit process stopped at its thread limit: explain finds exactly as many thread
    stacks as pthread_create gave, says 0 more fit, and its largest mmap is the kernel's:
    that size succeeds in the real process and one page more fails; and the main stack grows
    exactly as far as explain says."""
    flags, rlimit, personality = layout
    live = run_live(explainprobe, 32, ["i686", "-R", *flags], rlimit, ["threads", "0", "4096"])
    try:
        proc = ProcessConfig(personality=personality | Personality.ADDR_NO_RANDOMIZE,
                             rlimit_stack=rlimit)
        x = explain(parse_maps(live.maps), get_profile("i686"), proc, what_ifs=False)
        assert x.thread_stacks == live.count
        assert x.more_threads["current"] == 0
        assert live.mmap_ok(x.largest_mmap)
        assert not live.mmap_ok(x.largest_mmap + PAGE_SIZE)
        # The main stack's growth room: one page further faults, exactly that far grows.
        stack = next(e for e in parse_maps(live.maps) if e.name == "[stack]")
        assert not live.touch_ok(stack.start - x.stack_room - PAGE_SIZE)
        assert live.touch_ok(stack.start - x.stack_room)
    finally:
        live.close()


def test_what_if_matches_the_kernel_in_the_other_layout(explainprobe):
    """The 4 GiB process stopped at its thread limit, rebuilt by the model with --3gb and
    with the legacy layout: as many thread stacks fit as in a real process run that way."""
    real = {}
    for flags in ([], ["--3gb"], ["-L"]):
        live = run_live(explainprobe, 32, ["i686", "-R", *flags], 8 * MiB,
                        ["threads", "0", "4096"])
        real[tuple(flags)] = (live.count, live.maps)
        live.close()
    count, maps = real[()]
    x = explain(parse_maps(maps), get_profile("i686"),
                ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE))
    by_label = {w.label: w for w in x.what_if}
    assert by_label["with --3gb (ADDR_LIMIT_3GB)"].threads_fit == real[("--3gb",)][0]
    assert by_label["with the legacy layout (-L)"].threads_fit == real[("-L",)][0]
    assert by_label["as a 64-bit process"].failed == ()


@pytest.mark.parametrize("bits", [64, 32])
def test_arena_heaps_are_found(explainprobe, bits):
    """Four threads that each malloc while the others hold their arenas get a new arena each
    while there are fewer than the limit (malloc/arena.c ``arena_get2``: ``narenas_limit =
    NARENAS_FROM_NCORES(__get_nprocs())``, 8 per CPU on 64-bit and 2 on 32-bit, the main
    arena included); malloc_info lists them with the main arena. explain must find exactly
    the new ones as arena heaps."""
    setarch = ["x86_64", "-R"] if bits == 64 else ["i686", "-R"]
    live = run_live(explainprobe, bits, setarch, 8 * MiB, ["arenas", "4"])
    try:
        arch = "x86_64" if bits == 64 else "i686"
        proc = ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE)
        x = explain(parse_maps(live.maps), get_profile(arch), proc, what_ifs=False)
        limit = os.sysconf("SC_NPROCESSORS_ONLN") * (8 if bits == 64 else 2)
        assert live.arenas - 1 == min(4, limit - 1)
        assert x.arena_heaps == live.arenas - 1
        assert x.thread_stacks == live.count == 4
        assert live.mmap_ok(x.largest_mmap)
        assert not live.mmap_ok(x.largest_mmap + PAGE_SIZE)
        stack = next(e for e in parse_maps(live.maps) if e.name == "[stack]")
        assert not live.touch_ok(stack.start - x.stack_room - PAGE_SIZE)
        assert live.touch_ok(stack.start - x.stack_room)
    finally:
        live.close()


def test_recorded_exhaustion_runs():
    """The recorded exhaustion runs (tests/data/recordings/thr32-exhaust*): the number of
    thread stacks is the number of clone3 calls that succeeded in the recorded trace."""
    for rec in sorted(RECORDINGS.glob("thr32-exhaust*")):
        created = _created(rec)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["explain", str(rec), "--json", "--no-what-if"]) == 0
        x = json.loads(out.getvalue())
        assert x["thread_stacks"] == created, rec.name
        assert x["more_threads"]["current"] == 0, rec.name
        assert {r["kind"] for r in x["regions"]} >= {"executable", "ld.so", "library",
                                                   "stack", "thread-stack", "thread-guard"}


def _created(rec) -> int:
    trace = read_strace(rec / "trace.txt")
    return sum(1 for e in trace.events if isinstance(e, ProcessEvent) and e.child is not None)


def test_recorded_what_if_matches_the_recorded_runs():
    """thr32-exhaust (4 GiB) rebuilt with --3gb and -L fits as many thread stacks as the
    recorded runs thr32-exhaust-3gb and thr32-exhaust-legacy of the same program created,
    and the other way round."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", str(RECORDINGS / "thr32-exhaust"), "--json"]) == 0
    fit = {w["label"]: w["threads_fit"] for w in json.loads(out.getvalue())["what_if"]}
    assert fit["with --3gb (ADDR_LIMIT_3GB)"] == _created(RECORDINGS / "thr32-exhaust-3gb")
    assert fit["with the legacy layout (-L)"] == _created(RECORDINGS / "thr32-exhaust-legacy")
    # And back: the --3gb and legacy runs rebuilt in the 4 GiB top-down layout.
    for name, label in (("thr32-exhaust-3gb", "with the full 4 GiB (no --3gb)"),
                        ("thr32-exhaust-legacy", "with the top-down layout (no -L)")):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["explain", str(RECORDINGS / name), "--json"]) == 0
        fit = {w["label"]: w["threads_fit"] for w in json.loads(out.getvalue())["what_if"]}
        assert fit[label] == _created(RECORDINGS / "thr32-exhaust"), name


def test_labels_of_a_hand_made_listing():
    """Labels from the layout rules alone: a 64 MiB-aligned rw-p + ---p pair of 64 MiB in
    all is an arena heap (HEAP_MAX_SIZE on 64-bit); ---p directly below rw-p is a thread
    stack's guard; anonymous rw-p right after a library's rw-p segment is its bss."""
    text = """\
555555554000-555555555000 r--p 00000000 08:01 10 /usr/bin/prog
555555555000-555555556000 r-xp 00001000 08:01 10 /usr/bin/prog
555555559000-55555557a000 rw-p 00000000 00:00 0 [heap]
7fffe8000000-7fffe8021000 rw-p 00000000 00:00 0
7fffe8021000-7fffec000000 ---p 00000000 00:00 0
7ffff6fff000-7ffff7000000 ---p 00000000 00:00 0
7ffff7000000-7ffff7800000 rw-p 00000000 00:00 0
7ffff7800000-7ffff7826000 r--p 00000000 08:01 11 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7826000-7ffff7828000 rw-p 00026000 08:01 11 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7828000-7ffff7835000 rw-p 00000000 00:00 0
7ffff7fc9000-7ffff7fca000 r--p 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]
7ffff7ff0000-7ffff7ff1000 rw-p 00000000 00:00 0
"""
    lines = text.splitlines()
    text = "\n".join(sorted(lines, key=lambda l: int(l.split("-")[0], 16))) + "\n"
    kinds = [r.kind for r in label_regions(parse_maps(text), 64)]
    assert kinds == ["executable", "executable", "heap", "arena-heap", "arena-reserve",
                     "thread-guard", "thread-stack", "library", "library", "library", "ld.so",
                     "anonymous", "stack"]


def test_cli_text_and_errors(tmp_path, capsys):
    assert main(["explain", str(tmp_path / "missing.maps")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.maps"
    bad.write_text("this is not a maps line\n")
    assert main(["explain", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{bad}:1")


def test_live_pid(explainprobe, capsys):
    """`vasim explain PID` reads the live process's smaps, personality and limits: a 32-bit
    process under --3gb stopped at its thread limit is that many stacks, none left."""
    live = run_live(explainprobe, 32, ["i686", "-R", "--3gb"], 8 * MiB, ["threads", "0", "4096"])
    try:
        assert main(["explain", str(live.proc.pid), "--json", "--no-what-if"]) == 0
        x = json.loads(capsys.readouterr().out)
        assert x["source"] == f"/proc/{live.proc.pid}/smaps"
        assert "ADDR_LIMIT_3GB" in x["personality"] and x["arch"] == "i686"
        assert x["thread_stacks"] == live.count
        assert x["more_threads"]["current"] == 0
    finally:
        live.close()
