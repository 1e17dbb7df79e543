"""Credentials and resource limits against this kernel: tests/probe/credprobe.c, built 64- and
32-bit, is recorded with `vasim record` and replayed, and every return must come out, each
process's final maps too.

The program (run as root) locks memory, lowers RLIMIT_MEMLOCK, gives up its effective uid
with setresuid and meets mlock's ENOMEM and EPERM, mlockall's ENOMEM, a locked mmap's EAGAIN
and setrlimit's EPERM; it takes its uid back, creates SysV segments of modes 0600, 0640,
0604 and 0666 and forks a child that becomes nobody with setuid and meets shmat's EACCES,
shmctl's EPERM and shmget's EACCES, and a grandchild that inherits it all and execs
/bin/true under a 1 GiB RLIMIT_STACK (its mmap base 1 GiB lower); the parent then
attaches a segment marked for removal (allowed until its last detach, EINVAL after) and
meets RLIMIT_DATA (set 64 KiB above its VmData: the model's data_vm must be the kernel's to
the page) and RLIMIT_AS. The expected returns are the kernel's own, in the recording; the test also
checks that the recording holds the refusals the program is there to provoke, so that a
model that ignores credentials cannot pass.
"""

from __future__ import annotations

import collections
import json
import os

import pytest

from recorded_probe import record_probe, unavailable
from simulator.cli import main
from simulator.trace.recording import load_recording
from simulator.trace.strace import TaskCall

#: (call, errno) the kernel gives the program, at least this many times (credprobe.c's
#: comments say why each one happens).
REFUSALS = {("mlock", "ENOMEM"): 3, ("mlock", "EPERM"): 1, ("mlock2", "ENOMEM"): 1,
            ("mlockall", "ENOMEM"): 1, ("shmat", "EACCES"): 5, ("shmat", "EINVAL"): 1,
            ("shmctl", "EPERM"): 1, ("shmget", "EACCES"): 1, ("prlimit64", "EPERM"): 2,
            ("setresuid", "EPERM"): 1, ("mmap", "EAGAIN"): 1, ("mmap", "ENOMEM"): 3,
            ("mprotect", "ENOMEM"): 1}


@pytest.fixture(scope="module", params=[64, 32])
def recording(request, tmp_path_factory):
    if os.geteuid() != 0:
        unavailable("credprobe drops root's privileges: it must start as root")
    return record_probe("credprobe", request.param, tmp_path_factory.mktemp("cred"))


def _refusals(rec) -> collections.Counter:
    seen = collections.Counter()
    for event in rec.trace.events:
        name = getattr(event, "name", None)
        ret = getattr(event, "ret", None)
        if name is not None and ret is not None and hasattr(ret, "name"):
            name = "mmap" if name == "mmap2" else name.removesuffix("32")
            seen[(name, ret.name)] += 1
    return seen


def test_every_return_and_final_map_comes_out(recording, capsys):
    capsys.readouterr()
    assert main(["replay", str(recording), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    diverged = [c for c in out["calls"] if c["recorded"] != c["simulated"]]
    assert diverged == []
    assert out["matched"] == out["total"]
    assert set(out["final_maps"].values()) == {"match"} and len(out["final_maps"]) == 3
    # The credential calls were checked, not skipped.
    checked = collections.Counter(c["syscall"].removesuffix("32") for c in out["calls"])
    assert checked["setresuid"] == 3 and checked["setuid"] == 1 and checked["prlimit64"] >= 5
    # The exec under RLIMIT_STACK 1 GiB: the kernel put its ld.so ~1 GiB below the parent's.
    rec = load_recording(recording)
    lowest = {pid: min(int(line.split("-")[0], 16) for line in text.splitlines()
                       if "ld-linux" in line) for pid, text in rec.final_maps.items()}
    assert max(lowest.values()) - min(lowest.values()) > 896 << 20


def test_the_recording_holds_the_kernels_refusals(recording):
    rec = load_recording(recording)
    seen = _refusals(rec)
    for key, count in REFUSALS.items():
        assert seen[key] >= count, (key, seen)
    # The recording starts as root with the machine's capabilities, which replay starts from.
    meta = json.loads((recording / "meta.json").read_text())
    assert meta["creds"]["uid"] == [0, 0, 0, 0] and "CapEff" in meta["creds"]
    assert meta["rlimits"]["RLIMIT_MEMLOCK"][0] >= 0
    assert any(isinstance(e, TaskCall) and e.name.startswith("setuid") for e in rec.trace.events)


#: (call, errno) capprobe.c meets on this kernel (its comment says why each happens).
CAP_REFUSALS = {("prctl", "EINVAL"): 2, ("prctl", "EPERM"): 3, ("capset", "EPERM"): 2}


@pytest.fixture(scope="module", params=[64, 32])
def caps_recording(request, tmp_path_factory):
    if os.geteuid() != 0:
        unavailable("capprobe drops root's privileges: it must start as root")
    return record_probe("capprobe", request.param, tmp_path_factory.mktemp("caps"))


def test_prctl_and_capset_rules_come_out(caps_recording, capsys):
    """PR_SET_KEEPCAPS keeps the permitted set through setresuid (so the capset after it
    succeeds), an inheritable bit of the permitted set needs no CAP_SETPCAP, the bounding
    set and securebits follow prctl: every return is the kernel's."""
    seen = _refusals(load_recording(caps_recording))
    for key, count in CAP_REFUSALS.items():
        assert seen[key] >= count, (key, seen)
    capsys.readouterr()
    assert main(["replay", str(caps_recording), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c for c in out["calls"] if c["recorded"] != c["simulated"]] == []
    checked = collections.Counter(c["syscall"] for c in out["calls"])
    assert checked["prctl"] == 10 and checked["capset"] == 6
    assert set(out["final_maps"].values()) == {"match"} and len(out["final_maps"]) == 3
