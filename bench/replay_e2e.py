"""Benchmark: ``vasim replay --json`` end to end against the real kernel, per call (issue 13).

    python bench/replay_e2e.py                      # a 60,000-call trace, 3 rounds
    python bench/replay_e2e.py --calls 20000 --repeat 5 --memory 60000,240000,480000

The trace is the steady-state mix of ``bench/run.py`` (30% mmap, 25% munmap, 30% mprotect,
7% MAP_FIXED, 8% mremap at about ``--vmas`` live VMAs, with R, RX and no access instead of
RW: see PROTS below), recorded on the model and checked on the kernel in the same run:

1. ``bench/kernel_bench.c`` starts under ``setarch x86_64 -R`` and prints its /proc/self/maps;
   ``bench/run.py``'s generator records the calls on a model built from those maps (the
   populating mmaps first, then ``--calls`` calls of the mix).
2. The calls are written as the ``strace -f`` log of that process (one ``execve`` line, then
   one line per call with the kernel's return value), and its maps as ``--initial-maps``.
3. Interleaved rounds: kernel_bench runs all the calls (checking every return value and the
   final maps against the recording; CPU time of the timed mix calls, per call), then
   ``python -m simulator replay LOG --initial-maps MAPS --json`` runs in a fresh interpreter
   (CPU time of the whole child process from getrusage: interpreter start, imports, parsing,
   the replay, the JSON; divided by every call in the log). The replay must match (exit 0).
4. Peak RSS of the replay for traces of ``--memory`` calls (the same mix, longer): replay
   streams the log, and ``--json`` spools its output in memory up to 16 MiB, then on disk
   (cli.py), so past some 150,000 calls the peak must not grow with the trace's length.

The table gives the minimum over the rounds of each side and the ratio of the minima; the
target is at most 5x the kernel per call.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import run as bench  # noqa: E402  (bench/run.py: the kernel side and the workload)

from simulator.kernel.uapi import (  # noqa: E402
    MREMAP_MAYMOVE, PROT_EXEC, PROT_NONE, PROT_READ, Errno, format_map_flags, format_prot,
)

# Replay assumes that a program writes to private writable memory as soon as it has it (the
# anon_vma a first write fault gives, which decides later merges); kernel_bench writes to
# nothing. So the trace's protections are R, RX and none instead of run.py's R, RW and none:
# the same mix of calls, merges and splits, and the replay matches the kernel call for call.
bench.PROTS = (PROT_READ, PROT_READ | PROT_EXEC, PROT_NONE)

ROOT = Path(__file__).resolve().parent.parent
PID = 4242


def strace_line(rec: tuple) -> str:
    """One recorded call (bench/run.py's record: op, five arguments, result or -errno) as
    ``strace -f`` prints it."""
    op, a0, a1, a2, a3, a4, result = rec
    if op == bench.MMAP:
        text = (f"mmap({'NULL' if a0 == 0 else hex(a0)}, {a1}, {format_prot(a2)}, "
                f"{format_map_flags(a3)}, -1, 0)")
    elif op == bench.MUNMAP:
        text = f"munmap({a0:#x}, {a1})"
    elif op == bench.MPROTECT:
        text = f"mprotect({a0:#x}, {a1}, {format_prot(a2)})"
    else:
        flags = "MREMAP_MAYMOVE" if a3 & MREMAP_MAYMOVE else "0"
        text = f"mremap({a0:#x}, {a1}, {a2}, {flags})"
    if result < 0:
        errno = Errno(-result)
        ret = f"-1 {errno.name} ({os.strerror(errno.value)})"
    elif op in (bench.MMAP, bench.MREMAP):
        ret = hex(result)
    else:
        ret = str(result)
    return f"{PID}  {text} = {ret}\n"


def write_trace(w: bench.Workload, exe: Path, log: Path, maps: Path) -> int:
    """The workload as an strace -f log and its initial maps; returns the number of calls."""
    with open(log, "w") as f:
        f.write(f'{PID}  execve("{exe}", ["{exe.name}"], 0x7ffc3a1e2f08 /* 1 var */) = 0\n')
        for rec in w.setup:
            f.write(strace_line(rec))
        for rec in w.timed:
            f.write(strace_line(rec))
    maps.write_text(w.maps)
    return len(w.setup) + len(w.timed)


def replay_child(log: Path, maps: Path) -> tuple[float, int, dict]:
    """``vasim replay --json`` in a fresh interpreter: (CPU seconds, peak RSS KiB, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-m", "simulator", "replay", str(log), "--initial-maps",
                          str(maps), "--arch", "x86_64", "--personality", "ADDR_NO_RANDOMIZE",
                          "--json"], cwd=ROOT, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"vasim replay exited {out.returncode}: {out.stderr[-2000:]}"
                           f"{out.stdout[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, after.ru_maxrss, json.loads(out.stdout)


def peak_rss(log: Path, maps: Path) -> int:
    """Peak RSS (KiB) of one replay, in a child of its own (ru_maxrss of RUSAGE_CHILDREN is
    the largest child so far, so each measurement gets a fresh parent)."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "simulator",
                          "replay", str(log), "--initial-maps", str(maps), "--arch", "x86_64",
                          "--personality", "ADDR_NO_RANDOMIZE", "--json"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def bench_replay(exe: Path, tmp: Path, vmas: int, calls: int, repeat: int, seed: int,
                 log=print) -> dict:
    first = bench.KernelProcess(exe)
    w = bench.Generator(first.maps, first.rlimit_stack, vmas, seed).generate(calls, 0)
    trace, maps = tmp / "trace.txt", tmp / "start.maps"
    total = write_trace(w, exe, trace, maps)
    log(f"  replay: {total} calls in the trace ({len(w.setup)} populating, {len(w.timed)} of "
        f"the mix at about {vmas} VMAs), {trace.stat().st_size / 1e6:.1f} MB")
    kernel_us, replay_us, problems, summary = [], [], [], None
    for k in range(repeat):
        kp = first if k == 0 else bench.KernelProcess(exe)
        res = kp.run(w)
        if res["n_mismatches"] or res["final_maps"] != w.final_maps:
            problems.append(f"kernel round {k}: results or final maps differ from the recording")
        kernel_us.append(res["ns"] / res["n"] / 1e3)
        cpu, _, out = replay_child(trace, maps)
        replay_us.append(cpu / total * 1e6)
        summary = out
    log(f"  replay rounds (µs/call): {' '.join(f'{x:.2f}' for x in replay_us)}; kernel "
        f"{' '.join(f'{x:.3f}' for x in kernel_us)}")
    return {"calls": total, "replay_us": min(replay_us), "replay_all": replay_us,
            "kernel_us": min(kernel_us), "kernel_all": kernel_us,
            "ratio": min(replay_us) / min(kernel_us), "problems": problems,
            "json_keys": sorted(summary) if isinstance(summary, dict) else None}


def bench_memory(exe: Path, tmp: Path, vmas: int, lengths: list[int], seed: int,
                 log=print) -> list[tuple[int, int]]:
    maps_text = bench.KernelProcess(exe)
    out = []
    for n in lengths:
        w = bench.Generator(maps_text.maps, maps_text.rlimit_stack, vmas, seed).generate(n, 0)
        trace, maps = tmp / f"mem{n}.txt", tmp / "mem.maps"
        total = write_trace(w, exe, trace, maps)
        out.append((total, peak_rss(trace, maps)))
        log(f"  memory: {total} calls, peak RSS {out[-1][1] / 1024:.0f} MiB")
    maps_text.proc.kill()
    maps_text.proc.wait()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=60_000, help="calls of the mix (60000)")
    ap.add_argument("--vmas", type=int, default=1000, help="live VMAs to hold (1000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory", default="60000,240000,480000",
                    help="trace lengths for the peak-memory check ('' to skip)")
    ap.add_argument("--json", metavar="FILE", help="save the results")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vasim-replay-bench-") as tmpdir:
        tmp = Path(tmpdir)
        exe = bench.build(tmp)
        row = bench_replay(exe, tmp, args.vmas, args.calls, args.repeat, args.seed)
        mem = bench_memory(exe, tmp, args.vmas, [int(n) for n in args.memory.split(",") if n],
                           args.seed)
    print(f"\nvasim replay --json, whole process: {row['replay_us']:.2f} µs/call; kernel "
          f"{row['kernel_us']:.3f} µs/call; {row['ratio']:.1f}x (target <= 5x)")
    for total, kib in mem:
        print(f"  peak RSS at {total:>7} calls: {kib / 1024:6.1f} MiB")
    for p in row["problems"]:
        print("PROBLEM:", p)
    if args.json:
        Path(args.json).write_text(json.dumps({**row, "memory": mem}, indent=1) + "\n")
    return 0 if not row["problems"] and row["ratio"] <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
