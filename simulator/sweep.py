"""Sweeps: many independent runs over a grid of parameters and ASLR seeds, as one table.

A sweep spec (TOML) names what each run is — ``threads`` (create threads until
pthread_create fails), ``layout`` (the address space at the start of main, after an optional
number of threads) or ``scenario`` (a scenario file's first process) — and a grid of
parameters. Every combination, times every ASLR seed, is one *point*: an independent run whose
result is one row. Rows are computed by :func:`run_point`, a pure function of the spec and the
point, so the table is the same whether the points run in this process, in a local process
pool, or on a Dask cluster, in any order (rows are sorted by point index).

::

    title = "Threads per profile"
    run = "threads"
    [grid]
    arch = ["i686", "i386-3g"]
    rlimit_stack = ["2M", "8M", "unlimited"]
    stack_size = ["default", "256K"]
    [aslr]
    seeds = 100          # optional: ASLR on, seeds 0..99, a "seed" column

Cost: one run per point; a threads run is O(threads × log VMAs).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import attrs

from simulator.errors import InputError
from simulator.kernel.arch import PROFILES
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.scenario.locate import locate, position
from simulator.scenario.spec import parse_toml
from simulator.units import RLIM_INFINITY, parse_size

#: The most points a sweep may have; a larger grid is refused before anything runs.
MAX_POINTS = 1_000_000


def _size(value) -> int:
    return value if isinstance(value, int) else parse_size(str(value), allow_unlimited=True)


def _stack(value) -> int:
    return 0 if value in ("default", 0) else _size(value)


def _personality(value) -> Personality:
    return Personality.parse(str(value))


def _arch(value) -> str:
    if value not in PROFILES:
        raise ValueError(f"unknown profile {value!r}; one of {', '.join(PROFILES)}")
    return value


#: Grid parameters: name → how a value is read. Policy as data: a new knob is a new row.
PARAMETERS = {
    "arch": _arch,
    "personality": _personality,
    "rlimit_stack": _size,
    "stack_size": _stack,
    "guard_size": _size,
    "threads": int,
    "max_map_count": int,
    "arena_max": int,
    "stack_cache_size": _size,
}
RUNS = ("threads", "layout", "scenario")


@attrs.frozen
class Spec:
    path: str
    title: str
    run: str
    grid: tuple[tuple[str, tuple], ...]
    seeds: int | None
    scenario: str | None = None

    def points(self) -> list[dict]:
        """Every combination of the grid (in the order written), times every seed."""
        names = [name for name, _ in self.grid]
        values = [vals for _, vals in self.grid]
        seeds = range(self.seeds) if self.seeds is not None else [None]
        out = []
        for combo in itertools.product(*values):
            for seed in seeds:
                point = dict(zip(names, combo))
                if seed is not None:
                    point["seed"] = seed
                out.append(point)
        return out


def load_spec(path: str) -> Spec:
    """Read and check a sweep spec; bad input is one line with its position."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"cannot read: {getattr(err, 'strerror', None) or err}")
    data = parse_toml(path, text)
    where = locate(text)

    def bad(key_path: tuple, message: str):
        line, col = position(where, key_path)
        raise InputError(path, line, message, col)

    for key in data:
        if key not in ("title", "run", "scenario", "grid", "aslr"):
            bad((key,), f"unknown key {key!r}; a sweep has title, run, scenario, grid, aslr")
    run = data.get("run", "threads")
    if run not in RUNS:
        bad(("run",), f"run must be one of {', '.join(RUNS)}")
    scenario = data.get("scenario")
    if run == "scenario":
        if not isinstance(scenario, str):
            bad(("run",), 'run = "scenario" needs scenario = "FILE.toml"')
        scenario = str(Path(path).parent / scenario)
        if not Path(scenario).is_file():
            bad(("scenario",), f"cannot read {data['scenario']!r}: no such file")
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        bad(("grid",), "grid must be a table of parameter = [values]")
    parsed = []
    count = 1
    for name, values in grid.items():
        if name not in PARAMETERS:
            bad(("grid", name), f"unknown parameter {name!r}; one of {', '.join(PARAMETERS)}")
        if not isinstance(values, list) or not values:
            values = [values]
        checked = []
        for value in values:
            try:
                PARAMETERS[name](value)
            except (ValueError, TypeError) as err:
                bad(("grid", name), f"{name} = {value!r}: {err}")
            checked.append(value)
        parsed.append((name, tuple(checked)))
        count *= len(checked)
    seeds = None
    aslr = data.get("aslr", {})
    if aslr:
        seeds = aslr.get("seeds")
        if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
            bad(("aslr", "seeds"), "seeds must be a positive number of ASLR seeds")
        count *= seeds
    if count > MAX_POINTS:
        bad(("grid",), f"{count} points: at most {MAX_POINTS} per sweep")
    return Spec(path, str(data.get("title", path)), run, tuple(parsed), seeds, scenario)


# -- one point ----------------------------------------------------------------------------------

def _configs(point: dict):
    """(profile, kernel config, process config, glibc config, thread attr) for a point."""
    from simulator.kernel.arch import get_profile
    from simulator.libc.config import GlibcConfig
    from simulator.libc.pthread import ThreadAttr

    seed = point.get("seed")
    personality = _personality(point.get("personality", ""))
    if seed is None:
        personality |= Personality.ADDR_NO_RANDOMIZE
    proc = ProcessConfig(personality=personality,
                         rlimit_stack=_size(point.get("rlimit_stack", "8M")), seed=seed or 0)
    kconfig = KernelConfig()
    if "max_map_count" in point:
        kconfig = attrs.evolve(kconfig, max_map_count=int(point["max_map_count"]))
    glibc = GlibcConfig(**{k: PARAMETERS[k](point[k]) for k in ("arena_max", "stack_cache_size")
                           if k in point})
    attr = ThreadAttr(stacksize=_stack(point.get("stack_size", "default")),
                      guardsize=_size(point.get("guard_size", 4096)))
    return get_profile(point.get("arch", "x86_64")), kconfig, proc, glibc, attr


def _process(point: dict):
    from simulator.programs import typical_process

    profile, kconfig, proc, glibc, attr = _configs(point)
    return typical_process(profile, proc, glibc, kconfig), attr


def _common(mm) -> dict:
    return {"largest_free_gap": mm.largest_free_gap(), "map_count": mm.map_count}


def _threads_row(point: dict, _spec) -> dict:
    process, attr = _process(point)
    result = process.threads.create_until_failure(attr)
    return {"threads": result.threads, "stopped_by": result.stopped_by} | _common(process.mm)


def _layout_row(point: dict, _spec) -> dict:
    """The layout at the start of main (after ``threads`` pthread_creates): mmap_base, the
    break, the main stack; the gap between the heap's end and the lowest mapping above it;
    and for thread stacks, how far the highest one ends below the lowest address the main
    stack may grow to (its top less RLIMIT_STACK, less stack_guard_gap)."""
    process, attr = _process(point)
    mm = process.mm
    tops = []
    for _ in range(int(point.get("threads", 0))):
        thread = process.threads.create(attr=attr)
        if not hasattr(thread, "stack"):
            break
        tops.append(thread.stack.mem + thread.stack.size)
    stack = next(v for v in mm.vmas() if mm.vma_name(v) == "[stack]")
    above_brk = mm.find_vma(mm.current_brk)  # the first mapping above the heap's end
    row = {"mmap_base": mm.mmap_base, "start_brk": mm.start_brk, "stack_top": stack.end,
           "heap_mmap_gap": (above_brk.start - mm.current_brk) if above_brk else None}
    if tops:
        limit = mm.rlimit_stack if mm.rlimit_stack != RLIM_INFINITY else stack.end
        floor = max(0, stack.end - limit - mm.stack_guard_gap)
        row["thread_stack_top"] = max(tops)
        row["thread_below_stack_room"] = floor - max(tops)
    return row | _common(mm)


def _scenario_row(point: dict, spec) -> dict:
    """The scenario's first process with the point's settings: whether its expectations
    held, its named results, and what it ended with."""
    from collections import Counter

    from simulator.scenario.runner import event_kind, run
    from simulator.scenario.spec import Variant, load

    scenario = load(spec.scenario)
    base = scenario.variants[0]
    process = dict(base.process)
    if "arch" in point:
        process["arch"] = point["arch"]
    if "rlimit_stack" in point:
        process["rlimit_stack"] = _size(point["rlimit_stack"])
    personality = process.get("personality", Personality.ADDR_NO_RANDOMIZE)
    if "personality" in point:
        personality = _personality(point["personality"]) | Personality.ADDR_NO_RANDOMIZE
    if "seed" in point:  # ASLR on, with this seed
        personality &= ~Personality.ADDR_NO_RANDOMIZE
        process["aslr_seed"] = point["seed"]
    process["personality"] = personality
    result = run(scenario, (Variant(base.label, process),)).variants[0]
    row = {"ok": result.ok, "threads": result.threads, "stopped_by": result.stopped_by,
           "largest_free_gap": result.largest_free_gap, "map_count": result.map_count}
    for o in result.outcomes:
        if o.step.name and isinstance(o.result, int) and not isinstance(o.result, bool):
            row[f"result:{o.step.name}"] = int(o.result)
    for kind, n in sorted(Counter(event_kind(e) for o in result.outcomes
                                  for e in o.events).items()):
        row[f"events:{kind}"] = n
    return row


ROWS = {"threads": _threads_row, "layout": _layout_row, "scenario": _scenario_row}


def run_point(spec: Spec, index: int, point: dict) -> dict:
    """One row: the point index, its parameters, and what the run measured."""
    return {"point": index, **point, **ROWS[spec.run](point, spec)}


def _run_many(args) -> list[dict]:
    spec, batch = args
    return [run_point(spec, i, p) for i, p in batch]


def _batches(points: list[dict], size: int):
    indexed = list(enumerate(points))
    return [indexed[k:k + size] for k in range(0, len(indexed), size)]


def run_sweep(spec: Spec, *, workers: int = 1, dask: str | None = None,
              progress=None) -> list[dict]:
    """Every point's row, sorted by point index. ``workers`` > 1 uses a local process pool;
    ``dask`` is the address of a Dask distributed scheduler (or a ``distributed.Client``).
    ``progress(n)`` is called with the number of rows of each batch as it finishes."""
    points = spec.points()
    batches = _batches(points, max(1, min(64, len(points) // (4 * max(workers, 1)) or 1)))
    rows: list[dict] = []

    def collect(batch_rows):
        rows.extend(batch_rows)
        if progress is not None:
            progress(len(batch_rows))

    if dask is not None:
        from distributed import Client, as_completed

        client = dask if isinstance(dask, Client) else Client(dask)
        try:
            futures = client.map(_run_many, [(spec, b) for b in batches], pure=False)
            for future in as_completed(futures):
                collect(future.result())
        finally:
            if client is not dask:
                client.close()
    elif workers > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed as done

        with ProcessPoolExecutor(max_workers=workers) as pool:
            for future in done([pool.submit(_run_many, (spec, b)) for b in batches]):
                collect(future.result())
    else:
        for batch in batches:
            collect(_run_many((spec, batch)))
    rows.sort(key=lambda r: r["point"])
    return rows


# -- the table ----------------------------------------------------------------------------------

def columns(rows: list[dict]) -> list[str]:
    """Every column, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row))


def write_table(rows: list[dict], path: str) -> None:
    """CSV, JSON (a list of objects) or Parquet (needs pyarrow), by the file's extension."""
    import csv
    import json

    suffix = Path(path).suffix.lower()
    cols = columns(rows)
    try:
        if suffix == ".csv":
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=cols)
                writer.writeheader()
                writer.writerows(rows)
        elif suffix == ".json":
            Path(path).write_text(json.dumps(rows, indent=None) + "\n", encoding="utf-8")
        elif suffix == ".parquet":
            try:
                import pyarrow
                import pyarrow.parquet
            except ImportError:
                raise InputError(path, None, "Parquet needs pyarrow (pip install pyarrow); "
                                             "use .csv or .json") from None
            table = pyarrow.table({c: [row.get(c) for row in rows] for c in cols})
            pyarrow.parquet.write_table(table, path)
        else:
            raise InputError(path, None, "the table's file must end in .csv, .json or .parquet")
    except OSError as err:
        raise InputError(path, None, f"cannot write: {err.strerror or err}") from None


__all__ = ["Spec", "load_spec", "run_point", "run_sweep", "write_table", "columns",
           "PARAMETERS", "MAX_POINTS"]
