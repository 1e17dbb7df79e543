"""``vasim sweep``: many independent runs over a parameter grid and ASLR seeds, one table."""

from __future__ import annotations

import argparse
import os
import sys

EPILOG = """\
examples:
  vasim sweep scenarios/sweeps/thread-counts.toml -o threads.csv
  vasim sweep scenarios/sweeps/aslr-heap-mmap-gap-i686.toml --workers 2 -o gaps.json
  vasim sweep SPEC.toml --dask tcp://scheduler:8786 -o results.parquet

A spec names the run (threads, layout or scenario) and a [grid] of parameters (arch,
personality, rlimit_stack, stack_size, guard_size, threads, max_map_count, arena_max,
stack_cache_size); [aslr] seeds = N adds N seeds per combination with ASLR on. Each point is
an independent, seeded run, so the table is the same locally, with --workers and on a Dask
cluster. Without -o the table is written as CSV on stdout.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("sweep", help="run a grid of parameters and ASLR seeds, one table",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run many independent simulations (a grid of parameters "
                                   "times ASLR seeds) on every core or a Dask cluster.")
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep spec")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="local processes (default: every core)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask distributed scheduler instead (tcp://host:8786)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="results.csv, .json or .parquet (default: CSV on stdout)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from simulator.progress import Progress
    from simulator.sweep import columns, load_spec, run_sweep, write_table

    spec = load_spec(args.spec)
    if args.workers < 1:
        from simulator.cli import UsageError
        raise UsageError("vasim sweep: --workers must be at least 1")
    with Progress("vasim sweep", total=len(spec.points()), unit="run") as bar:
        rows = run_sweep(spec, workers=args.workers, dask=args.dask, progress=bar.update)
    if args.output:
        write_table(rows, args.output)
        print(f"{len(rows)} runs of {spec.run}: {args.output}")
    else:
        import csv
        writer = csv.DictWriter(sys.stdout, fieldnames=columns(rows), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0
