#!/usr/bin/env python3
"""Record a real-kernel fixture for `vasim replay`.

    python tools/record.py --name NAME [--setarch "i686 -R --3gb"]
        [--rlimit-stack 8M|unlimited|BYTES] [--out DIR] [--build "gcc ..."]
        -- PROGRAM ARGS...

    python tools/record.py --all [--only NAME ...] [--out DIR]
    python tools/record.py --verify [--only NAME ...]   # re-record, diff
    python tools/record.py --list

writes DIR/NAME/ (DIR defaults to tests/data/recordings):

  trace.txt     `strace -f -o trace.txt PROGRAM ARGS` (default output format)
  initial.maps  /proc/PID/maps at the end of the program's execve, before
                its first instruction
  initial.gdb   `gdb -batch -ex starti -ex 'info proc mappings'` output for
                the same command line, environment, personality and rlimit
  final.maps    /proc/PID/maps when the process enters exit_group
  files.json    facts of every file mapped or exec'd (simulator.trace.recording)
  meta.json     command, setarch, arch, personality, rlimit, kernel, env,
                auxv, mm fields of /proc/PID/stat, consistency checks, ...

How initial.maps and final.maps come from the *same* traced process
--------------------------------------------------------------------
strace is the only tracer.  Its syscall-tampering delays keep the tracee
parked in a ptrace stop while this script reads /proc/PID/maps:

  * `-e inject=exit_group:delay_enter=2s` parks the tracee on entry to
    exit_group (after every other memory call; the kernel has not started
    tearing anything down).
  * `-e inject=execve:delay_exit=1s` would park it at the exit of execve,
    but strace does not tamper with the very first execve of the command it
    starts.  So strace starts a tiny static "exec wrapper" (no syscalls
    besides execve) that execve()s PROGRAM with the same argv tail and
    environment; that second execve *is* delayed on exit.  The wrapper's own
    execve line is removed from the trace afterwards, and the " (DELAYED)"
    marker strace appends to the delayed execve result is stripped; nothing
    else in the trace is touched.  The program's stack, auxv and argv are
    byte-for-byte what a direct `strace PROGRAM` would give it (only the
    envp pointer printed in the execve line differs, as it would between any
    two parent processes).

A poller identifies the parked stop from /proc/PID/{exe,stat,syscall}
(state 't' and the syscall number of execve / exit_group for the binary's
ELF class) and accepts a maps snapshot only if the task stayed in the same
stop (same state, syscall line and context-switch counters) before and
after reading it.

Environment: the program gets exactly ENV below, cwd "/", stdin /dev/null,
RLIMIT_STACK soft = --rlimit-stack (hard = unlimited), like `ulimit -S -s`.
Only the soft limit matters to the kernel's layout and to glibc.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import difflib
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.trace.record import personality_names, run_traced  # noqa: E402
from simulator.trace.recording import collect_facts, facts_json  # noqa: E402
from simulator.trace.strace import parse_strace  # noqa: E402
DEFAULT_OUT = REPO / "tests" / "data" / "recordings"
SRC_DIR = DEFAULT_OUT / "src"
# Fixed build location: the binary's path appears in the trace and the maps.
BUILD_DIR = Path("/tmp/vasim-record")
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C"}
CWD = "/"
# --------------------------------------------------------------------------
# fixture table (--all)
# --------------------------------------------------------------------------

def _gcc(out: str, src: str, *flags: str) -> list[str]:
    return ["gcc", *flags, "-O1", "-Wall", "-o", str(BUILD_DIR / out),
            f"tests/data/recordings/src/{src}"]


B = {
    "mmapops64": _gcc("mmapops64", "mmapops.c"),
    "pthreads64": _gcc("pthreads64", "pthreads.c", "-pthread"),
    "mmapops32": _gcc("mmapops32", "mmapops.c", "-m32", "-pthread"),
    "mmapops32-nopie": _gcc("mmapops32-nopie", "mmapops.c", "-m32", "-pthread", "-no-pie"),
    "pthreads32": _gcc("pthreads32", "pthreads.c", "-m32", "-pthread"),
    "threxhaust32": _gcc("threxhaust32", "threxhaust.c", "-m32", "-pthread"),
}

PY_ALLOC = (
    "import gc\n"
    "a = [list(range(1000)) for _ in range(200)]\n"
    "b = bytearray(1 << 20)\n"
    "c = bytearray(64 << 20)\n"
    "d = {i: str(i) for i in range(100000)}\n"
    "del a, b, c, d\n"
    "gc.collect()\n"
    "e = [bytearray(1 << 20) for _ in range(8)]\n"
    "del e\n"
)
# The threads take turns (thread i waits for go[i]) so the run is repeatable.
PY_THREADS = (
    "import threading\n"
    "go = [threading.Event() for _ in range(5)]\n"
    "def work(n):\n"
    "    go[n].wait()\n"
    "    x = [bytearray(256 * 1024) for _ in range(16)]\n"
    "    y = bytearray((4 + n) << 20)\n"
    "    z = [str(i) * 10 for i in range(20000)]\n"
    "    del x, y, z\n"
    "    go[n + 1].set()\n"
    "ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n"
    "for t in ts: t.start()\n"
    "go[0].set()\n"
    "for t in ts: t.join()\n"
)

X64 = "x86_64 -R"
I686 = "i686 -R"
I686_3GB = "i686 -R --3gb"
I686_L = "i686 -R -L"


def _bin(name: str) -> str:
    return str(BUILD_DIR / name)


# name: (setarch, rlimit, build-key or None, command, what it exercises)
FIXTURES: dict[str, tuple[str, str, str | None, list[str], str]] = {
    "true64": (X64, "8M", None, ["/bin/true"],
               "smallest dynamic program: ld.so + libc loading, brk(NULL)"),
    "py64-pass": (X64, "8M", None, ["/usr/bin/python3", "-c", "pass"],
                  "CPython start-up: many shared objects, arenas, brk"),
    "py64-alloc": (X64, "8M", None, ["/usr/bin/python3", "-c", PY_ALLOC],
                   "lists, 1 MiB and 64 MiB bytearrays, a 100k dict, frees: "
                   "mmap/munmap of large blocks, pymalloc arenas, brk growth/trim"),
    "py64-threads": (X64, "8M", None, ["/usr/bin/python3", "-c", PY_THREADS],
                     "4 threading.Threads allocating: thread stacks, per-thread "
                     "malloc arenas (64 MiB aligned reservations), munmap on exit"),
    "ls64": (X64, "8M", None, ["/bin/ls", "-la", "/usr/lib"],
             "coreutils ls: several libraries, locale, getdents buffers"),
    "pthreads64": (X64, "8M", "pthreads64", [_bin("pthreads64")],
                   "8 pthreads, malloc/free around 128 KiB: stacks+guards, "
                   "arenas, dynamic mmap threshold, joins"),
    "mmapops64": (X64, "8M", "mmapops64", [_bin("mmapops64")],
                  "mmap/munmap/mprotect/mremap/brk edge cases: MAP_FIXED splits, "
                  "MAP_FIXED_NOREPLACE EEXIST, MAP_32BIT, MAP_GROWSDOWN guard gap, "
                  "hints, 2 MiB THP alignment, mremap (in place/move/fixed/"
                  "dontunmap/dup), realloc via mremap, errors"),
    "mmapops64-stack2m": (X64, "2M", "mmapops64", [_bin("mmapops64")],
                          "mmapops64 with RLIMIT_STACK 2 MiB: gap clamped to the 128 MiB minimum "
                          "(same layout as 8 MiB)"),
    "mmapops64-stack64m": (X64, "64M", "mmapops64", [_bin("mmapops64")],
                           "mmapops64 with RLIMIT_STACK 64 MiB: still under the 128 MiB minimum "
                           "gap, same layout as 8 MiB"),
    "mmapops64-stack1g": (X64, "1G", "mmapops64", [_bin("mmapops64")],
                          "mmapops64 with RLIMIT_STACK 1 GiB: the only 64-bit rlimit here "
                          "above the 128 MiB minimum gap, so mmap_base moves"),
    "mmapops64-stackunlimited": (X64, "unlimited", "mmapops64", [_bin("mmapops64")],
                                 "mmapops64 with unlimited stack: x86 stays top-down (only "
                                 "ADDR_COMPAT_LAYOUT/legacy_va_layout select bottom-up); "
                                 "the gap is clamped to 5/6 of TASK_SIZE, mmap_base ~ TASK_SIZE/6"),
    "pthreads32": (I686, "8M", "pthreads32", [_bin("pthreads32")],
                   "pthreads program, 32-bit, top-down layout"),
    "pthreads32-3gb": (I686_3GB, "8M", "pthreads32", [_bin("pthreads32")],
                       "pthreads program, 32-bit, ADDR_LIMIT_3GB"),
    "pthreads32-legacy": (I686_L, "8M", "pthreads32", [_bin("pthreads32")],
                          "pthreads program, 32-bit, legacy bottom-up layout"),
    "mmapops32": (I686, "8M", "mmapops32", [_bin("mmapops32")],
                  "mmapops, 32-bit PIE, top-down (MAP_32BIT ignored)"),
    "mmapops32-3gb": (I686_3GB, "8M", "mmapops32", [_bin("mmapops32")],
                      "mmapops, 32-bit PIE, ADDR_LIMIT_3GB (hints/fixed at 0xc0000000 fail)"),
    "mmapops32-legacy": (I686_L, "8M", "mmapops32", [_bin("mmapops32")],
                         "mmapops, 32-bit PIE, legacy bottom-up layout"),
    "mmapops32-nopie": (I686, "8M", "mmapops32-nopie", [_bin("mmapops32-nopie")],
                        "mmapops, 32-bit non-PIE (ET_EXEC at 0x08048000), top-down"),
    "thr32-exhaust": (I686, "8M", "threxhaust32", [_bin("threxhaust32")],
                      "threads until pthread_create fails: 8 MiB stacks, 4 GiB space"),
    "thr32-exhaust-3gb": (I686_3GB, "8M", "threxhaust32", [_bin("threxhaust32")],
                          "thread exhaustion, 3 GiB address space"),
    "thr32-exhaust-legacy": (I686_L, "8M", "threxhaust32", [_bin("threxhaust32")],
                             "thread exhaustion, legacy bottom-up layout"),
    "thr32-exhaust-64m": (I686, "64M", "threxhaust32", [_bin("threxhaust32")],
                          "thread exhaustion with 64 MiB stacks"),
    "thr32-exhaust-unlimited": (I686, "unlimited", "threxhaust32", [_bin("threxhaust32")],
                                "thread exhaustion, unlimited stack: glibc falls back to 2 MiB "
                                "thread stacks; top-down from mmap_base 0x2aaaa000 (gap clamped "
                                "to 5/6 of 4 GiB) down to the bottom, then the bottom-up "
                                "fallback above mmap_base"),
    "thr32-exhaust-2m": (I686, "2M", "threxhaust32", [_bin("threxhaust32")],
                         "thread exhaustion with 2 MiB stacks, top-down layout"),
}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def parse_size(s: str) -> int | str:
    s = s.strip()
    if s.lower() in ("unlimited", "infinity", "inf"):
        return "unlimited"
    m = re.fullmatch(r"(\d+)([KkMmGg]?)(i?[Bb])?", s)
    if not m:
        raise SystemExit(f"bad --rlimit-stack {s!r}")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mult


def run_build(build: list[str]) -> None:
    """Run a gcc command; replace its -o output only if the bytes changed, so
    the binary keeps its inode (which /proc/PID/maps shows) across re-records."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    argv = list(build)
    if "-o" not in argv:
        subprocess.run(argv, check=True, cwd=REPO)
        return
    i = argv.index("-o") + 1
    target = Path(argv[i])
    tmp = target.with_name(f".{target.name}.new")
    argv[i] = str(tmp)
    subprocess.run(argv, check=True, cwd=REPO)
    if target.exists() and target.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        os.replace(tmp, target)


def resolve_program(prog: str) -> str:
    if "/" in prog:
        return os.path.abspath(prog)
    found = shutil.which(prog, path=ENV["PATH"])
    if not found:
        raise SystemExit(f"{prog}: not found in {ENV['PATH']}")
    return found


# --------------------------------------------------------------------------
# trace post-processing and checks
# --------------------------------------------------------------------------

LINE_RE = re.compile(r"^(\d+)\s+(.*)$")


def joined_calls(trace: str):
    """Yield (pid, text) for complete syscall lines, gluing
    '<unfinished ...>' / '<... NAME resumed>' pairs back together."""
    pending: dict[str, str] = {}
    for line in trace.splitlines():
        m = LINE_RE.match(line)
        if not m:
            continue
        pid, body = m.groups()
        if body.endswith(" <unfinished ...>"):
            pending[pid] = body[: -len(" <unfinished ...>")]
            continue
        r = re.match(r"<\.\.\. (\w+) resumed>(.*)$", body)
        if r:
            body = pending.pop(pid, r.group(1) + "(") + r.group(2)
        yield pid, body


CALL_RE = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\w+)(.*)$")


def _split_args(s: str) -> list[str]:
    out, depth, cur, q = [], 0, "", False
    i = 0
    while i < len(s):
        c = s[i]
        if q:
            cur += c
            if c == "\\" and i + 1 < len(s):
                cur += s[i + 1]
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q, cur = True, cur + c
        elif c in "[{(":
            depth, cur = depth + 1, cur + c
        elif c in "]})":
            depth, cur = depth - 1, cur + c
        elif c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return out


def _num(s: str) -> int:
    return int(s, 0)


def _page_up(n: int) -> int:
    return (n + 4095) & ~4095


class Ranges:
    """A set of half-open integer ranges."""

    def __init__(self):
        self.r: list[tuple[int, int]] = []

    def add(self, a: int, b: int):
        if a >= b:
            return
        new = []
        for x, y in self.r:
            if y < a or x > b:
                new.append((x, y))
            else:
                a, b = min(a, x), max(b, y)
        new.append((a, b))
        self.r = sorted(new)

    def sub(self, a: int, b: int):
        new = []
        for x, y in self.r:
            if y <= a or x >= b:
                new.append((x, y))
            else:
                if x < a:
                    new.append((x, a))
                if y > b:
                    new.append((b, y))
        self.r = new

    def minus(self, other: "Ranges") -> "Ranges":
        out = Ranges()
        out.r = list(self.r)
        for a, b in other.r:
            out.sub(a, b)
        return out

    def total(self) -> int:
        return sum(y - x for x, y in self.r)


def maps_ranges(maps: str) -> Ranges:
    rs = Ranges()
    for line in maps.splitlines():
        a, b = line.split()[0].split("-")
        rs.add(int(a, 16), int(b, 16))
    return rs


def parse_maps(maps: str) -> list[tuple[int, int, str, int, str]]:
    out = []
    for line in maps.splitlines():
        f = line.split(None, 5)
        a, b = f[0].split("-")
        out.append((int(a, 16), int(b, 16), f[1], int(f[2], 16), f[5] if len(f) > 5 else ""))
    return out


def check_consistency(trace: str, main_pid: str, initial: str, final: str) -> dict:
    """Pages the trace says are mapped at exit must be in final.maps; report
    final pages that neither initial.maps nor the trace explain."""
    mapped = Ranges()
    touched = Ranges()
    brk_lo = brk_hi = None
    counts = {"mmap": 0, "munmap": 0, "mremap": 0, "mprotect": 0, "brk": 0}
    for pid, body in joined_calls(trace):
        m = CALL_RE.match(body)
        if not m:
            continue
        name, args, ret = m.group(1), _split_args(m.group(2)), m.group(3)
        if name not in ("mmap", "mmap2", "munmap", "mremap", "brk", "mprotect"):
            continue
        counts["mmap" if name == "mmap2" else name] += 1
        if ret.startswith("-") or ret == "?":
            continue
        if name in ("mmap", "mmap2"):
            a, n = _num(ret), _page_up(_num(args[1]))
            mapped.add(a, a + n)
            touched.add(a, a + n)
        elif name == "munmap":
            a, n = _num(args[0]), _page_up(_num(args[1]))
            mapped.sub(a, a + n)
        elif name == "mremap":
            old, olen, nlen = _num(args[0]), _page_up(_num(args[1])), _page_up(_num(args[2]))
            flags = args[3]
            new = _num(ret)
            if olen and "MREMAP_DONTUNMAP" not in flags:
                mapped.sub(old, old + olen)
            mapped.add(new, new + nlen)
            touched.add(new, new + nlen)
        elif name == "brk":
            v = _num(ret)
            brk_lo = v if brk_lo is None else min(brk_lo, v)
            brk_hi = v if brk_hi is None else max(brk_hi, v)
    fin = maps_ranges(final)
    missing = mapped.minus(fin)
    explained = maps_ranges(initial)
    for a, b in touched.r:
        explained.add(a, b)
    if brk_lo is not None:
        explained.add(brk_lo & ~4095, _page_up(brk_hi))
    unexplained = fin.minus(explained)
    heap = [v for v in parse_maps(final) if v[4] == "[heap]"]
    return {
        "memory_calls": counts,
        "trace_mapped_bytes_missing_from_final": missing.total(),
        "missing_ranges": [f"{a:x}-{b:x}" for a, b in missing.r][:20],
        "final_bytes_unexplained": unexplained.total(),
        "unexplained_ranges": [f"{a:x}-{b:x}" for a, b in unexplained.r][:20],
        "final_heap": [f"{h[0]:x}-{h[1]:x}" for h in heap],
        "last_brk_range": None if brk_lo is None else [hex(brk_lo), hex(brk_hi)],
        "ok": missing.total() == 0,
    }


GDB_RE = re.compile(r"^\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)"
                    r"(?:\s+([rwxps-]{4}))?\s*(.*)$")


def parse_gdb(out: str) -> list[tuple[int, int, str | None, int, str]]:
    res = []
    for line in out.splitlines():
        m = GDB_RE.match(line)
        if m:
            res.append((int(m.group(1), 16), int(m.group(2), 16), m.group(5),
                        int(m.group(4), 16), m.group(6).strip()))
    return res


def compare_gdb(gdb_out: str, maps: str) -> list[str]:
    g = parse_gdb(gdb_out)
    k = parse_maps(maps)
    diffs = []
    if not g:
        return ["gdb printed no mappings"]
    for i in range(max(len(g), len(k))):
        a = g[i] if i < len(g) else None
        b = k[i] if i < len(k) else None
        if a is None or b is None:
            diffs.append(f"gdb {a} vs maps {b}")
            continue
        perms_ok = a[2] is None or a[2] == b[2]
        if a[0] != b[0] or a[1] != b[1] or a[3] != b[3] or not perms_ok or a[4] != b[4]:
            diffs.append(f"gdb {a[0]:x}-{a[1]:x} {a[2]} {a[3]:x} {a[4]!r} vs "
                         f"maps {b[0]:x}-{b[1]:x} {b[2]} {b[3]:x} {b[4]!r}")
    return diffs


# --------------------------------------------------------------------------
# recording
# --------------------------------------------------------------------------

def record(name: str, command: list[str], setarch: list[str], rlimit: int | str,
           out_dir: Path, build: list[str] | None = None, quiet: bool = False) -> Path:
    def say(msg: str):
        if not quiet:
            print(f"[{name}] {msg}", file=sys.stderr)

    if build:
        say("build: " + shlex.join(build))
        run_build(build)
    prog = resolve_program(command[0])
    command = [prog] + list(command[1:])
    sa = ["setarch", *setarch] if setarch else []
    limit = resource.RLIM_INFINITY if rlimit == "unlimited" else int(rlimit)

    def preexec():
        resource.setrlimit(resource.RLIMIT_STACK, (limit, resource.RLIM_INFINITY))

    tmp = Path(tempfile.mkdtemp(prefix=f"rec-{name}-"))
    try:
        say("run: " + shlex.join(sa + ["strace", "-f", "-o", "trace.txt"] + command))
        with open(tmp / "stdout", "wb") as so, open(tmp / "stderr", "wb") as se:
            try:
                run = run_traced(command, sa, rlimit_stack=limit, env=ENV, cwd=CWD,
                                 decode_fds=False, stdout=so, stderr=se, timeout=1800)
            except Exception:
                sys.stderr.write((tmp / "stderr").read_text(errors="replace")[-2000:])
                raise
        pid, rc, elapsed, trace = run.root_pid, run.exit_status, run.elapsed, run.trace
        stops = run.execs(pid)
        if not stops or pid not in run.finals():
            raise RuntimeError("missed the stop at the end of execve or at exit_group")
        init, fin = stops[0], run.finals()[pid]
        stderr = (tmp / "stderr").read_text(errors="replace")
        stdout = (tmp / "stdout").read_bytes()

        # gdb's view of the same exec
        gdb_cmd = ["gdb", "-nx", "-batch",
                   "-ex", "unset environment LINES", "-ex", "unset environment COLUMNS",
                   "-ex", "starti", "-ex", "info proc mappings", "--args"] + command
        g = subprocess.run(sa + gdb_cmd, env=ENV, cwd=CWD, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, preexec_fn=preexec)
        gdb_out = g.stdout
        gdb_diffs = compare_gdb(gdb_out, init.maps)
        if gdb_diffs:
            say(f"WARNING: gdb starti mappings differ from initial.maps ({len(gdb_diffs)}):")
            for d in gdb_diffs[:10]:
                say("   " + d)

        env_seen = dict(e.split("=", 1) for e in
                        init.environ.decode(errors="replace").split("\0") if "=" in e)
        if env_seen != ENV:
            say(f"WARNING: tracee environment {env_seen} != {ENV}")

        cons = check_consistency(trace, str(pid), init.maps, fin.maps)
        if not cons["ok"]:
            say(f"WARNING: trace/final.maps inconsistency: {cons['missing_ranges']}")

        pers = init.personality
        rl_soft = rlimit
        meta = {
            "name": name,
            "command": command,
            "setarch": list(setarch),
            "arch": "x86_64" if init.bits == 64 else "i686",
            "personality": personality_names(pers),
            "personality_raw": f"{pers:#010x}",
            "rlimit_stack": rl_soft,
            "rlimit_stack_hard": "unlimited",
            "kernel": os.uname().release,
            "machine": os.uname().machine,
            "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "env": dict(ENV),
            "cwd": CWD,
            "build": shlex.join(build) if build else None,
            "build_argv": build,
            "pid": pid,
            "exit_tid": fin.tid,
            "exit_status": rc,
            "stdout_bytes": len(stdout),
            "stdout_head": stdout[:600].decode(errors="replace"),
            "stderr": stderr[-4000:],
            "strace_command": shlex.join(sa + ["strace", "-f", "-o", "trace.txt"] + command),
            "strace_version": subprocess.run(["strace", "-V"], capture_output=True,
                                             text=True).stdout.splitlines()[0],
            "gdb_command": shlex.join(sa + gdb_cmd),
            "gdb_matches_initial_maps": not gdb_diffs,
            "gdb_differences": gdb_diffs[:20],
            "auxv": {k: (hex(v) if k not in ("AT_PAGESZ", "AT_PHENT", "AT_PHNUM", "AT_CLKTCK",
                                             "AT_UID", "AT_EUID", "AT_GID", "AT_EGID",
                                             "AT_SECURE", "AT_FLAGS", "AT_MINSIGSTKSZ",
                                             "AT_RSEQ_FEATURE_SIZE", "AT_RSEQ_ALIGN")
                         else v)
                     for k, v in init.auxv.items()},
            "stat_mm_initial": init.stat_mm,
            "stat_mm_final": fin.stat_mm,
            "vm": host_vm(),
            "consistency": cons,
            "trace_lines": trace.count("\n"),
            "method": "strace delay injection (execve exit via exec wrapper, "
                      "exit_group entry) + /proc snapshot; see tools/record.py",
            "elapsed_seconds": round(elapsed, 1),
        }
        dest = out_dir / name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "trace.txt").write_text(trace)
        (dest / "initial.maps").write_text(init.maps)
        (dest / "initial.gdb").write_text(gdb_out)
        (dest / "final.maps").write_text(fin.maps)
        (dest / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        facts, how = collect_facts(parse_strace(trace), [init.maps, fin.maps], cwd=CWD)
        (dest / "files.json").write_text(facts_json(facts, how))
        say(f"ok: {meta['trace_lines']} trace lines, exit {rc}, "
            f"{len(fin.maps.splitlines())} final VMAs, {elapsed:.1f}s"
            + (f", stderr: {stderr.strip()[-200:]}" if stderr.strip() else ""))
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def host_vm() -> dict:
    def rd(p):
        try:
            return Path(p).read_text().strip()
        except OSError:
            return None
    mem = rd("/proc/meminfo") or ""
    memtotal = next((l.split()[1] + " kB" for l in mem.splitlines()
                     if l.startswith("MemTotal:")), None)
    return {
        "overcommit_memory": rd("/proc/sys/vm/overcommit_memory"),
        "overcommit_ratio": rd("/proc/sys/vm/overcommit_ratio"),
        "mmap_min_addr": rd("/proc/sys/vm/mmap_min_addr"),
        "max_map_count": rd("/proc/sys/vm/max_map_count"),
        "transparent_hugepage": rd("/sys/kernel/mm/transparent_hugepage/enabled"),
        "randomize_va_space": rd("/proc/sys/kernel/randomize_va_space"),
        "MemTotal": memtotal,
    }


# --------------------------------------------------------------------------
# determinism check
# --------------------------------------------------------------------------

# contents that legitimately change from run to run and say nothing about memory
VOLATILE = [
    (re.compile(r'getrandom\("(?:\\x[0-9a-f]{2})*"(?:\.\.\.)?'), 'getrandom("<random>"'),
    (re.compile(r"sysinfo\(\{uptime=.*?\}\)"), "sysinfo({<volatile>})"),
    (re.compile(r"\s+=\s+"), " = "),
]


def normalize_volatile(text: str) -> str:
    for rx, rep in VOLATILE:
        text = rx.sub(rep, text)
    return text


def normalize_maps(text: str) -> str:
    """Drop the dev:inode columns (a rebuilt binary or a new shmem object gets
    a new inode; nothing else about the mapping changes)."""
    out = []
    for line in text.splitlines():
        f = line.split(None, 5)
        out.append(" ".join(f[:3] + f[5:]))
    return "\n".join(out)


PID_CALLS = ("clone", "clone3", "set_tid_address", "gettid", "getpid", "getppid",
             "fork", "vfork", "wait4", "waitid")


def _pid_sub(body: str, mapping) -> str:
    """Replace pids in the places strace prints them (not any number that
    happens to equal a pid, such as 4096)."""
    body = re.sub(r"parent_tid=\[(\d+)\]", lambda m: f"parent_tid=[{mapping(m.group(1))}]", body)
    body = re.sub(r"^(t?g?kill|tgkill|tkill)\((\d+)", lambda m: f"{m.group(1)}({mapping(m.group(2))}", body)
    name = body.split("(")[0].lstrip("<. ").split()[0] if body else ""
    if name in PID_CALLS or body.startswith(tuple(f"<... {c} resumed>" for c in PID_CALLS)):
        body = re.sub(r"= (\d+)$", lambda m: f"= {mapping(m.group(1))}", body)
    return body


def normalize_trace(text: str) -> str:
    pids: dict[str, str] = {}

    def mp(p: str) -> str:
        if p not in pids:
            pids[p] = f"<P{len(pids)}>"
        return pids[p]

    out = []
    for line in text.splitlines():
        m = LINE_RE.match(line)
        if not m:
            out.append(line)
            continue
        out.append(mp(m.group(1)) + " " + _pid_sub(m.group(2), mp))
    return "\n".join(out)


MEMORY_CALLS = ("mmap", "mmap2", "munmap", "mprotect", "mremap", "brk", "madvise",
                "clone", "clone3", "execve", "exit_group", "shmat", "shmdt")


def per_task_view(text: str, only: tuple[str, ...] | None = None) -> list[str]:
    """Each task's calls in order, tasks sorted by content (interleaving-proof)."""
    seqs: dict[str, list[str]] = {}
    for pid, body in joined_calls(text):
        if only is not None and body.split("(")[0] not in only:
            continue
        seqs.setdefault(pid, []).append(normalize_volatile(_pid_sub(body, lambda p: "<PID>")))
    return sorted("\n".join(calls) for calls in seqs.values())


def compare_recordings(a: Path, b: Path) -> dict[str, str]:
    res = {}
    for f in ("initial.maps", "final.maps"):
        ma, mb = (a / f).read_text(), (b / f).read_text()
        res[f] = ("identical" if ma == mb else
                  "identical except inode numbers" if normalize_maps(ma) == normalize_maps(mb)
                  else "DIFFERENT")
    ga = re.sub(r"^process \d+$", "process N", (a / "initial.gdb").read_text(), flags=re.M)
    gb = re.sub(r"^process \d+$", "process N", (b / "initial.gdb").read_text(), flags=re.M)
    res["initial.gdb"] = "identical" if ga == gb else "DIFFERENT"
    ta, tb = (a / "trace.txt").read_text(), (b / "trace.txt").read_text()
    if ta == tb:
        res["trace.txt"] = "identical"
    elif normalize_trace(ta) == normalize_trace(tb):
        res["trace.txt"] = "identical modulo pids"
    elif normalize_volatile(normalize_trace(ta)) == normalize_volatile(normalize_trace(tb)):
        res["trace.txt"] = "identical modulo pids and random/sysinfo bytes"
    else:
        va, vb = per_task_view(ta), per_task_view(tb)
        if va == vb:
            res["trace.txt"] = "same per-task call sequences (interleaving differs)"
        elif per_task_view(ta, MEMORY_CALLS) == per_task_view(tb, MEMORY_CALLS):
            la, lb = "\n".join(va).splitlines(), "\n".join(vb).splitlines()
            other = sorted({l.split("(")[0].lstrip("-+") for l in
                            difflib.unified_diff(la, lb, lineterm="", n=0)
                            if l[:1] in "+-" and not l.startswith(("+++", "---", "@@"))})
            res["trace.txt"] = ("same per-task memory calls; interleaving and "
                                f"{'/'.join(other)} calls differ")
        else:
            la, lb = "\n".join(va).splitlines(), "\n".join(vb).splitlines()
            n = sum(1 for l in difflib.unified_diff(la, lb, lineterm="", n=0)
                    if l[:1] in "+-" and not l.startswith(("+++", "---")))
            res["trace.txt"] = (f"DIFFERENT ({n} changed per-task calls; "
                                f"{ta.count(chr(10))} vs {tb.count(chr(10))} lines)")
    ma, mb = json.loads((a / "meta.json").read_text()), json.loads((b / "meta.json").read_text())
    skip = {"recorded", "pid", "exit_tid", "elapsed_seconds", "trace_lines"}
    dm = [k for k in set(ma) | set(mb) if k not in skip and ma.get(k) != mb.get(k)]
    res["meta.json"] = "identical (except pid/date/timing/line count)" if not dm else f"DIFFERENT: {sorted(dm)}"
    return res


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def record_fixture(name: str, out_dir: Path, quiet: bool = False) -> Path:
    sa, rl, bkey, cmd, _ = FIXTURES[name]
    return record(name, cmd, shlex.split(sa), parse_size(rl), out_dir,
                  build=B[bkey] if bkey else None, quiet=quiet)


def recorder_line(name: str) -> str:
    sa, rl, bkey, cmd, _ = FIXTURES[name]
    parts = ["python", "tools/record.py", "--name", name, "--setarch", sa,
             "--rlimit-stack", rl]
    if bkey:
        parts += ["--build", shlex.join(B[bkey])]
    return shlex.join(parts + ["--"] + cmd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name")
    ap.add_argument("--setarch", default=f"{os.uname().machine} -R",
                    help='setarch arguments, e.g. "i686 -R --3gb" (default: "%(default)s")')
    ap.add_argument("--rlimit-stack", default="8M",
                    help="soft RLIMIT_STACK: 8M, 64M, unlimited, or bytes (default 8M)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--build", help="shell-quoted build command run in the repo root first")
    ap.add_argument("--all", action="store_true", help="record every fixture in the table")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="with --all/--verify: subset")
    ap.add_argument("--verify", action="store_true",
                    help="re-record fixtures into a temp dir and compare with --out")
    ap.add_argument("--list", action="store_true", help="print the fixture table")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command

    if a.list:
        for n in FIXTURES:
            print(recorder_line(n))
        return 0
    names = a.only or list(FIXTURES)
    for n in names:
        if (a.all or a.verify) and n not in FIXTURES:
            raise SystemExit(f"unknown fixture {n}")
    if a.verify:
        bad = 0
        with tempfile.TemporaryDirectory(prefix="rec-verify-") as td:
            for n in names:
                record_fixture(n, Path(td), quiet=True)
                res = compare_recordings(a.out / n, Path(td) / n)
                flag = any("DIFFERENT" in v for v in res.values())
                bad += flag
                print(f"{n:28s} " + "; ".join(f"{k}: {v}" for k, v in res.items()))
        return 1 if bad else 0
    if a.all:
        for n in names:
            record_fixture(n, a.out)
        return 0
    if not a.name or not cmd:
        ap.error("--name and a command (after --) are required, or use --all")
    record(a.name, cmd, shlex.split(a.setarch), parse_size(a.rlimit_stack), a.out,
           build=shlex.split(a.build) if a.build else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
