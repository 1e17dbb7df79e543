"""Kernel side of the differential tests: build and run the C probe, parse its output.

The probe (``tests/probe/probe.c``) executes a script of memory system calls
(mmap/munmap/mprotect/mremap/brk plus one-byte touches) and prints the kernel's
answer and ``/proc/self/maps`` after every op.  This module compiles it, runs it
under ``setarch`` with a chosen RLIMIT_STACK and a fixed environment, and parses
the output into a :class:`ProbeRun`.  Import-safe without pytest.

Script syntax (one op per line; see probe.c for the full description)::

    mmap ADDR LEN PROT FLAGS FD OFF      FD -1 = anonymous, k >= 0 = k-th scratch file
    munmap ADDR LEN
    mprotect ADDR LEN PROT
    mremap OLD OLDLEN NEWLEN FLAGS NEWADDR
    brk ADDR
    touch ADDR w|r

Numbers are decimal or 0x-hex.  Every field except FD and the touch mode may be
an expression ``NUMBER | rN | rN+K | rN-K | brk0 | brk0+K | brk0-K``, where rN
is the numeric result of op N: the address returned by mmap/mremap/brk, 0 for a
successful munmap/mprotect or a touch, and **0 if op N failed or was SKIPPED**.
Arithmetic wraps modulo 2**bits.

Probe output (all lines, in order)::

    INIT-SMAPS
    <full /proc/self/smaps text before the first op>
    END
    BRK0 0x...                       initial program break (raw brk(0))
    OP i <op line, expressions resolved: numbers in 0x-hex, FD in decimal>
    RET i <0x... | -ENAME | -E<n> | ok | SIGSEGV | SIGBUS | SKIPPED>
    MAPS
    <full /proc/self/maps text after op i>
    END
    [SMAPS / <smaps text> / END]     only when run with smaps=True
    ...
    DONE

``SKIPPED``: the op would have modified one of the probe's own initial mappings
(MAP_FIXED/munmap/mprotect/mremap over the executable, bss, libraries, vdso,
stack, ...; or a write touch into them), so the probe did not execute it; the
address space is unchanged.  Unaligned or empty ranges are always passed to the
kernel (it rejects them without touching anything).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

__all__ = [
    "PROBE_SOURCE",
    "DEFAULT_ENV",
    "ProbeUnavailable",
    "ProbeError",
    "ProbeStep",
    "ProbeRun",
    "MapsLine",
    "build_probe",
    "run_probe",
    "parse_probe_output",
    "make_scratch_files",
    "parse_maps",
    "parse_smaps_vmflags",
    "result_value",
    "normalize_shmem_inodes",
]

PROBE_SOURCE = Path(__file__).resolve().parent / "probe" / "probe.c"

#: The fixed environment the probe runs with (the stack VMA depends on env size).
DEFAULT_ENV: Mapping[str, str] = {"PATH": "/usr/bin:/bin"}

_SMAPS_ENV = "VASIM_PROBE_SMAPS"


class ProbeUnavailable(Exception):
    """The probe cannot be built or run here (no gcc, no 32-bit multilib, no setarch...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ProbeError(RuntimeError):
    """The probe ran but failed, crashed, timed out or printed something unparseable."""


@dataclasses.dataclass(frozen=True)
class ProbeStep:
    index: int
    #: the op as executed, expressions resolved, e.g. "mmap 0x0 0x1000 0x3 0x22 -1 0x0"
    op_line_resolved: str
    #: "0x7ffff7fbf000", "0x0", "-ENOMEM", "ok", "SIGSEGV", "SIGBUS" or "SKIPPED"
    result: str
    #: /proc/self/maps text after the op
    maps: str
    #: /proc/self/smaps text after the op (only with run_probe(..., smaps=True))
    smaps: str | None = None

    @property
    def op(self) -> str:
        """The op name: mmap, munmap, mprotect, mremap, brk or touch."""
        return self.op_line_resolved.split(None, 1)[0]

    @property
    def value(self) -> int | None:
        """Numeric result (see :func:`result_value`)."""
        return result_value(self.result)


@dataclasses.dataclass(frozen=True)
class ProbeRun:
    #: the argv that was executed (setarch ... probe script files...)
    command: tuple[str, ...]
    #: the op lines as given to run_probe
    ops: tuple[str, ...]
    #: RLIMIT_STACK soft limit used (None = inherited)
    rlimit_stack: int | None
    #: /proc/self/smaps before the first op
    initial_smaps: str
    #: initial program break
    brk0: int
    steps: list[ProbeStep]

    @property
    def initial_maps(self) -> str:
        """The VMA header lines of initial_smaps, i.e. what /proc/self/maps showed."""
        return "".join(line + "\n" for line in self.initial_smaps.splitlines() if _MAPS_RE.match(line))

    @property
    def final_maps(self) -> str:
        return self.steps[-1].maps if self.steps else self.initial_maps


# ----------------------------------------------------------------------------- build

_build_lock = threading.Lock()
_build_cache: dict[tuple[int, str, str], Path] = {}
_m32_checked: dict[str, str | None] = {}


def _gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ProbeUnavailable("gcc not found on PATH")
    return gcc


def _check_m32(gcc: str, workdir: Path) -> None:
    """Compile, link and run a trivial -m32 program; raise ProbeUnavailable if that fails."""
    if gcc not in _m32_checked:
        reason: str | None = None
        with tempfile.TemporaryDirectory(dir=workdir) as td:
            src = Path(td, "m32check.c")
            src.write_text("#include <stdio.h>\nint main(void){puts(\"ok\");return 0;}\n")
            exe = Path(td, "m32check")
            cp = subprocess.run([gcc, "-m32", "-o", str(exe), str(src)],
                                capture_output=True, text=True)
            if cp.returncode != 0:
                reason = ("gcc -m32 cannot build a 32-bit program (is gcc-multilib installed?): "
                          + cp.stderr.strip()[-500:])
            else:
                try:
                    rp = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
                    if rp.returncode != 0 or rp.stdout.strip() != "ok":
                        reason = f"32-bit program does not run (IA32 emulation off?): rc={rp.returncode}"
                except OSError as exc:
                    reason = f"32-bit program does not run (IA32 emulation off?): {exc}"
        _m32_checked[gcc] = reason
    if _m32_checked[gcc] is not None:
        raise ProbeUnavailable(_m32_checked[gcc])


def build_probe(bits: int, workdir: Path) -> Path:
    """Compile probe.c for ``bits`` (64 or 32) into ``workdir``; return the binary's path.

    The binary is ``workdir/probe64`` or ``workdir/probe32`` (that path shows up in
    the probe's maps).  Builds are cached per process, and on disk next to a
    ``.sha256`` stamp of the source, so a session-scoped workdir builds once.
    Raises :class:`ProbeUnavailable` if gcc or 32-bit multilib support is missing.
    """
    if bits not in (32, 64):
        raise ValueError(f"bits must be 32 or 64, not {bits!r}")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    source = PROBE_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    key = (bits, str(workdir), digest)
    with _build_lock:
        cached = _build_cache.get(key)
        if cached is not None and cached.exists():
            return cached
        gcc = _gcc()
        if bits == 32:
            _check_m32(gcc, workdir)
        out = workdir / f"probe{bits}"
        stamp = workdir / f"probe{bits}.sha256"
        fresh = out.exists() and stamp.exists() and stamp.read_text().strip() == digest
        if not fresh:
            tmp = workdir / f".probe{bits}.{os.getpid()}.tmp"
            cmd = [gcc, *(["-m32"] if bits == 32 else []), "-O1", "-o", str(tmp), str(PROBE_SOURCE)]
            cp = subprocess.run(cmd, capture_output=True, text=True)
            if cp.returncode != 0:
                if bits == 32:
                    raise ProbeUnavailable("gcc -m32 failed to build the probe: " + cp.stderr.strip()[-1000:])
                raise ProbeError(f"{' '.join(cmd)} failed:\n{cp.stderr}")
            os.replace(tmp, out)
            stamp.write_text(digest + "\n")
        _build_cache[key] = out
        return out


# ----------------------------------------------------------------------------- run

def make_scratch_files(directory: Path, sizes: Iterable[int] = (8 << 20, 8 << 20)) -> list[Path]:
    """Create sparse zero-filled files ``f0``, ``f1``, ... of the given sizes in ``directory``.

    Put ``directory`` under /tmp (e.g. pytest's tmp_path): on this machine /tmp is
    on the root ext4 filesystem, whose files get THP-aligned placement for
    mappings of >= 2 MiB in 64-bit processes.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, size in enumerate(sizes):
        p = directory / f"f{i}"
        with open(p, "wb") as fh:
            fh.truncate(size)
        paths.append(p)
    return paths


def _set_rlimit_stack(value: int | None):
    if value is None:
        return None
    # accept resource.RLIM_INFINITY (-1 in Python) and the kernel's all-ones spelling
    infinite = value == resource.RLIM_INFINITY or value < 0 or value >= (1 << 63)
    soft = resource.RLIM_INFINITY if infinite else int(value)

    def preexec() -> None:
        _cur_soft, cur_hard = resource.getrlimit(resource.RLIMIT_STACK)
        if cur_hard == resource.RLIM_INFINITY or (soft != resource.RLIM_INFINITY and soft <= cur_hard):
            hard = cur_hard
        else:
            hard = soft  # raising the hard limit needs CAP_SYS_RESOURCE
        resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))

    return preexec


def run_probe(
    binary: Path,
    ops: Sequence[str],
    *,
    setarch: Sequence[str],
    rlimit_stack: int | None,
    scratch_files: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    smaps: bool = False,
    normalize: bool = True,
) -> ProbeRun:
    """Run the probe on ``ops`` and parse its output.

    ``setarch`` is the setarch argument list, e.g. ``["x86_64", "-R"]``,
    ``["i686", "-R", "--3gb"]`` or ``["i686", "-R", "-L"]``.  ``rlimit_stack`` is
    the RLIMIT_STACK soft limit in bytes (or ``resource.RLIM_INFINITY``), set in
    the child before exec so the kernel's exec-time layout uses it; None keeps
    the inherited limit.  ``env`` defaults to :data:`DEFAULT_ENV`;
    VASIM_PROBE_SMAPS=0/1 is always added (same length either way, so the stack
    layout does not depend on ``smaps``).  With ``normalize`` (the default) the
    inode numbers of shared anonymous mappings are renumbered, see
    :func:`normalize_shmem_inodes`; everything else is the kernel's text verbatim.
    """
    setarch_exe = shutil.which("setarch")
    if setarch_exe is None:
        raise ProbeUnavailable("setarch (util-linux) not found on PATH")
    for i, op in enumerate(ops):
        if "\n" in op or not op.strip() or op.lstrip().startswith("#"):
            raise ValueError(f"op {i} is not a single op line: {op!r}")
    run_env = dict(DEFAULT_ENV if env is None else env)
    run_env[_SMAPS_ENV] = "1" if smaps else "0"
    binary = Path(binary).resolve()
    with tempfile.TemporaryDirectory(prefix="vasim-probe-") as td:
        script = Path(td, "script")
        script.write_text("".join(op.strip() + "\n" for op in ops))
        cmd = (setarch_exe, *setarch, str(binary), str(script), *(str(Path(f)) for f in scratch_files))
        try:
            cp = subprocess.run(
                cmd,
                env=run_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                preexec_fn=_set_rlimit_stack(rlimit_stack),
            )
        except subprocess.TimeoutExpired as exc:
            raise ProbeError(f"probe timed out after {timeout}s: {' '.join(cmd)}") from exc
    stderr = cp.stderr.decode(errors="replace")
    if cp.returncode != 0:
        if "setarch" in stderr and ("failed to set personality" in stderr or "Operation not permitted" in stderr):
            raise ProbeUnavailable(f"setarch {' '.join(setarch)} does not work here: {stderr.strip()}")
        raise ProbeError(f"probe exited with status {cp.returncode}: {' '.join(cmd)}\n{stderr}")
    run = parse_probe_output(cp.stdout.decode(errors="surrogateescape"), command=cmd, ops=ops,
                             rlimit_stack=rlimit_stack)
    return normalize_shmem_inodes(run) if normalize else run


# ----------------------------------------------------------------------------- parse

_OP_RE = re.compile(r"^OP (\d+) (\S.*)$")
_RET_RE = re.compile(r"^RET (\d+) (\S+)$")
_MAPS_RE = re.compile(r"^[0-9a-f]+-[0-9a-f]+ [-r][-w][-x][-ps] ")


def parse_probe_output(text: str, *, command: Sequence[str] = (), ops: Sequence[str] = (),
                       rlimit_stack: int | None = None) -> ProbeRun:
    """Parse the probe's stdout (see the module docstring for the format)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    pos = 0

    def fail(msg: str) -> ProbeError:
        ctx = "\n".join(lines[max(0, pos - 3):pos + 3])
        return ProbeError(f"unparseable probe output at line {pos + 1}: {msg}\n{ctx}")

    def expect_block(tag: str) -> str:
        nonlocal pos
        if pos >= len(lines) or lines[pos] != tag:
            raise fail(f"expected {tag}")
        pos += 1
        start = pos
        while pos < len(lines) and lines[pos] != "END":
            pos += 1
        if pos >= len(lines):
            raise fail(f"unterminated {tag} block")
        body = "".join(line + "\n" for line in lines[start:pos])
        pos += 1
        return body

    initial = expect_block("INIT-SMAPS")
    if pos >= len(lines) or not lines[pos].startswith("BRK0 0x"):
        raise fail("expected BRK0")
    brk0 = int(lines[pos][5:], 16)
    pos += 1
    steps: list[ProbeStep] = []
    while True:
        if pos >= len(lines):
            raise fail("missing DONE (probe output truncated?)")
        if lines[pos] == "DONE":
            pos += 1
            break
        m = _OP_RE.match(lines[pos])
        if not m or int(m.group(1)) != len(steps):
            raise fail(f"expected OP {len(steps)}")
        op_line = m.group(2)
        pos += 1
        r = _RET_RE.match(lines[pos]) if pos < len(lines) else None
        if not r or int(r.group(1)) != len(steps):
            raise fail(f"expected RET {len(steps)}")
        result = r.group(2)
        pos += 1
        maps = expect_block("MAPS")
        step_smaps = expect_block("SMAPS") if pos < len(lines) and lines[pos] == "SMAPS" else None
        steps.append(ProbeStep(len(steps), op_line, result, maps, step_smaps))
    if pos != len(lines):
        raise fail("trailing output after DONE")
    if ops and len(ops) != len(steps):
        raise ProbeError(f"{len(ops)} ops given but the probe reported {len(steps)} steps")
    return ProbeRun(tuple(command), tuple(ops), rlimit_stack, initial, brk0, steps)


def result_value(result: str) -> int | None:
    """The integer in a RET value ("0x..." -> int), or None for errors/touch/SKIPPED."""
    if result.startswith("0x"):
        return int(result, 16)
    return None


@dataclasses.dataclass(frozen=True)
class MapsLine:
    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str  # "" for anonymous, "[heap]", "[stack]", a file path...


def parse_maps(text: str) -> list[MapsLine]:
    """Parse /proc/PID/maps text (or the header lines of smaps text)."""
    out = []
    for line in text.splitlines():
        if not _MAPS_RE.match(line):
            continue
        parts = line.split(None, 5)
        start, end = (int(x, 16) for x in parts[0].split("-"))
        out.append(MapsLine(start, end, parts[1], int(parts[2], 16), parts[3], int(parts[4]),
                            parts[5].strip() if len(parts) > 5 else ""))
    return out


def parse_smaps_vmflags(text: str) -> dict[int, tuple[str, ...]]:
    """Map each VMA start address in smaps text to its VmFlags mnemonics."""
    flags: dict[int, tuple[str, ...]] = {}
    current: int | None = None
    for line in text.splitlines():
        if _MAPS_RE.match(line):
            current = int(line.split("-", 1)[0], 16)
        elif line.startswith("VmFlags:") and current is not None:
            flags[current] = tuple(line[len("VmFlags:"):].split())
    return flags


# Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS) is a shmem file named
# "/dev/zero (deleted)" whose inode number comes from a global counter, so it
# differs from run to run.  The kernel pads every maps line to a fixed column
# before the path (seq_pad, 25 + 6 * sizeof(void *) - 1 = 72 on a 64-bit kernel,
# also for 32-bit processes).
_SHMEM_PATHS = ("/dev/zero (deleted)", "/SYSV")
_MAPS_PAD = 72
_INODE_LINE_RE = re.compile(r"^([0-9a-f]+-[0-9a-f]+ \S{4} [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ )(\d+)( +)(\S.*)$")


def normalize_shmem_inodes(run: ProbeRun) -> ProbeRun:
    """Renumber shmem inodes 1, 2, 3... in order of first appearance within ``run``.

    The same shmem object keeps the same number for the whole run, so the text
    is reproducible between runs and still tells different objects apart.
    """
    numbering: dict[str, str] = {}

    def fix(text: str | None) -> str | None:
        if text is None or not any(p in text for p in _SHMEM_PATHS):
            return text
        out = []
        for line in text.split("\n"):
            m = _INODE_LINE_RE.match(line)
            if m and m.group(4).startswith(_SHMEM_PATHS):
                new = numbering.setdefault(m.group(2), str(len(numbering) + 1))
                head = m.group(1) + new
                line = head + " " * max(1, _MAPS_PAD - len(head) + 1) + m.group(4)
            out.append(line)
        return "\n".join(out)

    steps = [dataclasses.replace(st, maps=fix(st.maps), smaps=fix(st.smaps)) for st in run.steps]
    return dataclasses.replace(run, initial_smaps=fix(run.initial_smaps), steps=steps)
