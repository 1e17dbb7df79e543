"""Mappings of files that are not on a disk, against this kernel: tests/probe/fdmaps.c (two
memfds of one name, io_uring's rings), built 64- and 32-bit, recorded with `vasim record` and
replayed. /proc names them ``/memfd:NAME (deleted)`` on 00:01 and ``anon_inode:[io_uring]``
on the anon_inode mount; their inode numbers come from a global counter, so the comparison
renumbers them in order of appearance (two memfds: two numbers; one io_uring: one).
"""

from __future__ import annotations

import json

import pytest

from recorded_probe import record_probe
from simulator.cli import main
from simulator.trace.recording import load_recording


@pytest.fixture(scope="module", params=[64, 32])
def recording(request, tmp_path_factory):
    return record_probe("fdmaps", request.param, tmp_path_factory.mktemp("fdmaps"))


def test_memfd_and_io_uring_mappings_replay_with_their_names(recording, capsys):
    capsys.readouterr()
    assert main(["replay", str(recording), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matched"] == out["total"] and out["final_maps"] == {
        str(p): "match" for p in load_recording(recording).final_maps}
    maps = out["maps"].splitlines()
    memfds = [line.split() for line in maps if "/memfd:vasim-memfd (deleted)" in line]
    rings = [line.split() for line in maps if line.endswith("anon_inode:[io_uring]")]
    assert len(memfds) == 3 and {m[3] for m in memfds} == {"00:01"}
    assert len({m[4] for m in memfds}) == 2  # two memfd_create calls: two files
    assert len(rings) == 3 and len({r[4] for r in rings}) == 1
    # The kernel's own maps say the same.
    kernel = load_recording(recording).final_maps
    text = next(iter(kernel.values()))
    assert text.count("/memfd:vasim-memfd (deleted)") == 3
    assert text.count("anon_inode:[io_uring]") == 3
