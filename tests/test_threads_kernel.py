"""`vasim threads` against the real kernel: thread counts and stack addresses until failure.

tests/probe/thrcount.c is compiled at test time as a 32-bit PIE and non-PIE program. Under
setarch i686 -R (4 GiB, --3gb, -L) and several RLIMIT_STACK values it prints its
/proc/self/maps right before its first pthread_create, creates threads with the given stack
and guard sizes until pthread_create fails, and prints the count and its maps again. The
model starts from the first snapshot, exactly as a user would run it:

    vasim threads --arch i686 --personality P --rlimit-stack R --stack-size S
                  --guard-size G --initial-maps BEFORE --json

It must create as many threads, stop for the same reason, and end with the same map: every
stack block at the address the kernel gave it. None of these runs is one of the recordings the
model was developed against (tests/data/recordings), and the combinations with explicit stack
and guard sizes, non-PIE binaries and the stdio-made heap are new here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

import kernel_probe
from conftest import build_each, probe_for
from simulator.cli import main
from simulator.units import MiB, RLIM_INFINITY

SOURCE = Path(__file__).parent / "probe" / "thrcount.c"
PIE_FLAGS = {"pie": "-pie", "nopie": "-no-pie"}


@pytest.fixture(scope="session")
def thrcount(probe_dir):
    """{"pie": path, "nopie": path}, or the reason they cannot be built."""
    def build(kind):
        gcc = kernel_probe._gcc()
        kernel_probe._check_m32(gcc, probe_dir)
        out = probe_dir / f"thrcount-{kind}"
        cmd = [gcc, "-m32", "-O1", "-pthread", PIE_FLAGS[kind], "-o", str(out), str(SOURCE)]
        cp = subprocess.run(cmd, capture_output=True, text=True)
        if cp.returncode != 0:
            raise kernel_probe.ProbeUnavailable(f"{' '.join(cmd)}: {cp.stderr[-500:]}")
        return out

    return build_each(("pie", "nopie"), build)


def run_real(binary, setarch, rlimit, stack, guard, stdio):
    """The probe's (maps before, count, errno name, maps after)."""
    cmd = ["setarch", *setarch, str(binary), str(stack), str(guard)] + (["stdio"] if stdio else [])
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        env=dict(kernel_probe.DEFAULT_ENV),
                        preexec_fn=kernel_probe._set_rlimit_stack(rlimit))
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout
    before = out.split("BEFORE\n", 1)[1].split("END\n", 1)[0]
    count, errname = out.split("COUNT ", 1)[1].split("\n", 1)[0].split()
    after = out.split("AFTER\n", 1)[1].split("END\n", 1)[0]
    return before, int(count), errname, after


def ranges(maps_text):
    """Each VMA as (range, perms): file identities (device, inode) are the host's."""
    return [tuple(line.split()[:2]) for line in maps_text.splitlines() if line.strip()]


# (binary, setarch flags, RLIMIT_STACK, stack size (0: default), guard size, stdio snapshot)
CASES = [
    ("pie", [], 8 * MiB, 0, 4096, False),
    ("pie", ["--3gb"], 8 * MiB, 0, 4096, False),
    ("pie", ["-L"], 8 * MiB, 0, 4096, False),
    ("pie", [], 2 * MiB, 0, 4096, False),
    ("pie", [], 64 * MiB, 0, 4096, False),
    ("pie", [], RLIM_INFINITY, 0, 4096, False),          # 2 MiB default stacks, gap clamped
    ("pie", [], 8 * MiB, 1 * MiB, 4096, False),
    ("pie", ["--3gb"], 8 * MiB, 3 * MiB, 65536, False),
    ("pie", ["-L"], 8 * MiB, 1000000, 0, False),         # unaligned size, no guard: stacks merge
    ("pie", [], 16 * MiB, 2 * MiB, 8192, True),
    ("nopie", [], 8 * MiB, 0, 4096, False),
    ("nopie", ["--3gb"], 8 * MiB, 0, 4096, False),
    ("nopie", ["-L"], 8 * MiB, 0, 4096, False),
    ("nopie", [], 64 * MiB, 0, 4096, True),
    ("nopie", ["--3gb"], 4 * MiB, 1 * MiB, 4096, False),
]


def case_id(case):
    kind, flags, rlimit, stack, guard, stdio = case
    limit = "unlimited" if rlimit == RLIM_INFINITY else f"{rlimit >> 20}M"
    return "-".join([kind, *(f.strip("-") for f in flags), f"ulimit{limit}",
                     f"stack{stack}", f"guard{guard}"] + (["stdio"] if stdio else []))


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_thread_count_and_stacks_match_the_kernel(thrcount, tmp_path, case):
    kind, flags, rlimit, stack, guard, stdio = case
    binary = probe_for(thrcount, kind)
    before, count, errname, after = run_real(binary, ["i686", "-R", *flags], rlimit, stack,
                                             guard, stdio)
    assert errname == "EAGAIN"  # glibc's answer to the stack mmap's ENOMEM
    maps = tmp_path / "before.maps"
    maps.write_text(before)
    personality = ",".join(["ADDR_NO_RANDOMIZE"]
                           + (["ADDR_LIMIT_3GB"] if "--3gb" in flags else [])
                           + (["ADDR_COMPAT_LAYOUT"] if "-L" in flags else []))
    argv = ["threads", "--arch", "i686", "--personality", personality,
            "--rlimit-stack", "unlimited" if rlimit == RLIM_INFINITY else str(rlimit),
            "--guard-size", str(guard), "--initial-maps", str(maps), "--json"]
    if stack:
        argv += ["--stack-size", str(stack)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    result = json.loads(out.getvalue())
    assert (result["threads"], result["stopped_by"]) == (count, "mmap ENOMEM")

    # The same run through the library: the final map, range for range.
    from simulator.cli import threads_until_failure  # noqa: E402 (what the command runs)
    from simulator.kernel.arch import get_profile
    from simulator.kernel.config import Personality, ProcessConfig
    from simulator.libc.pthread import ThreadAttr
    pers = Personality.ADDR_NO_RANDOMIZE
    if "--3gb" in flags:
        pers |= Personality.ADDR_LIMIT_3GB
    if "-L" in flags:
        pers |= Personality.ADDR_COMPAT_LAYOUT
    process, _ = threads_until_failure(get_profile("i686"),
                                       ProcessConfig(personality=pers, rlimit_stack=rlimit),
                                       ThreadAttr(stacksize=stack, guardsize=guard), str(maps))
    process.mm._check()
    assert ranges(process.mm.maps_text()) == ranges(after)


def test_the_probe_runs_where_it_says(thrcount):
    """The snapshot is the probe's own: its binary is the first mapping, nothing is mapped
    in the mmap area by the probe itself before the threads (no stdio, no malloc)."""
    binary = probe_for(thrcount, "pie")
    before, _count, _err, _after = run_real(binary, ["i686", "-R"], 8 * MiB, 0, 4096, False)
    first = before.splitlines()[0]
    assert first.startswith("56555000-") and first.endswith(os.path.basename(binary))
    assert "[heap]" not in before
