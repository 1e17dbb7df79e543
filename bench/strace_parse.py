"""Benchmark: strace parsing, the one-regex fast path against the general path, and memory.

Run it::

    python bench/strace_parse.py                  # 200,000 lines, 5 rounds
    python bench/strace_parse.py --lines 1000000 --rounds 3

The log is tests/data/strace/mt64_f_o.txt (``strace -f -o``, a threaded C program: half its
lines are memory calls, many of them split by ``<unfinished ...>``), calls64_f_o.txt and the
traces of tests/data/recordings, repeated to the requested length. Printed: µs per line for ``iter_strace(fast=True)`` and
``fast=False`` (CPU time, min of the rounds, the events consumed and dropped as a streaming
consumer would) over all lines and over the lines of the shape the fast path takes, and the peak traced Python memory
(tracemalloc) of streaming the whole log from a file against collecting it with
:func:`parse_strace`. Both paths give the same events (tests/test_strace.py checks it on every
recorded log); this script only measures.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.trace.strace import _FAST_LINE, iter_strace, open_strace  # noqa: E402

DATA = ROOT / "tests" / "data" / "strace"


def build_lines(count: int) -> list[str]:
    """Whole copies of the sample logs, so every unfinished call is resumed."""
    sample = []
    for path in [DATA / "mt64_f_o.txt", DATA / "calls64_f_o.txt",
                 *sorted((ROOT / "tests" / "data" / "recordings").glob("*/trace.txt"))]:
        sample += path.read_text().split("\n")[:-1]
    lines = []
    while len(lines) < count:
        lines += sample
    return lines


def cpu_per_line(lines: list[str], fast: bool, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.process_time()
        collections.deque(iter_strace(lines, "bench", fast=fast), maxlen=0)
        best = min(best, time.process_time() - began)
    return best / len(lines) * 1e6


def peak_streaming(path: Path) -> int:
    tracemalloc.start()
    collections.deque(open_strace(path), maxlen=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def peak_collected(path: Path) -> int:
    tracemalloc.start()
    events = list(open_strace(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del events
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lines = build_lines(args.lines)
    shaped = [line for line in lines if _FAST_LINE.match(line)]
    print(f"{len(lines):,} lines; the fast path takes {len(shaped) / len(lines):.0%} of them")
    for what, subset in (("all lines", lines), ("lines of the fast shape", shaped)):
        fast = cpu_per_line(subset, True, args.rounds)
        general = cpu_per_line(subset, False, args.rounds)
        print(f"  {what}: fast path {fast:6.2f} µs/line, general path {general:6.2f} µs/line "
              f"({general / fast:.2f}x)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.txt"
        path.write_text("\n".join(lines) + "\n")
        stream, held = peak_streaming(path), peak_collected(path)
    print(f"  peak Python memory, streamed {stream / 2**10:8.1f} KiB, "
          f"collected {held / 2**10:8.1f} KiB")


if __name__ == "__main__":
    main()
