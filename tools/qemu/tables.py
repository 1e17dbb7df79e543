"""Print the measured thread counts of every recording in tests/data/qemu as a markdown table
(the one in docs/threads.md): python tools/qemu/tables.py. Each column is one case: the
program (PIE or not), RLIMIT_STACK, pthread stack size and guard size."""

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
    """One row per recording, one column per thread case (program, ``ulimit -s``, stack size,
    guard), in the order tools/qemu/record.py runs them."""
    rows, cases = [], None
    for path in sorted(DATA.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            recs = [json.loads(line) for line in f]
        meta = recs[0]
        threads = [r for r in recs if r["kind"] == "threads"]
        keys = [(r["binary"].split("-", 1)[1], r["rlimit_stack"], r["stack_size"], r["guard_size"])
                for r in threads]
        assert cases is None or keys == cases, path
        cases = keys
        rows.append(f"| `{meta['profile']}` | {meta['release']} | {meta['threads_max']} | "
                    + " | ".join(str(r["count"]) for r in threads) + " |")
    heads = [f"{prog}, {size(limit)}, {size(stack) if stack else 'default'}, guard {guard}"
             for prog, limit, stack, guard in cases]
    print("| profile | kernel | threads-max | " + " | ".join(heads) + " |")
    print("|---|---|---|" + "---|" * len(heads))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
