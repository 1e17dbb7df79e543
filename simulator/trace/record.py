"""Record a program for replay: run it under ``strace -f`` with ASLR off and a chosen
personality, and take the kernel's own maps at every exec and at every process's exit.

This runs programs on this machine, so it sits on the host side of the trace layer: it needs
the strace format (:mod:`simulator.trace.strace`) to read back what it recorded, and
:mod:`simulator.host.files` for the facts of the files the program mapped.

How the maps are taken from the traced processes themselves: strace is the only tracer, and
its tampering delays park a tracee in a ptrace stop while this module reads /proc/PID/maps.

* ``-e inject=exit_group:delay_enter=2s`` parks every process on entry to exit_group, after
  its last memory call and before the kernel tears anything down.
* ``-e inject=execve:delay_exit=1s`` parks every process at the end of each execve. strace
  does not tamper with the first execve of the command it starts, so it starts a 13-instruction
  static wrapper that only does ``execve(argv[1], &argv[2], envp)``; the program's execve is
  the second one and is delayed. The wrapper's execve line is removed from the log and the
  `` (DELAYED)`` suffix strace appends to delayed execve results is stripped; nothing else
  is edited.
* A stop is recognised from /proc/PID/task/TID/{stat,syscall,status}: state ``t``, the syscall
  number of execve or exit_group for the task's ELF class, and unchanged context-switch
  counters over at least :data:`STABLE` seconds (strace's own syscall stops last
  microseconds; the delayed ones a second or more).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

from simulator.trace.recording import collect_facts, facts_json, write_text
from simulator.trace.strace import ProcessEvent, parse_strace

#: syscall numbers (execve, exit_group) by ELF class.
SYSNR = {64: (59, 231), 32: (11, 252)}
EXECVE_DELAY = "1s"
EXIT_DELAY = "2s"
#: How long a stop must last to be a delayed one (seconds).
STABLE = 0.15

PERSONALITY_FLAGS = [
    (0x0020000, "UNAME26"), (0x0040000, "ADDR_NO_RANDOMIZE"), (0x0080000, "FDPIC_FUNCPTRS"),
    (0x0100000, "MMAP_PAGE_ZERO"), (0x0200000, "ADDR_COMPAT_LAYOUT"),
    (0x0400000, "READ_IMPLIES_EXEC"), (0x0800000, "ADDR_LIMIT_32BIT"),
    (0x1000000, "SHORT_INODE"), (0x2000000, "WHOLE_SECONDS"), (0x4000000, "STICKY_TIMEOUTS"),
    (0x8000000, "ADDR_LIMIT_3GB"),
]
PERSONA_BASE = {0x0000: "PER_LINUX", 0x0008: "PER_LINUX32"}

AUXV_NAMES = {
    3: "AT_PHDR", 4: "AT_PHENT", 5: "AT_PHNUM", 6: "AT_PAGESZ", 7: "AT_BASE", 8: "AT_FLAGS",
    9: "AT_ENTRY", 11: "AT_UID", 12: "AT_EUID", 13: "AT_GID", 14: "AT_EGID", 15: "AT_PLATFORM",
    16: "AT_HWCAP", 17: "AT_CLKTCK", 23: "AT_SECURE", 24: "AT_BASE_PLATFORM", 25: "AT_RANDOM",
    26: "AT_HWCAP2", 27: "AT_RSEQ_FEATURE_SIZE", 28: "AT_RSEQ_ALIGN", 31: "AT_EXECFN",
    32: "AT_SYSINFO", 33: "AT_SYSINFO_EHDR", 51: "AT_MINSIGSTKSZ",
}
#: 1-based field numbers of the mm fields in /proc/PID/stat (proc(5)).
STAT_MM_FIELDS = {
    26: "startcode", 27: "endcode", 28: "startstack", 45: "start_data", 46: "end_data",
    47: "start_brk", 48: "arg_start", 49: "arg_end", 50: "env_start", 51: "env_end",
}

WRAPPER_ASM = r"""
    .globl _start
    .text
_start:                         # execve(argv[1], &argv[2], envp); exit_group(-ret)
    mov (%rsp), %rdi            # argc
    lea 8(%rsp), %rsi           # argv
    lea 8(%rsi,%rdi,8), %rdx    # envp = argv + argc + 1
    mov 8(%rsi), %rdi           # argv[1]: the program's path
    add $16, %rsi               # &argv[2]: its argv, argv[0] as the user wrote it
    mov $59, %eax
    syscall
    mov %eax, %edi
    neg %edi
    mov $231, %eax
    syscall
"""

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_EXECVE_LINE = re.compile(r"^\d+\s+(?:execve\(|<\.\.\. execve resumed>).*\)\s+= .* \(DELAYED\)$")


class RecordError(Exception):
    """Recording failed (no strace, the program never started, a stop was missed)."""


@attrs.frozen
class Stop:
    """The state of one process parked at the end of an execve or on entry to exit_group."""

    kind: str          # "execve" or "exit_group"
    pid: int
    tid: int
    exe: str
    bits: int
    maps: str
    personality: int
    auxv: dict
    stat_mm: dict
    environ: bytes
    #: /proc/PID/status ids and capability sets, /proc/PID/limits (see :func:`task_creds`).
    creds: dict = attrs.field(factory=dict)
    rlimits: dict = attrs.field(factory=dict)


@attrs.frozen
class Run:
    """What one traced run left: the log (wrapper line removed) and every stop, in order."""

    trace: str
    root_pid: int
    stops: tuple[Stop, ...]
    exit_status: int
    elapsed: float

    def execs(self, pid: int) -> list[Stop]:
        return [s for s in self.stops if s.pid == pid and s.kind == "execve"]

    def finals(self) -> dict[int, Stop]:
        return {s.pid: s for s in self.stops if s.kind == "exit_group"}


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def elf_class(path: str) -> int:
    with open(path, "rb") as f:
        header = f.read(5)
    return 64 if header[4:5] == b"\x02" else 32


def personality_names(value: int) -> list[str]:
    names = [PERSONA_BASE.get(value & 0xFF, f"PER_{value & 0xFF:#x}")]
    return names + [name for bit, name in PERSONALITY_FLAGS if value & bit]


def parse_auxv(raw: bytes, bits: int) -> dict[str, int]:
    fmt = "<QQ" if bits == 64 else "<II"
    size = struct.calcsize(fmt)
    out: dict[str, int] = {}
    for i in range(0, len(raw) - size + 1, size):
        key, value = struct.unpack_from(fmt, raw, i)
        if key == 0:
            break
        out[AUXV_NAMES.get(key, f"AT_{key}")] = value
    return out


#: /proc/PID/limits lists the limits in resource order (fs/proc/base.c lnames).
_LIMIT_NAMES = ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
                "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",
                "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
                "RLIMIT_RTPRIO", "RLIMIT_RTTIME")


def task_creds(status: str) -> dict:
    """The ``Uid:``/``Gid:`` (real, effective, saved, fs), ``Groups:`` and ``Cap*:`` lines of
    /proc/PID/status (fs/proc/array.c task_state, task_cap)."""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    out: dict = {}
    for key, name in (("Uid", "uid"), ("Gid", "gid"), ("Groups", "groups")):
        if key in fields:
            out[name] = [int(v) for v in fields[key].split()]
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd"):
        if key in fields:
            out[key] = hex(int(fields[key], 16))
    return out


def task_rlimits(limits: str) -> dict:
    """/proc/PID/limits as ``{"RLIMIT_STACK": [soft, hard], ...}`` ("unlimited" kept)."""
    out = {}
    for name, line in zip(_LIMIT_NAMES, limits.splitlines()[1:]):
        values = line[26:].split()[:2]
        if len(values) == 2:
            out[name] = [v if v == "unlimited" else int(v) for v in values]
    return out


def stat_mm(pid: int) -> dict[str, str]:
    stat = _read(f"/proc/{pid}/stat")
    fields = ["pid", "comm"] + stat[stat.rindex(")") + 2:].split()
    return {name: hex(int(fields[n - 1])) for n, name in STAT_MM_FIELDS.items()}


def _task_state(pid: int, tid: int) -> tuple[str, str, str]:
    base = f"/proc/{pid}/task/{tid}"
    stat = _read(f"{base}/stat")
    status = _read(f"{base}/status")
    switches = " ".join(l.split()[1] for l in status.splitlines() if "ctxt_switches" in l)
    return stat[stat.rindex(")") + 2], _read(f"{base}/syscall").strip(), switches


def _descendants(root: int) -> list[int]:
    """Processes below ``root`` (every task's children)."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                kids = _read(f"/proc/{pid}/task/{tid}/children").split()
            except OSError:
                continue
            for kid in kids:
                found.append(int(kid))
                queue.append(int(kid))
    return found


class _Watcher:
    """Polls the traced processes and snapshots each delayed stop once."""

    def __init__(self, strace_pid: int, wrapper: str):
        self.strace_pid = strace_pid
        self.wrapper = wrapper
        self.stops: list[Stop] = []
        self.pending: dict[tuple[int, int], tuple[tuple, float]] = {}
        self.taken: set[tuple[int, int, tuple]] = set()
        self.rounds = 0

    def poll(self) -> None:
        self.rounds += 1
        for pid in _descendants(self.strace_pid):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if exe == self.wrapper:
                continue
            try:
                bits = elf_class(f"/proc/{pid}/exe")
                tids = [pid]
                tasks = os.listdir(f"/proc/{pid}/task")
                if len(tasks) <= 64 or self.rounds % 8 == 0:
                    tids += [int(t) for t in tasks if int(t) != pid]
                for tid in tids:
                    self._check(pid, tid, exe, bits)
            except OSError:
                continue

    def _check(self, pid: int, tid: int, exe: str, bits: int) -> None:
        state = _task_state(pid, tid)
        numbers = SYSNR[bits]
        if state[0] != "t" or state[1].split()[0] not in (str(numbers[0]), str(numbers[1])):
            self.pending.pop((pid, tid), None)
            return
        if (pid, tid, state) in self.taken:
            return
        seen = self.pending.get((pid, tid))
        now = time.monotonic()
        if seen is None or seen[0] != state:
            self.pending[(pid, tid)] = (state, now)
            return
        if now - seen[1] < STABLE:
            return
        maps = _read(f"/proc/{pid}/maps")
        stop = Stop("execve" if state[1].split()[0] == str(numbers[0]) else "exit_group",
                    pid, tid, exe, bits, maps, int(_read(f"/proc/{pid}/personality"), 16),
                    parse_auxv(_read_bytes(f"/proc/{pid}/auxv"), bits), stat_mm(pid),
                    _read_bytes(f"/proc/{pid}/environ"),
                    task_creds(_read(f"/proc/{pid}/status")),
                    task_rlimits(_read(f"/proc/{pid}/limits")))
        if _task_state(pid, tid) == state:
            self.taken.add((pid, tid, state))
            self.stops.append(stop)


def build_wrapper(directory: str) -> str:
    """The static exec wrapper (x86-64; it execs 32-bit programs as well)."""
    source = os.path.join(directory, "execwrap.S")
    binary = os.path.join(directory, "execwrap")
    with open(source, "w") as f:
        f.write(WRAPPER_ASM)
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", binary, source], check=True)
    return binary


def setarch_args(*, arch32: bool = False, addr_3gb: bool = False,
                 legacy: bool = False) -> list[str]:
    """``setarch ARCH -R [--3gb] [-L]``: ASLR off, and the chosen personality."""
    args = ["setarch", "i686" if arch32 else os.uname().machine, "-R"]
    return args + (["--3gb"] if addr_3gb else []) + (["-L"] if legacy else [])


def resolve_program(program: str, path: str | None) -> str:
    """The program's path as execve gets it (PATH searched as execvp does)."""
    if "/" in program:
        found = os.path.abspath(program)
        if not (os.path.isfile(found) and os.access(found, os.X_OK)):
            raise RecordError("not an executable file")
        return found
    found = shutil.which(program, path=path)
    if not found:
        raise RecordError("not found in PATH")
    return found


def fix_trace(text: str, wrapper: str) -> tuple[str, int]:
    """Remove the wrapper's execve line and the " (DELAYED)" marks on execve results."""
    lines = text.splitlines(keepends=True)
    m = _LINE.match(lines[0]) if lines else None
    if not m or not m.group(2).startswith(f'execve("{wrapper}"'):
        raise RecordError(f"unexpected first trace line: {lines[:1]!r}")
    del lines[0]
    fixed = [l.rstrip("\n").removesuffix(" (DELAYED)") + "\n"
             if _EXECVE_LINE.search(l) else l for l in lines]
    return "".join(fixed), int(m.group(1))


def run_traced(command: list[str], setarch: list[str], *, rlimit_stack: int | None = None,
               env: dict | None = None, cwd: str | None = None, decode_fds: bool = True,
               stdout=None, stderr=None, timeout: float = 3600) -> Run:
    """Run ``command`` under ``setarch ... strace -f`` and snapshot every delayed stop.

    ``rlimit_stack``: soft RLIMIT_STACK in bytes (None: inherited; resource.RLIM_INFINITY
    for unlimited), hard unlimited. ``decode_fds`` adds strace's ``-y`` (the path behind
    every descriptor, as the kernel resolved it).
    """
    if shutil.which("strace") is None:
        raise RecordError("strace is not installed")
    env = dict(os.environ if env is None else env)
    program = resolve_program(command[0], env.get("PATH"))
    with tempfile.TemporaryDirectory(prefix="vasim-record-") as tmp:
        wrapper = build_wrapper(tmp)
        log = os.path.join(tmp, "trace.raw")
        argv = setarch + ["strace", "-f", *(["-y"] if decode_fds else []), "-o", log,
                          "-e", f"inject=execve:delay_exit={EXECVE_DELAY}",
                          "-e", f"inject=exit_group:delay_enter={EXIT_DELAY}",
                          wrapper, program, *command]

        def limits():
            if rlimit_stack is not None:
                resource.setrlimit(resource.RLIMIT_STACK,
                                   (rlimit_stack, resource.RLIM_INFINITY))

        start = time.monotonic()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr, preexec_fn=limits)
        watcher = _Watcher(proc.pid, os.path.realpath(wrapper))
        try:
            while proc.poll() is None:
                if time.monotonic() - start > timeout:
                    raise RecordError(f"still running after {timeout:.0f} s")
                watcher.poll()
                time.sleep(0.002)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        elapsed = time.monotonic() - start
        try:
            raw = _read(log)
        except OSError:
            raise RecordError(f"strace wrote no log (exit status {proc.returncode})") from None
    trace, root = fix_trace(raw, wrapper)
    return Run(trace, root, tuple(watcher.stops), proc.returncode, elapsed)


_EXECVE_RESULT = re.compile(r"^(\d+)\s+(?:execve\(.*|<\.\.\. execve resumed>.*)\)\s+= (-?\d+)")


def execve_results(trace: str) -> dict[int, list[bool]]:
    """For each pid, whether each of its execve calls succeeded, in order."""
    results: dict[int, list[bool]] = {}
    for line in trace.splitlines():
        m = _EXECVE_RESULT.match(line)
        if m:
            results.setdefault(int(m.group(1)), []).append(m.group(2) == "0")
    return results


def maps_files(run: Run) -> tuple[dict[str, str], list[str]]:
    """The maps a run took, by file name: ``initial.maps`` (the first program at the end of
    its execve), ``exec-PID-K.maps`` (every later successful execve, K counting that pid's
    programs from 1), ``final.maps`` (the first process on entry to exit_group) and
    ``final-PID.maps`` (every other process); and the notes on stops that could not be
    matched with the trace."""
    out: dict[str, str] = {}
    notes: list[str] = []
    results = execve_results(run.trace)
    for pid in sorted({s.pid for s in run.stops}):
        stops = run.execs(pid)
        ok = results.get(pid, [])
        if len(ok) != len(stops):
            notes.append(f"pid {pid}: {len(ok)} execve lines but {len(stops)} stops; "
                         "its exec maps are left out")
            continue
        programs = [stop for stop, success in zip(stops, ok) if success]
        for k, stop in enumerate(programs, 1):
            name = "initial.maps" if (pid, k) == (run.root_pid, 1) else f"exec-{pid}-{k}.maps"
            out[name] = stop.maps
    for pid, stop in run.finals().items():
        out["final.maps" if pid == run.root_pid else f"final-{pid}.maps"] = stop.maps
    return out, notes


def write_recording(run: Run, directory, meta: dict, *, cwd: str) -> dict:
    """Write a recording directory (see :mod:`simulator.trace.recording`) and return its
    meta. The file facts are read from this machine now, right after the run."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    maps, notes = maps_files(run)
    trace = parse_strace(run.trace, str(directory / "trace.txt"))
    files, how = collect_facts(trace, maps.values(), cwd=cwd)
    written = [write_text(directory / "trace.txt", run.trace).name]
    for name, text in sorted(maps.items()):
        written.append(write_text(directory / name, text).name)
    (directory / "files.json").write_text(facts_json(files, how))
    root = next((s for s in run.stops if s.pid == run.root_pid and s.kind == "execve"), None)
    processes = sorted({run.root_pid} | {p for p, r in execve_results(run.trace).items() if any(r)}
                       | {e.child for e in trace.events
                          if isinstance(e, ProcessEvent) and not e.shares_vm}
                       | set(run.finals()))
    meta = dict(meta)
    meta.update({
        "pid": run.root_pid,
        "arch": ("x86_64" if root.bits == 64 else "i686") if root else None,
        "personality": personality_names(root.personality) if root else None,
        "personality_raw": f"{root.personality:#010x}" if root else None,
        "auxv": {k: hex(v) for k, v in root.auxv.items()} if root else None,
        "stat_mm_initial": root.stat_mm if root else None,
        "creds": root.creds if root else None,
        "rlimits": root.rlimits if root else None,
        "kernel": os.uname().release,
        "machine": os.uname().machine,
        "exit_status": run.exit_status,
        "processes": processes,
        "no_final_maps": [p for p in processes if p not in run.finals()],
        "notes": notes,
        "files": written + ["files.json", "meta.json"],
        "elapsed_seconds": round(run.elapsed, 1),
    })
    (directory / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta
