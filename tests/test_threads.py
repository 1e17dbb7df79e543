"""Thread exhaustion: the glibc model on the kernel model against recordings of the real kernel.

tests/data/recordings/thr32-exhaust* are strace logs of a 32-bit program
(tests/data/recordings/src/threxhaust.c) that creates threads with default attributes until
pthread_create fails, on Linux 6.18 with glibc 2.36, under setarch i686 -R with the 4 GiB,
3 GiB (--3gb) and legacy (-L) layouts and RLIMIT_STACK 2M, 8M, 64M and unlimited. The model
starts the modelled minimal PIE (simulator/programs.py, the same shape as that program) and
must make every memory call the real one made, with the same results, and create as many
threads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from libc_compare import first_difference, model_calls, trace_calls
from simulator.cli import main
from simulator.kernel.arch import get_profile
from simulator.kernel.config import Personality, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.libc.process import start_process
from simulator.programs import typical_process_images
from simulator.trace.strace import read_strace
from simulator.units import RLIM_INFINITY

ROOT = Path(__file__).parent / "data" / "recordings"
EXHAUST = sorted(p.name for p in ROOT.glob("thr32-exhaust*"))


def recorded(name):
    meta = json.loads((ROOT / name / "meta.json").read_text())
    personality = Personality.ADDR_NO_RANDOMIZE
    if "--3gb" in meta["setarch"]:
        personality |= Personality.ADDR_LIMIT_3GB
    if "-L" in meta["setarch"]:
        personality |= Personality.ADDR_COMPAT_LAYOUT
    rlimit = RLIM_INFINITY if meta["rlimit_stack"] == "unlimited" else int(meta["rlimit_stack"])
    count = int(re.search(r"threads=(\d+)", meta["stderr"]).group(1))
    return personality, rlimit, count


def ld_so_cache_size(real_calls):
    """The size of /etc/ld.so.cache when the recording was made (ld.so maps it PROT_READ,
    MAP_PRIVATE and unmaps it again; where it went shifts what ld.so maps next)."""
    return next(c[2] for c in real_calls if c[0] == "mmap2" and c[3] == 1 and c[4] == 2)


def exhaust(arch, personality, rlimit, cache_size=None):
    profile = get_profile(arch)
    exe, rtld, libs = typical_process_images(profile)
    mm = exec_layout(profile, exe.elf, rtld.elf,
                     proc=ProcessConfig(personality=personality, rlimit_stack=rlimit))
    process = start_process(mm, exe, rtld, libs, cache_size=cache_size)
    return process, process.threads.create_until_failure()


@pytest.mark.parametrize("name", EXHAUST)
def test_every_call_of_the_real_exhaustion_run(name):
    personality, rlimit, count = recorded(name)
    real = trace_calls(read_strace(ROOT / name / "trace.txt"))
    process, result = exhaust("i686", personality, rlimit, ld_so_cache_size(real))
    model = model_calls(process)
    assert first_difference(model, real) is None
    assert result.threads == count
    assert result.stopped_by == "mmap ENOMEM"
    process.mm._check()


@pytest.mark.parametrize("name", EXHAUST)
def test_stacks_land_where_the_kernel_put_them(name):
    """The final map: every stack block (guard + stack) at the recorded address."""
    personality, rlimit, _count = recorded(name)
    real = trace_calls(read_strace(ROOT / name / "trace.txt"))
    process, _result = exhaust("i686", personality, rlimit, ld_so_cache_size(real))
    final = (ROOT / name / "final.maps").read_text().splitlines()
    ranges = lambda lines: [tuple(line.split()[:2]) for line in lines
                            if len(line.split()) == 5 or line.split()[-1] == "[heap]"]
    assert ranges(process.mm.maps_lines()) == ranges(final)


def test_cli_threads_json(capsys):
    code = main(["threads", "--arch", "i686", "--personality", "ADDR_LIMIT_3GB", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["threads"] == 381 and out["stopped_by"] == "mmap ENOMEM"
    # 8 MiB + one guard page (nptl/allocatestack.c: the guard is added to the stack size).
    assert out["stack_block"] == (8 << 20) + 4096
    assert out["largest_free_gap"] < out["stack_block"]


def test_cli_threads_rejects_a_stack_below_pthread_stack_min(capsys):
    code = main(["threads", "--arch", "i686", "--stack-size", "4096"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "PTHREAD_STACK_MIN" in err
