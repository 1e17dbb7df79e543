"""Benchmark: creating threads until pthread_create fails, the model against the real kernel.

Run it (gcc with -m32 support and util-linux ``setarch``, ``unshare``; root for the pid
namespace)::

    python bench/threads.py                 # three cases, 3 rounds each
    python bench/threads.py --repeat 5 --pid-max 20000

For each case ``bench/threads_bench.c`` is compiled (-O2, 64- or 32-bit PIE) and run under
``setarch -R`` in a private pid namespace whose ``kernel.pid_max`` is ``--pid-max`` (as root;
otherwise on the host, whose other tasks then take their share of pids: the counts differ).
alloc_pid takes a pid in every ancestor namespace too, so ``--pid-max`` (default 20000) must
stay below what the host has free (about 32,400 of its 32768 here) to be the binding limit,
and the host's other jobs keep the rest (a run takes that many host pids for a second). It
prints its /proc/self/maps before the first pthread_create and the CPU time
(CLOCK_PROCESS_CPUTIME_ID) and wall time of its creation loop. The model then runs the same
thing from that maps text with the same limits (``--pid-max N --tasks 0 --uid 0``), twice:

* the creation loop alone (``Threads.create_until_failure``, time.process_time);
* the whole command, ``python -m simulator threads ... --json`` in a fresh interpreter
  (imports, the initial maps, the loop, the output), as CPU time of the child (getrusage).

The thread counts and stop reasons of model and kernel must agree (printed otherwise). Rounds
are interleaved (kernel, model loop, command) so that all see the same machine load; the
table shows the median of each, and the ratio model loop / kernel loop. Issue 13's target:
``vasim threads`` until failure on x86_64 (about 32,000 threads) under 1 s of CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

C_SOURCE = Path(__file__).with_name("threads_bench.c")
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}

# (label, bits, stack size (0: default), guard size)
CASES = [
    ("x86_64, default 8 MiB stacks", 64, 0, 4096),
    ("i686, 64 KiB stacks", 32, 65536, 4096),
    ("i686, 16 KiB stacks, no guard", 32, 16384, 0),
]


def build(workdir: Path, bits: int) -> Path:
    exe = workdir / f"threads_bench{bits}"
    subprocess.run(["gcc", f"-m{bits}", "-O2", "-pthread", "-pie", "-Wall", "-o", str(exe),
                    str(C_SOURCE)], check=True)
    return exe


def run_kernel(exe: Path, bits: int, stack: int, guard: int, pid_max: int | None):
    """(maps before, count, errno, cpu seconds, wall seconds) of one kernel run."""
    arch = ["setarch", "i686" if bits == 32 else "x86_64", "-R", str(exe), str(stack), str(guard)]
    if pid_max is not None:
        cmd = ["unshare", "-p", "-f", "--mount-proc", "sh", "-c",
               f"echo {pid_max} > /proc/sys/kernel/pid_max && exec " + " ".join(arch)]
    else:
        cmd = arch
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=True).stdout
    before = out.split("BEFORE\n", 1)[1].split("END\n", 1)[0]
    count, errno, cpu, wall = out.split("COUNT ", 1)[1].split()[:4]
    return before, int(count), int(errno), int(cpu) / 1e9, int(wall) / 1e9


def model_argv(maps: Path, bits: int, stack: int, guard: int, pid_max: int | None):
    argv = ["threads", "--arch", "i686" if bits == 32 else "x86_64", "--personality",
            "ADDR_NO_RANDOMIZE", "--guard-size", str(guard), "--initial-maps", str(maps),
            "--uid", "0", "--json"]
    if stack:
        argv += ["--stack-size", str(stack)]
    if pid_max is not None:
        argv += ["--pid-max", str(pid_max), "--tasks", "0"]
    return argv


def run_model_loop(argv):
    """(threads, stopped_by, CPU seconds of the creation loop alone)."""
    from simulator.cli import build_parser, threads_config
    from simulator.libc.process import attach_process
    from simulator.trace.loadmaps import address_space_from_maps
    from simulator.trace.procmaps import read_maps

    args = build_parser().parse_args(argv)
    profile, proc, kconfig, attr = threads_config(args)
    mm = address_space_from_maps(read_maps(args.initial_maps), profile, kconfig=kconfig,
                                 proc=proc, source=args.initial_maps)
    process = attach_process(mm, proc=proc)
    start = time.process_time()
    result = process.threads.create_until_failure(attr)
    return result.threads, result.stopped_by, time.process_time() - start


def run_command(argv):
    """(JSON output, CPU seconds) of ``python -m simulator threads ...`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-m", "simulator", *argv], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(out), cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pid-max", type=int, default=20000,
                        help="kernel.pid_max of the private pid namespace (root)")
    args = parser.parse_args(argv)
    pid_max = args.pid_max if os.geteuid() == 0 else None
    if pid_max is None:
        print("not root: the kernel runs on the host pid namespace; counts will differ")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for label, bits, stack, guard in CASES:
            exe = build(workdir, bits)
            kernel, loop, command = [], [], []
            for _ in range(args.repeat):
                before, count, errno, cpu, _wall = run_kernel(exe, bits, stack, guard, pid_max)
                maps = workdir / "before.maps"
                maps.write_text(before)
                margv = model_argv(maps, bits, stack, guard, pid_max)
                threads, stopped, loop_cpu = run_model_loop(margv)
                out, cmd_cpu = run_command(margv)
                if (threads, out["threads"]) != (count, count):
                    print(f"  {label}: kernel {count} threads (errno {errno}), model {threads} "
                          f"({stopped}), command {out['threads']}")
                kernel.append(cpu)
                loop.append(loop_cpu)
                command.append(cmd_cpu)
            rows.append((label, count, stopped, statistics.median(kernel),
                         statistics.median(loop), statistics.median(command)))
    print(f"{'case':32} {'threads':>8} {'stopped by':>12} {'kernel s':>9} {'model s':>9} "
          f"{'ratio':>6} {'vasim threads s':>16}")
    for label, count, stopped, k, m, c in rows:
        print(f"{label:32} {count:8} {stopped:>12} {k:9.3f} {m:9.3f} {m / k:6.1f} {c:16.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
