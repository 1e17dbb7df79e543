"""Benchmark: µs per memory system call, the model against the real kernel, at ~1k-60k VMAs.

Run it (root not needed; gcc and util-linux ``setarch`` are)::

    python bench/run.py                       # 60,000 calls at ~1,000, ~15,000, ~60,000 VMAs
    python bench/run.py --calls 20000 --sizes 1000,5000,15000 --repeat 5
    python bench/run.py --profile             # also cProfile the model on the largest size
    python bench/run.py --threads 3 --json bench/results.json   # + `vasim threads`, saved
    python bench/run.py --threads 3 --replay 3 --json bench/results.json   # every target

The table it ends with is issue 13's: model and kernel per call at each size, the growth from
the smallest to the largest size, and (``--threads``) the CPU time of ``vasim threads`` until
failure on x86_64, and (``--replay``) ``vasim replay --json`` end to end against the kernel
(bench/replay_e2e.py); the last table has every target of issue 13 in one place.
``bench/plot.py`` draws the saved JSON (docs/performance.md).

How the comparison is made, and why it is fair
-----------------------------------------------
*The same calls, on the same starting state.* ``bench/kernel_bench.c`` is compiled with
``gcc -O2`` and started under ``setarch x86_64 -R`` (no ASLR, as the model's placement needs).
Its first act is to print its own /proc/self/maps; the model is built from exactly that text
(:func:`simulator.trace.loadmaps.address_space_from_maps`, with the process's RLIMIT_STACK), so
the model and the kernel start from the same address space, including the mmap base, the
libraries and the stack. The program then reads the workload from stdin into static buffers
(no malloc, no stdio: it makes no mapping of its own) and checks that /proc/self/maps has not
changed before it runs the calls.

*A workload fixed up front.* A seeded generator drives a model once and records every call
with its concrete arguments and the model's result. First, untimed: no-hint anonymous mmaps of
1-4 pages alternating PROT_READ and PROT_READ|PROT_WRITE (neighbours never merge) until the
address space holds N VMAs, then ``--warmup`` x N calls of the steady-state mix so that the
timed calls do not all run on the freshly populated layout. Then the 60,000 timed calls of the
same mix, in fixed proportions at every N (30% mmap, 25% munmap, 30% mprotect, 7% MAP_FIXED,
8% mremap): mmap without a hint (1-8 pages, 9-128 pages, 2 MiB multiples that take the THP
alignment path, 2 MiB plus a few pages; 5% with MAP_NORESERVE; prot R, RW or none), munmap of
all or part of a random VMA, mprotect of all (may merge) or part (splits) of a random VMA,
MAP_FIXED over part of a random VMA and possibly what follows it, and mremap (shrink in place,
or grow with MREMAP_MAYMOVE). The count is held within about 1% of N by how munmap and
mprotect cut (whole VMAs when above, inside one VMA when below), not by changing the mix.
munmap/mprotect/MAP_FIXED/mremap never touch the program's own initial mappings. Both sides
replay exactly this list; everything before the timed calls is untimed on both.

*Timed the same way, in CPU time.* The kernel loop is timed with
clock_gettime(CLOCK_PROCESS_CPUTIME_ID) around the timed records only (one ``switch`` and one
libc wrapper per call). The model loop is timed with time.process_time around a list
comprehension calling the prebuilt bound methods (``mm.mmap``, ``mm.munmap``, ...) with their
argument tuples; building the model, the untimed calls and checking the results are outside
the timing. CPU time, not wall time, because the machine may be shared: another process's
load then shows as less CPU per second, not as more time charged to ours. Each measurement is
repeated (``--repeat`` rounds, a fresh process / a fresh model each time; kernel and model
runs are interleaved so both see the same machine load) and the minimum is reported (the run
least disturbed by the rest of the machine); model/kernel is the ratio of the minima. Separate runs with every call timed on its own give the
per-syscall breakdown (medians too; they are not used for the totals). On a machine with other
load the runs spread; the table prints every run.

*Checked.* The kernel compares every return value with the one the model produced when the
workload was recorded, and after the run prints its final /proc/self/maps, which must equal
the model's ``maps_text()``. Any difference is a model bug and is printed.

Targets (issue 13): the model's cost per call at ~60k VMAs within 1.3x of its cost at ~1k;
and within 2x of the real kernel's cost per call at every size.
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's simulator

from simulator.kernel.arch import get_profile  # noqa: E402
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig  # noqa: E402
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_NONE, PROT_READ,
    PROT_WRITE, Errno,
)
from simulator.trace.loadmaps import address_space_from_maps  # noqa: E402
from simulator.trace.procmaps import parse_maps  # noqa: E402
from simulator.units import MiB, PAGE_SIZE, RLIM_INFINITY  # noqa: E402

HERE = Path(__file__).resolve().parent
C_SOURCE = HERE / "kernel_bench.c"
MAGIC = 0x3148434E45424156
MMAP, MUNMAP, MPROTECT, MREMAP = 1, 2, 3, 4
OP_NAMES = {MMAP: "mmap", MUNMAP: "munmap", MPROTECT: "mprotect", MREMAP: "mremap"}
ANON = MAP_PRIVATE | MAP_ANONYMOUS
PROTS = (PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE)
PROT_WEIGHTS = (4, 4, 2)
PERSONALITY = Personality.ADDR_NO_RANDOMIZE


# -- the kernel side ---------------------------------------------------------------------------

def build(workdir: Path) -> Path:
    exe = workdir / "kernel_bench"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(exe), str(C_SOURCE)], check=True)
    return exe


class KernelProcess:
    """One run of kernel_bench: started, its initial maps read; then fed one workload."""

    def __init__(self, exe: Path):
        self.proc = subprocess.Popen(["setarch", "x86_64", "-R", str(exe)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0, env={"LC_ALL": "C"})
        rl = self._readline().split()
        assert rl[0] == b"RLIMIT_STACK", rl
        self.rlimit_stack = RLIM_INFINITY if int(rl[1]) < 0 else int(rl[1])
        head = self._readline().split()
        assert head[0] == b"MAPS", head
        self.maps = self._read_exact(int(head[1])).decode()

    def _readline(self) -> bytes:
        out = bytearray()
        while not out.endswith(b"\n"):
            b = self.proc.stdout.read(1)
            if not b:
                raise RuntimeError(f"kernel_bench ended early: {bytes(out)!r}")
            out += b
        return bytes(out)

    def _read_exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            b = self.proc.stdout.read(n - len(out))
            if not b:
                raise RuntimeError("kernel_bench output truncated")
            out += b
        return bytes(out)

    def run(self, workload: "Workload", per_op: bool = False) -> dict:
        data = workload.encode(per_op)
        out, _ = self.proc.communicate(data)
        if self.proc.returncode != 0:
            raise RuntimeError(f"kernel_bench exited {self.proc.returncode}: {out[:500]!r}")
        text, _, _ = out.partition(b"FINAL ")
        n_final, _, rest = out[len(text) + 6:].partition(b"\n")
        res = {"final_maps": rest[: int(n_final)].decode(), "mismatches": [], "op_ns": {}}
        for line in text.decode().splitlines():
            parts = line.split()
            if parts[0] == "TIMED":
                res["ns"], res["n"] = int(parts[1]), int(parts[2])
            elif parts[0] == "OPNS":
                res["op_ns"][int(parts[1])] = (int(parts[2]), int(parts[3]))
            elif parts[0] == "MISMATCHES":
                res["n_mismatches"] = int(parts[1])
            elif parts[0] == "MISMATCH":
                res["mismatches"].append(parts[1:])
        return res


# -- the workload -------------------------------------------------------------------------------

class Workload:
    """Recorded calls: (op, a0..a4, expected) with expected = result or -errno."""

    def __init__(self, maps: str, rlimit_stack: int, target: int):
        self.maps = maps
        self.rlimit_stack = rlimit_stack
        self.target = target
        self.setup: list[tuple] = []
        self.timed: list[tuple] = []
        self.counts: list[int] = []  # map_count before each timed call

    def encode(self, per_op: bool) -> bytes:
        head = struct.pack("<4q", MAGIC, len(self.setup), len(self.timed), 1 if per_op else 0)
        body = array("q")
        for rec in self.setup + self.timed:
            body.extend(rec)
        assert sys.byteorder == "little"
        return head + body.tobytes()


def new_model(maps: str, rlimit_stack: int):
    proc = ProcessConfig(personality=PERSONALITY, rlimit_stack=rlimit_stack)
    return address_space_from_maps(parse_maps(maps, "<kernel_bench maps>"), get_profile("x86_64"),
                                   proc=proc, kconfig=KernelConfig(), assume_written=True)


def method_table(mm) -> dict:
    return {MMAP: mm.mmap, MUNMAP: mm.munmap, MPROTECT: mm.mprotect, MREMAP: mm.mremap}


def encode_result(value) -> int:
    return -int(value) if isinstance(value, Errno) else int(value)


def nargs(op: int) -> int:
    return {MMAP: 4, MUNMAP: 2, MPROTECT: 3, MREMAP: 5}[op]


class Generator:
    """Drives a model with random calls and records them with the model's results."""

    def __init__(self, maps: str, rlimit_stack: int, target: int, seed: int):
        self.mm = new_model(maps, rlimit_stack)
        self.fns = method_table(self.mm)
        self.rng = random.Random(seed)
        self.w = Workload(maps, rlimit_stack, target)
        # The program's own mappings (and the gate) are off limits.
        ranges = sorted((e.start, e.end) for e in parse_maps(maps))
        self.prot_starts = [s for s, _ in ranges]
        self.prot_ends = [e for _, e in ranges]

    def protected(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.prot_starts, end) - 1  # last range starting below end
        return i >= 0 and self.prot_ends[i] > start

    def call(self, out: list, op: int, *args: int) -> None:
        result = self.fns[op](*args)
        rec = (op, *args, *(0,) * (5 - len(args)), encode_result(result))
        out.append(rec)

    def pick(self):
        """A random VMA made by the benchmark (uniform over VMAs)."""
        vmas = self.mm.vmas()
        for _ in range(100):
            vma = vmas[self.rng.randrange(len(vmas))]
            if not self.protected(vma.start, vma.end):
                return vma
        raise RuntimeError("no benchmark VMA found")

    def prot(self, unlike: int | None = None) -> int:
        while True:
            p = self.rng.choices(PROTS, PROT_WEIGHTS)[0]
            if p != unlike:
                return p

    def mmap_size(self) -> int:
        r = self.rng.random()
        if r < 0.60:
            return self.rng.randint(1, 8) * PAGE_SIZE
        if r < 0.85:
            return self.rng.randint(9, 128) * PAGE_SIZE
        if r < 0.95:
            return self.rng.randint(1, 2) * 2 * MiB
        return 2 * MiB + self.rng.randint(1, 16) * PAGE_SIZE

    def subrange(self, vma) -> tuple[int, int]:
        pages = (vma.end - vma.start) // PAGE_SIZE
        first = self.rng.randrange(pages)
        count = self.rng.randint(1, pages - first)
        return vma.start + first * PAGE_SIZE, count * PAGE_SIZE

    def interior(self, vma) -> tuple[int, int]:
        """A range strictly inside ``vma`` (cutting it in three) where it has 3 pages or more."""
        pages = (vma.end - vma.start) // PAGE_SIZE
        if pages < 3:
            return self.subrange(vma)
        first = self.rng.randint(1, pages - 2)
        count = self.rng.randint(1, pages - 1 - first)
        return vma.start + first * PAGE_SIZE, count * PAGE_SIZE

    def generate(self, calls: int, warmup: int) -> Workload:
        mm, rng, w = self.mm, self.rng, self.w
        target = w.target
        i = 0
        while mm.map_count < target:
            self.call(w.setup, MMAP, 0, rng.randint(1, 4) * PAGE_SIZE, PROTS[i % 2], ANON)
            i += 1
        w.n_populate = len(w.setup)
        for _ in range(warmup):
            self.step(w.setup)
        for _ in range(calls):
            w.counts.append(mm.map_count)
            self.step(w.timed)
        w.final_maps = mm.maps_text()
        return w

    KINDS = ("mmap", "munmap", "mprotect", "fixed", "mremap")
    WEIGHTS = (30, 25, 30, 7, 8)

    def step(self, out: list) -> None:
        """One call of the steady-state mix. The mix of call kinds is fixed; the map count is
        held near the target by how munmap and mprotect cut: above it they take whole VMAs
        (munmap -1, mprotect may merge), below it they cut inside one (+1, +2)."""
        mm, rng, target = self.mm, self.rng, self.w.target
        tol = max(5, target // 100)
        over, under = mm.map_count > target + tol, mm.map_count < target - tol
        kind = rng.choices(self.KINDS, self.WEIGHTS)[0]
        if kind == "mmap":
            flags = ANON | (MAP_NORESERVE if rng.random() < 0.05 else 0)
            self.call(out, MMAP, 0, self.mmap_size(), self.prot(), flags)
        elif kind == "munmap":
            vma = self.pick()
            if over or (not under and rng.random() < 0.7):
                self.call(out, MUNMAP, vma.start, vma.end - vma.start)
            else:
                self.call(out, MUNMAP, *(self.interior(vma) if under else self.subrange(vma)))
        elif kind == "mprotect":
            vma = self.pick()
            if over or (not under and rng.random() < 0.5):
                start, length = vma.start, vma.end - vma.start
            else:
                start, length = self.interior(vma) if under else self.subrange(vma)
            self.call(out, MPROTECT, start, length, self.prot(unlike=vma.flags & 7))
        elif kind == "fixed":
            vma = self.pick()
            start, length = self.subrange(vma)
            length += rng.randint(0, 8) * PAGE_SIZE  # may run into what follows
            if self.protected(start, start + length):
                length = vma.end - start
            self.call(out, MMAP, start, length, self.prot(), ANON | MAP_FIXED)
        else:
            vma = self.pick()
            size = vma.end - vma.start
            if size > PAGE_SIZE and rng.random() < 0.4:
                new = rng.randint(1, size // PAGE_SIZE - 1) * PAGE_SIZE
                self.call(out, MREMAP, vma.start, size, new, 0, 0)
            else:
                new = size + rng.randint(1, 16) * PAGE_SIZE
                self.call(out, MREMAP, vma.start, size, new, MREMAP_MAYMOVE, 0)


# -- the model side -----------------------------------------------------------------------------

def prepared_model(w: Workload):
    """A fresh model from the kernel's maps, with the setup phase done: (mm, timed calls)."""
    mm = new_model(w.maps, w.rlimit_stack)
    fns = method_table(mm)
    for rec in w.setup:
        fns[rec[0]](*rec[1:1 + nargs(rec[0])])
    timed = [(fns[rec[0]], rec[1:1 + nargs(rec[0])]) for rec in w.timed]
    return mm, timed


def run_model(w: Workload) -> tuple[float, list[int], object]:
    mm, timed = prepared_model(w)
    t0 = time.process_time()
    results = [fn(*args) for fn, args in timed]
    t1 = time.process_time()
    return t1 - t0, [encode_result(r) for r in results], mm


def run_model_per_op(w: Workload) -> dict:
    mm, timed = prepared_model(w)
    per = {op: [0, 0.0] for op in OP_NAMES}
    clock = time.perf_counter
    for rec, (fn, args) in zip(w.timed, timed):
        t0 = clock()
        fn(*args)
        t1 = clock()
        acc = per[rec[0]]
        acc[0] += 1
        acc[1] += t1 - t0
    return per


def profile_model(w: Workload, top: int) -> str:
    mm, timed = prepared_model(w)
    prof = cProfile.Profile()
    prof.enable()
    for fn, args in timed:
        fn(*args)
    prof.disable()
    counts = {OP_NAMES[op]: sum(1 for r in w.timed if r[0] == op) for op in OP_NAMES}
    buf = io.StringIO()
    buf.write(f"cProfile of the timed replay at N={w.target} ({len(timed)} calls: {counts})\n")
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# -- the report ---------------------------------------------------------------------------------

def diff_maps(model: str, kernel: str, limit: int = 10) -> list[str]:
    import difflib
    return list(difflib.unified_diff(kernel.splitlines(), model.splitlines(), "kernel", "model",
                                     n=1, lineterm=""))[: limit * 4]


def bench_size(exe: Path, target: int, calls: int, warmup: float, seed: int, repeat: int,
               profile: int, log) -> dict:
    first = KernelProcess(exe)
    t0 = time.perf_counter()
    w = Generator(first.maps, first.rlimit_stack, target, seed + target).generate(
        calls, int(warmup * target))
    log(f"  N={target}: generated {w.n_populate} + {len(w.setup) - w.n_populate} untimed "
        f"(populate + warm-up) and {len(w.timed)} timed calls in "
        f"{time.perf_counter() - t0:.1f}s; live VMAs during the timed calls "
        f"{min(w.counts)}..{max(w.counts)} (mean {statistics.mean(w.counts):.0f})")
    expected = [rec[-1] for rec in w.timed]
    problems: list[str] = []

    def check_kernel(k, res):
        if res["n_mismatches"]:
            problems.append(f"kernel run {k}: {res['n_mismatches']} results differ from the model")
            for m in res["mismatches"][:10]:
                i = int(m[0])
                phase = "setup" if i < len(w.setup) else f"timed #{i - len(w.setup)}"
                problems.append(f"    call {i} ({phase}) {OP_NAMES.get(int(m[1]), m[1])}"
                                f"({', '.join(m[2:7])}): model {m[7]} kernel {m[8]}")
        if res["final_maps"] != w.final_maps:
            problems.append(f"kernel run {k}: final /proc/self/maps differs from the model's:")
            problems.extend("    " + line for line in diff_maps(w.final_maps, res["final_maps"]))

    # `repeat` rounds, each of a kernel run (a fresh process with the same initial maps) and a
    # model replay (a fresh model), interleaved so that both see the same machine load, then
    # the same again with every call timed on its own (for the per-syscall breakdown only).
    kernel_ns, model_s, kernel_ops, model_ops = [], [], [], []
    for k in range(repeat):
        for per_op in (False, True):
            kp = first if k == 0 and not per_op else KernelProcess(exe)
            if kp.maps != w.maps:
                raise RuntimeError("kernel_bench started with a different address space than "
                                   "the one the workload was recorded on (is ASLR off?)")
            res = kp.run(w, per_op=per_op)
            check_kernel(k, res)
            if per_op:
                kernel_ops.append(res["op_ns"])
                model_ops.append(run_model_per_op(w))
                continue
            kernel_ns.append(res["ns"])
            secs, results, mm = run_model(w)
            model_s.append(secs)
            if results != expected:
                bad = sum(a != b for a, b in zip(results, expected))
                problems.append(f"model replay differs from its own recording in {bad} results")
            if mm.maps_text() != w.final_maps:
                problems.append("model replay ends in a different state than its recording")
    mm._check()
    model_op = {op: (model_ops[0][op][0], statistics.median(m[op][1] for m in model_ops))
                for op in OP_NAMES}
    kernel_op = {op: (kernel_ops[0].get(op, (0, 0))[0],
                      statistics.median(m.get(op, (0, 0))[1] for m in kernel_ops))
                 for op in OP_NAMES}
    prof_text = profile_model(w, profile) if profile else ""
    n = len(w.timed)
    return {
        "target": target, "live": statistics.mean(w.counts), "n": n,
        "model_us": min(model_s) / n * 1e6,
        "model_all": [s / n * 1e6 for s in model_s],
        "kernel_us": min(kernel_ns) / n / 1e3,
        "kernel_all": [ns / n / 1e3 for ns in kernel_ns],
        "pair_ratio": min(model_s) / min(kernel_ns) * 1e9,
        "model_op": model_op, "kernel_op": kernel_op, "problems": problems, "profile": prof_text,
    }


def threads_row(rounds: int, log) -> dict:
    """``vasim threads --arch x86_64 --json`` (until pthread_create fails, about 32,000
    threads): the whole command's CPU time in a fresh interpreter, and the creation loop's
    alone in this one; the minimum over ``rounds``."""
    from threads import run_command  # bench/threads.py, next to this file

    from simulator.cli import build_parser, threads_config, threads_until_failure
    cmd, loop, count = [], [], 0
    for _ in range(rounds):
        out, cpu = run_command(["threads", "--arch", "x86_64", "--json"])
        cmd.append(cpu)
        profile, proc, kconfig, attr = threads_config(build_parser().parse_args(
            ["threads", "--arch", "x86_64"]))
        t0 = time.process_time()
        _, result = threads_until_failure(profile, proc, attr, kconfig=kconfig)
        loop.append(time.process_time() - t0)
        count = out["threads"]
        assert result.threads == count
    log(f"  vasim threads: {count} threads; command CPU {' '.join(f'{c:.2f}' for c in cmd)} s, "
        f"loop {' '.join(f'{c:.2f}' for c in loop)} s")
    return {"threads": count, "cpu_s": min(cmd), "loop_s": min(loop)}


def replay_row(rounds: int, calls: int, log) -> dict:
    """``vasim replay --json`` end to end on a trace of ``calls`` calls of the mix, against
    the kernel running the same calls (bench/replay_e2e.py), and its peak RSS at that length
    and at four and eight times it (the --json output is spooled in memory up to 16 MiB, then
    on disk: past that the peak must stay flat)."""
    import replay_e2e  # bench/replay_e2e.py, next to this file

    with tempfile.TemporaryDirectory(prefix="vasim-replay-bench-") as tmpdir:
        tmp = Path(tmpdir)
        exe = build(tmp)
        row = replay_e2e.bench_replay(exe, tmp, 1000, calls, rounds, 1, log=log)
        row["memory"] = replay_e2e.bench_memory(exe, tmp, 1000, [calls, calls * 4, calls * 8],
                                                1, log=log)
    return row


def summary_table(rows: list[dict], threads: dict | None, replay: dict | None) -> list[str]:
    """Issue 13's targets in one table (markdown): measured, the kernel, ratio, target."""
    out = ["| what | vasim | kernel | ratio | target | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| engine, mix at {r['live']:,.0f} VMAs (µs/call) | {r['model_us']:.2f} | "
                   f"{r['kernel_us']:.2f} | {r['pair_ratio']:.1f}x | ≤ 2x | "
                   f"{'yes' if r['pair_ratio'] <= 2 else 'no'} |")
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        growth = large["model_us"] / small["model_us"]
        out.append(f"| engine growth {small['live']:,.0f} → {large['live']:,.0f} VMAs | "
                   f"{growth:.2f}x | {large['kernel_us'] / small['kernel_us']:.2f}x | | "
                   f"≤ 1.3x | {'yes' if growth <= 1.3 else 'no'} |")
    if replay is not None:
        out.append(f"| `vasim replay --json`, {replay['calls']:,} calls, whole process "
                   f"(µs/call) | {replay['replay_us']:.2f} | {replay['kernel_us']:.2f} | "
                   f"{replay['ratio']:.1f}x | ≤ 5x | {'yes' if replay['ratio'] <= 5 else 'no'} |")
        mem = replay.get("memory") or []
        if len(mem) > 2:
            (_, k1), (_, k2) = mem[-2], mem[-1]
            out.append(f"| replay peak RSS at {', '.join(f'{n:,}' for n, _ in mem)} calls (MiB) | "
                       f"{' / '.join(f'{k / 1024:.0f}' for _, k in mem)} | | "
                       f"{k2 / k1:.2f}x | flat past the 16 MiB --json spool | "
                       f"{'yes' if k2 <= 1.1 * k1 else 'no'} |")
    if threads is not None:
        out.append(f"| `vasim threads --arch x86_64` until failure ({threads['threads']:,} "
                   f"threads), whole command (CPU s) | {threads['cpu_s']:.2f} | | | < 1 s | "
                   f"{'yes' if threads['cpu_s'] < 1 else 'no'} |")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=60_000, help="timed calls per size (60000)")
    ap.add_argument("--sizes", default="1000,15000,60000",
                    help="live-VMA targets (1000,15000,60000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side, minimum (3)")
    ap.add_argument("--threads", type=int, default=0, metavar="ROUNDS",
                    help="also time `vasim threads` until failure on x86_64, ROUNDS times")
    ap.add_argument("--replay", type=int, default=0, metavar="ROUNDS",
                    help="also time `vasim replay --json` end to end (bench/replay_e2e.py)")
    ap.add_argument("--replay-calls", type=int, default=60_000,
                    help="calls of the replayed trace (60000)")
    ap.add_argument("--json", metavar="FILE", help="save the table (for bench/plot.py)")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="untimed steady-state calls before the timed ones, times N (1.0)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", type=int, nargs="?", const=30, default=0, metavar="TOP",
                    help="cProfile the model at the largest size, print the TOP functions")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    for tool in ("gcc", "setarch"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} not found", file=sys.stderr)
            return 2
    log = lambda s: print(s, flush=True)
    with tempfile.TemporaryDirectory(prefix="vasim-bench-") as tmp:
        exe = build(Path(tmp))
        log(f"vasim benchmark: {args.calls} timed calls per size, CPU time, minimum of "
            f"{args.repeat} runs, "
            f"Python {sys.version.split()[0]}, kernel {os.uname().release}")
        rows = [bench_size(exe, n, args.calls, args.warmup, args.seed, args.repeat,
                           args.profile if n == max(sizes) else 0, log) for n in sizes]

    threads = threads_row(args.threads, log) if args.threads else None
    replay = replay_row(args.replay, args.replay_calls, log) if args.replay else None
    print()
    print(f"{'N':>7} {'live':>7} {'model µs/call':>14} {'kernel µs/call':>15} {'model/kernel':>13}"
          f"   runs (model | kernel)")
    for r in rows:
        print(f"{r['target']:>7} {r['live']:>7.0f} {r['model_us']:>14.2f} {r['kernel_us']:>15.3f}"
              f" {r['pair_ratio']:>12.1f}x   "
              f"{' '.join(f'{x:.2f}' for x in r['model_all'])} | "
              f"{' '.join(f'{x:.3f}' for x in r['kernel_all'])}")
    print()
    print("Per system call (separate runs with each call timed on its own; medians), µs/call:")
    print(f"{'N':>7} {'call':>9} {'count':>7} {'model':>9} {'kernel':>9} {'ratio':>8}")
    for r in rows:
        for op, name in OP_NAMES.items():
            count, secs = r["model_op"][op]
            kc, kns = r["kernel_op"].get(op, (0, 0))
            if not count:
                continue
            m_us, k_us = secs / count * 1e6, kns / kc / 1e3 if kc else float("nan")
            print(f"{r['target']:>7} {name:>9} {count:>7} {m_us:>9.2f} {k_us:>9.3f}"
                  f" {m_us / k_us:>7.1f}x")
    print()
    ok = True
    small, large = rows[0], rows[-1]
    if len(rows) > 1:
        scale = large["model_us"] / small["model_us"]
        good = scale <= 1.3
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}  model cost at N={large['target']} is {scale:.2f}x "
              f"its cost at N={small['target']} (target <= 1.3x); kernel: "
              f"{large['kernel_us'] / small['kernel_us']:.2f}x")
    for r in rows:
        ratio = r["pair_ratio"]
        good = ratio <= 2
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}  model/kernel at N={r['target']} is {ratio:.1f}x "
              f"(target <= 2x)")
    if threads is not None:
        good = threads["cpu_s"] < 1.0
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}  `vasim threads` until failure on x86_64 "
              f"({threads['threads']} threads) takes {threads['cpu_s']:.2f} s of CPU, the creation "
              f"loop alone {threads['loop_s']:.2f} s (target < 1 s)")
    if replay is not None:
        good = replay["ratio"] <= 5 and not replay["problems"]
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}  `vasim replay --json` of {replay['calls']} calls: "
              f"{replay['replay_us']:.2f} µs/call, the kernel {replay['kernel_us']:.3f}: "
              f"{replay['ratio']:.1f}x (target <= 5x)")
        problems_replay = replay["problems"]
    else:
        problems_replay = []
    print()
    print("\n".join(summary_table(rows, threads, replay)))
    print(f"(load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    if args.json:
        save = {"python": sys.version.split()[0], "kernel": os.uname().release,
                "calls": args.calls, "repeat": args.repeat, "threads": threads,
                "replay": replay, "loadavg": os.getloadavg(),
                "sizes": [{k: r[k] for k in ("target", "live", "model_us", "kernel_us",
                                             "pair_ratio", "model_all", "kernel_all")}
                          for r in rows]}
        Path(args.json).write_text(json.dumps(save, indent=1) + "\n")
    problems = [(r["target"], p) for r in rows for p in r["problems"]]
    problems += [("replay", p) for p in problems_replay]
    if problems:
        print("\nMODEL/KERNEL DIFFERENCES (model bugs):")
        for target, p in problems:
            print(f"  N={target}: {p}")
    else:
        print("All results and final maps agree between the model and the kernel.")
    for r in rows:
        if r["profile"]:
            print()
            print(r["profile"])
    return 0 if ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
