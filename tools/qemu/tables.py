"""Print the measured thread counts of every recording in tests/data/qemu as a markdown table
(the one in docs/threads.md): python tools/qemu/tables.py"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent.parent / "tests" / "data" / "qemu"


def size(value) -> str:
    if value == "inf":
        return "unlimited"
    value = int(value)
    return f"{value >> 20} MiB" if value >= 1 << 20 and not value & 0xFFFFF else str(value)


def main() -> None:
    print("| profile | kernel | program | `ulimit -s` | stack size | guard | threads |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted(DATA.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            recs = [json.loads(line) for line in f]
        meta = recs[0]
        for r in recs:
            if r["kind"] == "threads":
                print(f"| `{meta['profile']}` | {meta['release']} | {r['binary'].split('-', 1)[1]} "
                      f"| {size(r['rlimit_stack'])} | {size(r['stack_size']) if r['stack_size'] else 'default'} "
                      f"| {r['guard_size']} | {r['count']} |")


if __name__ == "__main__":
    main()
