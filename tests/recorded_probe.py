"""Build a C program of tests/probe/ and record it with `vasim record` on this kernel, for
the tests that replay such a recording (test_credentials_kernel.py, test_fdmaps_kernel.py).

A machine without gcc (and 32-bit multilib), strace or setarch skips those tests, and fails
them with VASIM_REQUIRE_KERNEL=1 as the other kernel tests do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from simulator.cli import main

PROBES = Path(__file__).parent / "probe"


def unavailable(reason: str):
    if os.environ.get("VASIM_REQUIRE_KERNEL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def record_probe(name: str, bits: int, work: Path) -> Path:
    """tests/probe/NAME.c built for ``bits`` in ``work``, recorded into ``work/rec``."""
    for tool in ("gcc", "strace", "setarch"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} not found")
    binary = work / f"{name}{bits}"
    cp = subprocess.run(["gcc", *(["-m32"] if bits == 32 else []), "-O0", "-o", str(binary),
                         str(PROBES / f"{name}.c")], capture_output=True, text=True)
    if cp.returncode != 0:
        unavailable(f"cannot build {name} ({bits}-bit): {cp.stderr.strip()[-300:]}")
    out = work / "rec"
    assert main(["record", "-o", str(out), "--", str(binary)]) == 0
    return out
