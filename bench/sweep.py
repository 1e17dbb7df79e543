#!/usr/bin/env python3
"""Sweep throughput: runs per second with 1, 2 and every worker, and on a local Dask cluster.

    python bench/sweep.py [--seeds N]

The same spec (i686 layouts with ASLR, N seeds) runs in this process, in a local process
pool of 2 and of every core, and on a distributed.LocalCluster of 2 worker processes; each
table must equal the first. Wall-clock time, one round each (a pool's start-up included).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.sweep import Spec, run_sweep  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2000)
    args = ap.parse_args()
    spec = Spec("<bench>", "bench", "layout", (("arch", ("i686",)),), args.seeds)
    cores = os.cpu_count() or 1
    runs = [("1 worker (in process)", dict(workers=1)), ("2 workers", dict(workers=2))]
    if cores > 2:
        runs.append((f"{cores} workers", dict(workers=cores)))
    first = None
    print(f"{'how':<28} {'runs':>6} {'seconds':>8} {'runs/s':>8}")
    for label, kwargs in runs + [("dask LocalCluster, 2 procs", None)]:
        t = time.perf_counter()
        if kwargs is None:
            import distributed
            with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                          dashboard_address=None) as cluster, \
                    distributed.Client(cluster) as client:
                t = time.perf_counter()
                rows = run_sweep(spec, dask=client)
        else:
            rows = run_sweep(spec, **kwargs)
        dt = time.perf_counter() - t
        first = first or rows
        assert rows == first, f"{label}: a different table"
        print(f"{label:<28} {len(rows):>6} {dt:>8.2f} {len(rows) / dt:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
