"""`vasim sweep`: the same table in one process, a local pool and a Dask cluster.

Expected thread counts are the kernel's, measured with tests/probe/thrcount.c and listed in
docs/threads.md (a 32-bit PIE under setarch i686 -R): 509 with RLIMIT_STACK 8 MiB, 2041 with
2 MiB, 1700 unlimited (2 MiB default stacks); 381 with --3gb.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap

import pytest

from simulator.cli import main
from simulator.sweep import load_spec, run_sweep
from simulator.units import MiB


def write(tmp_path, text: str, name: str = "sweep.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


THREADS = """\
    title = "i686 thread counts"
    run = "threads"
    [grid]
    personality = ["", "ADDR_LIMIT_3GB"]
    rlimit_stack = ["8M", "2M", "unlimited"]
    arch = ["i686"]
"""

ASLR = """\
    run = "layout"
    [grid]
    arch = ["i686"]
    [aslr]
    seeds = 40
"""


def test_thread_counts_match_the_kernel(tmp_path):
    rows = run_sweep(load_spec(write(tmp_path, THREADS)))
    got = {(r["personality"], r["rlimit_stack"]): r["threads"] for r in rows}
    assert got[("", "8M")] == 509
    assert got[("", "2M")] == 2041
    assert got[("", "unlimited")] == 1700
    assert got[("ADDR_LIMIT_3GB", "8M")] == 381
    # Grid order: the first parameter varies slowest; rows carry their point index.
    assert [r["point"] for r in rows] == list(range(6))
    assert [(r["personality"], r["rlimit_stack"]) for r in rows[:3]] == [
        ("", "8M"), ("", "2M"), ("", "unlimited")]


def test_pool_and_dask_give_the_same_table(tmp_path):
    spec = load_spec(write(tmp_path, ASLR))
    one = run_sweep(spec)
    assert run_sweep(spec, workers=2) == one
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert run_sweep(spec, dask=client) == one


def test_aslr_seeds_vary_within_the_kernels_ranges(tmp_path):
    """i686 with ASLR: mmap_base moves down by less than 1 MiB (mmap_rnd_compat_bits = 8
    bits of pages, arch/x86/mm/mmap.c ``arch_rnd``) from its non-random 0xf7ffe000; the
    break starts less than 32 MiB above the executable's end (``arch_randomize_brk``), whose
    load bias moves by less than 1 MiB from 0x56555000 (5 pages of a.out: 0x5655a000)."""
    rows = run_sweep(load_spec(write(tmp_path, ASLR)))
    assert [r["seed"] for r in rows] == list(range(40))
    bases = {r["mmap_base"] for r in rows}
    assert len(bases) > 20
    assert all(0xF7FFE000 - MiB < b <= 0xF7FFE000 for b in bases)
    assert all(0x5655A000 <= r["start_brk"] < 0x5655A000 + MiB + 32 * MiB for r in rows)
    assert all(r["heap_mmap_gap"] > 0 for r in rows)


def test_cli_writes_csv_and_json(tmp_path, capsys):
    spec = write(tmp_path, ASLR)
    assert main(["sweep", spec, "--workers", "1"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 40 and table[0]["arch"] == "i686" and "heap_mmap_gap" in table[0]
    out = tmp_path / "rows.json"
    assert main(["sweep", spec, "--workers", "2", "-o", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [int(r["mmap_base"]) for r in table] == [r["mmap_base"] for r in rows]


def test_scenario_sweep_reports_named_results(tmp_path):
    from pathlib import Path
    scenario = Path(__file__).parent.parent / "scenarios" / "growsdown-guard-gap.toml"
    spec = write(tmp_path, f"""\
        run = "scenario"
        scenario = "{scenario}"
        [grid]
        arch = ["x86_64", "i686"]
    """)
    rows = run_sweep(load_spec(spec))
    assert [r["arch"] for r in rows] == ["x86_64", "i686"]
    assert all(r["ok"] for r in rows)
    assert any(k.startswith("result:") for k in rows[0])
    assert rows[0]["events:stack-growth-refused"] >= 1 and rows[0]["events:hint-ignored"] >= 1


@pytest.mark.parametrize("text, line, message", [
    ('run = "threads"\n[grid]\nfoo = [1]\n', 3, "unknown parameter 'foo'"),
    ('run = "fly"\n', 1, "run must be one of"),
    ('run = "threads"\n[grid]\narch = ["vax"]\n', 3, "unknown profile 'vax'"),
    ('run = "threads"\n[grid]\nrlimit_stack = ["-4K"]\n', 3, "rlimit_stack = '-4K'"),
    ('run = "layout"\n[grid]\narch = ["i686"]\n[aslr]\nseeds = 2000000\n', 2, "points: at most"),
    ('run = "scenario"\n', 1, "needs scenario"),
])
def test_bad_specs_are_one_line(tmp_path, capsys, text, line, message):
    path = write(tmp_path, text)
    assert main(["sweep", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{path}:{line}") and message in err[0], err
