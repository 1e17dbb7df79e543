"""What vasim prints where it reads nothing from the host: the modelled program's commands.

``python tests/hermetic_outputs.py DIR`` runs :data:`COMMANDS` in-process (DIR is the working
directory for the bare strace logs it writes there) and prints one JSON object, command to
``[exit status, stdout, stderr]``. tests/test_hermetic.py runs it on this host and on a perturbed
one (tools/perturbed-host) and requires the same bytes; it also runs :data:`COMMANDS` with every
file access outside the repository and DIR refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.cli import main  # noqa: E402

SCENARIOS = sorted(str(p) for p in (REPO / "scenarios").glob("*.toml"))

#: Bare strace logs (no execve, anonymous memory only): replay starts from the modelled program.
#: The lines are the first calls of tests/data/recordings/true64 and pthreads32 after execve.
BARE_TRACES = {
    "bare64.strace": "2020  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
                     " = 0x7ffff7fc0000\n",
    "bare32.strace": "2234  brk(NULL)                         = 0x5655a000\n"
                     "2234  mmap2(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
                     " = 0xf7fbf000\n",
}

COMMANDS = [
    ["run", "--maps", *SCENARIOS],
    ["run", "--json", *SCENARIOS],
    *[["layout", "--arch", arch, "--json"]
      for arch in ("x86_64", "i686", "i386-3g", "aarch64-48", "aarch64-compat", "arm-3g")],
    ["threads", "--arch", "i686"],
    ["threads", "--arch", "i386-3g", "--json"],
    ["replay", "bare64.strace"],
    ["replay", "bare32.strace", "--json"],
]


def write_traces(directory: str) -> None:
    for name, text in BARE_TRACES.items():
        Path(directory, name).write_text(text)


def run_all(directory: str) -> dict[str, list]:
    """Each command of :data:`COMMANDS`, run with ``directory`` as the working directory."""
    results = {}
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        for argv in COMMANDS:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = main(argv)
            results[" ".join(argv)] = [status, out.getvalue(), err.getvalue()]
    finally:
        os.chdir(cwd)
    return results


if __name__ == "__main__":
    write_traces(sys.argv[1])
    json.dump(run_all(sys.argv[1]), sys.stdout)
