#!/usr/bin/env python3
"""Peak memory and time of `vasim replay` on long generated logs (issue 8 item 5).

    python bench/replay_stream.py [LINES ...]        # default 10000 100000 1000000

Each log is one process: an execve of /bin/true, then rounds of mmap/mprotect/munmap of
anonymous memory (the shapes real programs print most), and a chain of CLONE_VM clones
(each thread creates the next). Prints the lines, the wall time and the peak RSS
(resource.getrusage of a child running the CLI) of each run, and beside the mmap log the
real kernel's time for the same calls (a C loop doing the same mmap/mprotect/munmap rounds,
built with gcc when it is there). Replay must stay flat in memory: every event is consumed
and every result written as it comes.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time


def write_log(path: str, lines: int) -> None:
    with open(path, "w") as f:
        f.write('1000 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n')
        addr = 0x7FFFF7FC1000
        n = 1
        while n < lines:
            f.write(f"1000 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
                    f" = {addr - 0x1000:#x}\n")
            f.write(f"1000 mprotect({addr - 0x1000:#x}, 4096, PROT_READ) = 0\n")
            f.write(f"1000 munmap({addr - 0x1000:#x}, 8192) = 0\n")
            n += 3


def write_clone_chain(path: str, lines: int) -> None:
    with open(path, "w") as f:
        f.write('1000 execve("/bin/true", ["true"], 0x7ffe /* 1 var */) = 0\n')
        for i in range(lines - 1):
            f.write(f"{1000 + i} clone(child_stack=0x7f0000000000, flags=CLONE_VM|CLONE_FS|"
                    f"CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD) = {1001 + i}\n")


KERNEL_LOOP = r"""
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <stdio.h>
int main(int argc, char **argv) {
    long rounds = atol(argv[1]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < rounds; i++) {
        char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(p, 4096, PROT_READ);
        munmap(p, 8192);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
"""


def kernel_seconds(tmp: str, lines: int) -> float | None:
    """The real kernel's time for the log's mmap/mprotect/munmap rounds, or None without gcc."""
    source, binary = os.path.join(tmp, "loop.c"), os.path.join(tmp, "loop")
    if not os.path.exists(binary):
        with open(source, "w") as f:
            f.write(KERNEL_LOOP)
        if subprocess.run(["gcc", "-O2", "-o", binary, source],
                          stderr=subprocess.DEVNULL).returncode != 0:
            return None
    out = subprocess.run([binary, str(lines // 3)], capture_output=True, text=True)
    return float(out.stdout) if out.returncode == 0 else None


def measure(path: str) -> tuple[float, int]:
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "simulator", "replay", path, "--json"],
                   stdout=subprocess.DEVNULL, check=False)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.monotonic() - start, max(peak, before)


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 100_000, 1_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        for lines in sizes:
            for kind, writer in (("mmap/mprotect/munmap", write_log),
                                 ("CLONE_VM chain", write_clone_chain)):
                if kind == "CLONE_VM chain" and lines > 100_000:
                    continue
                path = os.path.join(tmp, "log.txt")
                writer(path, lines)
                seconds, peak_kib = measure(path)
                kernel = kernel_seconds(tmp, lines) if writer is write_log else None
                beside = f"  kernel {kernel:.3f} s" if kernel is not None else ""
                print(f"{lines:>9} lines  {kind:<22} {seconds:7.1f} s  "
                      f"peak RSS {peak_kib / 1024:6.0f} MiB (max so far){beside}")


if __name__ == "__main__":
    main(sys.argv[1:])
