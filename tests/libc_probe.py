"""Real side of the libc differential tests: build and run the libc probe under strace.

The probe (``tests/probe/libcprobe.c``) interprets a script of glibc operations
(malloc/calloc/realloc/free, pthread create/exit/join/detach), possibly spread over
several threads that run strictly one at a time in script order, and writes an
``OP i ...`` line before and a ``RET i ...`` line after every op with write(2).
Run under ``strace -f``, those writes delimit the system calls glibc made for each
op.  The probe never calls malloc or stdio itself and keeps all its state static,
so the only mallocs are the scripted ones and glibc's own (DTV, tcache, arenas).
Import-safe without pytest.

Script syntax (one op per line; ``T`` is the executing thread, 0 = main thread;
numbers decimal or 0x-hex; see libcprobe.c for details)::

    T create N [STACKSIZE GUARDSIZE]      pthread_create of thread N (NULL attr, or an attr
                                          with pthread_attr_setstacksize/setguardsize);
                                          the op ends once N has started; N then waits
    T createmany COUNT [STACKSIZE GUARDSIZE]   create anonymous threads until COUNT or an
                                          error; they block forever in pause()
    T malloc ID SIZE                      ID: any token naming a pointer slot (0, 17, a, ...)
    T calloc ID SIZE                      calloc(1, SIZE)
    T realloc ID SIZE                     slot = realloc(slot, SIZE) (kept if NULL and SIZE>0)
    T free ID                             free(slot); slot = NULL
    N exit                                thread N returns from its start routine (stays
                                          joinable); the op ends when the thread is gone
    T join N                              pthread_join (N must have exited, or be detached)
    T detach N                            pthread_detach
    T mark                                no-op

Results (:attr:`LibcRun.results`, one string per op): malloc/calloc/realloc the pointer
as ``0x...`` (``0x0`` for NULL); create/join/detach ``0`` or the errno name
(``EAGAIN``, ``EINVAL``, ...; a failing setstacksize/setguardsize is create's result);
createmany ``"<count> <0|errno name>"``; free/exit/mark ``ok``.

How it is run (:func:`run_libc_probe`)::

    strace -f -qq -s 256 -o TRACE -e trace=memory,write,clone,clone3,execve \\
        setarch ARGS... libcprobe SCRIPT

with RLIMIT_STACK set in the child before exec (inherited by setarch and the probe),
the fixed environment :data:`kernel_probe.DEFAULT_ENV`, and a new session so a timeout
kills the whole process group.  The probe's stdout (the OP/RET lines, then ``DONE``)
gives the results; the strace log is returned verbatim as :attr:`LibcRun.trace_text`.
``execve`` is traced only so that :func:`split_by_op` can drop what setarch did before
it exec'd the probe (setarch loads locale files).  ``-s 256`` keeps the marker strings
whole.  ``-qq`` drops the ``+++ exited ...`` lines.

strace 6.1's ``memory`` class (checked on this machine, x86_64 and i386 personalities):
brk, mmap, mmap2 (i386; also old_mmap printed as ``mmap``), munmap, mprotect, mremap,
madvise, mincore, mlock, mlock2, munlock, mlockall, munlockall, msync, remap_file_pages,
mbind, get_mempolicy, set_mempolicy, set_mempolicy_home_node, migrate_pages, move_pages,
pkey_mprotect, shmat, shmdt.  Not in it: pkey_alloc/pkey_free, process_madvise,
process_mrelease, memfd_create, memfd_secret, userfaultfd, shmget.  Syscalls newer than
strace 6.1 (cachestat, map_shadow_stack, mseal) are printed as ``syscall_0x1c3(...)`` etc.
under any filter.  All of these stay in the trace; :func:`split_by_op` keeps
:data:`SPLIT_CALLS` (mmap, mmap2, munmap, mprotect, mremap, brk, madvise) by default.

:func:`split_by_op` groups the memory-call lines by the op whose ``OP i`` marker write
came last before them (``None``: calls after the probe's execve and before op 0, i.e.
ld.so's and libc's own startup).  ``<unfinished ...>`` / ``<... NAME resumed>`` halves
are joined per (pid, name) into one line, placed where the call completed (the order
:func:`simulator.trace.strace.parse_strace` uses).  The lines keep their ``PID  ``
prefix; :func:`strip_pid` removes it.  ``parse_strace("\\n".join(lines))`` decodes the
mmap/munmap/mprotect/mremap/brk lines of a group (it ignores madvise; use
:func:`parse_madvise`).

glibc behaviour worth knowing when reading the groups: the thread that runs ``exit``
madvise(MADV_DONTNEED)s its stack below the current frame before it dies; stacks of
joined or detached threads go to glibc's stack cache and are reused by later creates
(no mmap); a free of an mmapped chunk raises malloc's dynamic mmap threshold.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import kernel_probe
from kernel_probe import DEFAULT_ENV, ProbeError, ProbeUnavailable

__all__ = [
    "LIBC_PROBE_SOURCE",
    "STRACE_MEMORY_CLASS",
    "SPLIT_CALLS",
    "LibcRun",
    "ProbeUnavailable",
    "ProbeError",
    "build_libc_probe",
    "run_libc_probe",
    "parse_probe_stdout",
    "split_by_op",
    "strip_pid",
    "parse_madvise",
]

LIBC_PROBE_SOURCE = Path(__file__).resolve().parent / "probe" / "libcprobe.c"

#: What ``strace -e trace=memory`` traces here (strace 6.1), see the module docstring.
STRACE_MEMORY_CLASS = frozenset({
    "brk", "mmap", "mmap2", "munmap", "mprotect", "mremap", "madvise", "mincore", "mlock",
    "mlock2", "munlock", "mlockall", "munlockall", "msync", "remap_file_pages", "mbind",
    "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages",
    "move_pages", "pkey_mprotect", "shmat", "shmdt",
})

#: The calls :func:`split_by_op` keeps by default.
SPLIT_CALLS = frozenset({"mmap", "mmap2", "munmap", "mprotect", "mremap", "brk", "madvise"})

_STRACE_TRACE = "memory,write,clone,clone3,execve"


@dataclasses.dataclass(frozen=True)
class LibcRun:
    #: the argv that was executed (strace ... setarch ... libcprobe SCRIPT)
    command: tuple[str, ...]
    #: the op lines as given to run_libc_probe
    ops: tuple[str, ...]
    #: the strace log, verbatim (``PID  call(...) = ret`` lines)
    trace_text: str
    #: the RET value of every op, e.g. "0x7ffff759f010", "0", "EAGAIN", "3 0", "ok"
    results: list[str]

    def by_op(self, names: Iterable[str] = SPLIT_CALLS) -> dict[int | None, list[str]]:
        """:func:`split_by_op` of this run's trace."""
        return split_by_op(self.trace_text, names)


# ----------------------------------------------------------------------------- build

_build_lock = threading.Lock()
_build_cache: dict[tuple[int, str, str], Path] = {}


def build_libc_probe(bits: int, workdir: Path) -> Path:
    """Compile libcprobe.c (``gcc [-m32] -O1 -pthread``, default PIE) into ``workdir``.

    Returns ``workdir/libcprobe64`` or ``workdir/libcprobe32``.  Cached per process and
    on disk (``.sha256`` stamp of the source).  Raises :class:`ProbeUnavailable` without
    gcc or without working 32-bit multilib/IA32 emulation.
    """
    if bits not in (32, 64):
        raise ValueError(f"bits must be 32 or 64, not {bits!r}")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(LIBC_PROBE_SOURCE.read_bytes()).hexdigest()[:16]
    key = (bits, str(workdir), digest)
    with _build_lock:
        cached = _build_cache.get(key)
        if cached is not None and cached.exists():
            return cached
        gcc = kernel_probe._gcc()
        if bits == 32:
            kernel_probe._check_m32(gcc, workdir)
        out = workdir / f"libcprobe{bits}"
        stamp = workdir / f"libcprobe{bits}.sha256"
        fresh = out.exists() and stamp.exists() and stamp.read_text().strip() == digest
        if not fresh:
            tmp = workdir / f".libcprobe{bits}.{os.getpid()}.tmp"
            cmd = [gcc, *(["-m32"] if bits == 32 else []), "-O1", "-pthread", "-o", str(tmp),
                   str(LIBC_PROBE_SOURCE)]
            cp = subprocess.run(cmd, capture_output=True, text=True)
            if cp.returncode != 0:
                if bits == 32:
                    raise ProbeUnavailable("gcc -m32 failed to build the libc probe: "
                                           + cp.stderr.strip()[-1000:])
                raise ProbeError(f"{' '.join(cmd)} failed:\n{cp.stderr}")
            os.replace(tmp, out)
            stamp.write_text(digest + "\n")
        _build_cache[key] = out
        return out


# ----------------------------------------------------------------------------- run

def run_libc_probe(
    binary: Path,
    ops: Sequence[str],
    *,
    setarch: Sequence[str],
    rlimit_stack: int | None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> LibcRun:
    """Run the libc probe on ``ops`` under strace; see the module docstring.

    ``setarch`` is the setarch argument list, e.g. ``["x86_64", "-R"]`` or
    ``["i686", "-R", "--3gb"]``; ``rlimit_stack`` the RLIMIT_STACK soft limit in bytes
    (or ``resource.RLIM_INFINITY``; None keeps the inherited one); ``env`` defaults to
    :data:`kernel_probe.DEFAULT_ENV`.  Raises :class:`ProbeUnavailable` without strace or
    setarch, or when ptrace or the personality is not allowed; :class:`ProbeError` when
    the probe fails, times out or prints something unexpected.
    """
    strace = shutil.which("strace")
    if strace is None:
        raise ProbeUnavailable("strace not found on PATH")
    setarch_exe = shutil.which("setarch")
    if setarch_exe is None:
        raise ProbeUnavailable("setarch (util-linux) not found on PATH")
    for i, op in enumerate(ops):
        if "\n" in op or not op.strip() or op.lstrip().startswith("#"):
            raise ValueError(f"op {i} is not a single op line: {op!r}")
    run_env = dict(DEFAULT_ENV if env is None else env)
    binary = Path(binary).resolve()
    with tempfile.TemporaryDirectory(prefix="vasim-libcprobe-") as td:
        script = Path(td, "script")
        script.write_text("".join(op.strip() + "\n" for op in ops))
        trace_path = Path(td, "trace")
        cmd = (strace, "-f", "-qq", "-s", "256", "-o", str(trace_path), "-e",
               f"trace={_STRACE_TRACE}", setarch_exe, *setarch, str(binary), str(script))
        proc = subprocess.Popen(cmd, env=run_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=kernel_probe._set_rlimit_stack(rlimit_stack),
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            raise ProbeError(f"libc probe timed out after {timeout}s: {' '.join(cmd)}") from exc
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        trace_text = (trace_path.read_text(encoding="utf-8", errors="surrogateescape")
                      if trace_path.exists() else "")
    stderr = err.decode(errors="replace")
    if proc.returncode != 0:
        if "ptrace" in stderr and ("Operation not permitted" in stderr or "EPERM" in stderr):
            raise ProbeUnavailable(f"strace cannot trace here: {stderr.strip()[-500:]}")
        if "setarch" in stderr and ("failed to set personality" in stderr
                                    or "Operation not permitted" in stderr):
            raise ProbeUnavailable(f"setarch {' '.join(setarch)} does not work here: {stderr.strip()}")
        raise ProbeError(f"libc probe exited with status {proc.returncode}: {' '.join(cmd)}\n{stderr}")
    results = parse_probe_stdout(out.decode(errors="surrogateescape"), ops)
    return LibcRun(tuple(cmd), tuple(ops), trace_text, results)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the session we started (strace, and the tracees it would otherwise detach)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


_OP_RE = re.compile(r"^OP (\d+) (\S.*)$")
_RET_RE = re.compile(r"^RET (\d+) (\S.*)$")


def parse_probe_stdout(text: str, ops: Sequence[str] = ()) -> list[str]:
    """The RET values of the probe's stdout (``OP i ...`` / ``RET i ...`` pairs, then DONE)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    results: list[str] = []
    pos = 0

    def fail(msg: str) -> ProbeError:
        ctx = "\n".join(lines[max(0, pos - 3):pos + 3])
        return ProbeError(f"unparseable libc probe output at line {pos + 1}: {msg}\n{ctx}")

    while True:
        if pos >= len(lines):
            raise fail("missing DONE (probe output truncated?)")
        if lines[pos] == "DONE":
            pos += 1
            break
        m = _OP_RE.match(lines[pos])
        if not m or int(m.group(1)) != len(results):
            raise fail(f"expected OP {len(results)}")
        if ops and len(results) < len(ops) and m.group(2) != " ".join(ops[len(results)].split()):
            raise fail(f"op {len(results)} echoed as {m.group(2)!r}, given {ops[len(results)]!r}")
        pos += 1
        r = _RET_RE.match(lines[pos]) if pos < len(lines) else None
        if not r or int(r.group(1)) != len(results):
            raise fail(f"expected RET {len(results)}")
        results.append(r.group(2))
        pos += 1
    if pos != len(lines):
        raise fail("trailing output after DONE")
    if ops and len(ops) != len(results):
        raise ProbeError(f"{len(ops)} ops given but the probe reported {len(results)}")
    return results


# ----------------------------------------------------------------------------- split

# "PID  " (-f -o) or "[pid PID] " (-f on a terminal), then the call or its resumption.
_LINE_RE = re.compile(
    r"^(?P<lead>(?:\[pid\s+\d+\]\s+|\d+\s+)?)"
    r"(?:<\.\.\.\s(?P<rname>\w+)\sresumed>(?P<rtail>.*)|(?P<name>\w+)\((?P<args>.*))$"
)
_PID_RE = re.compile(r"^(?:\[pid\s+(\d+)\]|(\d+))\s+")
_UNFINISHED = " <unfinished ...>"
_MARKER_RE = re.compile(r'^write\(1, "OP (\d+) ')
_EXECVE_OK_RE = re.compile(r"^execve\(.*\)\s+=\s+0\s*$")


def split_by_op(trace_text: str, names: Iterable[str] = SPLIT_CALLS) -> dict[int | None, list[str]]:
    """Group the lines of the calls in ``names`` by the op during which they completed.

    Keys: ``None`` for the calls after the probe's execve (the last successful one in the
    log; everything if there is none) and before the first ``OP`` marker, then each op
    index that was reached (every op gets a key, possibly with an empty list).  Split
    ``<unfinished ...>``/``<... resumed>`` calls are joined into one line with the pid
    prefix of the first half.  See the module docstring.
    """
    wanted = frozenset(names)
    records: list[tuple[str, str, str]] = []  # (lead, name, full call text), completion order
    pending: dict[tuple[str, str], tuple[str, str]] = {}
    last_execve = 0
    for raw in trace_text.split("\n"):
        m = _LINE_RE.match(raw.rstrip())
        if m is None:
            continue
        lead = m.group("lead")
        pid = _pid_key(lead)
        if m.group("rname") is not None:
            name = m.group("rname")
            start = pending.pop((pid, name), None)
            if start is None:
                continue
            lead, head = start
            body = head + m.group("rtail")
        else:
            name = m.group("name")
            body = f"{name}({m.group('args')}"
        if body.endswith(_UNFINISHED):
            pending[(pid, name)] = (lead, body[: -len(_UNFINISHED)])
            continue
        if name == "execve" and _EXECVE_OK_RE.match(body):
            last_execve = len(records) + 1
        records.append((lead, name, body))
    groups: dict[int | None, list[str]] = {None: []}
    current: int | None = None
    for lead, name, body in records[last_execve:]:
        if name == "write":
            mm = _MARKER_RE.match(body)
            if mm:
                current = int(mm.group(1))
                groups.setdefault(current, [])
            continue
        if name in wanted:
            groups[current].append(lead + body)
    return groups


def _pid_key(lead: str) -> str:
    m = _PID_RE.match(lead)
    return (m.group(1) or m.group(2)) if m else ""


def strip_pid(line: str) -> str:
    """A trace line without its ``PID  `` / ``[pid PID] `` prefix."""
    return _PID_RE.sub("", line, count=1)


_MADVISE_RE = re.compile(
    r"^(?:(?:\[pid\s+\d+\]|\d+)\s+)?madvise\((NULL|0x[0-9a-f]+), (\d+), (\w+|\d+)\)\s+=\s+(.*?)\s*$"
)


def parse_madvise(line: str) -> tuple[int, int, str, str] | None:
    """``madvise(0x7ffff75d0000, 8368128, MADV_DONTNEED) = 0`` → (addr, length, advice, ret).

    ``ret`` is the text after ``=`` ("0", "-1 EINVAL (Invalid argument)").  None if the
    line is not a madvise call.
    """
    m = _MADVISE_RE.match(line)
    if m is None:
        return None
    addr = 0 if m.group(1) == "NULL" else int(m.group(1), 16)
    return addr, int(m.group(2)), m.group(3), m.group(4)
